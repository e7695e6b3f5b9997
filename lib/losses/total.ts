/**
 * The weighted total of several losses. Each loss is given as a thunk, and a loss with
 * weight 0 is never called, so its branch (heads, queues, kernels) costs nothing.
 *
 * Modes:
 * - `"mean"` (default, DESIGN.md §5): `sum_i w_i L_i / sum_i w_i` over the losses with
 *   `w_i > 0`.
 * - `"official"`: the official Mugs `main.py` exactly: `sum_i L_i / sum_i w_i` over the
 *   losses with `w_i > 0` (the weights gate the losses and set the divisor but do not
 *   multiply them; with the default weights 1, 1, 1 both modes are the plain mean).
 * - `"sum"`: `sum_i w_i L_i`.
 */
import type { Tensor } from "../tensor/tensor.ts";

/**
 * One loss of a weighted total.
 *
 * @example
 * ```ts
 * const t: LossTerm = { name: "group", weight: 1, compute: () => group.forward(s, t2) };
 * ```
 */
export interface LossTerm {
  /** A name for logs and the `losses` map. */
  name: string;
  /** Weight >= 0; 0 skips the loss (its thunk is not called). */
  weight: number;
  /** Computes the loss (a scalar tensor); called only when `weight > 0`. */
  compute: () => Tensor;
}

/**
 * How the weighted losses are combined.
 *
 * @example
 * ```ts
 * const { total } = weightedTotal(terms, "official" satisfies TotalMode);
 * ```
 */
export type TotalMode = "mean" | "official" | "sum";

/**
 * The total and the individual (unweighted) losses that were computed.
 *
 * @example
 * ```ts
 * const { total, losses, skipped }: WeightedTotal = weightedTotal(terms);
 * ```
 */
export interface WeightedTotal {
  total: Tensor;
  /** Each computed loss by name (unweighted), for logging. */
  losses: Record<string, Tensor>;
  /** Names of the losses skipped for a weight of 0. */
  skipped: string[];
}

/**
 * Combine losses with weights; weight-0 losses are skipped without computing them.
 *
 * @example
 * ```ts
 * const { total, losses } = weightedTotal([
 *   { name: "instance", weight: 1, compute: () => instanceLoss(p, t, queue, opts) },
 *   { name: "group", weight: 0, compute: () => group.forward(s, t2) }, // never called
 * ]);
 * ```
 */
export function weightedTotal(terms: LossTerm[], mode: TotalMode = "mean"): WeightedTotal {
  if (mode !== "mean" && mode !== "official" && mode !== "sum") {
    throw new Error(
      `weightedTotal: mode must be "mean", "official" or "sum", got ${JSON.stringify(mode)}`,
    );
  }
  const names = new Set<string>();
  for (const t of terms) {
    if (!Number.isFinite(t.weight) || t.weight < 0) {
      throw new Error(
        `weightedTotal: weight of "${t.name}" must be finite and >= 0, got ${t.weight}`,
      );
    }
    if (names.has(t.name)) throw new Error(`weightedTotal: loss "${t.name}" given twice`);
    names.add(t.name);
  }
  const active = terms.filter((t) => t.weight > 0);
  if (!active.length) {
    throw new Error(
      `weightedTotal: every weight is 0 (${terms.map((t) => t.name).join(", ") || "no losses"})`,
    );
  }
  const losses: Record<string, Tensor> = {};
  let total: Tensor | null = null;
  let wsum = 0;
  for (const t of active) {
    const l = t.compute();
    if (l.size !== 1) {
      throw new Error(`weightedTotal: loss "${t.name}" must be a scalar, got shape [${l.shape}]`);
    }
    losses[t.name] = l;
    wsum += t.weight;
    const term = mode === "official" || t.weight === 1 ? l : l.mul(t.weight);
    total = total ? total.add(term) : term;
  }
  if (mode !== "sum" && wsum !== 1) total = total!.mul(1 / wsum);
  else if (total === losses[active[0].name]) total = total.mul(1); // a distinct tensor
  return { total: total!, losses, skipped: terms.filter((t) => t.weight === 0).map((t) => t.name) };
}
