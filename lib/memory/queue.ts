/**
 * `FifoQueue`: a GPU ring buffer of `size` rows of `dim` floats with a write pointer,
 * the negative-key queue of MoCo and of Mugs' two InfoNCE losses (instance and
 * local-group discrimination; 65 536 rows officially).
 *
 * Facts from the official Mugs code (`src/loss.py`, `InfoNCELoss`) that this follows:
 * - The queue starts as `normalize(randn(dim, K), dim=0)`: random L2-normalised rows,
 *   all of them used as negatives from the first step (`init: "random"`, `filled = size`).
 *   `init: "zeros"` starts empty instead (`filled = 0`, growing with each write) for
 *   callers that only want real keys.
 * - `_dequeue_and_enqueue` writes the batch at the pointer, wrapping around past the end,
 *   and moves the pointer by the batch size (mod K). Mugs calls it once per teacher view.
 *
 * Writes are in place (the buffer is never reallocated) and never record on the tape.
 */
import { keep } from "../tensor/scope.ts";
import { noGrad } from "../tensor/tape.ts";
import { type Generator } from "../tensor/rng.ts";
import { randn, Tensor, zeros } from "../tensor/tensor.ts";
import { l2normalize } from "../tensor/ops/norm.ts";
import { writeRows_ } from "../tensor/ops/index.ts";

/**
 * How a queue or memory starts: random rows (the official code) or zeros (empty).
 *
 * @example
 * ```ts
 * const init: QueueInit = "zeros";
 * ```
 */
export type QueueInit = "random" | "zeros";

/**
 * Options of `FifoQueue`.
 *
 * @example
 * ```ts
 * const opts: FifoQueueOptions = { init: "random", seed: 0 };
 * ```
 */
export interface FifoQueueOptions {
  /**
   * `"random"` (default): standard-normal rows, all counted as filled, as the official
   * code; `"zeros"`: zero rows, none filled.
   */
  init?: QueueInit;
  /** Seed (or generator) of the random rows; the global generator when absent. */
  seed?: number | Generator;
  /** L2-normalise the random rows (default true: MoCo/Mugs InfoNCE queues). */
  normalizeInit?: boolean;
  /** Name used in error messages (default "FifoQueue"). */
  name?: string;
}

/**
 * A queue's or memory's state for checkpoints: the rows on the host, the write pointer
 * and the fill level.
 *
 * @example
 * ```ts
 * const s: RingState = await queue.state(); // { shape: [4096, 128], data, pointer, filled }
 * ```
 */
export interface RingState {
  /** [size, dim]. */
  shape: [number, number];
  /** The rows, row-major, size * dim floats. */
  data: Float32Array;
  /** Next row to write, in [0, size). */
  pointer: number;
  /** Valid rows, in [0, size]; below size the valid rows are [0, filled) and pointer = filled. */
  filled: number;
}

/**
 * Check that `batch` is an f32 matrix [B, dim]; returns B.
 *
 * @example
 * ```ts
 * const B = checkBatch("FifoQueue.enqueue", keys, 256);
 * ```
 */
export function checkBatch(op: string, batch: Tensor, dim: number, what = "batch"): number {
  if (!(batch instanceof Tensor)) throw new Error(`${op}: ${what} must be a Tensor`);
  if (batch.disposed) throw new Error(`${op}: ${what} tensor #${batch.id} was disposed`);
  if (batch.dtype !== "f32") {
    throw new Error(`${op}: ${what} [${batch.shape}] must be f32, got ${batch.dtype}`);
  }
  if (batch.ndim !== 2 || batch.shape[1] !== dim) {
    throw new Error(`${op}: ${what} has shape [${batch.shape}], want [B, ${dim}]`);
  }
  return batch.shape[0];
}

function checkSize(op: string, size: number, dim: number): void {
  for (const [what, v] of [["size", size], ["dim", dim]] as const) {
    if (!Number.isInteger(v) || v < 1) {
      throw new Error(`${op}: ${what} must be a positive integer, got ${v}`);
    }
  }
}

/**
 * Validate a `RingState` against a [size, dim] buffer (throws naming the field at fault).
 *
 * @example
 * ```ts
 * checkState("FifoQueue.load", state, 4096, 128);
 * ```
 */
export function checkState(op: string, s: RingState, size: number, dim: number): void {
  if (!s || typeof s !== "object") throw new Error(`${op}: state must be an object`);
  if (!Array.isArray(s.shape) || s.shape.length !== 2) {
    throw new Error(`${op}: state.shape must be [size, dim], got ${JSON.stringify(s.shape)}`);
  }
  if (s.shape[0] !== size || s.shape[1] !== dim) {
    throw new Error(`${op}: state.shape [${s.shape}] does not match [${size}, ${dim}]`);
  }
  if (!(s.data instanceof Float32Array)) {
    throw new Error(`${op}: state.data must be a Float32Array`);
  }
  if (s.data.length !== size * dim) {
    throw new Error(
      `${op}: state.data has ${s.data.length} floats, want ${size * dim} for [${size}, ${dim}]`,
    );
  }
  if (!Number.isInteger(s.pointer) || s.pointer < 0 || s.pointer >= size) {
    throw new Error(`${op}: state.pointer ${s.pointer} must be an integer in [0, ${size})`);
  }
  if (!Number.isInteger(s.filled) || s.filled < 0 || s.filled > size) {
    throw new Error(`${op}: state.filled ${s.filled} must be an integer in [0, ${size}]`);
  }
  if (s.filled < size && s.pointer !== s.filled) {
    throw new Error(
      `${op}: state.pointer ${s.pointer} must equal state.filled ${s.filled} while the buffer is not full (the valid rows are [0, filled))`,
    );
  }
}

/**
 * A FIFO queue of `size` rows of `dim` floats on the GPU (a ring buffer), for InfoNCE
 * negatives. `enqueue` overwrites the oldest rows in place.
 *
 * @example
 * ```ts
 * const queue = new FifoQueue(65536, 256, { seed: 0 }); // random unit rows, all filled
 * queue.enqueue(teacherTargets); // [B, 256], wraps around the end
 * const negatives = queue.tensor; // [65536, 256], no gradient
 * ```
 */
export class FifoQueue {
  /** Rows. */
  readonly size: number;
  /** Row length. */
  readonly dim: number;
  readonly #name: string;
  #buf: Tensor | null;
  #pointer = 0;
  #filled: number;

  /**
   * A queue of `size` rows of `dim` floats (random unit rows by default, all filled).
   *
   * @example
   * ```ts
   * const q = new FifoQueue(4096, 128, { init: "zeros" });
   * ```
   */
  constructor(size: number, dim: number, opts: FifoQueueOptions = {}) {
    this.#name = opts.name ?? "FifoQueue";
    checkSize(this.#name, size, dim);
    const init = opts.init ?? "random";
    if (init !== "random" && init !== "zeros") {
      throw new Error(`${this.#name}: init must be "random" or "zeros", got ${String(init)}`);
    }
    this.size = size;
    this.dim = dim;
    this.#buf = keep(
      noGrad(() => {
        if (init === "zeros") return zeros([size, dim]);
        const r = randn([size, dim], { seed: opts.seed });
        if (opts.normalizeInit === false) return r;
        const n = l2normalize(r);
        r.dispose();
        return n;
      }),
    );
    this.#filled = init === "zeros" ? 0 : size;
  }

  /** The [size, dim] rows (no gradient). Read it; write only through `enqueue`/`load`. */
  get tensor(): Tensor {
    if (!this.#buf) throw new Error(`${this.#name} was disposed`);
    return this.#buf;
  }

  /** Next row `enqueue` writes, in [0, size). */
  get pointer(): number {
    return this.#pointer;
  }

  /** Valid rows: size after a random init; otherwise the rows written so far (at most size). */
  get filled(): number {
    return this.#filled;
  }

  /** Whether `dispose()` was called. */
  get disposed(): boolean {
    return this.#buf === null;
  }

  /**
   * Write the B rows of `batch` [B, dim] at the pointer, wrapping around the end, and
   * advance the pointer by B (mod size). In place; records no tape (a batch that needs
   * a gradient is read as data). B > size is an error. Returns B.
   *
   * @example
   * ```ts
   * queue.enqueue(keys); // keys [B, dim]
   * ```
   */
  enqueue(batch: Tensor): number {
    const op = `${this.#name}.enqueue`;
    const buf = this.tensor;
    const B = checkBatch(op, batch, this.dim);
    if (B > this.size) {
      throw new Error(
        `${op}: batch [${batch.shape}] has ${B} rows, more than the queue size ${this.size}`,
      );
    }
    noGrad(() => writeRows_(buf, this.#pointer, batch));
    this.#pointer = (this.#pointer + B) % this.size;
    this.#filled = Math.min(this.size, this.#filled + B);
    return B;
  }

  /**
   * The rows, pointer and fill level on the host (for checkpoints).
   *
   * @example
   * ```ts
   * const s = await queue.state();
   * ```
   */
  async state(): Promise<RingState> {
    const data = (await this.tensor.toArray()) as Float32Array;
    return { shape: [this.size, this.dim], data, pointer: this.#pointer, filled: this.#filled };
  }

  /**
   * Restore `state()` output in place (same buffer); throws naming the field at fault.
   *
   * @example
   * ```ts
   * queue.load(await other.state());
   * ```
   */
  load(state: RingState): void {
    const op = `${this.#name}.load`;
    const buf = this.tensor;
    checkState(op, state, this.size, this.dim);
    buf.storage!.rt.upload(buf.buffer, state.data);
    this.#pointer = state.pointer;
    this.#filled = state.filled;
  }

  /**
   * Release the GPU buffer. Idempotent.
   *
   * @example
   * ```ts
   * queue.dispose();
   * ```
   */
  dispose(): void {
    this.#buf?.dispose();
    this.#buf = null;
  }
}
