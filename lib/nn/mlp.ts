/**
 * `MLP`: fc1 -> exact GELU -> fc2 (timm's `Mlp`, names `fc1`, `fc2`). The three steps run as
 * one fused op (`mlp` in lib/tensor/ops/matmul.ts) on a software adapter.
 */
import { Module } from "./module.ts";
import type { Tensor } from "../tensor/tensor.ts";
import { Linear } from "./linear.ts";
import type { Generator } from "../tensor/rng.ts";
import { mlp } from "../tensor/ops/matmul.ts";

export class MLP extends Module {
  readonly fc1: Linear;
  readonly fc2: Linear;

  /**
   * @example
   * ```ts
   * const mlp = new MLP(64, 256); // 64 -> 256 -> 64
   * ```
   */
  constructor(dim: number, hidden: number, out = dim, gen?: Generator) {
    super();
    this.fc1 = this.module("fc1", new Linear(dim, hidden, { gen }));
    this.fc2 = this.module("fc2", new Linear(hidden, out, { gen }));
  }

  forward(x: Tensor): Tensor {
    const I = this.fc1.inFeatures;
    if (x.shape[x.ndim - 1] !== I) {
      throw new Error(
        `MLP(${I} -> ${this.fc2.outFeatures}): input [${x.shape}] has ${
          x.shape[x.ndim - 1]
        } features`,
      );
    }
    const x2 = x.ndim === 2 ? x : x.reshape(-1, I);
    const y = mlp(x2, this.fc1.weight, this.fc1.bias, this.fc2.weight, this.fc2.bias);
    return x.ndim === 2 ? y : y.reshape([...x.shape.slice(0, -1), this.fc2.outFeatures]);
  }
}
