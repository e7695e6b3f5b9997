/**
 * Multi-crop pairing: which (teacher view, student view) pairs a loss uses and how
 * their terms are averaged.
 *
 * Every teacher view is paired with every student view except the one of the same
 * index (teacher view t and student view t are two encodings of the same crop). Two
 * averaging rules:
 *
 * - `"mugs"` (official Mugs `src/loss.py`, both `InfoNCELoss` and `ClusteringLoss`):
 *   terms whose student view is a large (global) crop (index < `globalViews`) are
 *   averaged, terms whose student view is a small (local) crop are averaged, and the
 *   loss is `0.5 * (large + small)`. (The official code divides by zero when there are
 *   no small crops; here a missing group is left out, so the loss is the other group's
 *   average.)
 * - `"dino"` (DINO's `DINOLoss`, SwAV's swapped loss): the plain mean over all
 *   `n_loss_terms` pairs.
 *
 * Each pair's term is itself a mean over the batch, so a pair weight here times `1/B`
 * is the weight of one row's loss.
 */

/**
 * How pair terms are averaged: Mugs' large/small split or DINO's plain mean.
 *
 * @example
 * ```ts
 * const mode: PairingMode = "dino";
 * ```
 */
export type PairingMode = "mugs" | "dino";

/**
 * The views of one multi-crop loss.
 *
 * @example
 * ```ts
 * const o: PairingOptions = { teacherViews: 2, studentViews: 12, globalViews: 2 };
 * ```
 */
export interface PairingOptions {
  /** Teacher views (official: the 2 global crops). */
  teacherViews: number;
  /** Student views (official: 2 global + `n` local crops). */
  studentViews: number;
  /** Student views with index below this are large crops (default 2, as Mugs' `p_idx < 2`). */
  globalViews?: number;
  /** Averaging rule (default `"mugs"`). */
  mode?: PairingMode;
  /**
   * The student view that is the same crop as each teacher view (skipped when paired);
   * default `t -> t`. SwAV passes its `crops_for_assign` here.
   */
  sameView?: number[];
}

/**
 * The pairs of a multi-crop loss and the weight of each pair's (batch-mean) term.
 *
 * @example
 * ```ts
 * const { pairs, weights } = pairWeights({ teacherViews: 2, studentViews: 4 });
 * ```
 */
export interface Pairing {
  /** `weights[t][v]`: the weight of pair (teacher t, student v); 0 for skipped pairs. */
  weights: number[][];
  /** The (teacher, student) pairs used, teacher-major as in the official loops. */
  pairs: [number, number][];
  /** Pairs whose student view is a large crop. */
  nLarge: number;
  /** Pairs whose student view is a small crop. */
  nSmall: number;
}

function checkCount(what: string, n: number, min: number): void {
  if (!Number.isInteger(n) || n < min) {
    throw new Error(`pairing: ${what} must be an integer >= ${min}, got ${n}`);
  }
}

/**
 * The pairs and pair weights of a multi-crop loss (the weights sum to 1).
 *
 * @example
 * ```ts
 * const p = pairWeights({ teacherViews: 2, studentViews: 5 });
 * // p.nLarge = 2 (0->1, 1->0), p.nSmall = 6; weights 0.25 and 1/12
 * ```
 */
export function pairWeights(opts: PairingOptions): Pairing {
  const { teacherViews: vt, studentViews: vs } = opts;
  const g = opts.globalViews ?? 2;
  const mode = opts.mode ?? "mugs";
  checkCount("teacherViews", vt, 1);
  checkCount("studentViews", vs, 1);
  checkCount("globalViews", g, 0);
  if (mode !== "mugs" && mode !== "dino") {
    throw new Error(`pairing: mode must be "mugs" or "dino", got ${JSON.stringify(mode)}`);
  }
  const same = opts.sameView ?? Array.from({ length: vt }, (_, t) => t);
  if (same.length !== vt || same.some((s) => !Number.isInteger(s) || s < 0)) {
    throw new Error(
      `pairing: sameView must give one view index >= 0 per teacher view (${vt}), got [${same}]`,
    );
  }
  const pairs: [number, number][] = [];
  let nLarge = 0;
  let nSmall = 0;
  for (let t = 0; t < vt; t++) {
    for (let v = 0; v < vs; v++) {
      if (same[t] === v) continue;
      pairs.push([t, v]);
      if (v < g) nLarge++;
      else nSmall++;
    }
  }
  if (pairs.length === 0) {
    throw new Error(
      `pairing: no pairs (${vt} teacher view(s) and ${vs} student view(s); same-index pairs are skipped)`,
    );
  }
  const weights = Array.from({ length: vt }, () => new Array<number>(vs).fill(0));
  const groups = (nLarge > 0 ? 1 : 0) + (nSmall > 0 ? 1 : 0);
  for (const [t, v] of pairs) {
    if (mode === "dino") weights[t][v] = 1 / pairs.length;
    else weights[t][v] = 1 / groups / (v < g ? nLarge : nSmall);
  }
  return { weights, pairs, nLarge, nSmall };
}
