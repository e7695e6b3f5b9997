/** Per-parameter gradient clipping (Mugs/DINO `clip_gradients`) and gradient cancelling. */
import { type Tensor, zeros } from "../tensor/tensor.ts";
import { clipScale, sumSquares } from "./kernels.ts";

/**
 * Scale each parameter's gradient so its L2 norm is at most `maxNorm`
 * (coefficient maxNorm / (norm + 1e-6), applied only when below 1).
 *
 * @example
 * ```ts
 * clipGradients(vit.parameters(), 3.0);
 * ```
 */
export function clipGradients(params: Tensor[], maxNorm: number): void {
  const norm2 = zeros([1]);
  for (const p of params) {
    if (!p.grad) continue;
    sumSquares(p.grad, norm2);
    clipScale(p.grad, norm2, maxNorm);
  }
  norm2.dispose();
}

/**
 * Drop the gradient of parameters whose name contains `pattern` (Mugs cancels the group
 * head's `last_layer` during the first epoch); the optimiser then skips them.
 *
 * @example
 * ```ts
 * cancelGradients(head.namedParameters(), "last_layer");
 * ```
 */
export function cancelGradients(named: [string, Tensor][], pattern: string): void {
  for (const [name, p] of named) {
    if (name.includes(pattern) && p.grad) {
      p.grad.dispose();
      p.grad = null;
    }
  }
}
