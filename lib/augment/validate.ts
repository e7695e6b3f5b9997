/**
 * Argument checks shared by the augmentation modules. Every message names the field (as a
 * dotted path such as `local.scale`) and says what was expected, so a bad option is a clear
 * error rather than a silent NaN.
 */

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

/**
 * A probability in [0, 1].
 *
 * @example
 * ```ts
 * checkProb("MultiCrop", "weak.flip", 0.5);
 * ```
 */
export function checkProb(where: string, field: string, p: unknown): number {
  if (typeof p !== "number" || !Number.isFinite(p) || p < 0 || p > 1) {
    fail(where, field, `must be a probability in [0, 1], got ${show(p)}`);
  }
  return p;
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
  if (typeof v !== "number" || !Number.isFinite(v) || v < lo || v > hi) {
    fail(where, field, `must be a finite number in [${lo}, ${hi}], got ${show(v)}`);
  }
  return v;
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
  if (typeof v !== "number" || !Number.isInteger(v) || v < lo || v > hi) {
    fail(where, field, `must be an integer in [${lo}, ${hi}], got ${show(v)}`);
  }
  return v;
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
  if (
    !Array.isArray(v) || v.length !== 2 ||
    !v.every((x) => typeof x === "number" && Number.isFinite(x)) ||
    v[0] > v[1] || v[0] < lo || v[1] > hi || (openLo && v[0] <= lo)
  ) {
    fail(
      where,
      field,
      `must be [min, max] with ${lo} ${openLo ? "<" : "<="} min <= max <= ${hi}, got ${show(v)}`,
    );
  }
  return [v[0], v[1]];
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
  if (
    !Array.isArray(v) || v.length !== n ||
    !v.every((x) => typeof x === "number" && Number.isFinite(x) && x >= lo)
  ) {
    fail(where, field, `must be ${n} finite number(s) >= ${lo}, got ${show(v)}`);
  }
  return [...v];
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
  if (typeof v !== "string" || !allowed.includes(v as T)) {
    fail(where, field, `must be one of ${allowed.map((a) => `"${a}"`).join(", ")}, got ${show(v)}`);
  }
  return v as T;
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
