/**
 * Fused scaled-dot-product self-attention over a fused qkv tensor (shaders/attention.wgsl):
 * the scores, softmax and weighted sum in one kernel, and the backward in two, with no
 * permutes: qkv [B, N, 3*H*d] in, [B, N, H*d] out (ready for the output projection).
 */
import code from "../../../shaders/attention.wgsl" with { type: "text" };
import { Tensor } from "../tensor.ts";
import { record } from "../tape.ts";
import { grid, launch, Params, uniformWindow, WINDOW_FLOATS } from "../launch.ts";
import { checkDevice, checkDType } from "../check.ts";
import { runtime } from "../../gpu/device.ts";
import { LOOP_BUDGET } from "./reduce.ts";

/** Output of `attention`. */
export interface AttentionResult {
  /** [B, N, H*d]. */
  out: Tensor;
  /** Softmax probabilities [B, H, N, N] (no gradient flows through them); absent unless asked for on a software adapter. */
  probs?: Tensor;
}

interface WindowPlan {
  DP: number;
  RS: number;
  PW: number;
  windows: number;
}

/** Uniform-window layout for the software-adapter kernels, or null when a pair's rows do not fit 64 KiB. */
function windowPlan(BH: number, N: number, d: number): WindowPlan | null {
  if (d > 64) return null;
  const DP = Math.ceil(d / 16) * 16;
  const RS = DP + 4;
  const PW = Math.floor(16384 / (N * RS));
  if (PW < 1) return null;
  return { DP, RS, PW, windows: Math.ceil(BH / PW) };
}

const TILE = WINDOW_FLOATS;

/**
 * Software-adapter attention: k, v (and for the backward q, g) re-laid out into 64 KiB
 * windows bound as uniform buffers; online softmax, probabilities recomputed in the backward.
 */
function windowed(
  qkv: Tensor,
  B: number,
  N: number,
  H: number,
  d: number,
  scale: number,
  w: WindowPlan,
): AttentionResult {
  const BH = B * H;
  const constants = { D16: w.DP / 16 };
  const params = (src: number, pair0: number) =>
    new Params().u32(BH, N, H, d, w.RS, w.PW, pair0, src).f32(scale);
  const pack = (src: Tensor, which: number, stats: Tensor) => {
    const out = Tensor.empty([w.windows * TILE], "f32", "attention pack");
    launch("attention", code, "pack_rows", {
      buffers: [src, out, stats],
      workgroups: grid(BH * N, 64),
      params: params(which, 0),
    });
    return out;
  };
  const window = uniformWindow;
  const stats = Tensor.empty([BH * N * 3], "f32", "attention");
  const k = pack(qkv, 1, qkv);
  const v = pack(qkv, 2, qkv);
  const out = Tensor.empty([B, N, H * d], "f32", "attention");
  for (let i = 0; i < w.windows; i++) {
    launch("attention", code, "forward_win", {
      buffers: [window(k, i), window(v, i), qkv, null, out, stats],
      workgroups: grid(w.PW * N, 64),
      params: params(0, i * w.PW),
      constants,
    });
  }
  const release = () => {
    k.dispose();
    v.dispose();
    stats.dispose();
  };
  const rec = record(out, "attention", [qkv], (g) => {
    const dqkv = Tensor.empty([B, N, 3 * H * d], "f32", "attention backward");
    for (let i = 0; i < w.windows; i++) {
      launch("attention", code, "backward_q_win", {
        buffers: [window(k, i), window(v, i), qkv, g, dqkv, stats],
        workgroups: grid(w.PW * N, 64),
        params: params(0, i * w.PW),
        constants,
      });
    }
    const q = pack(qkv, 0, stats);
    const gp = pack(g, 3, stats);
    for (let i = 0; i < w.windows; i++) {
      launch("attention", code, "backward_kv_win", {
        buffers: [window(q, i), window(gp, i), qkv, null, dqkv, null],
        workgroups: grid(w.PW * N, 64),
        params: params(0, i * w.PW),
        constants,
      });
    }
    q.dispose();
    gp.dispose();
    release();
    return [dqkv];
  });
  if (!rec.node) release(); // no backward will come: free the saved windows now
  return { out: rec };
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
export function attention(
  qkv: Tensor,
  heads: number,
  scale: number,
  opts: { probs?: boolean } = {},
): AttentionResult {
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
  const win = !opts.probs && runtime().info.kernels === "cpu" ? windowPlan(B * heads, N, d) : null;
  if (win) return windowed(qkv, B, N, heads, d, scale, win);
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
