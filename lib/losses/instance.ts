/**
 * Instance discrimination: InfoNCE against a queue of negatives (MoCo-style, as Mugs'
 * `InfoNCELoss` in the official `src/loss.py`).
 *
 * For a student prediction `q` and the teacher target `k` of the same image, the logits
 * are `[q·k, q·queue_1, …, q·queue_K] / T` and the loss is the cross-entropy with label
 * 0, averaged over the batch. Facts of the official code that this follows:
 *
 * - The loss does not normalise: the heads return L2-normalised outputs. Here `q` and `k`
 *   are normalised inside by default (`normalize: true`), which changes nothing for
 *   already-normalised inputs.
 * - No `2 * T` factor (MoCo v3's `contrastive_loss` multiplies by `2 * T`; Mugs does not).
 *   `scaleBy2T: true` gives MoCo v3's scaling.
 * - Not symmetrised by swapping roles: the teacher's 2 global views are targets, the
 *   student's views (2 global + local) are predictions, and every teacher view t is paired
 *   with every student view v != t (so the positive of student global view 0 is the
 *   teacher's target of view 1, and local views are paired with both teacher views).
 *   Terms are averaged as in `pairing.ts` (`"mugs"` by default).
 * - All pairs use the queue as it was before this step (`queue.clone()` before the
 *   loop); afterwards the caller enqueues the teacher targets, view 0's batch first, then
 *   view 1's (2B keys per step).
 *
 * The cross-entropy with label 0 is computed as `softplus(lse(neg) - pos)`, with
 * `lse(neg)` from one fused cross-entropy pass over the student rows' negative logits,
 * so the [rows, K] logits are neither copied per teacher view nor concatenated.
 */
import { type Tensor, tensor } from "../tensor/tensor.ts";
import { noGrad } from "../tensor/tape.ts";
import { crossEntropy } from "../tensor/ops/loss.ts";
import { stack } from "../tensor/ops/shape.ts";
import { type PairingMode, pairWeights } from "./pairing.ts";

/**
 * Options of the InfoNCE losses.
 *
 * @example
 * ```ts
 * const o: InfoNCEOptions = { temperature: 0.2, normalize: true };
 * ```
 */
export interface InfoNCEOptions {
  /** Temperature T (default 0.2). */
  temperature?: number;
  /** L2-normalise the student predictions and teacher targets inside (default true). */
  normalize?: boolean;
  /** Multiply the loss by `2 * T`, as MoCo v3 (default false: Mugs does not). */
  scaleBy2T?: boolean;
  /**
   * Negatives: `"queue"` (Mugs, default); `"queue+batch"`, which adds the teacher targets of
   * the batch's other images (of the paired teacher view) to the queue, as MoCo v3's in-batch
   * negatives: useful while the queue still holds random or stale keys; or `"batch"`, the
   * batch's targets alone (MoCo v3: no queue), for a teacher that changes too fast between
   * steps for its queued keys to be consistent negatives (a teacher momentum near 0).
   */
  negatives?: NegativesMode;
}

/**
 * Where InfoNCE takes its negatives from: the queue (Mugs) or the queue and the batch.
 *
 * @example
 * ```ts
 * const n: NegativesMode = "queue+batch";
 * ```
 */
export type NegativesMode = "queue" | "queue+batch" | "batch";

/**
 * Options of the multi-crop InfoNCE losses.
 *
 * @example
 * ```ts
 * const o: MultiCropInfoNCEOptions = { studentViews: 12, pairing: "mugs" };
 * ```
 */
export interface MultiCropInfoNCEOptions extends InfoNCEOptions {
  /** Student views stacked in `student` (2 global + local crops). */
  studentViews: number;
  /** Teacher views stacked in `teacher` (default 2). */
  teacherViews?: number;
  /** Student views with index below this are large crops (default 2). */
  globalViews?: number;
  /** Pair averaging (default `"mugs"`: large and small crops averaged separately). */
  pairing?: PairingMode;
}

function checkTemperature(loss: string, t: number): void {
  if (!Number.isFinite(t) || t <= 0) {
    throw new Error(`${loss}: temperature must be a finite number > 0, got ${t}`);
  }
}

/** softplus(x) = log(1 + exp(x)), computed as relu(x) + log(1 + exp(-|x|)). */
function softplus(x: Tensor): Tensor {
  return x.relu().add(x.abs().neg().exp().add(1).log());
}

/**
 * @internal Multi-crop InfoNCE shared by the instance and local-group losses; `loss`
 * names the caller in errors.
 *
 * @example
 * ```ts
 * const l = multiCropInfoNCE("myLoss", pred, target, queue, { studentViews: 4 });
 * ```
 */
export function multiCropInfoNCE(
  loss: string,
  student: Tensor,
  teacher: Tensor,
  queue: Tensor,
  opts: MultiCropInfoNCEOptions & { pairWeights?: number[][] },
): Tensor {
  const T = opts.temperature ?? 0.2;
  checkTemperature(loss, T);
  const vs = opts.studentViews;
  const vt = opts.teacherViews ?? 2;
  for (const [what, n] of [["studentViews", vs], ["teacherViews", vt]] as const) {
    if (!Number.isInteger(n) || n < 1) {
      throw new Error(`${loss}: ${what} must be an integer >= 1, got ${n}`);
    }
  }
  if (student.ndim !== 2 || teacher.ndim !== 2 || queue.ndim !== 2) {
    throw new Error(
      `${loss}: want student [V_s*B, D], teacher [V_t*B, D] and queue [K, D], got ` +
        `[${student.shape}], [${teacher.shape}] and [${queue.shape}]`,
    );
  }
  const D = student.shape[1];
  const B = teacher.shape[0] / vt;
  if (
    !Number.isInteger(B) || student.shape[0] !== vs * B || teacher.shape[1] !== D ||
    queue.shape[1] !== D
  ) {
    throw new Error(
      `${loss}: shapes do not match: student [${student.shape}] (${vs} views), teacher ` +
        `[${teacher.shape}] (${vt} views), queue [${queue.shape}] ` +
        `(want student [${vs}*B, D], teacher [${vt}*B, D], queue [K, D])`,
    );
  }
  const weights = opts.pairWeights ?? pairWeights({
    teacherViews: vt,
    studentViews: vs,
    globalViews: opts.globalViews,
    mode: opts.pairing,
  }).weights;
  const normalize = opts.normalize ?? true;
  const q = normalize ? student.l2normalize() : student;
  const k = noGrad(() => (normalize ? teacher.detach().l2normalize() : teacher.detach()));
  const qT = q.mul(1 / T);
  // lse over the negatives of each student row, as CE(neg, label 0) + neg_0: one fused
  // cross-entropy pass (and one backward kernel) over the [V_s*B, K] logits
  const mode = opts.negatives ?? "queue";
  const lseQueue = () => {
    const keys = queue.detach();
    const neg = qT.matmul(keys, { transB: true }); // [V_s*B, K]
    const neg0 = qT.matmul(keys.slice(0, 0, 1), { transB: true }); // [V_s*B, 1]
    const label0 = tensor(new Int32Array(vs * B), [vs * B]);
    return crossEntropy(neg, label0, { reduction: "none" }).reshape([vs * B, 1]).add(neg0)
      .reshape([1, vs, B]);
  };
  // positives of every (teacher view, student view) pair
  const pos = qT.reshape([1, vs, B, D]).mul(k.reshape([vt, 1, B, D])).sum(3); // [V_t, V_s, B]
  let rows: Tensor; // cross-entropy with the positive as label, per pair and row
  if (mode !== "queue") {
    // ce[t, v, b] = lse_j(q_vb · k_tj / T) - pos: the batch's keys of view t, positive included;
    // the queue joins through logaddexp: ce + log(1 + exp(lseNeg - lse_batch))
    const labels = tensor(Int32Array.from({ length: vs * B }, (_, r) => r % B), [vs * B]);
    const ce = stack(
      Array.from(
        { length: vt },
        (_, t) =>
          crossEntropy(qT.matmul(k.slice(0, t * B, (t + 1) * B), { transB: true }), labels, {
            reduction: "none",
          }),
      ),
    ).reshape([vt, vs, B]);
    rows = mode === "batch" ? ce : ce.add(softplus(lseQueue().sub(ce.add(pos))));
  } else {
    rows = softplus(lseQueue().sub(pos));
  }
  const scale = opts.scaleBy2T ? 2 * T : 1;
  const w = tensor(Float32Array.from(weights.flat(), (x) => (x * scale) / B), [vt, vs, 1]);
  // intermediates (w, k, …) are referenced by the tape: the caller's tidy() frees them
  return rows.mul(w).sum();
}

/**
 * InfoNCE of one pair of views: student predictions `q` [B, D] against teacher targets
 * `k` [B, D] (detached) with negatives `queue` [K, D] (detached); logits
 * `[q·k, q @ queue^T] / T`, cross-entropy with label 0, mean over B.
 *
 * @example
 * ```ts
 * const loss = infoNCE(pred, target, queue); // T = 0.2
 * ```
 */
export function infoNCE(q: Tensor, k: Tensor, queue: Tensor, opts: InfoNCEOptions = {}): Tensor {
  if (q.ndim !== 2 || k.ndim !== 2 || q.shape.join() !== k.shape.join()) {
    throw new Error(
      `infoNCE: prediction [${q.shape}] and target [${k.shape}] must both be [B, D]`,
    );
  }
  return multiCropInfoNCE("infoNCE", q, k, queue, {
    ...opts,
    studentViews: 1,
    teacherViews: 1,
    pairWeights: [[1]], // one pair of views: q and k are two different views already
  });
}

/**
 * The instance-discrimination loss of Mugs: multi-crop InfoNCE of the student's
 * instance predictions `student` [V_s*B, D] (views stacked, view-major) against the
 * teacher's targets `teacher` [V_t*B, D] with the instance queue [K, D] of negatives.
 *
 * @example
 * ```ts
 * const loss = instanceLoss(studentPred, teacherTarget, queue, { studentViews: 2 + nLocal });
 * ```
 */
export function instanceLoss(
  student: Tensor,
  teacher: Tensor,
  queue: Tensor,
  opts: MultiCropInfoNCEOptions,
): Tensor {
  return multiCropInfoNCE("instanceLoss", student, teacher, queue, opts);
}
