/**
 * SwAV's swapped prediction with Sinkhorn-Knopp codes (facebookresearch/swav
 * `main_swav.py`: `train` and `distributed_sinkhorn`), as an alternative group loss.
 *
 * Codes (no gradient), single process: `Q = exp(scores / eps)^T` (K x N), `Q /= sum(Q)`,
 * then `iterations` times: each prototype row divided by its sum and by K, each sample
 * column divided by its sum and by N; finally `Q *= N`, so every sample's code sums to 1.
 * Defaults eps 0.05, 3 iterations. Here `exp` is taken after subtracting the global
 * maximum, which the first normalisation cancels exactly (the official code overflows
 * for scores above 88 * eps).
 *
 * Loss: for each view `a` in `assign` (official `crops_for_assign` [0, 1]), codes from
 * that view's scores (optionally with queued scores prepended, of which only the batch
 * rows are kept), and for every other view v the term
 * `-mean_b sum_c q_a * log_softmax(scores_v / T)` (T 0.1); official averaging: over the
 * `V - 1` other views, then over the assigned views, i.e. the plain mean over pairs
 * (`pairing: "dino"`, the default; `"mugs"` splits large and small crops).
 */
import { type Tensor, tensor } from "../tensor/tensor.ts";
import { noGrad } from "../tensor/tape.ts";
import { tidy } from "../tensor/scope.ts";
import { crossEntropy } from "../tensor/ops/loss.ts";
import { concat } from "../tensor/ops/shape.ts";
import { type PairingMode, pairWeights } from "./pairing.ts";

/**
 * Options of `sinkhorn`.
 *
 * @example
 * ```ts
 * const o: SinkhornOptions = { epsilon: 0.05, iterations: 3 };
 * ```
 */
export interface SinkhornOptions {
  /** Entropic regularisation eps (default 0.05). */
  epsilon?: number;
  /** Sinkhorn-Knopp iterations (default 3). */
  iterations?: number;
}

/**
 * Sinkhorn-Knopp codes [N, K] for scores [N, K] (N samples, K prototypes), without
 * gradient: each row sums to 1; after many iterations every prototype column sums to
 * N / K.
 *
 * @example
 * ```ts
 * const codes = sinkhorn(scores, { epsilon: 0.05, iterations: 3 });
 * ```
 */
export function sinkhorn(scores: Tensor, opts: SinkhornOptions = {}): Tensor {
  const eps = opts.epsilon ?? 0.05;
  const iters = opts.iterations ?? 3;
  if (!Number.isFinite(eps) || eps <= 0) {
    throw new Error(`sinkhorn: epsilon must be a finite number > 0, got ${eps}`);
  }
  if (!Number.isInteger(iters) || iters < 0) {
    throw new Error(`sinkhorn: iterations must be an integer >= 0, got ${iters}`);
  }
  if (scores.ndim !== 2) throw new Error(`sinkhorn: want scores [N, K], got [${scores.shape}]`);
  const [N, K] = scores.shape;
  return noGrad(() =>
    tidy(() => {
      const x = scores.detach().div(eps);
      let q = x.sub(x.max()).exp();
      q = q.div(q.sum());
      for (let it = 0; it < iters; it++) {
        q = q.div(q.sum(0, true).mul(K)); // each prototype: total weight 1/K
        q = q.div(q.sum(1, true).mul(N)); // each sample: total weight 1/N
      }
      return q.mul(N);
    })
  );
}

/**
 * Options of `swavLoss`.
 *
 * @example
 * ```ts
 * const o: SwavLossOptions = { views: 8, assign: [0, 1], temperature: 0.1 };
 * ```
 */
export interface SwavLossOptions extends SinkhornOptions {
  /** Views stacked in `scores` (e.g. 2 global + local crops). */
  views: number;
  /** Views whose codes are predicted (official `crops_for_assign`, default [0, 1]). */
  assign?: number[];
  /** Temperature of the predictions (default 0.1). */
  temperature?: number;
  /** Pair averaging (default `"dino"`: the official plain mean). */
  pairing?: PairingMode;
  /** Views with index below this are large crops, for `pairing: "mugs"` (default 2). */
  globalViews?: number;
  /**
   * Queued scores [Q, K] per assigned view (null: none), prepended before Sinkhorn as
   * SwAV's queue (`queue @ prototypes^T`); only the batch's codes are used.
   */
  queued?: (Tensor | null)[];
}

/**
 * SwAV's swapped-prediction loss over prototype scores [V*B, K] (views stacked
 * view-major; `scores = normalize(z) @ normalize(prototypes)^T`).
 *
 * @example
 * ```ts
 * const loss = swavLoss(scores, { views: 2 + nLocal }); // eps 0.05, 3 iterations, T 0.1
 * ```
 */
export function swavLoss(scores: Tensor, opts: SwavLossOptions): Tensor {
  const V = opts.views;
  const assign = opts.assign ?? [0, 1];
  const T = opts.temperature ?? 0.1;
  if (!Number.isFinite(T) || T <= 0) {
    throw new Error(`swavLoss: temperature must be a finite number > 0, got ${T}`);
  }
  if (!Number.isInteger(V) || V < 1) {
    throw new Error(`swavLoss: views must be an integer >= 1, got ${V}`);
  }
  if (scores.ndim !== 2 || scores.shape[0] % V !== 0) {
    throw new Error(`swavLoss: want scores [${V}*B, K], got [${scores.shape}]`);
  }
  const [N, K] = scores.shape;
  const B = N / V;
  if (
    !assign.length || assign.some((a, i) =>
      !Number.isInteger(a) || a < 0 || a >= V ||
      assign.indexOf(a) !== i
    )
  ) {
    throw new Error(`swavLoss: assign must list distinct views in [0, ${V}), got [${assign}]`);
  }
  const queued = opts.queued ?? [];
  if (queued.length > assign.length) {
    throw new Error(`swavLoss: ${queued.length} queued score sets for ${assign.length} views`);
  }
  for (const qs of queued) {
    if (qs && (qs.ndim !== 2 || qs.shape[1] !== K)) {
      throw new Error(`swavLoss: queued scores [${qs.shape}] do not match scores [${N}, ${K}]`);
    }
  }
  // the assigned views play the teacher: pair (i, v) is skipped when v is assign[i]
  const { weights } = pairWeights({
    teacherViews: assign.length,
    studentViews: V,
    globalViews: opts.globalViews,
    mode: opts.pairing ?? "dino",
    sameView: assign,
  });
  const target = noGrad(() =>
    tidy(() => {
      const codes = assign.map((a, i) => {
        const own = scores.detach().slice(0, a * B, (a + 1) * B);
        const qs = queued[i];
        if (!qs) return sinkhorn(own, opts);
        const all = sinkhorn(concat([qs.detach(), own], 0), opts);
        return all.slice(0, qs.shape[0]);
      });
      const c = codes.length === 1 ? codes[0] : concat(codes, 0); // [A*B, K]
      const wT = new Float32Array(V * assign.length);
      for (let v = 0; v < V; v++) {
        for (let i = 0; i < assign.length; i++) wT[v * assign.length + i] = weights[i][v] / B;
      }
      const w = tensor(wT, [V, assign.length]);
      return w.matmul(c.reshape([assign.length, B * K])).reshape([N, K]);
    })
  );
  return crossEntropy(scores.mul(1 / T), target, { reduction: "none" }).sum();
}
