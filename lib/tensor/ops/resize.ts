/**
 * Bicubic resize (shaders/resize.wgsl), matching PyTorch's
 * `F.interpolate(x, size | scale_factor, mode="bicubic", align_corners=False)`: cubic
 * convolution with A = -0.75, source coordinate `(dst + 0.5) * scale - 0.5` without
 * clamping at 0, taps clamped into the image. With a scale factor (PyTorch's default
 * `recompute_scale_factor=None`) the output size is `floor(in * scaleFactor)` and the
 * coordinate map uses `scale = 1 / scaleFactor`, not `in / out`: DINO and Mugs resize
 * position embeddings with a factor of (n + 0.1) / N, and matching that keeps official
 * weights giving official features at every crop size (DESIGN.md §5).
 */
import code from "../../../shaders/resize.wgsl" with { type: "text" };
import { runtime } from "../../gpu/device.ts";
import { Tensor } from "../tensor.ts";
import { record } from "../tape.ts";
import { grid, launch, LOOP_BUDGET, Params } from "../launch.ts";
import { checkDevice, checkDType } from "../check.ts";

/** Target of `bicubicResize`: an output size, or a scale factor per axis (not both). */
export interface ResizeOptions {
  /** Output [height, width]. The coordinate map then uses in / out. */
  size?: [number, number];
  /** Factor per axis [sh, sw] (or one for both): output floor(in * s), map 1 / s. */
  scaleFactor?: number | [number, number];
}

function plan(op: string, x: Tensor, opts: ResizeOptions) {
  if (x.ndim !== 3 && x.ndim !== 4) {
    throw new Error(`${op}: input must be [N, C, H, W] or [C, H, W], got [${x.shape}]`);
  }
  const [inH, inW] = x.shape.slice(-2);
  const { size, scaleFactor } = opts ?? {};
  if ((size === undefined) === (scaleFactor === undefined)) {
    throw new Error(`${op}: give exactly one of size and scaleFactor`);
  }
  if (size !== undefined) {
    if (
      !Array.isArray(size) || size.length !== 2 ||
      !size.every((d) => Number.isInteger(d) && d >= 1)
    ) {
      throw new Error(`${op}: size must be [height, width] of positive integers, got ${size}`);
    }
    return { inH, inW, outH: size[0], outW: size[1], scaleH: inH / size[0], scaleW: inW / size[1] };
  }
  const sf = typeof scaleFactor === "number" ? [scaleFactor, scaleFactor] : scaleFactor!;
  if (!Array.isArray(sf) || sf.length !== 2 || !sf.every((s) => Number.isFinite(s) && s > 0)) {
    throw new Error(`${op}: scaleFactor must be positive and finite, got ${scaleFactor}`);
  }
  const outH = Math.floor(inH * sf[0]);
  const outW = Math.floor(inW * sf[1]);
  if (outH < 1 || outW < 1) {
    throw new Error(
      `${op}: scaleFactor ${scaleFactor} makes an empty output from [${x.shape}] (${outH} x ${outW})`,
    );
  }
  return { inH, inW, outH, outW, scaleH: 1 / sf[0], scaleW: 1 / sf[1] };
}

/**
 * Bicubic interpolation of the last two axes of x [N, C, H, W] or [C, H, W], exactly as
 * PyTorch's `F.interpolate(mode="bicubic", align_corners=False)`. Backward: the
 * transpose (each input collects the weighted gradients of the outputs it feeds).
 *
 * @example
 * ```ts
 * const grid = bicubicResize(pos, { scaleFactor: [(h + 0.1) / 14, (w + 0.1) / 14] });
 * const img = bicubicResize(crop, { size: [96, 96] });
 * ```
 */
export function bicubicResize(x: Tensor, opts: ResizeOptions): Tensor {
  const op = "bicubicResize";
  checkDevice(op, x);
  checkDType(op, x, "f32");
  const { inH, inW, outH, outW, scaleH, scaleW } = plan(op, x, opts);
  const planes = x.size / (inH * inW);
  const outShape = [...x.shape.slice(0, -2), outH, outW];
  const out = Tensor.empty(outShape, "f32", op);
  // runs of 16 elements per invocation on a CPU adapter (fewer integer divisions)
  const chunk0 = runtime().info.kernels === "cpu" ? 16 : 1;
  const dispatch = (entry: string, bufs: Tensor[], rows: number, width: number, s = ONE) => {
    const runs = Math.ceil(width / s.chunk);
    const n = rows * runs * s.nseg;
    launch("resize", code, entry, {
      buffers: bufs,
      workgroups: grid(n, 64),
      params: new Params().u32(n, inH, inW, outH, outW).f32(scaleH, scaleW)
        .u32(s.chunk, runs, s.seg, s.nseg, rows * width),
      constants: { WG: 64 },
    });
  };
  // a backward pass, split so that no invocation's loops exceed LOOP_BUDGET
  const backward = (
    entry: "backward_w" | "backward_h",
    src: Tensor,
    dst: Tensor,
    rows: number,
    s: Split,
  ) => {
    const width = inW;
    if (s.nseg === 1) return dispatch(entry, [src, dst], rows, width, s);
    const part = rows * width;
    const parts = Tensor.empty([s.nseg, part], "f32", `${op} backward`);
    dispatch(entry, [src, parts], rows, width, s);
    const per = LOOP_BUDGET - 100;
    for (let first = 0; first < s.nseg; first += per) {
      launch("resize", code, "sum_parts", {
        buffers: [parts, dst],
        workgroups: grid(part, 64),
        params: new Params().u32(part, inH, inW, outH, outW).f32(scaleH, scaleW)
          .u32(first, Math.min(per, s.nseg - first), 0, 1, part),
        constants: { WG: 64 },
      });
    }
    parts.dispose();
  };
  dispatch("bicubic", [x, out], planes * outH, outW, { chunk: chunk0, seg: 0, nseg: 1 });
  return record(out, op, [x], (g) => {
    const t = Tensor.empty([planes, outH, inW], "f32", `${op} backward`);
    const sw = resizeSplit("w", chunk0, reachBound(scaleW, outW));
    backward("backward_w", g, t, planes * outH, sw);
    const dx = Tensor.empty(x.shape, "f32", `${op} backward`);
    const sh = resizeSplit("h", chunk0, reachBound(scaleH, outH));
    backward("backward_h", t, dx, planes * inH, sh);
    t.dispose();
    return [dx];
  });
}

/** How a backward pass splits its work (shaders/resize.wgsl): run length, reach segments. */
export interface Split {
  chunk: number;
  seg: number;
  nseg: number;
}

const ONE: Split = { chunk: 1, seg: 0, nseg: 1 };

/**
 * Output positions whose taps can reach one input along an axis (the shader's `reach`
 * range): at most 4 / scale + 6 or so inside, up to 5.5 / scale + 5 at the borders; all
 * `outSize` of them for a tiny input. A safe bound.
 */
function reachBound(scale: number, outSize: number): number {
  return Math.min(outSize, Math.ceil(6 / scale) + 8);
}

/**
 * Worst-case loop iterations of one backward invocation (shaders/resize.wgsl) that
 * writes a run of `len` elements, each summing `reach` output positions (a `weight`
 * call of a 4-tap loop per position): "w" loops over the run outside, "h" inside.
 */
function resizeCost(pass: "w" | "h", len: number, reach: number): number {
  if (pass === "w") return len * (3 + 7 * reach) + 16;
  return len + 1 + reach * (8 + len) + 16;
}

/**
 * Split a backward pass whose inputs each sum up to `reach` output positions so that
 * every invocation stays within `LOOP_BUDGET`: the longest run (up to `chunk`) that
 * fits; if even one element does not, runs of 1 and reaches cut into `nseg` segments of
 * `seg` positions. Exported for tests.
 *
 * @example
 * ```ts
 * resizeSplit("h", 16, 8192); // { chunk: 1, seg: 6664, nseg: 2 }
 * ```
 */
export function resizeSplit(pass: "w" | "h", chunk: number, reach: number): Split {
  for (let c = chunk; c >= 1; c = c > 1 ? Math.ceil(c / 2) : 0) {
    if (resizeCost(pass, c, reach) <= LOOP_BUDGET) return { chunk: c, seg: 0, nseg: 1 };
  }
  let seg = 1;
  while (resizeCost(pass, 1, seg * 2) <= LOOP_BUDGET) seg *= 2;
  for (let step = seg >> 1; step >= 1; step >>= 1) {
    if (resizeCost(pass, 1, seg + step) <= LOOP_BUDGET) seg += step;
  }
  return { chunk: 1, seg, nseg: Math.ceil(reach / seg) };
}
