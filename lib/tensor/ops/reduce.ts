/**
 * Reductions (shaders/reduce.wgsl): sum and mean over any axes, max over one axis
 * (gradient to the first maximal element, as PyTorch's `max(dim)`), variance with a
 * correction; and `sumTo`, which reduces a broadcast gradient back to its input's shape.
 * Long reductions are cut into chunks whose partial results a second launch combines,
 * for parallelism and to stay under llvmpipe's per-invocation loop cap (`LOOP_BUDGET`).
 */
import code from "../../../shaders/reduce.wgsl" with { type: "text" };
import { Tensor } from "../tensor.ts";
import { record } from "../tape.ts";
import { grid, launch, LOOP_BUDGET, Params } from "../launch.ts";
import { expandRaw } from "./elementwise.ts";
import { checkDevice, checkDType, checkRank, normAxis, stridesOf } from "../check.ts";

export { LOOP_BUDGET } from "../launch.ts";

type Dim = { size: number; stride: number };

/** A reduction over merged dims: kept dims (in order) and reduced dims, with input strides. */
interface Plan {
  kept: Dim[];
  red: Dim[];
  nOut: number;
  nRed: number;
}

/** Merge adjacent dims of the same kind (the input is contiguous, so strides chain). */
function plan(x: Tensor, reduce: boolean[]): Plan {
  const strides = stridesOf(x.shape);
  const dims: { size: number; stride: number; red: boolean }[] = [];
  for (let d = 0; d < x.ndim; d++) {
    if (x.shape[d] === 1) continue;
    const last = dims[dims.length - 1];
    if (last && last.red === reduce[d] && last.stride === x.shape[d] * strides[d]) {
      last.size *= x.shape[d];
      last.stride = strides[d];
    } else dims.push({ size: x.shape[d], stride: strides[d], red: reduce[d] });
  }
  const kept = dims.filter((d) => !d.red).map(({ size, stride }) => ({ size, stride }));
  let red = dims.filter((d) => d.red).map(({ size, stride }) => ({ size, stride }));
  const nOut = kept.reduce((a, d) => a * d.size, 1);
  const nRed = red.reduce((a, d) => a * d.size, 1);
  if (red.length === 0) red = [{ size: 1, stride: 1 }];
  return { kept, red, nOut, nRed };
}

/**
 * Cut the reduced range into chunks: for parallelism when there are few outputs and a
 * long reduction, and always so that one invocation's `passes` loops over its chunk stay
 * within `LOOP_BUDGET`. A multi-dim reduced index runs an inner loop per element, which
 * costs rank + 1 more iterations per element.
 */
function chunking(pl: Plan, passes: number): { chunk: number; nChunks: number } {
  const perElem = pl.red.length === 1 ? 1 : pl.red.length + 2;
  const cap = Math.floor((LOOP_BUDGET - 100) / passes / perElem);
  let chunk = pl.nRed;
  if (pl.nOut < 256 && pl.nRed >= 8192) chunk = Math.ceil(Math.sqrt(pl.nRed));
  chunk = Math.min(chunk, cap);
  return { chunk, nChunks: Math.ceil(pl.nRed / chunk) };
}

function reduceParams(pl: Plan, scale: number, chunk: number, nChunks: number): Params {
  if (pl.kept.length > 8 || pl.red.length > 8) throw new Error("reduce: too many dimensions");
  return new Params().u32(pl.nOut, pl.nRed, pl.kept.length, pl.red.length).f32(scale)
    .u32(chunk, nChunks, 0)
    .u32s(pl.kept.map((d) => d.size)).u32s(pl.kept.map((d) => d.stride))
    .u32s(pl.red.map((d) => d.size)).u32s(pl.red.map((d) => d.stride));
}

/** The partial results [nOut, nChunks] of a chunked reduction, as a plan over the chunks. */
function chunkPlan(nOut: number, nChunks: number): Plan {
  return {
    kept: nOut > 1 ? [{ size: nOut, stride: nChunks }] : [],
    red: [{ size: nChunks, stride: 1 }],
    nOut,
    nRed: nChunks,
  };
}

/**
 * Sum `x` over the dimensions marked in `reduce`, scaling by `scale`; result has the
 * kept dims only (contiguous). No tape.
 */
function reduceRaw(x: Tensor, reduce: boolean[], scale: number): Tensor {
  return sumPlan(x, plan(x, reduce), scale);
}

function sumPlan(x: Tensor, pl: Plan, scale: number): Tensor {
  const { chunk, nChunks } = chunking(pl, 1);
  const out = Tensor.empty([pl.nOut * nChunks], "f32", "sum");
  launch("reduce", code, "sum_to", {
    buffers: [x, out],
    workgroups: grid(pl.nOut * nChunks, 64),
    params: reduceParams(pl, nChunks === 1 ? scale : 1, chunk, nChunks),
  });
  if (nChunks === 1) return out;
  const r = sumPlan(out, chunkPlan(pl.nOut, nChunks), scale);
  out.dispose();
  return r;
}

/** Params of the backward kernels: input shape, output strides on kept dims, reduced strides. */
function backwardParams(x: Tensor, mark: boolean[], scale: number): Params {
  const ostr = new Array(x.ndim).fill(0);
  const rstr = new Array(x.ndim).fill(0);
  let so = 1;
  let sr = 1;
  for (let d = x.ndim - 1; d >= 0; d--) {
    if (mark[d]) {
      rstr[d] = sr;
      sr *= x.shape[d];
    } else {
      ostr[d] = so;
      so *= x.shape[d];
    }
  }
  return new Params().u32(x.size, x.ndim).f32(scale).u32(0).u32s(x.shape).u32s(ostr).u32s(rstr);
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

/**
 * Max over one axis (all elements when omitted). The gradient goes to the first maximal
 * element along the axis, as PyTorch's `max(dim)`; NaN counts as the maximum.
 *
 * @example
 * ```ts
 * const m = max(x, -1); // or x.max(-1, true)
 * ```
 */
export function max(x: Tensor, axis?: number, keepdim = false): Tensor {
  const op = "max";
  checkDevice(op, x);
  checkDType(op, x, "f32");
  checkRank(op, x.shape);
  if (Array.isArray(axis)) throw new Error(`${op}: reduces over one axis, got [${axis}]`);
  const mark = axesOf(op, x, axis);
  const pl = plan(x, mark);
  const { chunk, nChunks } = chunking(pl, 1);
  const val = Tensor.empty([pl.nOut * nChunks], "f32", op);
  const idx = Tensor.empty([pl.nOut * nChunks], "i32", op);
  launch("reduce", code, "max_partial", {
    buffers: [x, val, idx],
    workgroups: grid(pl.nOut * nChunks, 64),
    params: reduceParams(pl, 1, chunk, nChunks),
  });
  let v = val;
  let ix = idx;
  if (nChunks > 1) {
    v = Tensor.empty([pl.nOut], "f32", op);
    ix = Tensor.empty([pl.nOut], "i32", op);
    launch("reduce", code, "max_combine", {
      buffers: [val, idx, v, ix],
      workgroups: grid(pl.nOut, 64),
      params: new Params().u32(pl.nOut, pl.nRed, 0, 0).f32(1).u32(chunk, nChunks, 0),
    });
    val.dispose();
    idx.dispose();
  }
  const out = v.reshape(outShape(x, mark, keepdim));
  v.dispose();
  record(out, op, [x], (g) => {
    const dx = Tensor.empty(x.shape, "f32", `${op} backward`);
    launch("reduce", code, "max_backward", {
      buffers: [g, ix, dx],
      workgroups: grid(x.size, 64),
      params: backwardParams(x, mark, 0),
    });
    ix.dispose();
    return [dx];
  });
  if (!out.requiresGrad) ix.dispose();
  return out;
}

/**
 * Variance over `axis` (one, several, or all when omitted) with PyTorch's `var`
 * semantics: `sum((x - mean)^2) / max(0, n - correction)`, unbiased by default (a zero
 * divisor gives inf, or NaN for a constant input, as in PyTorch).
 *
 * @example
 * ```ts
 * const v = variance(x, -1, true); // or x.var(-1, true)
 * ```
 */
export function variance(
  x: Tensor,
  axis?: number | number[],
  keepdim = false,
  correction = 1,
): Tensor {
  const op = "var";
  checkDevice(op, x);
  checkDType(op, x, "f32");
  checkRank(op, x.shape);
  if (!Number.isFinite(correction) || correction < 0) {
    throw new Error(`${op}: correction must be a finite number >= 0, got ${correction}`);
  }
  const mark = axesOf(op, x, axis);
  const pl = plan(x, mark);
  const scale = 1 / Math.max(0, pl.nRed - correction);
  const { chunk, nChunks } = chunking(pl, 2);
  let mean = Tensor.empty([pl.nOut * nChunks], "f32", op);
  let v = Tensor.empty([pl.nOut * nChunks], "f32", op);
  launch("reduce", code, "var_partial", {
    buffers: [x, mean, v],
    workgroups: grid(pl.nOut * nChunks, 64),
    params: reduceParams(pl, scale, chunk, nChunks),
    constants: { FINAL: nChunks === 1 ? 1 : 0 },
  });
  if (nChunks > 1) {
    const pm = mean;
    const pv = v;
    mean = Tensor.empty([pl.nOut], "f32", op);
    v = Tensor.empty([pl.nOut], "f32", op);
    launch("reduce", code, "var_combine", {
      buffers: [pm, pv, mean, v],
      workgroups: grid(pl.nOut, 64),
      params: new Params().u32(pl.nOut, pl.nRed, 0, 0).f32(scale).u32(chunk, nChunks, 0),
    });
    pm.dispose();
    pv.dispose();
  }
  const out = v.reshape(outShape(x, mark, keepdim));
  v.dispose();
  record(out, op, [x], (g) => {
    const dx = Tensor.empty(x.shape, "f32", `${op} backward`);
    launch("reduce", code, "var_backward", {
      buffers: [g, x, mean, dx],
      workgroups: grid(x.size, 64),
      params: backwardParams(x, mark, scale),
    });
    mean.dispose();
    return [dx];
  });
  if (!out.requiresGrad) mean.dispose();
  return out;
}
