/**
 * Input checks of the read-outs (features, labels) and seeded, stratified index splits for the probes.
 *
 * `stratifiedSplit` holds out a fraction of every class (the linear probe chooses its
 * learning rate on it), like scikit-learn's `train_test_split(..., stratify=y)` but with
 * a simpler allocation: round(fraction * n_c) per class, kept within [1, n_c - 1] for a
 * class of at least 2 samples so both sides see it. `labelFraction` draws the labelled
 * subset of a semi-supervised read-out (the 1% / 10% protocol of SimCLR, DINO and MSN):
 * max(1, round(fraction * n_c)) per class. Those papers use fixed published subsets of
 * ImageNet; here the subset is drawn from the seed, so a seed fixes it.
 *
 * Both draw one permutation per class, classes in increasing order, from one
 * `Generator(seed)`, and return indices in increasing order, so the same labels and seed
 * give the same split on every machine.
 */
import { Generator } from "../tensor/rng.ts";
import { Tensor } from "../tensor/tensor.ts";

/**
 * Check a read-out's feature matrix: a live 2-D f32 tensor [rows, D]; returns it.
 *
 * @example
 * ```ts
 * const x = checkFeatures("knnClassify", "trainFeatures", feats);
 * ```
 */
export function checkFeatures(op: string, what: string, t: unknown): Tensor {
  if (!(t instanceof Tensor)) throw new Error(`${op}: ${what} must be a Tensor [rows, D]`);
  if (t.disposed) throw new Error(`${op}: ${what} [${t.shape}] was disposed`);
  if (t.dtype !== "f32" || t.ndim !== 2) {
    throw new Error(
      `${op}: ${what} must be a 2-D f32 tensor [rows, D], got ${t.dtype} [${t.shape}]`,
    );
  }
  return t;
}

/** Class labels: integers in [0, numClasses). */
export type Labels = Int32Array | ArrayLike<number>;

/**
 * Check labels and copy them into an Int32Array: every entry an integer in
 * [0, numClasses) (numClasses defaults to max + 1), and `n` entries when `n` is given.
 *
 * @example
 * ```ts
 * const y = checkLabels("linearProbe", "trainLabels", [0, 2, 1], 3); // Int32Array [0, 2, 1]
 * ```
 */
export function checkLabels(
  op: string,
  what: string,
  labels: Labels,
  numClasses?: number,
  n?: number,
): Int32Array {
  if (labels === null || typeof labels !== "object" || typeof labels.length !== "number") {
    throw new Error(`${op}: ${what} must be an Int32Array or an array of class indices`);
  }
  if (labels.length === 0) throw new Error(`${op}: ${what} is empty`);
  if (n !== undefined && labels.length !== n) {
    throw new Error(`${op}: ${what} has ${labels.length} entries but the features have ${n} rows`);
  }
  if (numClasses !== undefined && (!Number.isInteger(numClasses) || numClasses < 1)) {
    throw new Error(`${op}: numClasses must be a positive integer, got ${numClasses}`);
  }
  const out = new Int32Array(labels.length);
  for (let i = 0; i < labels.length; i++) {
    const v = labels[i];
    if (!Number.isInteger(v) || v < 0 || (numClasses !== undefined && v >= numClasses)) {
      const range = numClasses === undefined ? "a non-negative integer" : `in [0, ${numClasses})`;
      throw new Error(`${op}: ${what}[${i}] = ${v} is not a class index ${range}`);
    }
    out[i] = v;
  }
  return out;
}

function checkFraction(op: string, fraction: number, allowOne: boolean): void {
  const ok = typeof fraction === "number" && fraction > 0 &&
    (allowOne ? fraction <= 1 : fraction < 1);
  if (!ok) {
    throw new Error(
      `${op}: fraction must be in (0, ${allowOne ? "1]" : "1)"}, got ${fraction}`,
    );
  }
}

function checkSeed(op: string, seed: number): void {
  if (!Number.isInteger(seed)) throw new Error(`${op}: seed must be an integer, got ${seed}`);
}

/** max(labels) + 1 (labels already checked). */
function classCount(y: Int32Array): number {
  let m = 0;
  for (let i = 0; i < y.length; i++) if (y[i] > m) m = y[i];
  return m + 1;
}

/** Indices of each class, in increasing order. */
function byClass(y: Int32Array, numClasses: number): number[][] {
  const members: number[][] = Array.from({ length: numClasses }, () => []);
  for (let i = 0; i < y.length; i++) members[y[i]].push(i);
  return members;
}

/** The first `k` entries of a seeded shuffle of `idx`. */
function draw(g: Generator, idx: number[], k: number): number[] {
  const perm = g.permutation(idx.length);
  const out: number[] = [];
  for (let j = 0; j < k; j++) out.push(idx[perm[j]]);
  return out;
}

/**
 * Split indices 0..n-1 into `train` and `val`, holding out about `fraction` of every
 * class (round(fraction * n_c), at least 1 and at most n_c - 1 when the class has two or
 * more samples; a class of one sample stays in `train`). Seeded and deterministic.
 *
 * @example
 * ```ts
 * const { train, val } = stratifiedSplit(labels, 0.1, 0); // Int32Array indices, sorted
 * ```
 */
export function stratifiedSplit(
  labels: Labels,
  fraction: number,
  seed: number,
  numClasses?: number,
): { train: Int32Array; val: Int32Array } {
  const op = "stratifiedSplit";
  checkFraction(op, fraction, false);
  checkSeed(op, seed);
  const y = checkLabels(op, "labels", labels, numClasses);
  const C = numClasses ?? classCount(y);
  const g = new Generator(seed);
  const inVal = new Uint8Array(y.length);
  for (const idx of byClass(y, C)) {
    if (idx.length < 2) continue;
    const k = Math.min(idx.length - 1, Math.max(1, Math.round(fraction * idx.length)));
    for (const i of draw(g, idx, k)) inVal[i] = 1;
  }
  const train: number[] = [];
  const val: number[] = [];
  for (let i = 0; i < y.length; i++) (inVal[i] ? val : train).push(i);
  if (val.length === 0) {
    throw new Error(
      `${op}: no class has 2 or more samples, so nothing can be held out (labels: ${y.length})`,
    );
  }
  return { train: Int32Array.from(train), val: Int32Array.from(val) };
}

/**
 * A seeded, stratified subset of the labelled indices: max(1, round(fraction * n_c)) of
 * every class c in [0, numClasses). A class with no sample is an error (its accuracy
 * could not be learned). Indices come back sorted.
 *
 * @example
 * ```ts
 * const onePercent = labelFraction(trainLabels, 0.01, 0, 10);
 * ```
 */
export function labelFraction(
  labels: Labels,
  fraction: number,
  seed: number,
  numClasses?: number,
): Int32Array {
  const op = "labelFraction";
  checkFraction(op, fraction, true);
  checkSeed(op, seed);
  const y = checkLabels(op, "labels", labels, numClasses);
  const C = numClasses ?? classCount(y);
  const members = byClass(y, C);
  const empty = members.findIndex((m) => m.length === 0);
  if (empty >= 0) {
    throw new Error(
      `${op}: class ${empty} has no samples in the ${y.length} labels, so a stratified ${fraction} subset cannot include it`,
    );
  }
  const g = new Generator(seed);
  const picked: number[] = [];
  for (const idx of members) {
    const k = Math.min(idx.length, Math.max(1, Math.round(fraction * idx.length)));
    picked.push(...draw(g, idx, k));
  }
  return Int32Array.from(picked.sort((a, b) => a - b));
}
