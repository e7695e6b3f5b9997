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
import { grid, launch, Params } from "../launch.ts";
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
  const chunk = runtime().info.kernels === "cpu" ? 16 : 1;
  const dispatch = (entry: string, bufs: Tensor[], rows: number, width: number) => {
    const runs = Math.ceil(width / chunk);
    const n = rows * runs;
    launch("resize", code, entry, {
      buffers: bufs,
      workgroups: grid(n, 64),
      params: new Params().u32(n, inH, inW, outH, outW).f32(scaleH, scaleW)
        .u32(chunk, runs, 0, 0, 0),
      constants: { WG: 64 },
    });
  };
  dispatch("bicubic", [x, out], planes * outH, outW);
  return record(out, op, [x], (g) => {
    const t = Tensor.empty([planes, outH, inW], "f32", `${op} backward`);
    dispatch("backward_w", [g, t], planes * outH, inW);
    const dx = Tensor.empty(x.shape, "f32", `${op} backward`);
    dispatch("backward_h", [t, dx], planes * inH, inW);
    t.dispose();
    return [dx];
  });
}
