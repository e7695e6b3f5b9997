/**
 * Layout ops (shaders/shape.wgsl): permute, transpose, slice, concat and stack. Each
 * materialises a contiguous copy; the kernels copy 32-bit words, so i32 tensors keep
 * their dtype and values. Backward: permute by the inverse permutation, slice by a
 * scatter into zeros, concat and stack by slices of the gradient.
 */
import code from "../../../shaders/shape.wgsl" with { type: "text" };
import { runtime } from "../../gpu/device.ts";
import { Tensor } from "../tensor.ts";
import { record } from "../tape.ts";
import { grid, launch, Params } from "../launch.ts";
import { checkDevice, checkRank, MAX_RANK, normAxis, stridesOf } from "../check.ts";

/**
 * Drop size-1 dims and merge adjacent dims whose strides chain, so most copies run at
 * rank 1-3. Returns the reduced shape and strides (at least one dim).
 */
function coalesce(
  shape: readonly number[],
  strides: readonly number[],
): { shape: number[]; strides: number[] } {
  const s: number[] = [];
  const st: number[] = [];
  for (let d = 0; d < shape.length; d++) {
    if (shape[d] === 1) continue;
    const k = s.length - 1;
    if (k >= 0 && st[k] === shape[d] * strides[d]) {
      s[k] *= shape[d];
      st[k] = strides[d];
    } else {
      s.push(shape[d]);
      st.push(strides[d]);
    }
  }
  if (s.length === 0) return { shape: [1], strides: [1] };
  return { shape: s, strides: st };
}

/**
 * Elements one invocation copies along the last dimension (shaders/shape.wgsl): on a
 * CPU adapter a run of 32 saves the per-element integer divisions (measured on llvmpipe:
 * a [64,197,3,6,32] permute went from ~1.2 s to ~64 ms); on a GPU one element per
 * invocation keeps neighbouring invocations on neighbouring addresses.
 */
function chunk(): number {
  return runtime().info.kernels === "cpu" ? 32 : 1;
}

/** One strided copy (no tape): `gather` reads strided from src, `scatter` writes strided into dst. */
function strided(
  entry: "gather" | "scatter",
  src: Tensor,
  dst: Tensor,
  shape: readonly number[],
  strides: readonly number[],
  base: number,
): void {
  const c = coalesce(shape, strides);
  if (c.shape.length > MAX_RANK) throw new Error(`${entry}: rank ${c.shape.length} > ${MAX_RANK}`);
  const last = c.shape[c.shape.length - 1];
  const ch = chunk();
  const runs = Math.ceil(last / ch);
  const n = (c.shape.reduce((a, b) => a * b, 1) / last) * runs;
  launch("shape", code, entry, {
    buffers: [src, dst],
    workgroups: grid(n, 64),
    params: new Params().u32(n, c.shape.length, base, ch, runs, 0, 0, 0)
      .u32s(c.shape).u32s(c.strides),
    constants: { WG: 64 },
  });
}

/** Gather the box `shape` at element offset `base` of `src` (strides `strides`) into a new tensor. */
function gatherRaw(
  src: Tensor,
  shape: readonly number[],
  strides: readonly number[],
  base: number,
  op: string,
): Tensor {
  const out = Tensor.empty(shape, src.dtype, op);
  strided("gather", src, out, shape, strides, base);
  return out;
}

function permuteRaw(x: Tensor, dims: readonly number[], op: string): Tensor {
  const st = stridesOf(x.shape);
  return gatherRaw(x, dims.map((d) => x.shape[d]), dims.map((d) => st[d]), 0, op);
}

/**
 * Reorder dimensions (a contiguous copy): `out.shape[i] = x.shape[dims[i]]`. Negative
 * entries count from the end. Rank at most 8. Backward: the inverse permutation.
 *
 * @example
 * ```ts
 * const y = permute(x, [0, 2, 1, 3]); // or x.permute(0, 2, 1, 3)
 * ```
 */
export function permute(x: Tensor, dims: number[]): Tensor {
  checkDevice("permute", x);
  checkRank("permute", x.shape);
  if (dims.length !== x.ndim) {
    throw new Error(
      `permute: dims [${dims}] must list all ${x.ndim} dimensions of a tensor of shape [${x.shape}]`,
    );
  }
  const d = dims.map((a) => normAxis("permute", a, x.ndim));
  if (new Set(d).size !== d.length) {
    throw new Error(`permute: dims [${dims}] repeat a dimension (tensor of shape [${x.shape}])`);
  }
  const out = permuteRaw(x, d, "permute");
  const inv = new Array(d.length);
  d.forEach((a, i) => (inv[a] = i));
  return record(out, "permute", [x], (g) => [permuteRaw(g, inv, "permute backward")]);
}

/**
 * Swap two dimensions (negative axes allowed); a contiguous copy.
 *
 * @example
 * ```ts
 * const kt = transpose(k, -2, -1); // or k.transpose()
 * ```
 */
export function transpose(x: Tensor, d0: number, d1: number): Tensor {
  checkDevice("transpose", x);
  const a = normAxis("transpose", d0, x.ndim);
  const b = normAxis("transpose", d1, x.ndim);
  const dims = x.shape.map((_, i) => i);
  dims[a] = b;
  dims[b] = a;
  return permute(x, dims);
}

/**
 * `x[..., start:end, ...]` along `axis`, with Python's rules: negative `start`/`end`
 * count from the end and both are clipped to the axis; `end` defaults to its length.
 * An empty result is an error. Backward: the gradient written into zeros of x's shape.
 *
 * @example
 * ```ts
 * const cls = slice(tokens, 1, 0, 1); // [B, 1, D]; or tokens.slice(1, 0, 1)
 * const last = slice(x, -1, -3);      // the last 3 entries of the last axis
 * ```
 */
export function slice(x: Tensor, axis: number, start: number, end?: number): Tensor {
  checkDevice("slice", x);
  checkRank("slice", x.shape);
  const a = normAxis("slice", axis, x.ndim);
  const len = x.shape[a];
  if (!Number.isInteger(start) || (end !== undefined && !Number.isInteger(end))) {
    throw new Error(`slice: start ${start} and end ${end} must be integers`);
  }
  const clip = (v: number) => Math.min(Math.max(v < 0 ? v + len : v, 0), len);
  const s = clip(start);
  const e = end === undefined ? len : clip(end);
  if (e <= s) {
    throw new Error(
      `slice: [${start}:${end ?? ""}] along axis ${axis} of shape [${x.shape}] is empty`,
    );
  }
  const shape = [...x.shape];
  shape[a] = e - s;
  const st = stridesOf(x.shape);
  const out = gatherRaw(x, shape, st, s * st[a], "slice");
  return record(out, "slice", [x], (g) => {
    const dx = Tensor.empty(x.shape, "f32", "slice backward");
    runtime().clear(dx.buffer);
    strided("scatter", g, dx, shape, st, s * st[a]);
    return [dx];
  });
}

/** Check the pieces of concat/stack: alive, same dtype, and return nothing. */
function checkPieces(op: string, xs: Tensor[]): void {
  if (!Array.isArray(xs) || xs.length === 0) throw new Error(`${op}: needs at least one tensor`);
  checkDevice(op, ...xs);
  for (const t of xs) {
    if (t.dtype !== xs[0].dtype) {
      throw new Error(
        `${op}: dtypes differ: ${xs[0].dtype} [${xs[0].shape}] and ${t.dtype} [${t.shape}]`,
      );
    }
  }
}

/**
 * Write pieces (each viewed as `views[k]`, equal to `outShape` except along `axis`) one
 * after another along `axis` of a new tensor; record the tape with `inputs`.
 */
function joinRaw(
  op: string,
  xs: Tensor[],
  views: number[][],
  outShape: number[],
  axis: number,
): Tensor {
  checkRank(op, outShape);
  const out = Tensor.empty(outShape, xs[0].dtype, op);
  const st = stridesOf(outShape);
  const offsets: number[] = [];
  let off = 0;
  for (let k = 0; k < xs.length; k++) {
    offsets.push(off);
    strided("scatter", xs[k], out, views[k], st, off * st[axis]);
    off += views[k][axis];
  }
  return record(out, op, xs, (g) =>
    xs.map((x, k) => {
      if (!x.requiresGrad) return null;
      const piece = gatherRaw(g, views[k], st, offsets[k] * st[axis], `${op} backward`);
      if (piece.shape.join() === x.shape.join()) return piece;
      const r = piece.reshape([...x.shape]);
      piece.dispose();
      return r;
    }));
}

/**
 * Join tensors along an existing axis; all other dims must match.
 *
 * @example
 * ```ts
 * const tokens = concat([cls, patches], 1); // [B, 1, D] + [B, P, D] -> [B, 1 + P, D]
 * ```
 */
export function concat(xs: Tensor[], axis = 0): Tensor {
  checkPieces("concat", xs);
  const r = xs[0].ndim;
  const a = normAxis("concat", axis, r);
  const outShape = [...xs[0].shape];
  outShape[a] = 0;
  for (const t of xs) {
    const same = t.ndim === r && t.shape.every((d, i) => i === a || d === xs[0].shape[i]);
    if (!same) {
      throw new Error(
        `concat: shapes [${xs[0].shape}] and [${t.shape}] differ outside axis ${axis}`,
      );
    }
    outShape[a] += t.shape[a];
  }
  return joinRaw("concat", xs, xs.map((t) => [...t.shape]), outShape, a);
}

/**
 * Join same-shaped tensors along a new axis (`-1` appends it last).
 *
 * @example
 * ```ts
 * const batch = stack([a, b, c], 0); // three [H, W] -> [3, H, W]
 * ```
 */
export function stack(xs: Tensor[], axis = 0): Tensor {
  checkPieces("stack", xs);
  const r = xs[0].ndim;
  const a = normAxis("stack", axis, r + 1);
  for (const t of xs) {
    if (t.shape.join() !== xs[0].shape.join()) {
      throw new Error(`stack: shapes [${xs[0].shape}] and [${t.shape}] differ`);
    }
  }
  const view = [...xs[0].shape];
  view.splice(a, 0, 1);
  const outShape = [...view];
  outShape[a] = xs.length;
  return joinRaw("stack", xs, xs.map(() => view), outShape, a);
}
