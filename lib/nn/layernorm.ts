/** `LayerNorm` over the last axis (eps 1e-6 for the ViT, as DINO/Mugs use). */
import { Module } from "./module.ts";
import type { Tensor } from "../tensor/tensor.ts";
import { constant } from "./init.ts";
import { layerNorm } from "../tensor/ops/norm.ts";

export class LayerNorm extends Module {
  readonly weight: Tensor;
  readonly bias: Tensor;

  /**
   * @example
   * ```ts
   * const norm = new LayerNorm(192); // eps 1e-6
   * ```
   */
  constructor(readonly dim: number, readonly eps = 1e-6) {
    super();
    this.weight = this.param("weight", constant([dim], 1));
    this.bias = this.param("bias", constant([dim], 0));
  }

  forward(x: Tensor): Tensor {
    return layerNorm(x, this.weight, this.bias, this.eps);
  }
}
