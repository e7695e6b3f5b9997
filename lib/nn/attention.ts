/**
 * Multi-head self-attention with a fused qkv projection (DINO's `Attention`):
 * qkv -> [B, N, 3, H, d] -> softmax(q k^T * d^-0.5) v -> proj, the middle step one fused
 * kernel (lib/tensor/ops/attention.ts).
 */
import { Module } from "./module.ts";
import type { Tensor } from "../tensor/tensor.ts";
import { Linear } from "./linear.ts";
import type { Generator } from "../tensor/rng.ts";
import { attention } from "../tensor/ops/attention.ts";

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

  /** x [B, N, C] -> [B, N, C]; with `returnAttention`, also the softmax maps [B, H, N, N]. */
  forward(x: Tensor, returnAttention = false): { out: Tensor; attn?: Tensor } {
    // qkv(x) viewed as [B, N, 3, H, d]; softmax(q k^T * scale) v, fused in one kernel
    const { out, probs } = attention(this.qkv.forward(x), this.heads, this.scale, {
      probs: returnAttention,
    });
    return { out: this.proj.forward(out), attn: returnAttention ? probs : undefined };
  }
}
