/**
 * Flags from a zod object schema, for the smaller commands (`deno task eval`, `deno task
 * features`): each field is a `--kebab-case` flag (booleans are switches; number lists are
 * comma-separated, `--ks 10,20`), values are validated by the schema, errors name the flag,
 * an unknown flag suggests the closest known one, and `--help` is generated from the
 * fields' descriptions and defaults. (`deno task train` has its own, richer parser with
 * presets and config files: `args.ts`.)
 */
import { parseArgs } from "node:util";
import type { z } from "npm:zod@4.6.7";
import { closest, ConfigError } from "../mugs/config.ts";

type Kind = "number" | "boolean" | "string" | "list" | "enum";

function kebab(s: string): string {
  return s.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
}

// deno-lint-ignore no-explicit-any
function unwrap(s: any): any {
  while (["default", "optional", "nullable", "pipe"].includes(s.def.type)) {
    s = s.def.type === "pipe" ? s.def.in : s.def.innerType;
  }
  return s;
}

// deno-lint-ignore no-explicit-any
function kindOf(s: any): Kind {
  const t = unwrap(s).def.type;
  if (t === "number" || t === "boolean" || t === "string" || t === "enum") return t;
  if (t === "array") return "list";
  throw new Error(`flags: unsupported field type '${t}'`);
}

/** Options of node's `parseArgs`: every flag a string or a switch. */
export type ArgvOptions = Record<string, { type: "string" | "boolean"; short?: string }>;

/**
 * `node:util`'s strict `parseArgs` with the commands' error messages: a negative number after
 * a flag is its value (so range checks report it), an unknown flag names the closest known
 * one, and a missing or surplus value names the flag. Throws a `ConfigError`.
 *
 * @example
 * ```ts
 * readArgv(["--epochs", "-3"], { epochs: { type: "string" } }); // { epochs: "-3" }
 * ```
 */
export function readArgv(
  argv: readonly string[],
  options: ArgvOptions,
): Record<string, string | boolean | undefined> {
  const args: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const o = options[a.startsWith("--") ? a.slice(2) : ""];
    if (o?.type === "string" && i + 1 < argv.length && /^-[\d.]/.test(argv[i + 1])) {
      args.push(`${a}=${argv[++i]}`);
    } else args.push(a);
  }
  try {
    return parseArgs({ args, options, strict: true, allowPositionals: false })
      .values as Record<string, string | boolean | undefined>;
  } catch (e) {
    const msg = (e as Error).message;
    const code = (e as { code?: string }).code;
    const flag = /'(-[^' ]+)/.exec(msg)?.[1] ?? "";
    if (code === "ERR_PARSE_ARGS_UNKNOWN_OPTION") {
      const hint = closest(flag.replace(/^-+/, ""), Object.keys(options));
      throw new ConfigError(
        flag,
        flag,
        `unknown option '${flag}'${hint ? ` (did you mean --${hint}?)` : ""}; see --help`,
      );
    }
    if (code === "ERR_PARSE_ARGS_INVALID_OPTION_VALUE") {
      throw new ConfigError(
        flag,
        flag,
        msg.includes("does not take an argument")
          ? `${flag} takes no value (it is a switch)`
          : `${flag} needs a value (see --help)`,
      );
    }
    if (code === "ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL") {
      const arg = /'([^']*)'/.exec(msg)?.[1] ?? "";
      throw new ConfigError(arg, "", `unexpected argument '${arg}': options start with --`);
    }
    throw e;
  }
}

/** What `parseFlags` gives: the help text, or the validated values. */
export type Parsed<T> = { help: true; text: string } | { help: false; values: T };

/**
 * The `--help` text of `schema` under a usage line and a short description.
 *
 * @example
 * ```ts
 * console.log(flagsHelp(EvalSchema, "deno task eval --checkpoint PATH [options]", "Read-outs."));
 * ```
 */
// deno-lint-ignore no-explicit-any
export function flagsHelp(schema: z.ZodObject<any>, usage: string, about: string): string {
  const rows = Object.entries(schema.shape).map(([field, s]) => {
    // deno-lint-ignore no-explicit-any
    const z = s as any;
    const kind = kindOf(z);
    const inner = unwrap(z);
    const value = kind === "boolean"
      ? ""
      : kind === "enum"
      ? ` ${inner.options.join("|")}`
      : kind === "list"
      ? " X,Y,..."
      : kind === "number"
      ? " X"
      : " VALUE";
    const d = z.def.type === "default" ? z.def.defaultValue : undefined;
    const dv = typeof d === "function" ? d() : d;
    const dflt = dv === undefined || dv === false
      ? ""
      : ` [default: ${Array.isArray(dv) ? dv.join(",") : dv}]`;
    return [`--${kebab(field)}${value}`, `${z.description ?? inner.description ?? ""}${dflt}`];
  });
  const w = Math.max(...rows.map(([l]) => l.length));
  return [
    `Usage: ${usage}`,
    "",
    about,
    "",
    "Options:",
    ...rows.map(([l, r]) => `  ${l.padEnd(w)}  ${r}`),
    `  ${"--help".padEnd(w)}  print this help and exit (also -h)`,
  ].join("\n");
}

/**
 * Parse `argv` against `schema` (see the module doc). Throws a `ConfigError` naming the flag.
 *
 * @example
 * ```ts
 * const r = parseFlags(z.strictObject({ k: z.number().default(20) }), ["--k", "10"], "u", "a");
 * if (!r.help) r.values.k; // 10
 * ```
 */
// deno-lint-ignore no-explicit-any
export function parseFlags<S extends z.ZodObject<any>>(
  schema: S,
  argv: readonly string[],
  usage: string,
  about: string,
): Parsed<z.infer<S>> {
  const fields = Object.entries(schema.shape).map(([field, s]) => ({
    field,
    flag: kebab(field),
    kind: kindOf(s),
  }));
  const options: ArgvOptions = Object.fromEntries([
    ...fields.map((f) => [f.flag, { type: f.kind === "boolean" ? "boolean" : "string" } as const]),
    ["help", { type: "boolean", short: "h" } as const],
  ]);
  const values = readArgv(argv, options);
  if (values.help) return { help: true, text: flagsHelp(schema, usage, about) };
  const raw: Record<string, unknown> = {};
  for (const { field, flag, kind } of fields) {
    const v = values[flag];
    if (v === undefined) continue;
    const num = (t: string) => {
      const n = Number(t.trim());
      if (t.trim() === "" || !Number.isFinite(n)) {
        throw new ConfigError(`--${flag}`, field, `--${flag}: expected a number, got '${t}'`);
      }
      return n;
    };
    raw[field] = kind === "number"
      ? num(v as string)
      : kind === "list"
      ? (v as string).split(",").map(num)
      : v;
  }
  const r = schema.safeParse(raw);
  if (!r.success) {
    const issue = r.error.issues[0];
    const field = String(issue.path[0] ?? "");
    const flag = field ? `--${kebab(field)}` : "options";
    throw new ConfigError(flag, field, `${flag}: ${issue.message}`);
  }
  return { help: false, values: r.data };
}

/**
 * A command's `main(argv)`: parse `argv` against `schema`, print the help and return 0 when
 * asked, else run `run` on the validated values and return 0 (errors propagate to `runMain`).
 *
 * @example
 * ```ts
 * export const main = flagsMain(Options, "deno task x [options]", "Do x.", (o) => runX(o));
 * ```
 */
// deno-lint-ignore no-explicit-any
export function flagsMain<S extends z.ZodObject<any>>(
  schema: S,
  usage: string,
  about: string,
  run: (values: z.infer<S>, argv: readonly string[]) => Promise<unknown>,
): (argv: string[]) => Promise<number> {
  return async (argv) => {
    const args = parseFlags(schema, argv, usage, about);
    if (args.help) {
      console.log(args.text);
      return 0;
    }
    await run(args.values, argv);
    return 0;
  };
}

/**
 * Run a command's `main(argv)` as the program: exit with its code, or print
 * `<name>: <message>` and exit 1 on an error.
 *
 * @example
 * ```ts
 * if (import.meta.main) await runMain("eval", main);
 * ```
 */
export async function runMain(name: string, main: (argv: string[]) => Promise<number>) {
  try {
    Deno.exit(await main(Deno.args));
  } catch (e) {
    console.error(`${name}: ${(e as Error).message}`);
    Deno.exit(1);
  }
}
