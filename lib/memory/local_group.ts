/**
 * `LocalGroupMemory`: Mugs' memory of earlier mean patch tokens (a FIFO of `size` rows)
 * with cosine top-k neighbour search on the GPU, feeding the local-group branch.
 *
 * Facts from the official Mugs code (`src/model.py`, `Block_mem`/`vit_mem`, and
 * `src/vision_transformer.py`) that this follows:
 * - Size 65 536 (`--local_group_queue_size`) and k = 8 (`--local_group_knn_top_n`) in
 *   the ImageNet runs; the dimension is the backbone's embedding width.
 * - The memory starts as `randn(K, dim)`, not normalised, and every row is a candidate
 *   from the first step (`init: "random"`: `filled = size`). `init: "zeros"` starts
 *   empty instead, and then only the filled rows are candidates.
 * - Search: `normalize(query) @ normalize(memory)^T`, `topk(k)` over the memory axis,
 *   then the raw memory rows at those indices are the neighbours (no gradient).
 * - What goes in: the mean of the final-normed patch tokens (class token excluded) of
 *   the 224-px (global) crops; the teacher memory takes the teacher's first global
 *   crop, the student memory only the rows whose crop was weakly augmented
 *   (`weak_aug_flags` -> `keepMask` here). The query is the mean of all tokens of every
 *   view before the final norm. (Those choices belong to the caller.)
 * - The official write advances its pointer by twice the batch when it does not wrap (a
 *   bug); this memory is a plain FIFO and advances by the rows written.
 *
 * L2-normalised copies of the rows are kept next to the rows (written on each
 * `enqueue`), so a search costs one matmul and one top-k, not a pass over the memory.
 *
 * Beside each row the memory keeps, on the host, the dataset index of the image the row came
 * from (`sources`; -1 = unknown: a random initial row, a row written without indices, or a
 * row restored from a checkpoint written before the memory kept them). Training never reads
 * them; they let a read-out find the images a query's neighbours came from (neighbour purity,
 * `lib/memory/purity.ts`; `deno task neighbours`).
 */
import { keep } from "../tensor/scope.ts";
import { noGrad } from "../tensor/tape.ts";
import { Tensor } from "../tensor/tensor.ts";
import { l2normalize } from "../tensor/ops/norm.ts";
import { matmul } from "../tensor/ops/matmul.ts";
import { slice } from "../tensor/ops/shape.ts";
import { indexSelect, topk, TOPK_MAX, writeRows_ } from "../tensor/ops/index.ts";
import { copyInto } from "../nn/module.ts";
import {
  checkBatch,
  checkState,
  FifoQueue,
  type FifoQueueOptions,
  type RingState,
} from "./queue.ts";

/**
 * Mugs' official number of neighbours (`--local_group_knn_top_n 8`).
 *
 * @example
 * ```ts
 * mem.neighbours(q, MUGS_TOP_K);
 * ```
 */
export const MUGS_TOP_K = 8;
/**
 * Mugs' official memory size (`--local_group_queue_size 65536`).
 *
 * @example
 * ```ts
 * const mem = new LocalGroupMemory(MUGS_MEMORY_SIZE, 384);
 * ```
 */
export const MUGS_MEMORY_SIZE = 65536;

/**
 * Options of `LocalGroupMemory`.
 *
 * @example
 * ```ts
 * const opts: LocalGroupMemoryOptions = { init: "zeros", k: 8 };
 * ```
 */
export interface LocalGroupMemoryOptions {
  /** `"random"` (default): randn rows, all candidates (official); `"zeros"`: empty. */
  init?: FifoQueueOptions["init"];
  /** Seed (or generator) of the random rows; the global generator when absent. */
  seed?: FifoQueueOptions["seed"];
  /** L2-normalise the random rows (default false: the official memory is plain randn). */
  normalizeInit?: boolean;
  /** Default number of neighbours (default 8, as Mugs). */
  k?: number;
}

/**
 * The result of `neighbours`: all tensors without gradient; the caller disposes them.
 *
 * @example
 * ```ts
 * const { indices, features }: Neighbours = mem.neighbours(q);
 * ```
 */
export interface Neighbours {
  /** [B, k] i32 memory rows, most similar first (ties: lower index first). */
  indices: Tensor;
  /** [B, k, dim] the memory rows at `indices` (copies, detached). */
  features: Tensor;
  /** [B, k] cosine similarities of the query and each neighbour. */
  similarities: Tensor;
}

/**
 * Which batch rows to write: one entry per row, true (or non-zero) keeps it.
 *
 * @example
 * ```ts
 * const keepMask: KeepMask = views.map((v) => v.weak);
 * ```
 */
export type KeepMask = readonly boolean[] | ArrayLike<number>;

/**
 * A memory's state for checkpoints: the ring (rows, pointer, fill level) and, per row, the
 * dataset index of the image it came from (-1 = unknown).
 *
 * @example
 * ```ts
 * const s: MemoryState = await mem.state(); // s.sources: Int32Array [size]
 * ```
 */
export interface MemoryState extends RingState {
  /** Dataset index of each row's image, -1 when unknown; [size]. */
  sources: Int32Array;
}

/** Source index of a row whose image is not known. */
export const UNKNOWN_SOURCE = -1;

const NAME = "LocalGroupMemory";

function checkK(op: string, k: number, size: number): void {
  if (!Number.isInteger(k) || k < 1) {
    throw new Error(`${op}: k must be a positive integer, got ${k}`);
  }
  if (k > TOPK_MAX) throw new Error(`${op}: k = ${k} exceeds the supported maximum ${TOPK_MAX}`);
  if (k > size) throw new Error(`${op}: k = ${k} exceeds the memory size ${size}`);
}

/** Kept positions of a host mask of length B (throws naming the bad entry). */
function keptRows(op: string, mask: KeepMask, B: number, shape: readonly number[]): number[] {
  if (typeof mask !== "object" || mask === null || typeof mask.length !== "number") {
    throw new Error(`${op}: keepMask must be a boolean[], a number array or an i32 tensor`);
  }
  if (mask.length !== B) {
    throw new Error(
      `${op}: keepMask has ${mask.length} entries but batch [${shape}] has ${B} rows`,
    );
  }
  const kept: number[] = [];
  for (let i = 0; i < B; i++) {
    const v = (mask as ArrayLike<unknown>)[i];
    if (typeof v !== "boolean" && !(typeof v === "number" && Number.isFinite(v))) {
      throw new Error(`${op}: keepMask[${i}] is ${String(v)}, want a boolean or a number`);
    }
    if (v) kept.push(i);
  }
  return kept;
}

/** Check the dataset indices given with a batch of B rows (integers >= -1). */
function checkSources(op: string, sources: ArrayLike<number>, B: number): void {
  if (typeof sources !== "object" || sources === null || typeof sources.length !== "number") {
    throw new Error(`${op}: sources must be an array of dataset indices, one per batch row`);
  }
  if (sources.length !== B) {
    throw new Error(`${op}: ${sources.length} sources for a batch of ${B} rows`);
  }
  for (let i = 0; i < B; i++) {
    const v = sources[i];
    if (!Number.isInteger(v) || v < UNKNOWN_SOURCE || v > 0x7fffffff) {
      throw new Error(`${op}: sources[${i}] is ${v}, want a dataset index (an integer >= 0) or -1`);
    }
  }
}

/**
 * A FIFO memory of mean patch tokens with cosine top-k neighbour search on the GPU
 * (Mugs' local-group memory).
 *
 * @example
 * ```ts
 * const mem = new LocalGroupMemory(65536, 384, { seed: 0 });
 * const { features } = mem.neighbours(meanTokens); // [B, 8, 384]
 * mem.enqueue(meanPatchTokens, weakFlags, batchIndices); // weakly augmented rows, their images
 * ```
 */
export class LocalGroupMemory {
  /** Rows. */
  readonly size: number;
  /** Row length. */
  readonly dim: number;
  /** Default number of neighbours. */
  readonly k: number;
  #rows: FifoQueue;
  #normed: Tensor | null;
  #sources: Int32Array;

  /**
   * A memory of `size` rows of `dim` floats (randn rows by default, all candidates).
   *
   * @example
   * ```ts
   * const mem = new LocalGroupMemory(4096, 64, { init: "zeros", k: 8 });
   * ```
   */
  constructor(size: number, dim: number, opts: LocalGroupMemoryOptions = {}) {
    this.#rows = new FifoQueue(size, dim, {
      init: opts.init,
      seed: opts.seed,
      normalizeInit: opts.normalizeInit ?? false,
      name: NAME,
    });
    this.size = size;
    this.dim = dim;
    this.#sources = new Int32Array(size).fill(UNKNOWN_SOURCE);
    this.k = opts.k ?? MUGS_TOP_K;
    try {
      checkK(NAME, this.k, size);
    } catch (e) {
      this.#rows.dispose();
      throw e;
    }
    this.#normed = keep(noGrad(() => l2normalize(this.#rows.tensor)));
  }

  /** The [size, dim] rows (no gradient). Read it; write only through `enqueue`/`load`. */
  get tensor(): Tensor {
    return this.#rows.tensor;
  }

  /** Next row `enqueue` writes, in [0, size). */
  get pointer(): number {
    return this.#rows.pointer;
  }

  /** Candidate rows: size after a random init; otherwise the rows written so far. */
  get filled(): number {
    return this.#rows.filled;
  }

  /** Whether `dispose()` was called. */
  get disposed(): boolean {
    return this.#normed === null;
  }

  /**
   * The dataset index of each row's image, [size] (-1 = unknown). A copy: the memory's own
   * changes with every `enqueue`, so a caller that resolves neighbours later keeps this one.
   *
   * @example
   * ```ts
   * const sources = mem.sources; // taken before the step's enqueue
   * const image = sources[neighbourRow];
   * ```
   */
  get sources(): Int32Array {
    return this.#sources.slice();
  }

  #normedRows(): Tensor {
    if (!this.#normed) throw new Error(`${NAME} was disposed`);
    return this.#normed;
  }

  /**
   * The `k` most cosine-similar filled rows for each query of `queries` [B, dim]:
   * `normalize(q) @ normalize(memory)^T`, top-k along the memory axis (largest first,
   * ties to the lower index). No gradient flows; the caller disposes the result.
   *
   * @example
   * ```ts
   * const { indices, features, similarities } = mem.neighbours(q, 8); // [B, 8], [B, 8, D]
   * ```
   */
  neighbours(queries: Tensor, k: number = this.k): Neighbours {
    const op = `${NAME}.neighbours`;
    const normed = this.#normedRows();
    const B = checkBatch(op, queries, this.dim, "queries");
    checkK(op, k, this.size);
    const F = this.filled;
    if (k > F) {
      throw new Error(`${op}: k = ${k} exceeds the ${F} filled rows of the memory`);
    }
    return noGrad(() => {
      const q = l2normalize(queries);
      const m = F < this.size ? slice(normed, 0, 0, F) : normed;
      const sim = matmul(q, m, { transB: true }); // [B, F]
      q.dispose();
      if (m !== normed) m.dispose();
      const { values, indices } = topk(sim, k);
      sim.dispose();
      const flat = indices.reshape([B * k]);
      const rows = indexSelect(this.#rows.tensor, flat);
      flat.dispose();
      const features = rows.reshape([B, k, this.dim]);
      rows.dispose();
      return { indices, features, similarities: values };
    });
  }

  /**
   * Write rows of `batch` [B, dim] at the pointer (wrapping around) and advance it. With
   * `keepMask` only the rows whose entry is true / non-zero are written, in order (Mugs
   * writes the student memory from weakly augmented crops only). `sources` gives the
   * dataset index of each batch row's image, kept beside the written rows (-1 for every
   * written row when absent). A host mask returns the number of rows written; an i32 tensor
   * mask [B] is read back first, so that call returns a Promise (await it before the next
   * search). In place; no tape.
   *
   * @example
   * ```ts
   * mem.enqueue(meanPatch);                      // all rows
   * mem.enqueue(meanPatch, [true, false, true]); // rows 0 and 2
   * mem.enqueue(meanPatch, undefined, batch.indices); // all rows, with their images
   * await mem.enqueue(meanPatch, weakFlagsI32);  // mask on the GPU
   * ```
   */
  enqueue(batch: Tensor, keepMask?: KeepMask, sources?: ArrayLike<number>): number;
  /**
   * With an i32 tensor mask [B]: read it back, then write the kept rows (the batch is
   * snapshotted first, so it may be disposed at once); await before the next search.
   *
   * @example
   * ```ts
   * await mem.enqueue(meanPatch, weakFlagsI32);
   * ```
   */
  enqueue(batch: Tensor, keepMask: Tensor, sources?: ArrayLike<number>): Promise<number>;
  enqueue(
    batch: Tensor,
    keepMask?: KeepMask | Tensor,
    sources?: ArrayLike<number>,
  ): number | Promise<number> {
    const op = `${NAME}.enqueue`;
    this.#normedRows();
    const B = checkBatch(op, batch, this.dim);
    if (sources !== undefined) checkSources(op, sources, B);
    if (keepMask instanceof Tensor) {
      return this.#enqueueMasked(op, batch, B, keepMask, sources);
    }
    const kept = keepMask === undefined ? null : keptRows(op, keepMask, B, batch.shape);
    return this.#write(op, batch, B, kept, sources);
  }

  #write(
    op: string,
    batch: Tensor,
    B: number,
    kept: number[] | null,
    sources?: ArrayLike<number>,
  ): number {
    const n = kept ? kept.length : B;
    if (n === 0) return 0;
    if (n > this.size) {
      throw new Error(
        `${op}: ${
          kept ? `keepMask keeps ${n} rows of` : `${n} rows in`
        } batch [${batch.shape}], more than the memory size ${this.size}`,
      );
    }
    const ptr = this.#rows.pointer;
    noGrad(() => {
      const rows = kept && n < B ? indexSelect(batch, kept) : batch;
      this.#rows.enqueue(rows);
      const unit = l2normalize(rows);
      writeRows_(this.#normedRows(), ptr, unit);
      unit.dispose();
      if (rows !== batch) rows.dispose();
    });
    for (let j = 0; j < n; j++) {
      const row = kept ? kept[j] : j;
      this.#sources[(ptr + j) % this.size] = sources ? sources[row] : UNKNOWN_SOURCE;
    }
    return n;
  }

  async #enqueueMasked(
    op: string,
    batch: Tensor,
    B: number,
    mask: Tensor,
    sources?: ArrayLike<number>,
  ): Promise<number> {
    if (mask.disposed) throw new Error(`${op}: keepMask tensor #${mask.id} was disposed`);
    if (mask.dtype !== "i32" || mask.ndim !== 1 || mask.shape[0] !== B) {
      throw new Error(
        `${op}: keepMask tensor is ${mask.dtype} [${mask.shape}], want i32 [${B}] for batch [${batch.shape}]`,
      );
    }
    // snapshot the batch now: the caller may dispose it while the mask is read back
    const copy = keep(Tensor.empty(batch.shape, "f32", op));
    copyInto(copy, batch);
    const src = sources && Int32Array.from(sources); // the caller may reuse its array
    try {
      const flags = await mask.toArray();
      return this.#write(op, copy, B, keptRows(op, flags, B, batch.shape), src);
    } finally {
      copy.dispose();
    }
  }

  /**
   * The rows, pointer, fill level and the rows' dataset indices on the host (for
   * checkpoints; the normalised copy is recomputed on `load`).
   *
   * @example
   * ```ts
   * const s = await mem.state();
   * ```
   */
  async state(): Promise<MemoryState> {
    this.#normedRows();
    const sources = this.sources;
    return { ...(await this.#rows.state()), sources };
  }

  /**
   * Restore `state()` output in place; throws naming the field at fault. A state without
   * `sources` (a checkpoint written before the memory kept them) restores every row's
   * dataset index as unknown (-1).
   *
   * @example
   * ```ts
   * mem.load(await saved.state());
   * ```
   */
  load(state: RingState & { sources?: Int32Array }): void {
    const op = `${NAME}.load`;
    const normed = this.#normedRows();
    checkState(op, state, this.size, this.dim);
    const src = state.sources;
    if (src !== undefined) {
      if (!(src instanceof Int32Array) || src.length !== this.size) {
        throw new Error(
          `${op}: state.sources must be an Int32Array of ${this.size} dataset indices, got ${
            src instanceof Int32Array ? `${src.length}` : typeof src
          }`,
        );
      }
      const bad = src.findIndex((v) => v < UNKNOWN_SOURCE);
      if (bad >= 0) throw new Error(`${op}: state.sources[${bad}] is ${src[bad]}, want >= -1`);
    }
    this.#rows.load(state);
    if (src) this.#sources.set(src);
    else this.#sources.fill(UNKNOWN_SOURCE);
    noGrad(() => {
      const unit = l2normalize(this.#rows.tensor);
      copyInto(normed, unit);
      unit.dispose();
    });
  }

  /**
   * Release the GPU buffers. Idempotent.
   *
   * @example
   * ```ts
   * mem.dispose();
   * ```
   */
  dispose(): void {
    this.#rows.dispose();
    this.#normed?.dispose();
    this.#normed = null;
  }
}
