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

/** (x - mean) / sqrt(var + eps) * weight + bias, with mean and var [1, C] or [C] (taped). */
function normalise(x: Tensor, mean: Tensor, variance: Tensor, w: Tensor, b: Tensor, eps: number) {
  return x.sub(mean).mul(variance.add(eps).rsqrt()).mul(w).add(b);
}

/** The batch's mean and biased variance per feature of x [N, C], each [1, C] (taped). */
function batchStats(x: Tensor): { mean: Tensor; variance: Tensor } {
  return { mean: x.mean(0, true), variance: x.var(0, true, 0) };
}

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
  const { mean, variance } = batchStats(x);
  return normalise(x, mean, variance, weight, bias, eps);
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
      return normalise(x, this.runningMean, this.runningVar, this.weight, this.bias, this.eps);
    }
    const n = x.shape[0];
    if (n < 2) throw new Error(`BatchNorm1d: training needs at least 2 rows, got ${n}`);
    const { mean, variance } = batchStats(x);
    this.#track(mean, variance, n);
    return normalise(x, mean, variance, this.weight, this.bias, this.eps);
  }

  /**
   * running = (1 - momentum) running + momentum batch, from the statistics the forward pass
   * already computed (the variance made unbiased: x n / (n - 1), as PyTorch keeps it).
   */
  #track(mean: Tensor, variance: Tensor, n: number): void {
    const m = this.momentum;
    noGrad(() => {
      const rm = this.runningMean.mul(1 - m).add(mean.detach().reshape(this.dim).mul(m));
      const rv = this.runningVar.mul(1 - m).add(
        variance.detach().reshape(this.dim).mul(m * n / (n - 1)),
      );
      copyInto(this.runningMean, rm);
      copyInto(this.runningVar, rv);
      rm.dispose();
      rv.dispose();
    });
  }
}
