/** Launchers for shaders/optim.wgsl, shared by AdamW, EMA and clipping. */
import code from "../../shaders/optim.wgsl" with { type: "text" };
import type { Tensor } from "../tensor/tensor.ts";
import { grid, launch, Params } from "../tensor/launch.ts";

/** Scalars of one optimiser kernel launch. */
export interface OptimScalars {
  lr?: number;
  wd?: number;
  beta1?: number;
  beta2?: number;
  eps?: number;
  bc1?: number;
  bc2?: number;
  maxNorm?: number;
  momentum?: number;
}

function params(n: number, clip: boolean, s: OptimScalars): Params {
  return new Params().u32(n, clip ? 1 : 0).f32(
    s.lr ?? 0,
    s.wd ?? 0,
    s.beta1 ?? 0,
    s.beta2 ?? 0,
    s.eps ?? 0,
    s.bc1 ?? 1,
    s.bc2 ?? 1,
    s.maxNorm ?? 0,
    s.momentum ?? 0,
  );
}

/** out[0] = sum(x^2). */
export function sumSquares(x: Tensor, out: Tensor): void {
  launch("optim", code, "sumsq", {
    buffers: [x, out],
    workgroups: [1],
    params: params(x.size, false, {}),
  });
}

/** x *= min(1, maxNorm / (sqrt(norm2[0]) + 1e-6)). */
export function clipScale(x: Tensor, norm2: Tensor, maxNorm: number): void {
  launch("optim", code, "clip_scale", {
    buffers: [x, norm2],
    workgroups: grid(x.size),
    params: params(x.size, false, { maxNorm }),
  });
}

/** One fused AdamW update of `p` (clipping by `norm2` when given). */
export function adamwKernel(
  p: Tensor,
  g: Tensor,
  m: Tensor,
  v: Tensor,
  norm2: Tensor,
  clip: boolean,
  s: OptimScalars,
): void {
  launch("optim", code, "adamw", {
    buffers: [p, g, m, v, norm2],
    workgroups: grid(p.size),
    params: params(p.size, clip, s),
  });
}

/** dst = momentum * dst + (1 - momentum) * src. */
export function emaKernel(dst: Tensor, src: Tensor, momentum: number): void {
  launch("optim", code, "ema", {
    buffers: [dst, src],
    workgroups: grid(dst.size),
    params: params(dst.size, false, { momentum }),
  });
}
