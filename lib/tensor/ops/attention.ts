/**
 * Fused scaled-dot-product self-attention over a fused qkv tensor (shaders/attention.wgsl):
 * the scores, softmax and weighted sum in one kernel, and the backward in two, with no
 * permutes: qkv [B, N, 3*H*d] in, [B, N, H*d] out (ready for the output projection).
 */
import code from "../../../shaders/attention.wgsl" with { type: "text" };
import { Tensor } from "../tensor.ts";
import { record } from "../tape.ts";
import { grid, launch, Params } from "../launch.ts";
import { checkDevice, checkDType } from "../check.ts";
import { runtime } from "../../gpu/device.ts";
import { LOOP_BUDGET } from "./reduce.ts";

/** Output of `attention`. */
export interface AttentionResult {
  /** [B, N, H*d]. */
  out: Tensor;
  /** Softmax probabilities [B, H, N, N] (no gradient flows through them). */
  probs: Tensor;
}

/**
 * Multi-head attention from a fused qkv projection, as DINO's `Attention.forward`
 * computes it (`qkv.reshape(B, N, 3, H, d)`, scores scaled by `scale`).
 *
 * @example
 * ```ts
 * const { out, probs } = attention(qkvLinear.forward(x), 4, 16 ** -0.5);
 * ```
 */
export function attention(qkv: Tensor, heads: number, scale: number): AttentionResult {
  checkDevice("attention", qkv);
  checkDType("attention", qkv, "f32");
  if (qkv.ndim !== 3 || qkv.shape[2] % (3 * heads)) {
    throw new Error(
      `attention: qkv must be [B, N, 3*heads*d] with ${heads} heads, got [${qkv.shape}]`,
    );
  }
  const [B, N, C3] = qkv.shape;
  const d = C3 / (3 * heads);
  // loop iterations of one invocation (forward, the longest): llvmpipe ends loops past ~65k
  const chunks = Math.ceil(d / 16);
  const iters = chunks * N * 7 + 4 * (3 * N + 3) + chunks * N + 64;
  if (runtime().info.isFallback && iters > LOOP_BUDGET) {
    throw new Error(
      `attention: ${N} tokens with head dim ${d} need ${iters} loop iterations per invocation, ` +
        `more than the software adapter runs (${LOOP_BUDGET}); use fewer tokens or a GPU`,
    );
  }
  const params = new Params().u32(B, N, heads, d).f32(scale);
  const rows = B * heads * Math.ceil(N / 4); // invocations: blocks of 4 rows
  const out = Tensor.empty([B, N, heads * d], "f32", "attention");
  const probs = Tensor.empty([B, heads, N, N], "f32", "attention");
  launch("attention", code, "forward", {
    buffers: [qkv, out, probs],
    workgroups: grid(rows, 64),
    params,
  });
  return {
    out: record(out, "attention", [qkv], (g) => {
      const dS = Tensor.empty([B, heads, N, N], "f32", "attention backward");
      const dqkv = Tensor.empty([B, N, C3], "f32", "attention backward");
      launch("attention", code, "backward_q", {
        buffers: [qkv, probs, g, dS, dqkv],
        workgroups: grid(rows, 64),
        params,
      });
      launch("attention", code, "backward_kv", {
        buffers: [qkv, probs, g, dS, dqkv],
        workgroups: grid(rows, 64),
        params,
      });
      dS.dispose();
      return [dqkv];
    }),
    probs,
  };
}
