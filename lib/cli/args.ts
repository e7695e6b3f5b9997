/**
 * Command-line parsing for `deno task train`: the one module that reads flags (with
 * `node:util`'s `parseArgs`, built into Deno; DESIGN.md §2). Every field of the training
 * schema (`lib/mugs/config.ts`) is a flag, named in kebab case (`batchSize` -> `--batch-size`),
 * so the flags and `--help` are generated from the schema and cannot drift from it:
 *
 * - numbers are parsed strictly (`--epochs abc` and `--epochs -3` are errors naming the flag);
 * - nested objects take `key=value` lists (`--weights instance=1,localGroup=0,group=1`,
 *   `--heads prototypes=1024,k=4`); unnamed keys keep their preset values;
 * - `--config FILE` reads a JSON file of fields; flags override it, and it overrides the
 *   preset's defaults;
 * - an unknown flag is an error that suggests the closest known one.
 *
 * Everything is validated here, before any GPU work starts.
 */
import type { z } from "npm:zod@4.6.7";
import {
  closest,
  ConfigError,
  type ConfigLayer,
  PRESET_OVERRIDES,
  readConfigFile,
  resolveLayers,
  TRAIN_DEFAULTS,
  TRAIN_PRESETS,
  type TrainConfig,
  TrainConfigObject,
} from "../mugs/config.ts";
import { type ArgvOptions, readArgv } from "./flags.ts";
import { DATA_LAYOUTS } from "./data.ts";

type Kind =
  | { type: "int" | "number" | "string" | "boolean" }
  | { type: "enum"; values: string[] }
  | { type: "object"; fields: Record<string, Kind> };

/**
 * One command-line option: its flag, the config field it sets (null for `--config` and
 * `--help`), the value it takes and its description.
 *
 * @example
 * ```ts
 * const o: TrainOption = TRAIN_OPTIONS.find((o) => o.flag === "--batch-size")!;
 * o.field; // "batchSize"
 * ```
 */
export interface TrainOption {
  flag: string;
  field: keyof TrainConfig | null;
  /** How the value is written in the help (`N`, `X`, `a|b`, `PATH`, `KEY=X,...`; "" for a switch). */
  value: string;
  description: string;
}

/**
 * The result of `parseTrainArgs`: the help text, or the validated configuration.
 *
 * @example
 * ```ts
 * const a: TrainArgs = await parseTrainArgs(Deno.args);
 * if (a.help) console.log(a.text);
 * ```
 */
export type TrainArgs =
  | { help: true; text: string }
  | { help: false; config: TrainConfig; configFile?: string };

const PLACEHOLDER: Record<string, string> = { data: "PATH", out: "DIR" };

function kindOf(s: z.ZodType): Kind {
  // deno-lint-ignore no-explicit-any
  const x = s as any;
  switch (x.def.type) {
    case "number":
      return { type: x.isInt ? "int" : "number" };
    case "boolean":
      return { type: "boolean" };
    case "string":
      return { type: "string" };
    case "enum":
      return { type: "enum", values: x.options.map(String) };
    case "object":
      return {
        type: "object",
        fields: Object.fromEntries(
          Object.entries(x.shape as Record<string, z.ZodType>).map(([k, v]) => [k, kindOf(v)]),
        ),
      };
  }
  throw new Error(`lib/cli/args.ts: no flag type for schema type '${x.def.type}'`);
}

const kebab = (s: string) => s.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);

const FIELDS = Object.entries(TrainConfigObject.shape).map(([field, schema]) => ({
  field: field as keyof TrainConfig,
  flag: `--${kebab(field)}`,
  kind: kindOf(schema as z.ZodType),
  description: (schema as z.ZodType).description ?? "",
}));

function placeholder(field: string, k: Kind): string {
  switch (k.type) {
    case "int":
      return "N";
    case "number":
      return "X";
    case "boolean":
      return "";
    case "string":
      return PLACEHOLDER[field] ?? "TEXT";
    case "enum":
      return k.values.join("|");
    case "object":
      return "KEY=VALUE,...";
  }
}

/**
 * Every option of `deno task train`, in help order (generated from the schema).
 *
 * @example
 * ```ts
 * TRAIN_OPTIONS.map((o) => o.flag); // ["--preset", "--data", "--epochs", ...]
 * ```
 */
export const TRAIN_OPTIONS: readonly TrainOption[] = Object.freeze([
  ...FIELDS.map(({ field, flag, kind, description }) => ({
    flag,
    field,
    value: placeholder(field, kind),
    description: kind.type === "object"
      ? `${description}: keys ${Object.keys(kind.fields).join(", ")}`
      : description,
  })),
  {
    flag: "--config",
    field: null,
    value: "FILE",
    description: "JSON file of fields (camelCase, nested weights/heads); flags override it",
  },
  { flag: "--help", field: null, value: "", description: "print this help and exit (also -h)" },
]);

function formatValue(v: unknown): string {
  if (v !== null && typeof v === "object") {
    // "\x02": a line may break after the comma (no space is printed there)
    return Object.entries(v).map(([k, x]) => `${k}=${x}`).join(",\x02");
  }
  return String(v);
}

function wrap(text: string, width: number): string[] {
  const out: string[] = [];
  let line = "";
  for (const word of text.split(" ")) {
    // a word may hold break points ("\x02") where it continues without a space
    word.split("\x02").forEach((piece, i) => {
      const sep = i === 0 && line ? " " : "";
      if (line && line.length + sep.length + piece.length > width) {
        [out[out.length], line] = [line, piece];
      } else line += sep + piece;
    });
  }
  return [...out, line];
}

const PRESET_FIELDS = new Set(
  Object.values(PRESET_OVERRIDES).flatMap((o) => Object.keys(o)),
);

/**
 * The `--help` text: usage, every option with its default (from `TRAIN_DEFAULTS`), and what
 * each preset changes (from `PRESET_OVERRIDES`).
 *
 * @example
 * ```ts
 * console.log(trainHelp());
 * ```
 */
export function trainHelp(): string {
  const rows = TRAIN_OPTIONS.map((o) => {
    const left = o.value ? `${o.flag} ${o.value}` : o.flag;
    let right = o.description;
    if (o.field) {
      const dflt = formatValue(TRAIN_DEFAULTS[o.field]);
      right += ` [default:\x01${dflt}${PRESET_FIELDS.has(o.field) ? ", preset\x01mugs" : ""}]`;
    }
    return [left, right];
  });
  const width = Math.min(30, Math.max(...rows.map(([l]) => l.length)));
  const pad = " ".repeat(width + 4);
  const lines = rows.map(([l, r]) => {
    const body = wrap(r, 100 - pad.length).join(`\n${pad}`).replaceAll("\x01", " ");
    return l.length > width ? `  ${l}\n${pad}${body}` : `  ${l.padEnd(width)}  ${body}`;
  });
  const presets = TRAIN_PRESETS.map((p) => {
    const o = Object.entries(PRESET_OVERRIDES[p]);
    const what = o.length
      ? o.map(([k, v]) => `--${kebab(k)} ${formatValue(v)}`).join(" ")
      : "the defaults (all three losses)";
    return `  ${p.padEnd(6)}  ${what}`;
  });
  return [
    "Usage: deno task train [options]",
    "",
    "Self-supervised training (Mugs, or a baseline preset), then a weighted k-NN evaluation.",
    "Values come from the preset's defaults, then --config FILE, then the flags (last wins).",
    "Peak lr = lr * batch-size / 256. The defaults are the kit's small run (embedded",
    "Fashion-MNIST, vit_micro_28); see lib/mugs/config.ts for the ImageNet values.",
    "",
    "Options:",
    ...lines,
    "",
    "Presets (what each changes from the defaults):",
    ...presets,
    "",
    "Examples:",
    "  deno task train --epochs 5 --out runs/a",
    "  deno task train --preset dino --data fashion-mnist --vit vit_mini_28   # Debian's files",
    "  deno task train --data photos/ --epochs 3   # photos/<class>/*.jpg, or photos/train + photos/val",
    "",
    "--data reads:",
    ...DATA_LAYOUTS.map((l) => `  ${l}`),
    "  deno task train --weights instance=1,localGroup=0,group=1   # ablation",
  ].join("\n");
}

const NUMBER = /^[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$/;

function parseNumber(flag: string, text: string, what = flag): number {
  const t = text.trim();
  if (!NUMBER.test(t)) {
    throw new ConfigError(flag, what, `${flag}: expected a number, got '${text}'`);
  }
  return Number(t);
}

function convert(flag: string, kind: Kind, text: string, what = flag): unknown {
  switch (kind.type) {
    case "int":
    case "number":
      return parseNumber(flag, text, what);
    case "boolean":
      if (text === "true" || text === "false") return text === "true";
      throw new ConfigError(flag, what, `${flag}: ${what} must be true or false, got '${text}'`);
    case "object":
      return parseKeyValues(flag, text, kind.fields);
    default:
      return text;
  }
}

function parseKeyValues(
  flag: string,
  text: string,
  fields: Record<string, Kind>,
): Record<string, unknown> {
  const known = Object.keys(fields);
  const example = known.map((k) => `${k}=…`).join(",");
  const out: Record<string, unknown> = {};
  if (text.trim() === "") {
    throw new ConfigError(flag, flag, `${flag}: expected KEY=VALUE pairs like ${example}`);
  }
  for (const part of text.split(",")) {
    const m = /^\s*([A-Za-z_][\w-]*)\s*=\s*(\S.*?)\s*$/.exec(part);
    if (!m) {
      throw new ConfigError(
        flag,
        flag,
        `${flag}: '${part}' is not KEY=VALUE (write e.g. ${example})`,
      );
    }
    const [, key, value] = m;
    if (!(key in fields)) {
      const hint = closest(key, known);
      throw new ConfigError(
        flag,
        key,
        `${flag}: unknown key '${key}'${hint ? ` (did you mean '${hint}'?)` : ""}; known: ` +
          known.join(", "),
      );
    }
    if (key in out) throw new ConfigError(flag, key, `${flag}: key '${key}' given twice`);
    out[key] = convert(flag, fields[key], value, key);
  }
  return out;
}

const OPTIONS: ArgvOptions = Object.fromEntries([
  ...FIELDS.map(({ flag, kind }) => [
    flag.slice(2),
    { type: kind.type === "boolean" ? "boolean" : "string" } as const,
  ]),
  ["config", { type: "string" } as const],
  ["help", { type: "boolean", short: "h" } as const],
]);

/**
 * Parse the arguments of `deno task train` into a validated `TrainConfig` (reading
 * `--config FILE` if given), or the help text for `--help`. Throws a `ConfigError` naming
 * the flag (or file) and field for any bad value.
 *
 * @example
 * ```ts
 * const args = await parseTrainArgs(["--preset", "dino", "--epochs", "5"]);
 * if (!args.help) console.log(args.config.weights); // { instance: 0, localGroup: 0, group: 1 }
 * ```
 */
export async function parseTrainArgs(argv: readonly string[]): Promise<TrainArgs> {
  const values = readArgv(argv, OPTIONS);
  if (values.help) return { help: true, text: trainHelp() };

  const cli: Record<string, unknown> = {};
  const flags: Record<string, string> = {};
  for (const { field, flag, kind } of FIELDS) {
    const v = values[flag.slice(2)];
    if (v === undefined) continue;
    cli[field] = typeof v === "boolean" ? v : convert(flag, kind, v);
    flags[field] = flag;
  }
  const layers: ConfigLayer[] = [];
  const configFile = values.config as string | undefined;
  if (configFile !== undefined) {
    layers.push({ source: configFile, values: await readConfigFile(configFile) });
  }
  layers.push({ source: "command line", values: cli, flags });
  const config = resolveLayers(layers);
  return configFile === undefined ? { help: false, config } : { help: false, config, configFile };
}
