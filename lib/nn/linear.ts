/** `Linear`: y = x W^T + b with PyTorch's `[out, in]` weight layout. */
import { Module } from "./module.ts";
import type { Tensor } from "../tensor/tensor.ts";
import { Generator } from "../tensor/rng.ts";
import { constant, truncNormal } from "./init.ts";
import { linear } from "../tensor/ops/matmul.ts";

/** Options of `Linear`. */
export interface LinearOptions {
  bias?: boolean;
  /** Std of the truncated-normal weight init (DINO/timm ViT: 0.02). */
  std?: number;
  gen?: Generator;
}

export class Linear extends Module {
  readonly weight: Tensor;
  readonly bias: Tensor | null;

  /**
   * @example
   * ```ts
   * const fc = new Linear(64, 256);
   * const y = fc.forward(x); // x [..., 64] -> [..., 256]
   * ```
   */
  constructor(readonly inFeatures: number, readonly outFeatures: number, opts: LinearOptions = {}) {
    super();
    const g = opts.gen ?? new Generator(0);
    this.weight = this.param("weight", truncNormal([outFeatures, inFeatures], opts.std ?? 0.02, g));
    this.bias = opts.bias ?? true ? this.param("bias", constant([outFeatures], 0)) : null;
  }

  forward(x: Tensor): Tensor {
    const last = x.shape[x.shape.length - 1];
    if (last !== this.inFeatures) {
      throw new Error(
        `Linear(${this.inFeatures}, ${this.outFeatures}): input [${x.shape}] has ${last} features`,
      );
    }
    const lead = x.shape.slice(0, -1);
    const x2 = x.ndim === 2 ? x : x.reshape(-1, this.inFeatures);
    const y = linear(x2, this.weight, this.bias); // x W^T + b, bias fused where it pays
    return x.ndim === 2 ? y : y.reshape([...lead, this.outFeatures]);
  }
}
