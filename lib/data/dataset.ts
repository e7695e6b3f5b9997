/**
 * The in-memory dataset every loader returns, and helpers on it: validation, a subset
 * by indices, per-class counts, a class-balanced subset and a stratified train/held-out
 * split.
 *
 * Layout: `images` holds `n` images of `channels x height x width` uint8 values, CHW per
 * image, images back to back (image i starts at `i * channels * height * width`).
 * `labels[i]` is a class index into `classes`, or -1 for an unlabeled image.
 */
import { Generator } from "../tensor/rng.ts";

/**
 * `n` uint8 CHW images with integer labels (-1 = unlabeled) and class names.
 *
 * @example
 * ```ts
 * const ds: Dataset = {
 *   images: new Uint8Array(2 * 28 * 28), labels: Int32Array.of(3, -1),
 *   n: 2, channels: 1, height: 28, width: 28, classes: ["a", "b", "c", "d"],
 * };
 * ```
 */
export interface Dataset {
  /** `n * channels * height * width` bytes, CHW per image, images back to back. */
  images: Uint8Array;
  /** One label per image: an index into `classes`, or -1 for an unlabeled image. */
  labels: Int32Array;
  n: number;
  channels: number;
  height: number;
  width: number;
  /** Class names; `classes[k]` is the name of label k. */
  classes: string[];
}

/**
 * Check a dataset's fields agree (sizes, label range) and return it; `what` names it in
 * errors.
 *
 * @example
 * ```ts
 * const ds = checkDataset({
 *   images: new Uint8Array(2 * 4), labels: Int32Array.of(0, 1),
 *   n: 2, channels: 1, height: 2, width: 2, classes: ["a", "b"],
 * });
 * ```
 */
export function checkDataset(ds: Dataset, what = "dataset"): Dataset {
  for (const f of ["n", "channels", "height", "width"] as const) {
    const v = ds[f];
    if (!Number.isInteger(v) || v < (f === "n" ? 0 : 1)) {
      throw new Error(
        `${what}: field '${f}' must be a ${
          f === "n" ? "non-negative" : "positive"
        } integer, got ${v}`,
      );
    }
  }
  if (!(ds.images instanceof Uint8Array)) {
    throw new Error(`${what}: field 'images' must be a Uint8Array`);
  }
  if (!(ds.labels instanceof Int32Array)) {
    throw new Error(`${what}: field 'labels' must be an Int32Array`);
  }
  const per = ds.channels * ds.height * ds.width;
  if (ds.images.length !== ds.n * per) {
    throw new Error(
      `${what}: field 'images' has ${ds.images.length} bytes, expected n*C*H*W = ` +
        `${ds.n}*${ds.channels}*${ds.height}*${ds.width} = ${ds.n * per}`,
    );
  }
  if (ds.labels.length !== ds.n) {
    throw new Error(
      `${what}: field 'labels' has ${ds.labels.length} entries, expected n = ${ds.n}`,
    );
  }
  const k = ds.classes.length;
  for (let i = 0; i < ds.n; i++) {
    const l = ds.labels[i];
    if (l < -1 || l >= k) {
      throw new Error(
        `${what}: labels[${i}] = ${l} is outside [-1, ${k - 1}] (${k} classes: ${
          ds.classes.slice(0, 10).join(", ")
        }${k > 10 ? ", ..." : ""})`,
      );
    }
  }
  return ds;
}

/** Bytes per image (`channels * height * width`). */
function perImage(ds: Dataset): number {
  return ds.channels * ds.height * ds.width;
}

/**
 * The bytes of image `i` (a view into `ds.images`, CHW).
 *
 * @example
 * ```ts
 * const px = imageAt(ds, 0); // ds.channels * ds.height * ds.width bytes
 * ```
 */
export function imageAt(ds: Dataset, i: number): Uint8Array {
  if (!Number.isInteger(i) || i < 0 || i >= ds.n) {
    throw new Error(`imageAt: index ${i} is outside [0, ${ds.n - 1}]`);
  }
  const p = perImage(ds);
  return ds.images.subarray(i * p, (i + 1) * p);
}

/**
 * A new dataset holding the images at `indices`, in that order (copies the bytes).
 *
 * @example
 * ```ts
 * const firstTen = subset(ds, Array.from({ length: 10 }, (_, i) => i));
 * ```
 */
export function subset(ds: Dataset, indices: ArrayLike<number>): Dataset {
  const p = perImage(ds);
  const n = indices.length;
  const images = new Uint8Array(n * p);
  const labels = new Int32Array(n);
  for (let j = 0; j < n; j++) {
    const i = indices[j];
    if (!Number.isInteger(i) || i < 0 || i >= ds.n) {
      throw new Error(`subset: indices[${j}] = ${i} is outside [0, ${ds.n - 1}]`);
    }
    images.set(ds.images.subarray(i * p, (i + 1) * p), j * p);
    labels[j] = ds.labels[i];
  }
  return { ...ds, images, labels, n, classes: [...ds.classes] };
}

/**
 * Images per class: `counts[k]` for label k, plus `unlabeled` (label -1).
 *
 * @example
 * ```ts
 * const { counts, unlabeled } = classCounts(ds);
 * ```
 */
export function classCounts(ds: Dataset): { counts: number[]; unlabeled: number } {
  const counts = new Array(ds.classes.length).fill(0);
  let unlabeled = 0;
  for (let i = 0; i < ds.n; i++) {
    const l = ds.labels[i];
    if (l < 0) unlabeled++;
    else counts[l]++;
  }
  return { counts, unlabeled };
}

/** Indices of each class in file order (`byClass[k]`), and of unlabeled images. */
function groups(ds: Dataset): { byClass: number[][]; unlabeled: number[] } {
  const byClass: number[][] = ds.classes.map(() => []);
  const unlabeled: number[] = [];
  for (let i = 0; i < ds.n; i++) {
    const l = ds.labels[i];
    if (l < 0) unlabeled.push(i);
    else byClass[l].push(i);
  }
  return { byClass, unlabeled };
}

/**
 * Options of `balancedSubset`.
 *
 * @example
 * ```ts
 * const opts: BalancedOptions = { seed: 0 };
 * ```
 */
export interface BalancedOptions {
  /** Pick at random (seeded) within each class; absent: the first `perClass` in file order. */
  seed?: number;
}

/**
 * `perClass` images of every class, kept in their original order. Without a seed the rule
 * is "the first `perClass` images of each class in file order"; with one, a seeded random
 * choice within each class. Unlabeled images are left out. A class with fewer images is an
 * error naming it.
 *
 * @example
 * ```ts
 * const small = balancedSubset(ds, 100); // 100 per class, first in file order
 * ```
 */
export function balancedSubset(ds: Dataset, perClass: number, opts: BalancedOptions = {}): Dataset {
  if (!Number.isInteger(perClass) || perClass < 1) {
    throw new Error(`balancedSubset: perClass must be a positive integer, got ${perClass}`);
  }
  if (!ds.classes.length) throw new Error("balancedSubset: the dataset has no classes");
  const { byClass } = groups(ds);
  const g = opts.seed === undefined ? null : new Generator(opts.seed);
  const chosen: number[] = [];
  byClass.forEach((idx, k) => {
    if (idx.length < perClass) {
      throw new Error(
        `balancedSubset: class ${k} ('${
          ds.classes[k]
        }') has ${idx.length} images, fewer than ${perClass}`,
      );
    }
    if (!g) chosen.push(...idx.slice(0, perClass));
    else {
      const p = g.permutation(idx.length);
      for (let j = 0; j < perClass; j++) chosen.push(idx[p[j]]);
    }
  });
  chosen.sort((a, b) => a - b);
  return subset(ds, chosen);
}

/**
 * A stratified split: a fraction `heldOut` (in (0, 1)) of every class (and of the
 * unlabeled images) goes to `heldOut`, chosen with a seeded generator; both parts keep
 * the original order. Each class keeps at least one training image where it has two.
 *
 * @example
 * ```ts
 * const { train, heldOut } = splitHeldOut(ds, 0.1, 0);
 * ```
 */
export function splitHeldOut(
  ds: Dataset,
  heldOut: number,
  seed = 0,
): { train: Dataset; heldOut: Dataset } {
  if (!(heldOut > 0 && heldOut < 1)) {
    throw new Error(`splitHeldOut: heldOut must be a fraction in (0, 1), got ${heldOut}`);
  }
  const g = new Generator(seed);
  const { byClass, unlabeled } = groups(ds);
  const train: number[] = [];
  const held: number[] = [];
  for (const idx of [...byClass, unlabeled]) {
    if (!idx.length) continue;
    let k = Math.round(idx.length * heldOut);
    if (idx.length >= 2) k = Math.min(Math.max(k, 1), idx.length - 1);
    const p = g.permutation(idx.length);
    for (let j = 0; j < idx.length; j++) (j < k ? held : train).push(idx[p[j]]);
  }
  train.sort((a, b) => a - b);
  held.sort((a, b) => a - b);
  return { train: subset(ds, train), heldOut: subset(ds, held) };
}

/**
 * Concatenate datasets of the same image shape and classes.
 *
 * @example
 * ```ts
 * const all = concatDatasets([a, b]);
 * ```
 */
export function concatDatasets(parts: Dataset[]): Dataset {
  if (!parts.length) throw new Error("concatDatasets: no datasets given");
  const [f] = parts;
  let n = 0;
  for (const [i, p] of parts.entries()) {
    if (p.channels !== f.channels || p.height !== f.height || p.width !== f.width) {
      throw new Error(
        `concatDatasets: part ${i} has images [${p.channels}, ${p.height}, ${p.width}], ` +
          `part 0 has [${f.channels}, ${f.height}, ${f.width}]`,
      );
    }
    if (p.classes.join("\n") !== f.classes.join("\n")) {
      throw new Error(`concatDatasets: part ${i} has other classes than part 0`);
    }
    n += p.n;
  }
  const images = new Uint8Array(n * f.channels * f.height * f.width);
  const labels = new Int32Array(n);
  let at = 0;
  for (const p of parts) {
    images.set(p.images, at * f.channels * f.height * f.width);
    labels.set(p.labels, at);
    at += p.n;
  }
  return { ...f, images, labels, n, classes: [...f.classes] };
}
