/**
 * Classification read-outs on the host: the confusion matrix (rows = true class, columns
 * = predicted class, as scikit-learn's `confusion_matrix`), per-class accuracy (recall,
 * the diagonal over the row sums), top-1 predictions and top-k accuracy from logits
 * (DINO's `utils.accuracy`, with a fixed tie rule).
 *
 * Ties: the lower class index wins (argmax and top-k alike), so results never depend on
 * a sort's stability. A NaN logit never outranks another logit, and a row whose
 * true-class logit is NaN counts as wrong in top-k. Accuracies are percentages, like
 * DINO's logs.
 */
import { checkLabels, type Labels } from "./splits.ts";

function checkLogits(op: string, logits: ArrayLike<number>, cols: number): number {
  if (!Number.isInteger(cols) || cols < 1) {
    throw new Error(`${op}: numClasses must be a positive integer, got ${cols}`);
  }
  if (logits.length === 0 || logits.length % cols !== 0) {
    throw new Error(
      `${op}: logits have ${logits.length} values, not a non-empty multiple of ${cols} classes`,
    );
  }
  return logits.length / cols;
}

/**
 * The index of the largest logit of each row of `logits` [rows, numClasses] (row-major);
 * ties go to the lower index.
 *
 * @example
 * ```ts
 * argmaxRows([0.1, 0.9, 0.5, 0.2], 2); // Int32Array [1, 0]
 * ```
 */
export function argmaxRows(logits: ArrayLike<number>, numClasses: number): Int32Array {
  const rows = checkLogits("argmaxRows", logits, numClasses);
  const out = new Int32Array(rows);
  for (let r = 0; r < rows; r++) {
    const o = r * numClasses;
    let best = 0;
    let bv = logits[o];
    for (let c = 1; c < numClasses; c++) {
      const v = logits[o + c];
      if (v > bv || (bv !== bv && v === v)) {
        best = c;
        bv = v;
      }
    }
    out[r] = best;
  }
  return out;
}

/**
 * Top-k accuracy in percent of `logits` [rows, numClasses] against `labels`: a row is
 * right when fewer than k classes rank above its label (a higher logit, or an equal
 * logit at a lower index).
 *
 * @example
 * ```ts
 * topkAccuracy(logits, labels, 10, 5); // e.g. 97.5
 * ```
 */
export function topkAccuracy(
  logits: ArrayLike<number>,
  labels: Labels,
  numClasses: number,
  k: number,
): number {
  const op = "topkAccuracy";
  const rows = checkLogits(op, logits, numClasses);
  const y = checkLabels(op, "labels", labels, numClasses, rows);
  if (!Number.isInteger(k) || k < 1 || k > numClasses) {
    throw new Error(`${op}: k must be an integer in [1, ${numClasses}], got ${k}`);
  }
  let hits = 0;
  for (let r = 0; r < rows; r++) {
    const o = r * numClasses;
    const t = logits[o + y[r]];
    if (t !== t) continue; // NaN at the label: wrong
    let above = 0;
    for (let c = 0; c < numClasses && above < k; c++) {
      const v = logits[o + c];
      if (v > t || (v === t && c < y[r])) above++;
    }
    if (above < k) hits++;
  }
  return (100 * hits) / rows;
}

/**
 * The confusion matrix: `m[t][p]` counts samples of true class t predicted as p
 * (scikit-learn's layout).
 *
 * @example
 * ```ts
 * confusionMatrix([0, 1, 1], [0, 1, 0], 2); // [[1, 1], [0, 1]]
 * ```
 */
export function confusionMatrix(pred: Labels, labels: Labels, numClasses: number): number[][] {
  const op = "confusionMatrix";
  const y = checkLabels(op, "labels", labels, numClasses);
  const p = checkLabels(op, "pred", pred, numClasses);
  if (p.length !== y.length) {
    throw new Error(`${op}: pred has ${p.length} entries but labels has ${y.length}`);
  }
  const m = Array.from({ length: numClasses }, () => new Array<number>(numClasses).fill(0));
  for (let i = 0; i < y.length; i++) m[y[i]][p[i]]++;
  return m;
}

/**
 * Per-class accuracy in percent from a confusion matrix: diagonal over row sum (the
 * class's recall); NaN for a class with no samples.
 *
 * @example
 * ```ts
 * perClassAccuracy([[1, 1], [0, 1]]); // [50, 100]
 * ```
 */
export function perClassAccuracy(matrix: number[][]): number[] {
  const C = matrix.length;
  if (!C || matrix.some((row) => !Array.isArray(row) || row.length !== C)) {
    throw new Error(`perClassAccuracy: matrix must be square [C][C], got ${C} rows`);
  }
  return matrix.map((row, c) => {
    const n = row.reduce((a, b) => a + b, 0);
    return n === 0 ? NaN : (100 * row[c]) / n;
  });
}

/**
 * Overall accuracy in percent: the diagonal over the total of a confusion matrix.
 *
 * @example
 * ```ts
 * accuracyOf([[1, 1], [0, 1]]); // 66.67
 * ```
 */
export function accuracyOf(matrix: number[][]): number {
  let hit = 0;
  let all = 0;
  matrix.forEach((row, c) => {
    for (const v of row) all += v;
    hit += row[c];
  });
  if (all === 0) throw new Error("accuracyOf: the confusion matrix is empty");
  return (100 * hit) / all;
}
