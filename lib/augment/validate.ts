/**
 * Argument checks shared by the augmentation modules, as zod schemas (like every other
 * configuration of the kit). Every message names the field (as a dotted path such as
 * `local.scale`), says what was expected and shows the value given, so a bad option is a
 * clear error rather than a silent NaN: `MultiCrop: weak.flip must be a probability in
 * [0, 1], got 2`.
 *
 * The schema factories (`probSchema`, `numberSchema`, …) carry that message on every way a
 * value can fail; `parseField` / `zodFail` turn a zod error into the message; the `check*`
 * helpers parse one value with one schema.
 */
import { z } from "npm:zod@4.6.7";

/**
 * Fail with a message naming `field`.
 *
 * @example
 * ```ts
 * if (p > 1) fail("MultiCrop", "weak.flip", "must be a probability in [0, 1]");
 * ```
 */
export function fail(where: string, field: string, msg: string): never {
  throw new Error(`${where}: ${field} ${msg}`);
}

function show(v: unknown): string {
  try {
    return typeof v === "string" ? `"${v}"` : JSON.stringify(v) ?? String(v);
  } catch {
    return String(v);
  }
}

/** A zod schema whose every failure reads `msg`. */
function withMessage<T extends z.ZodType>(make: (error: { error: string }) => T, msg: string): T {
  return make({ error: msg });
}

/**
 * A probability in [0, 1].
 *
 * @example
 * ```ts
 * probSchema().parse(0.5);
 * ```
 */
export function probSchema(): z.ZodNumber {
  return withMessage(
    (e) => z.number(e).min(0, e).max(1, e),
    "must be a probability in [0, 1]",
  );
}

/**
 * A finite number in [lo, hi].
 *
 * @example
 * ```ts
 * numberSchema(0, 10).parse(9);
 * ```
 */
export function numberSchema(lo = -Infinity, hi = Infinity): z.ZodType<number> {
  const msg = `must be a finite number in [${lo}, ${hi}]`;
  return z.number({ error: msg }).refine((v) => Number.isFinite(v) && v >= lo && v <= hi, {
    error: msg,
  });
}

/**
 * An integer in [lo, hi].
 *
 * @example
 * ```ts
 * intSchema(0, 64).parse(10);
 * ```
 */
export function intSchema(lo = -Infinity, hi = Infinity): z.ZodType<number> {
  const msg = `must be an integer in [${lo}, ${hi}]`;
  return z.number({ error: msg }).refine((v) => Number.isInteger(v) && v >= lo && v <= hi, {
    error: msg,
  });
}

/**
 * A `[min, max]` pair with lo <= min <= max <= hi (and min > lo when `openLo`).
 *
 * @example
 * ```ts
 * rangeSchema(0, 1, true).parse([0.25, 1]);
 * ```
 */
export function rangeSchema(lo = -Infinity, hi = Infinity, openLo = false): z.ZodType<
  [number, number]
> {
  const msg = `must be [min, max] with ${lo} ${openLo ? "<" : "<="} min <= max <= ${hi}`;
  return z.tuple([z.number({ error: msg }), z.number({ error: msg })], { error: msg }).refine(
    ([a, b]) =>
      Number.isFinite(a) && Number.isFinite(b) && a <= b && a >= lo && b <= hi &&
      !(openLo && a <= lo),
    { error: msg },
  );
}

/**
 * `n` finite numbers >= lo (per-channel constants).
 *
 * @example
 * ```ts
 * listSchema(3, 1e-12).parse([0.229, 0.224, 0.225]);
 * ```
 */
export function listSchema(n: number, lo = -Infinity): z.ZodType<number[]> {
  const msg = `must be ${n} finite number(s) >= ${lo}`;
  return z.array(z.number({ error: msg }), { error: msg }).refine(
    (v) => v.length === n && v.every((x) => Number.isFinite(x) && x >= lo),
    { error: msg },
  );
}

/**
 * One of the allowed strings.
 *
 * @example
 * ```ts
 * oneOfSchema(["bilinear", "bicubic"]).parse("bicubic");
 * ```
 */
export function oneOfSchema<T extends string>(allowed: readonly T[]): z.ZodType<T> {
  const msg = `must be one of ${allowed.map((a) => `"${a}"`).join(", ")}`;
  return z.enum(allowed as [T, ...T[]], { error: msg });
}

/**
 * A strict object: an unknown key is "`key` is not an option (known: …)".
 *
 * @example
 * ```ts
 * optionsSchema({ p: probSchema() }).parse({ p: 0.5 });
 * ```
 */
export function optionsSchema<S extends z.ZodRawShape>(shape: S): z.ZodObject<S, z.core.$strict> {
  const known = Object.keys(shape).join(", ");
  return z.strictObject(shape, {
    error: (iss) =>
      iss.code === "unrecognized_keys"
        ? `is not an option (known: ${known})`
        : iss.code === "invalid_type"
        ? "must be an object"
        : undefined,
  });
}

function at(value: unknown, path: PropertyKey[]): unknown {
  let v = value;
  for (const k of path) v = v !== null && typeof v === "object" ? (v as never)[k] : undefined;
  return v;
}

function dotted(prefix: string, path: PropertyKey[]): string {
  let s = prefix;
  for (const k of path) {
    s += typeof k === "number" ? `[${k}]` : s ? `.${String(k)}` : String(k);
  }
  return s;
}

/**
 * Throw the first issue of a zod error as `where: field message, got value` (`prefix` is the
 * field path of `value`; an unknown key names the key).
 *
 * @example
 * ```ts
 * const r = probSchema().safeParse(2);
 * if (!r.success) zodFail("MultiCrop", r.error, 2, "weak.flip");
 * ```
 */
export function zodFail(where: string, error: z.ZodError, value: unknown, prefix = ""): never {
  const iss = error.issues[0];
  if (iss.code === "unrecognized_keys") {
    fail(where, dotted(prefix, [...iss.path, iss.keys[0]]), iss.message);
  }
  const field = dotted(prefix, iss.path) || "config";
  const got = at(value, iss.path);
  // messages made by a custom check (a sub-configuration) already say what is wrong
  const tail = iss.code === "custom" && iss.message.startsWith("is invalid")
    ? ""
    : `, got ${show(got)}`;
  fail(where, field, `${iss.message}${tail}`);
}

/**
 * Parse `value` with `schema`, or throw naming `field` (see `zodFail`).
 *
 * @example
 * ```ts
 * const p = parseField("MultiCrop", "weak.flip", probSchema(), 0.5);
 * ```
 */
export function parseField<T>(
  where: string,
  field: string,
  schema: z.ZodType<T>,
  value: unknown,
): T {
  const r = schema.safeParse(value);
  if (!r.success) zodFail(where, r.error, value, field);
  return r.data;
}

/**
 * A probability in [0, 1].
 *
 * @example
 * ```ts
 * checkProb("MultiCrop", "weak.flip", 0.5);
 * ```
 */
export function checkProb(where: string, field: string, p: unknown): number {
  return parseField(where, field, probSchema(), p);
}

/**
 * A finite number in [lo, hi].
 *
 * @example
 * ```ts
 * checkNumber("RandAugment", "magnitude", 9, 0, 10);
 * ```
 */
export function checkNumber(
  where: string,
  field: string,
  v: unknown,
  lo = -Infinity,
  hi = Infinity,
): number {
  return parseField(where, field, numberSchema(lo, hi), v);
}

/**
 * An integer in [lo, hi].
 *
 * @example
 * ```ts
 * checkInt("MultiCrop", "local.count", 10, 0, 64);
 * ```
 */
export function checkInt(
  where: string,
  field: string,
  v: unknown,
  lo = -Infinity,
  hi = Infinity,
): number {
  return parseField(where, field, intSchema(lo, hi), v);
}

/**
 * A `[min, max]` pair with lo <= min <= max <= hi (and min > lo when `open`).
 *
 * @example
 * ```ts
 * checkRange("MultiCrop", "global.scale", [0.25, 1], 0, 1, true);
 * ```
 */
export function checkRange(
  where: string,
  field: string,
  v: unknown,
  lo = -Infinity,
  hi = Infinity,
  openLo = false,
): [number, number] {
  const [a, b] = parseField(where, field, rangeSchema(lo, hi, openLo), v);
  return [a, b];
}

/**
 * A list of `n` finite numbers (per-channel constants).
 *
 * @example
 * ```ts
 * checkList("normalize", "std", [0.229, 0.224, 0.225], 3, 1e-12);
 * ```
 */
export function checkList(
  where: string,
  field: string,
  v: unknown,
  n: number,
  lo = -Infinity,
): number[] {
  return [...parseField(where, field, listSchema(n, lo), v)];
}

/**
 * One of the allowed strings.
 *
 * @example
 * ```ts
 * checkOneOf("resizedCrop", "interpolation", "bicubic", ["bilinear", "bicubic"]);
 * ```
 */
export function checkOneOf<T extends string>(
  where: string,
  field: string,
  v: unknown,
  allowed: readonly T[],
): T {
  return parseField(where, field, oneOfSchema(allowed), v);
}

/**
 * Throw unless `shape` is an image batch [B, C, H, W] with C = 1 or 3.
 *
 * @example
 * ```ts
 * checkImages("MultiCrop.apply", [256, 1, 28, 28]);
 * ```
 */
export function checkImages(
  where: string,
  shape: readonly number[],
): [number, number, number, number] {
  if (shape.length !== 4) {
    throw new Error(
      `${where}: images must be a 4-D tensor [B, C, H, W] (C = 1 or 3), got shape [${shape}]`,
    );
  }
  const [b, c, h, w] = shape;
  if (c !== 1 && c !== 3) {
    throw new Error(`${where}: images must have 1 or 3 channels, got C = ${c} (shape [${shape}])`);
  }
  return [b, c, h, w];
}
