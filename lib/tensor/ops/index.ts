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
 * CSR table built on the GPU in parallel by a stable radix sort), and in row writes the
 * last position wins (a table built in parallel with integer atomicMax).
 * Every kernel keeps each invocation's loops within `LOOP_BUDGET` (llvmpipe's silent
 * cap) for any R, M and row length: loops run over host-chosen chunks, never over a
 * whole tensor dimension.
 */
import code from "../../../shaders/index.wgsl" with { type: "text" };
import { runtime } from "../../gpu/device.ts";
import { numel, Tensor, tensor } from "../tensor.ts";
import { gradEnabled, record } from "../tape.ts";
import { grid, launch, LOOP_BUDGET, Params } from "../launch.ts";
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

/** Words per block of the exclusive scan (one invocation loops over a block). */
const SCAN_BLOCK = 1024;
/** Radix digits of at most this many bits (2048 buckets per chunk). */
const RADIX_BITS = 11;
/** Elements one radix invocation visits (within LOOP_BUDGET). */
const SORT_CHUNK_MAX = 16384;
/** Small workgroups for kernels whose invocations run long serial loops. */
const SERIAL_WG = 16;

/** In-place exclusive prefix sum of the first `n` words of `a` (u32 or i32). */
function scanExclusive(a: Tensor, n: number): void {
  if (n <= SCAN_BLOCK) {
    launch("index", code, "scan_serial", {
      buffers: [a],
      workgroups: [1, 1],
      params: params(1, 0, 0, n),
    });
    return;
  }
  const blocks = Math.ceil(n / SCAN_BLOCK);
  const sums = Tensor.empty([blocks], "i32", "csr scan");
  const prm = params(blocks, 0, SCAN_BLOCK, n);
  const o = {
    buffers: [a, sums],
    workgroups: grid(blocks, SERIAL_WG),
    constants: { WG: SERIAL_WG },
  };
  launch("index", code, "scan_sums", { ...o, params: prm });
  scanExclusive(sums, blocks);
  launch("index", code, "scan_add", { ...o, params: prm });
  sums.dispose();
}

/**
 * How the CSR builder's radix sort splits its work: `passes` digits of `bits` bits cover
 * the keys 0..rows; `chunks` invocations of `chunk` consecutive keys each (at most
 * SORT_CHUNK_MAX loop iterations), with about 4 keys per histogram entry. Exported for
 * tests.
 *
 * @example
 * ```ts
 * csrPlan(65536, 256); // { passes: 2, bits: 9, chunks: 1, chunk: 256 }
 * ```
 */
export function csrPlan(
  rows: number,
  M: number,
): { passes: number; bits: number; chunks: number; chunk: number } {
  const keyBits = rows.toString(2).length; // keys 0..rows (rows = out of range)
  const passes = Math.ceil(keyBits / RADIX_BITS);
  const bits = Math.ceil(keyBits / passes);
  let chunks = Math.min(Math.max(Math.floor(M / (4 << bits)), 1), 1024);
  chunks = Math.max(chunks, Math.ceil(M / SORT_CHUNK_MAX));
  const chunk = Math.ceil(M / chunks);
  return { passes, bits, chunks: Math.ceil(M / chunk), chunk };
}

/**
 * The CSR table of `idx` over `rows` rows (see the shader header): a stable radix sort
 * of the row numbers carrying the positions, then a binary search per row. All in
 * parallel; every invocation's loops are bounded by SORT_CHUNK_MAX, SCAN_BLOCK or
 * log2(M) whatever R and M. Caller disposes.
 */
function csr(idx: Tensor, rows: number): { off: Tensor; order: Tensor } {
  const M = idx.size;
  const { passes, bits, chunks, chunk } = csrPlan(rows, M);
  let keys = Tensor.empty([M], "i32", "csr");
  let vals = Tensor.empty([M], "i32", "csr");
  launch("index", code, "csr_keys", {
    buffers: [idx, keys, vals],
    workgroups: grid(M),
    params: params(M, rows, 0, M),
  });
  const hist = Tensor.empty([chunks << bits], "i32", "csr");
  const wg = { workgroups: grid(chunks, SERIAL_WG), constants: { WG: SERIAL_WG } };
  for (let pass = 0; pass < passes; pass++) {
    const prm = () => params(chunks, rows, chunk, M, pass * bits, (1 << bits) - 1);
    runtime().clear(hist.buffer);
    launch("index", code, "radix_count", { buffers: [keys, hist], params: prm(), ...wg });
    scanExclusive(hist, chunks << bits);
    const k2 = Tensor.empty([M], "i32", "csr");
    const v2 = Tensor.empty([M], "i32", "csr");
    launch("index", code, "radix_scatter", {
      buffers: [keys, vals, hist, k2, v2],
      params: prm(),
      ...wg,
    });
    keys.dispose();
    vals.dispose();
    keys = k2;
    vals = v2;
  }
  hist.dispose();
  const off = Tensor.empty([rows + 2], "i32", "csr");
  launch("index", code, "csr_offsets", {
    buffers: [keys, off],
    workgroups: grid(rows + 2),
    params: params(rows + 2, rows, 0, M),
  });
  keys.dispose();
  return { off, order: vals };
}

/** Positions one pass of indexSelect's backward sums per element (see the shader). */
export const BACKWARD_SPAN = LOOP_BUDGET - 100;

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
      // a row named more than BACKWARD_SPAN times continues its sum in later passes
      for (let q = 0; q * BACKWARD_SPAN < M; q++) {
        launch("index", code, "gather_rows_backward", {
          buffers: [g, off, order, dx],
          workgroups: grid(R * C),
          params: params(R * C, R, C, M, q * BACKWARD_SPAN, BACKWARD_SPAN),
        });
      }
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

/**
 * Largest k `topk` supports (its private heaps; k > 64 uses a second compile of the shader
 * with 256-entry heaps).
 *
 * @example
 * ```ts
 * const ks = [10, 20, 100, 200].filter((k) => k <= TOPK_MAX);
 * ```
 */
export const TOPK_MAX = 256;

const SMALL_HEAP = "const HEAP: u32 = 64u;";
/** The index shader with heaps big enough for `k` (one source per heap size). */
function topkSource(k: number): string {
  if (k <= 64) return code;
  if (!code.includes(SMALL_HEAP)) throw new Error(`shaders/index.wgsl: no '${SMALL_HEAP}' line`);
  return large ??= code.replace(SMALL_HEAP, "const HEAP: u32 = 256u;");
}
let large: string | undefined;

/**
 * The `k` largest entries along the last axis, largest first: `values` (f32) and
 * `indices` (i32), both of shape [..., k]. Ties go to the lower index; NaN ranks above
 * +inf and -0 equals +0 (as PyTorch). No gradient (values is a plain tensor; gather
 * with the indices to differentiate). k <= 256 (`TOPK_MAX`).
 *
 * Strategy: each invocation scans its elements in index order keeping the best k
 * (key, index) pairs in a binary heap; with many rows one invocation per row, with few
 * or very long rows each row is split into chunks whose sorted candidate lists one or
 * more merge passes combine. Chunks and merge groups are sized for the worst case (an
 * ascending row, where every element enters the heap) so that no invocation exceeds
 * `LOOP_BUDGET`: exact for every input order and length.
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
  const { chunks, chunk, group } = topkChunks(rows, L, k);
  const src = topkSource(k);
  const constants = { WG: TOPK_WG, K: k };
  if (chunks === 1) {
    launch("index", src, "topk_rows", {
      buffers: [x, values, indices],
      workgroups: grid(rows, TOPK_WG),
      params: params(rows, rows, L, 1),
      constants,
    });
    return { values, indices };
  }
  let n = rows * chunks;
  let keys = Tensor.empty([n * k], "i32", "topk");
  let idx = Tensor.empty([n * k], "i32", "topk");
  launch("index", src, "topk_partial", {
    buffers: [x, keys, idx],
    workgroups: grid(n, TOPK_WG),
    params: params(n, rows, L, chunks, chunk),
    constants,
  });
  // merge `group` lists per invocation until one list per row is left
  let lists = chunks;
  while (lists > group) {
    const groups = Math.ceil(lists / group);
    n = rows * groups;
    const k2 = Tensor.empty([n * k], "i32", "topk");
    const i2 = Tensor.empty([n * k], "i32", "topk");
    launch("index", src, "topk_merge_lists", {
      buffers: [keys, idx, k2, i2],
      workgroups: grid(n, TOPK_WG),
      params: params(n, rows, L, lists, group, groups),
      constants,
    });
    keys.dispose();
    idx.dispose();
    keys = k2;
    idx = i2;
    lists = groups;
  }
  launch("index", src, "topk_merge", {
    buffers: [keys, idx, x, values, indices],
    workgroups: grid(rows, TOPK_WG),
    params: params(rows, rows, L, lists),
    constants,
  });
  keys.dispose();
  idx.dispose();
  return { values, indices };
}

/** Small workgroups: each top-k invocation is a long serial scan. */
const TOPK_WG = 16;

/**
 * Worst-case loop iterations of one top-k invocation (shaders/index.wgsl), as the
 * host plans them: scanning `scan` elements with a k-heap (every element may enter:
 * one outer iteration plus a sift-down of at most floor(log2 k) + 2), the heap reset,
 * its heap sort (k sift-downs) and the k outputs; or merging `lists` sorted lists of k
 * (k + 2 each, plus the first copy and the outputs). Exported for tests.
 *
 * @example
 * ```ts
 * topkCost(64, { scan: 4096 }); // <= LOOP_BUDGET: a [*, 4096] row fits one invocation
 * ```
 */
export function topkCost(k: number, o: { scan?: number; lists?: number }): number {
  const sift = (31 - Math.clz32(k)) + 3; // outer iteration + loop entry + levels + exit
  const fixed = 2 * (k + 1) + 16;
  if (o.scan !== undefined) return o.scan * sift + (k + 1) * sift + fixed;
  return (o.lists ?? 1) * (k + 2) + fixed;
}

/**
 * Split long rows: for parallelism when there are too few rows to occupy the device
 * (aim for `target` invocations: 256 on a CPU adapter, 16 384 on a GPU; chunks of at
 * least max(8k, 512) elements), and always so that a chunk's worst-case scan stays
 * within `LOOP_BUDGET` (see `topkCost`). `group`: sorted candidate lists one merge
 * invocation may combine within the budget. Exported for tests.
 *
 * @example
 * ```ts
 * topkChunks(1, 65536, 64); // { chunks: 128, chunk: 512, group: 906 } on a CPU adapter
 * ```
 */
export function topkChunks(
  rows: number,
  L: number,
  k: number,
  target = runtime().info.kernels === "cpu" ? 256 : 16384,
): { chunks: number; chunk: number; group: number } {
  // the largest chunk and group whose topkCost fits (topkCost is linear in both)
  const scan0 = topkCost(k, { scan: 0 });
  const maxChunk = Math.floor((LOOP_BUDGET - scan0) / (topkCost(k, { scan: 1 }) - scan0));
  const list0 = topkCost(k, { lists: 0 });
  const group = Math.floor((LOOP_BUDGET - list0) / (topkCost(k, { lists: 1 }) - list0));
  const minChunk = Math.min(Math.max(8 * k, 512), maxChunk);
  const want = Math.min(Math.floor(target / rows), Math.floor(L / minChunk));
  let chunk = want <= 1 ? L : Math.ceil(L / want);
  chunk = Math.min(chunk, maxChunk);
  return { chunks: Math.ceil(L / chunk), chunk, group };
}
