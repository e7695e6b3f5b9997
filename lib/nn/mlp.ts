/** `MLP`: fc1 -> exact GELU -> fc2 (timm's `Mlp`, names `fc1`, `fc2`). */
import { Module } from "./module.ts";
import type { Tensor } from "../tensor/tensor.ts";
import { Linear } from "./linear.ts";
import type { Generator } from "../tensor/rng.ts";

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
    return this.fc2.forward(this.fc1.forward(x).gelu());
  }
}
