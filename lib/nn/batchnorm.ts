/**
 * `BatchNorm1d` over the rows of [N, C] features, as PyTorch's `nn.BatchNorm1d` (eps 1e-5,
 * momentum 0.1, affine): the projection heads' optional normalisation (DINO/Mugs
 * `--use_bn_in_head`). In training mode each feature is normalised by the batch's mean and
 * biased variance, and the running statistics move towards the batch's (the unbiased
 * variance); in evaluation mode the running statistics are used. Built from taped ops, so the
 * gradient (through the batch statistics too) needs no kernel of its own. PyTorch's
 * `num_batches_tracked` is not kept: it only matters with `momentum=None`.
 */
import { copyInto, Module } from "./module.ts";
import type { Tensor } from "../tensor/tensor.ts";
import { constant } from "./init.ts";
import { noGrad } from "../tensor/tape.ts";

/**
 * Training-mode batch normalisation of x [N, C] with the batch's mean and biased variance,
 * then the affine map: (x - mean) / sqrt(var + eps) * weight + bias (taped, differentiable).
 *
 * @example
 * ```ts
 * const y = batchNorm1d(x, bn.weight, bn.bias); // x [N, C], weight and bias [C]
 * ```
 */
export function batchNorm1d(x: Tensor, weight: Tensor, bias: Tensor, eps = 1e-5): Tensor {
  const mu = x.mean(0, true); // [1, C]
  const v = x.var(0, true, 0); // biased, as the normalisation uses
  return x.sub(mu).mul(v.add(eps).rsqrt()).mul(weight).add(bias);
}

export class BatchNorm1d extends Module {
  readonly weight: Tensor;
  readonly bias: Tensor;
  readonly runningMean: Tensor;
  readonly runningVar: Tensor;

  /**
   * @example
   * ```ts
   * const bn = new BatchNorm1d(256);
   * const y = bn.forward(x); // x [N, 256], training mode: batch statistics
   * ```
   */
  constructor(readonly dim: number, readonly eps = 1e-5, readonly momentum = 0.1) {
    super();
    this.weight = this.param("weight", constant([dim], 1));
    this.bias = this.param("bias", constant([dim], 0));
    this.runningMean = this.buffer("running_mean", constant([dim], 0));
    this.runningVar = this.buffer("running_var", constant([dim], 1));
  }

  /** x [N, C] -> [N, C]; in training mode N must be at least 2 (as PyTorch requires). */
  forward(x: Tensor): Tensor {
    if (x.ndim !== 2 || x.shape[1] !== this.dim) {
      throw new Error(`BatchNorm1d: expected features [N, ${this.dim}], got [${x.shape}]`);
    }
    if (!this.training) {
      return x.sub(this.runningMean).mul(this.runningVar.add(this.eps).rsqrt()).mul(this.weight)
        .add(this.bias);
    }
    const n = x.shape[0];
    if (n < 2) throw new Error(`BatchNorm1d: training needs at least 2 rows, got ${n}`);
    this.#track(x);
    return batchNorm1d(x, this.weight, this.bias, this.eps);
  }

  /** running = (1 - momentum) running + momentum batch (the variance unbiased). */
  #track(x: Tensor): void {
    const m = this.momentum;
    noGrad(() => {
      const xd = x.detach();
      const rm = this.runningMean.mul(1 - m).add(xd.mean(0).mul(m));
      const rv = this.runningVar.mul(1 - m).add(xd.var(0, false, 1).mul(m));
      copyInto(this.runningMean, rm);
      copyInto(this.runningVar, rv);
      rm.dispose();
      rv.dispose();
    });
  }
}
