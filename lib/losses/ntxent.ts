/**
 * SimCLR's NT-Xent loss (Chen et al. 2020): the normalised temperature-scaled cross-entropy of
 * 2B embeddings of B images in two views, each row's positive being the other view of the same
 * image and its negatives the other 2B - 2 rows; no teacher, no queue, and the gradient flows
 * through both views. The mean over the 2B rows, as SimCLR's `NT-Xent` and lightly's
 * `NTXentLoss` (without memory bank).
 *
 * logits[i, j] = z_i · z_j / T (z L2-normalised), the diagonal masked out;
 * loss = mean_i CE(logits[i], label (i + B) mod 2B).
 */
import { type Tensor, tensor } from "../tensor/tensor.ts";
import { crossEntropy } from "../tensor/ops/loss.ts";

/** A logit far below any cosine / T: exp of it is 0 in f32, so a row never picks itself. */
const MASK = -1e9;

/**
 * NT-Xent of `z` [2B, D] (view 0's batch first, then view 1's) at temperature `temperature`
 * (SimCLR: 0.5 on ImageNet; 0.2 in the kit's small runs).
 *
 * @example
 * ```ts
 * const loss = ntXentLoss(student.instanceHead.project(cls), { temperature: 0.2 });
 * ```
 */
export function ntXentLoss(z: Tensor, opts: { temperature?: number } = {}): Tensor {
  const T = opts.temperature ?? 0.2;
  if (!Number.isFinite(T) || T <= 0) {
    throw new Error(`ntXentLoss: temperature must be a finite number > 0, got ${T}`);
  }
  if (z.ndim !== 2 || z.shape[0] % 2 || z.shape[0] < 2) {
    throw new Error(`ntXentLoss: want z [2B, D] (two views of B images), got [${z.shape}]`);
  }
  const n = z.shape[0];
  const B = n / 2;
  const q = z.l2normalize();
  const mask = new Float32Array(n * n);
  for (let i = 0; i < n; i++) mask[i * n + i] = MASK;
  const logits = q.matmul(q, { transB: true }).mul(1 / T).add(tensor(mask, [n, n]));
  const labels = tensor(Int32Array.from({ length: n }, (_, i) => (i + B) % n), [n]);
  return crossEntropy(logits, labels);
}
