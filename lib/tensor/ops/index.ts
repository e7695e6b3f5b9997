/**
 * Row indexing (shaders/index.wgsl): `indexSelect` (gather rows, with a deterministic
 * scatter-add backward), `scatterRows` (functional row replacement), the in-place row
 * writes behind FIFO queues and memories (`writeRows_`, `writeRowsAt_`), and `topk`
 * along the last axis.
 *
 * A "row" is everything after axis 0: x of shape [R, ...rest] has R rows of
 * C = prod(rest) elements. Indices are an i32 tensor [M] or a `number[]`; a `number[]`
 * is checked on the host (a bad index throws), while an i32 tensor is checked on the
 * GPU without a readback: an out-of-range index makes its gathered row NaN (i32 min for
 * i32 tensors), makes `scatterRows` return all NaN, and makes `writeRowsAt_` write NaN
 * rows instead of `src` (never a silent clamp).
 * Repeated indices: gradients sum in increasing index position (deterministic, via a
 * CSR table built on the GPU by one invocation in O(R + M)), and in row writes the last
 * position wins (a table built in parallel with integer atomicMax).
 */
import code from "../../../shaders/index.wgsl" with { type: "text" };
import { runtime } from "../../gpu/device.ts";
import { numel, Tensor, tensor } from "../tensor.ts";
import { gradEnabled, record } from "../tape.ts";
import { grid, launch, Params } from "../launch.ts";
import { checkDevice, checkDType } from "../check.ts";

/** Bit patterns written for out-of-range indices. */
const BAD = { f32: 0x7fc00000, i32: 0x80000000 } as const;

/** Indices as given by the caller: an i32 tensor [M] or host numbers. */
type Indices = Tensor | number[];

/** Validate indices against `rows`; returns M. Host numbers are checked here. */
function checkIndices(
  op: string,
  indices: Indices,
  rows: number,
  shape: readonly number[],
): number {
  if (Array.isArray(indices)) {
    if (indices.length === 0) throw new Error(`${op}: indices are empty`);
    indices.forEach((v, i) => {
      if (!Number.isInteger(v) || v < 0 || v >= rows) {
        throw new Error(
          `${op}: index ${v} at position ${i} is out of range for ${rows} rows (shape [${shape}])`,
        );
      }
    });
    return indices.length;
  }
  if (!(indices instanceof Tensor)) {
    throw new Error(`${op}: indices must be an i32 tensor or a number[]`);
  }
  checkDevice(op, indices);
  checkDType(op, indices, "i32", "indices");
  if (indices.ndim !== 1) {
    throw new Error(`${op}: indices must be 1-D, got shape [${indices.shape}]`);
  }
  return indices.size;
}

/** Run `fn` with the indices as an i32 tensor (uploaded and disposed for a number[]). */
function withIndices<T>(indices: Indices, fn: (idx: Tensor) => T): T {
  if (!Array.isArray(indices)) return fn(indices);
  const t = tensor(Int32Array.from(indices), [indices.length], { dtype: "i32" });
  try {
    return fn(t);
  } finally {
    t.dispose();
  }
}

function params(n: number, rows: number, cols: number, m: number, start = 0, bad = 0): Params {
  return new Params().u32(n, rows, cols, m, start, bad, 0, 0);
}

/** The CSR table of `idx` over `rows` rows (see the shader header). Caller disposes. */
function csr(idx: Tensor, rows: number): { off: Tensor; order: Tensor } {
  const off = Tensor.empty([rows + 2], "i32", "csr");
  const order = Tensor.empty([idx.size], "i32", "csr");
  launch("index", code, "csr", {
    buffers: [idx, off, order],
    workgroups: [1, 1],
    params: params(1, rows, 0, idx.size),
  });
  return { off, order };
}

/**
 * The "last write wins" table of `idx` over `rows` rows (see the shader header):
 * R + 1 words, zeroed, then filled in parallel with integer atomics. Caller disposes.
 */
function lastRows(idx: Tensor, rows: number): Tensor {
  const last = Tensor.empty([rows + 1], "i32", "lastRows");
  runtime().clear(last.buffer);
  launch("index", code, "last_rows", {
    buffers: [idx, last],
    workgroups: grid(idx.size),
    params: params(idx.size, rows, 0, idx.size),
  });
  return last;
}

/** Rows and row length of a tensor indexed along axis 0. */
function rowsOf(op: string, x: Tensor, what = "input"): { R: number; C: number } {
  if (x.ndim < 1) throw new Error(`${op}: ${what} must have at least 1 dimension, got a scalar`);
  return { R: x.shape[0], C: numel(x.shape.slice(1)) };
}

/**
 * Rows of `x` along axis 0: `out[m] = x[indices[m]]`, shape [M, ...x.shape.slice(1)].
 * Works for f32 and i32 `x`. Backward: a deterministic scatter-add into zeros of x's
 * shape (repeated indices sum). Out-of-range indices: a `number[]` throws; an i32
 * tensor gives a NaN row (i32 min for i32 `x`) and no gradient for that position.
 *
 * @example
 * ```ts
 * const picked = indexSelect(memory, [3, 0, 3]); // or memory.indexSelect(idxTensor)
 * ```
 */
export function indexSelect(x: Tensor, indices: Indices): Tensor {
  checkDevice("indexSelect", x);
  if (Array.isArray(indices)) indices = [...indices]; // the backward must see these values
  const { R, C } = rowsOf("indexSelect", x);
  const M = checkIndices("indexSelect", indices, R, x.shape);
  const out = Tensor.empty([M, ...x.shape.slice(1)], x.dtype, "indexSelect");
  withIndices(indices, (idx) =>
    launch("index", code, "gather_rows", {
      buffers: [x, idx, out],
      workgroups: grid(M * C),
      params: params(M * C, R, C, M, 0, BAD[x.dtype]),
    }));
  return record(out, "indexSelect", [x], (g) => [
    withIndices(indices, (idx) => {
      const { off, order } = csr(idx, R);
      const dx = Tensor.empty(x.shape, "f32", "indexSelect backward");
      launch("index", code, "gather_rows_backward", {
        buffers: [g, off, order, dx],
        workgroups: grid(R * C),
        params: params(R * C, R, C, M),
      });
      off.dispose();
      order.dispose();
      return dx;
    }),
  ]);
}

/** Shared checks of the row writes: same dtype, src [M, ...target.shape.slice(1)]. */
function checkRowWrite(op: string, target: Tensor, src: Tensor): { R: number; C: number } {
  checkDevice(op, target, src);
  const { R, C } = rowsOf(op, target, "target");
  rowsOf(op, src, "src");
  if (src.dtype !== target.dtype) {
    throw new Error(
      `${op}: src dtype ${src.dtype} [${src.shape}] differs from target ${target.dtype} [${target.shape}]`,
    );
  }
  if (src.shape.slice(1).join() !== target.shape.slice(1).join()) {
    throw new Error(
      `${op}: src rows [${src.shape}] do not match target rows [${target.shape}] (all dims after the first must agree)`,
    );
  }
  return { R, C };
}

function checkInPlace(op: string, target: Tensor, ...reads: (Tensor | number[])[]): void {
  for (const r of reads) {
    if (r instanceof Tensor && r.storage === target.storage) {
      throw new Error(
        `${op}: tensor [${r.shape}] shares storage with target [${target.shape}]; pass a copy`,
      );
    }
  }
  if (gradEnabled() && target.requiresGrad) {
    throw new Error(
      `${op}: target [${target.shape}] requires a gradient; in-place writes need a tensor without one (detach it or use noGrad)`,
    );
  }
}

function checkCount(op: string, M: number, src: Tensor): void {
  if (M !== src.shape[0]) {
    throw new Error(`${op}: ${M} indices but src [${src.shape}] has ${src.shape[0]} rows`);
  }
}

/**
 * A copy of `target` with rows `indices[m]` replaced by `src[m]` (functional). With
 * repeated indices the last position wins. Gradients: to `target`, the upstream
 * gradient with the replaced rows zeroed; to `src`, the gathered rows (0 for a position
 * overwritten by a later repeat). A bad i32 index makes the whole output NaN.
 *
 * @example
 * ```ts
 * const y = scatterRows(x, [0, 2], rows); // x [4, D], rows [2, D]
 * ```
 */
export function scatterRows(target: Tensor, indices: Indices, src: Tensor): Tensor {
  if (Array.isArray(indices)) indices = [...indices]; // the backward must see these values
  const { R, C } = checkRowWrite("scatterRows", target, src);
  const M = checkIndices("scatterRows", indices, R, target.shape);
  checkCount("scatterRows", M, src);
  const out = Tensor.empty(target.shape, target.dtype, "scatterRows");
  withIndices(indices, (idx) => {
    const last = lastRows(idx, R);
    launch("index", code, "scatter_rows", {
      buffers: [target, src, last, out],
      workgroups: grid(R * C),
      params: params(R * C, R, C, M, 0, BAD[target.dtype]),
    });
    last.dispose();
  });
  return record(out, "scatterRows", [target, src], (g) =>
    withIndices(indices, (idx) => {
      const last = lastRows(idx, R);
      let dt: Tensor | null = null;
      let ds: Tensor | null = null;
      if (target.requiresGrad) {
        dt = Tensor.empty(target.shape, "f32", "scatterRows backward");
        launch("index", code, "mask_rows", {
          buffers: [g, last, dt],
          workgroups: grid(R * C),
          params: params(R * C, R, C, M),
        });
      }
      if (src.requiresGrad) {
        ds = Tensor.empty(src.shape, "f32", "scatterRows backward");
        launch("index", code, "gather_winners", {
          buffers: [g, idx, last, ds],
          workgroups: grid(M * C),
          params: params(M * C, R, C, M),
        });
      }
      last.dispose();
      return [dt, ds];
    }));
}

/**
 * In place, no gradient: write the B rows of `src` into `target` (R rows) starting at
 * row `start`, wrapping around modulo R: the FIFO queue update of MoCo/Mugs (a ring
 * buffer of R rows; any batch size B <= R). `start` may be any integer (taken mod R).
 * Returns `target`.
 *
 * @example
 * ```ts
 * writeRows_(queue, ptr, keys); // queue [65536, 256], keys [B, 256]
 * ptr = (ptr + B) % 65536;
 * ```
 */
export function writeRows_(target: Tensor, start: number, src: Tensor): Tensor {
  const { R, C } = checkRowWrite("writeRows_", target, src);
  checkInPlace("writeRows_", target, src);
  const B = src.shape[0];
  if (B > R) {
    throw new Error(
      `writeRows_: src [${src.shape}] has ${B} rows, more than the ${R} of target [${target.shape}]`,
    );
  }
  if (!Number.isInteger(start)) throw new Error(`writeRows_: start ${start} must be an integer`);
  const s = ((start % R) + R) % R;
  launch("index", code, "write_rows", {
    buffers: [src, target],
    workgroups: grid(B * C),
    params: params(B * C, R, C, B, s),
  });
  return target;
}

/**
 * In place, no gradient: `target[indices[m]] = src[m]` (the last position wins on a
 * repeat). Costs O(M * C) work plus clearing an R-word table. A bad
 * index in an i32 tensor writes NaN (i32 min for i32 targets) instead of the rows: into
 * every valid `indices[m]` row and into rows `m % R`, so at least min(M, R) rows of
 * the target are poisoned. Returns `target`.
 *
 * @example
 * ```ts
 * writeRowsAt_(memory, slots, feats); // slots: i32 [B], feats [B, D]
 * ```
 */
export function writeRowsAt_(target: Tensor, indices: Indices, src: Tensor): Tensor {
  const { R, C } = checkRowWrite("writeRowsAt_", target, src);
  checkInPlace("writeRowsAt_", target, src, indices);
  const M = checkIndices("writeRowsAt_", indices, R, target.shape);
  checkCount("writeRowsAt_", M, src);
  withIndices(indices, (idx) => {
    const last = lastRows(idx, R);
    launch("index", code, "write_rows_at", {
      buffers: [src, idx, last, target],
      workgroups: grid(M * C),
      params: params(M * C, R, C, M, 0, BAD[target.dtype]),
    });
    last.dispose();
  });
  return target;
}

/** Largest k supported by `topk`'s private insertion buffer. */
export const TOPK_MAX = 64;

/**
 * The `k` largest entries along the last axis, largest first: `values` (f32) and
 * `indices` (i32), both of shape [..., k]. Ties go to the lower index; NaN ranks above
 * +inf and -0 equals +0 (as PyTorch). No gradient (values is a plain tensor; gather
 * with the indices to differentiate). k <= 64.
 *
 * Strategy: each invocation scans its elements in index order keeping a sorted buffer
 * of k (key, index) pairs; with many rows one invocation per row, with few long rows
 * each row is split into chunks whose candidates a second pass merges.
 *
 * @example
 * ```ts
 * const { values, indices } = topk(sim, 8); // sim [B, 4096] -> [B, 8]
 * ```
 */
export function topk(x: Tensor, k: number): { values: Tensor; indices: Tensor } {
  checkDevice("topk", x);
  checkDType("topk", x, "f32");
  if (x.ndim < 1) throw new Error("topk: input must have at least 1 dimension, got a scalar");
  const L = x.shape[x.ndim - 1];
  if (!Number.isInteger(k) || k < 1) {
    throw new Error(`topk: k must be a positive integer, got ${k}`);
  }
  if (k > L) {
    throw new Error(`topk: k = ${k} exceeds the last dimension ${L} of input [${x.shape}]`);
  }
  if (k > TOPK_MAX) throw new Error(`topk: k = ${k} exceeds the supported maximum ${TOPK_MAX}`);
  const rows = x.size / L;
  const outShape = [...x.shape.slice(0, -1), k];
  const values = Tensor.empty(outShape, "f32", "topk");
  const indices = Tensor.empty(outShape, "i32", "topk");
  const { chunks, chunk } = topkChunks(rows, L, k);
  if (chunks === 1) {
    launch("index", code, "topk_rows", {
      buffers: [x, values, indices],
      workgroups: grid(rows, TOPK_WG),
      params: params(rows, rows, L, 1),
      constants: { WG: TOPK_WG, K: k },
    });
    return { values, indices };
  }
  const n = rows * chunks;
  const keys = Tensor.empty([n * k], "i32", "topk");
  const idx = Tensor.empty([n * k], "i32", "topk");
  launch("index", code, "topk_partial", {
    buffers: [x, keys, idx],
    workgroups: grid(n, TOPK_WG),
    params: params(n, rows, L, chunks, chunk),
    constants: { WG: TOPK_WG, K: k },
  });
  launch("index", code, "topk_merge", {
    buffers: [x, keys, idx, values, indices],
    workgroups: grid(rows, TOPK_WG),
    params: params(rows, rows, L, chunks),
    constants: { WG: TOPK_WG, K: k },
  });
  keys.dispose();
  idx.dispose();
  return { values, indices };
}

/** Small workgroups: each top-k invocation is a long serial scan. */
const TOPK_WG = 16;

/**
 * Split long rows when there are too few rows to occupy the device: aim for `target`
 * invocations (256 on a CPU adapter, 16 384 on a GPU), chunks of at least
 * max(8k, 512) elements. Exported for tests.
 *
 * @example
 * ```ts
 * topkChunks(1, 65536, 64); // { chunks: 128, chunk: 512 }
 * ```
 */
export function topkChunks(
  rows: number,
  L: number,
  k: number,
  target = runtime().info.kernels === "cpu" ? 256 : 16384,
): { chunks: number; chunk: number } {
  const minChunk = Math.max(8 * k, 512);
  const want = Math.min(Math.floor(target / rows), Math.floor(L / minChunk));
  if (want <= 1) return { chunks: 1, chunk: L };
  const chunk = Math.ceil(L / want);
  return { chunks: Math.ceil(L / chunk), chunk };
}
