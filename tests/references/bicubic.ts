/**
 * A float64 reference of PyTorch's bicubic `interpolate` (align_corners=False), shared by the
 * resize tests and the ViT position-embedding tests.
 */
import type { ResizeOptions } from "../../lib/tensor/ops/resize.ts";

// ---- float64 reference, written from PyTorch's upsample_bicubic2d (align_corners=False)
export const A = -0.75;
export const cc1 = (x: number) => ((A + 2) * x - (A + 3)) * x * x + 1;
export const cc2 = (x: number) => ((A * x - 5 * A) * x + 8 * A) * x - 4 * A;

/**
 * Per output position: the 4 clamped taps and their weights. For float32 tensors
 * PyTorch's CUDA kernel rounds the scale and the source coordinate to float32
 * (accscalar_t = float); so do the GPU kernel and this reference (Math.fround): on a
 * 257 -> 13 resize that rounding alone moves outputs by 2e-5. (PyTorch 1.13's CPU kernel
 * keeps the coordinate in double; it differs from both by that much there.)
 * The weights and sums here are float64.
 */
export function axisTaps(inSize: number, outSize: number, scale64: number) {
  const f = Math.fround;
  const scale = f(scale64);
  return Array.from({ length: outSize }, (_, o) => {
    // area_pixel_compute_source_index with cubic = true: no clamp at 0
    const src = f((o + 0.5) * scale - 0.5);
    const i0 = Math.min(Math.floor(src), inSize - 1); // guard_index_and_lambda
    const t = Math.min(Math.max(f(src - i0), 0), 1);
    const w = [cc2(t + 1), cc1(t), cc1(1 - t), cc2(2 - t)];
    const idx = [-1, 0, 1, 2].map((d) => Math.min(Math.max(i0 + d, 0), inSize - 1));
    return { idx, w };
  });
}

export interface Geo {
  planes: number;
  inH: number;
  inW: number;
  outH: number;
  outW: number;
  scaleH: number;
  scaleW: number;
}

export function geo(shape: number[], opts: ResizeOptions): Geo {
  const [inH, inW] = shape.slice(-2);
  const planes = shape.slice(0, -2).reduce((a, b) => a * b, 1);
  if (opts.size) {
    const [outH, outW] = opts.size;
    return { planes, inH, inW, outH, outW, scaleH: inH / outH, scaleW: inW / outW };
  }
  const sf = opts.scaleFactor!;
  const [sh, sw] = typeof sf === "number" ? [sf, sf] : sf;
  return {
    planes,
    inH,
    inW,
    outH: Math.floor(inH * sh),
    outW: Math.floor(inW * sw),
    scaleH: 1 / sh, // PyTorch uses the given factor, not in / out
    scaleW: 1 / sw,
  };
}

export function bicubicRef(x: Float64Array, g: Geo): Float64Array {
  const ty = axisTaps(g.inH, g.outH, g.scaleH);
  const tx = axisTaps(g.inW, g.outW, g.scaleW);
  const out = new Float64Array(g.planes * g.outH * g.outW);
  for (let p = 0; p < g.planes; p++) {
    for (let oy = 0; oy < g.outH; oy++) {
      for (let ox = 0; ox < g.outW; ox++) {
        let acc = 0;
        for (let j = 0; j < 4; j++) {
          const row = (p * g.inH + ty[oy].idx[j]) * g.inW;
          let r = 0;
          for (let k = 0; k < 4; k++) r += x[row + tx[ox].idx[k]] * tx[ox].w[k];
          acc += r * ty[oy].w[j];
        }
        out[(p * g.outH + oy) * g.outW + ox] = acc;
      }
    }
  }
  return out;
}
