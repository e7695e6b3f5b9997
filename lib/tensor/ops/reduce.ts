/**
 * Reductions (shaders/reduce.wgsl): sum and mean over any axes, max over one axis
 * (gradient to the first maximal element, as PyTorch's `max(dim)`), variance with a
 * correction; and `sumTo`, which reduces a broadcast gradient back to its input's shape.
 */
import code from "../../../shaders/reduce.wgsl" with { type: "text" };
import { Tensor } from "../tensor.ts";
import { record } from "../tape.ts";
import { grid, launch, Params } from "../launch.ts";
import { expandRaw } from "./elementwise.ts";
import { checkDevice, checkDType, checkRank, normAxis, stridesOf } from "../check.ts";

/**
 * Sum `x` over the dimensions marked in `reduce`, scaling by `scale`; result has the
 * kept dims only (contiguous). No tape.
 */
function reduceRaw(x: Tensor, reduce: boolean[], scale: number): Tensor {
  const strides = stridesOf(x.shape);
  // merge adjacent dims of the same kind (contiguous, so strides chain)
  const dims: { size: number; stride: number; red: boolean }[] = [];
  for (let d = 0; d < x.ndim; d++) {
    if (x.shape[d] === 1) continue;
    const last = dims[dims.length - 1];
    if (last && last.red === reduce[d] && last.stride === x.shape[d] * strides[d]) {
      last.size *= x.shape[d];
      last.stride = strides[d];
    } else dims.push({ size: x.shape[d], stride: strides[d], red: reduce[d] });
  }
  const kept = dims.filter((d) => !d.red);
  let red = dims.filter((d) => d.red);
  const nOut = kept.reduce((a, d) => a * d.size, 1);
  let nRed = red.reduce((a, d) => a * d.size, 1);
  if (red.length === 0) red = [{ size: 1, stride: 1, red: true }];
  // A long single reduced dim with few outputs: reduce in two passes for parallelism.
  if (red.length === 1 && nOut < 256 && nRed >= 8192) {
    const chunk = Math.ceil(Math.sqrt(nRed));
    const chunks = Math.ceil(nRed / chunk);
    if (chunks * chunk === nRed) {
      const rd = red[0];
      const part = Tensor.empty([nOut * chunks], "f32", "sum");
      const k2 = [...kept, { size: chunks, stride: rd.stride * chunk, red: false }];
      run(x, part, k2, [{ size: chunk, stride: rd.stride, red: true }], nOut * chunks, chunk, 1);
      const out = Tensor.empty([nOut], "f32", "sum");
      run(
        part,
        out,
        nOut > 1 ? [{ size: nOut, stride: chunks, red: false }] : [],
        [
          { size: chunks, stride: 1, red: true },
        ],
        nOut,
        chunks,
        scale,
      );
      part.dispose();
      return out;
    }
  }
  const out = Tensor.empty([nOut], "f32", "sum");
  run(x, out, kept, red, nOut, nRed, scale);
  return out;
}

type Dim = { size: number; stride: number; red?: boolean };

function run(
  x: Tensor,
  out: Tensor,
  kept: Dim[],
  red: Dim[],
  nOut: number,
  nRed: number,
  scale: number,
) {
  if (kept.length > 8 || red.length > 8) throw new Error("sum: too many dimensions");
  const p = new Params().u32(nOut, nRed, kept.length, red.length).f32(scale).u32(0, 0, 0)
    .u32s(kept.map((d) => d.size)).u32s(kept.map((d) => d.stride))
    .u32s(red.map((d) => d.size)).u32s(red.map((d) => d.stride));
  launch("reduce", code, "sum_to", { buffers: [x, out], workgroups: grid(nOut, 64), params: p });
}

function axesOf(op: string, x: Tensor, axis: number | number[] | undefined): boolean[] {
  const mark = new Array(x.ndim).fill(axis === undefined);
  if (axis !== undefined) {
    for (const a of Array.isArray(axis) ? axis : [axis]) {
      const n = normAxis(op, a, x.ndim);
      if (mark[n]) throw new Error(`${op}: axis ${a} given twice`);
      mark[n] = true;
    }
  }
  return mark;
}

function outShape(x: Tensor, mark: boolean[], keepdim: boolean): number[] {
  return keepdim ? x.shape.map((d, i) => (mark[i] ? 1 : d)) : x.shape.filter((_, i) => !mark[i]);
}

/** Sum a gradient of a broadcast result back to `shape` (no tape). */
export function sumTo(g: Tensor, shape: readonly number[]): Tensor {
  const r = g.ndim;
  const lead = r - shape.length;
  const mark = g.shape.map((d, i) => i < lead || (shape[i - lead] === 1 && d !== 1));
  const out = reduceRaw(g, mark, 1);
  return out.reshape([...shape]);
}

function reduceOp(
  op: "sum" | "mean",
  x: Tensor,
  axis: number | number[] | undefined,
  keepdim: boolean,
): Tensor {
  checkDevice(op, x);
  checkDType(op, x, "f32");
  checkRank(op, x.shape);
  const mark = axesOf(op, x, axis);
  const n = x.shape.reduce((a, d, i) => (mark[i] ? a * d : a), 1);
  const shape = outShape(x, mark, keepdim);
  const flat = reduceRaw(x, mark, op === "mean" ? 1 / n : 1);
  const out = shape.length ? flat.reshape(shape) : flat.reshape([]);
  flat.dispose();
  const kshape = x.shape.map((d, i) => (mark[i] ? 1 : d));
  return record(out, op, [x], (g) => [expandGrad(g, kshape, x.shape, op === "mean" ? 1 / n : 1)]);
}

/** Broadcast `g` (viewed as `kshape`) to `shape`, times `scale`. */
function expandGrad(g: Tensor, kshape: number[], shape: readonly number[], scale: number): Tensor {
  const gv = g.reshape(kshape);
  const out = expandRaw(gv, shape, scale);
  gv.dispose();
  return out;
}

/**
 * Sum over `axis` (one, several, or all when omitted).
 *
 * @example
 * ```ts
 * const s = sum(x, 1); // or x.sum(1, true)
 * ```
 */
export function sum(x: Tensor, axis?: number | number[], keepdim = false): Tensor {
  return reduceOp("sum", x, axis, keepdim);
}

/** Mean over `axis` (all when omitted). @example `mean(x, -1)` */
export function mean(x: Tensor, axis?: number | number[], keepdim = false): Tensor {
  return reduceOp("mean", x, axis, keepdim);
}

/** Max over one axis (all elements when omitted). */
export function max(_x: Tensor, _axis?: number, _keepdim = false): Tensor {
  throw new Error("todo");
}

/** Variance over axes. */
export function variance(
  _x: Tensor,
  _axis?: number | number[],
  _keepdim = false,
  _correction = 1,
): Tensor {
  throw new Error("todo");
}
