/**
 * Multi-head self-attention with a fused qkv projection (DINO's `Attention`):
 * qkv -> [3, B, H, N, d] -> softmax(q k^T * d^-0.5) v -> proj.
 */
import { Module } from "./module.ts";
import type { Tensor } from "../tensor/tensor.ts";
import { Linear } from "./linear.ts";
import type { Generator } from "../tensor/rng.ts";
import { permute } from "../tensor/ops/shape.ts";
import { softmax } from "../tensor/ops/softmax.ts";

export class Attention extends Module {
  readonly qkv: Linear;
  readonly proj: Linear;
  readonly scale: number;

  /**
   * @example
   * ```ts
   * const attn = new Attention(64, 4); // 4 heads of 16
   * const { out, attn: a } = attn.forward(x, true); // a: [B, 4, N, N]
   * ```
   */
  constructor(readonly dim: number, readonly heads: number, qkvBias = true, gen?: Generator) {
    super();
    if (dim % heads) throw new Error(`Attention: dim ${dim} is not divisible by ${heads} heads`);
    this.scale = (dim / heads) ** -0.5;
    this.qkv = this.module("qkv", new Linear(dim, dim * 3, { bias: qkvBias, gen }));
    this.proj = this.module("proj", new Linear(dim, dim, { gen }));
  }

  forward(x: Tensor, returnAttention = false): { out: Tensor; attn?: Tensor } {
    const [B, N, C] = x.shape;
    const H = this.heads;
    const qkv = permute(this.qkv.forward(x).reshape(B, N, 3, H, C / H), [2, 0, 3, 1, 4]); // [3, B, H, N, d]
    const q = qkv.slice(0, 0, 1).reshape(B, H, N, C / H);
    const k = qkv.slice(0, 1, 2).reshape(B, H, N, C / H);
    const v = qkv.slice(0, 2, 3).reshape(B, H, N, C / H);
    const attn = softmax(q.matmul(k, { transB: true }).mul(this.scale)); // [B, H, N, N]
    const y = permute(attn.matmul(v), [0, 2, 1, 3]).reshape(B, N, C); // [B, N, H*d]
    return { out: this.proj.forward(y), attn: returnAttention ? attn : undefined };
  }
}
