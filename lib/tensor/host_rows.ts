/**
 * `HostRows`: a 2-D f32 matrix [rows, cols] that stays in host memory and goes to the GPU a
 * block of rows at a time, so that what a whole dataset makes (raw-pixel features, the
 * features of 60 000 images) costs GPU memory by the block, not by the dataset, and never
 * needs one storage binding larger than the device allows.
 *
 * It is a `Tensor` (shape, dtype, `dispose`, `toArray`), so code that passes features along
 * keeps its types, but it has no GPU buffer: `rows(start, end)` and `slice(0, start, end)`
 * upload a block as an ordinary tensor, the k-NN (`lib/eval/knn.ts`) reads it block by block,
 * and any other op is an error that names the matrix, its size, the device limit and this way
 * around it.
 */
import { runtime } from "../gpu/device.ts";
import { type Storage, Tensor, tensor } from "./tensor.ts";

/**
 * Bytes above which the evaluation keeps a matrix in host memory (64 MiB, or less when the
 * device's `maxStorageBufferBindingSize` is smaller).
 *
 * @example
 * ```ts
 * const onHost = rows * cols * 4 > hostRowsThreshold();
 * ```
 */
export function hostRowsThreshold(): number {
  return Math.min(64 << 20, runtime().device.limits.maxStorageBufferBindingSize);
}

/**
 * Rows of a `cols`-wide f32 block that fit `bytes` (at least 1; by default 32 MiB, capped by
 * the device's binding limit).
 *
 * @example
 * ```ts
 * const block = blockRows(784); // 10 699 rows of raw Fashion-MNIST pixels
 * ```
 */
export function blockRows(cols: number, bytes = 32 << 20): number {
  const cap = Math.min(bytes, runtime().device.limits.maxStorageBufferBindingSize);
  return Math.max(1, Math.floor(cap / (4 * cols)));
}

/**
 * A [rows, cols] f32 matrix in host memory, uploaded by blocks of rows; see the module doc.
 *
 * @example
 * ```ts
 * const m = HostRows.fromFloat32(new Float32Array(60000 * 64), 60000, 64, "features");
 * const block = m.rows(0, 1000); // an ordinary [1000, 64] tensor on the GPU
 * block.dispose();
 * ```
 */
export class HostRows extends Tensor {
  /** What the matrix is, for messages. */
  readonly what: string;
  #make: ((start: number, end: number) => Tensor) | null;

  /**
   * `make(start, end)` returns rows start..end as a new [end - start, cols] f32 tensor.
   *
   * @example
   * ```ts
   * const m = new HostRows(10, 3, (s, e) => zeros([e - s, 3]), "zeros");
   * ```
   */
  constructor(
    rows: number,
    cols: number,
    make: (start: number, end: number) => Tensor,
    what = "host rows",
  ) {
    super(null as unknown as Storage, [rows, cols], "f32");
    this.#make = make;
    this.what = what;
  }

  /**
   * A matrix over a Float32Array of `rows * cols` values (row-major).
   *
   * @example
   * ```ts
   * const m = HostRows.fromFloat32(Float32Array.of(1, 2, 3, 4), 2, 2);
   * ```
   */
  static fromFloat32(data: Float32Array, rows: number, cols: number, what?: string): HostRows {
    if (data.length !== rows * cols) {
      throw new Error(
        `HostRows: ${data.length} values do not fill [${rows}, ${cols}] (${rows * cols})`,
      );
    }
    return new HostRows(
      rows,
      cols,
      (s, e) => tensor(data.subarray(s * cols, e * cols), [e - s, cols]),
      what,
    );
  }

  override get buffer(): GPUBuffer {
    if (!this.#make) throw new Error(`${this.what} [${this.shape}] was used after dispose()`);
    const max = runtime().device.limits.maxStorageBufferBindingSize;
    throw new Error(
      `${this.what} [${this.shape}] (${this.size * 4} bytes) is kept in host memory, not in one ` +
        `GPU buffer (the evaluation keeps matrices over ${hostRowsThreshold()} bytes there; ` +
        `this device's maxStorageBufferBindingSize is ${max} bytes); the k-NN reads it block by ` +
        `block, other ops need a block of rows: .rows(start, end) or .slice(0, start, end)`,
    );
  }

  override get disposed(): boolean {
    return this.#make === null;
  }

  /** Forget the rows (nothing is held on the GPU). Idempotent. */
  override dispose(): void {
    this.#make = null;
  }

  /**
   * Rows `start..end` as a new GPU tensor [end - start, cols] (the caller disposes it).
   *
   * @example
   * ```ts
   * const first = m.rows(0, 256);
   * ```
   */
  rows(start: number, end: number): Tensor {
    const [n] = this.shape;
    if (!this.#make) throw new Error(`${this.what} [${this.shape}] was used after dispose()`);
    if (
      !Number.isInteger(start) || !Number.isInteger(end) || start < 0 || end > n || start >= end
    ) {
      throw new Error(`${this.what}.rows(${start}, ${end}): need 0 <= start < end <= ${n}`);
    }
    return this.#make(start, end);
  }

  /** Axis 0 only: rows `start..end` uploaded as a new tensor (see `rows`). */
  override slice(axis: number, start: number, end?: number): Tensor {
    if (axis !== 0 && axis !== -2) {
      throw new Error(
        `${this.what} [${this.shape}] is kept in host memory: slice only along axis 0, got ${axis}`,
      );
    }
    return this.rows(start, end ?? this.shape[0]);
  }

  /** The values, row-major, read back block by block. */
  override async toArray(): Promise<Float32Array> {
    const [n, d] = this.shape;
    const out = new Float32Array(n * d);
    const step = blockRows(d);
    for (let s = 0; s < n; s += step) {
      const e = Math.min(n, s + step);
      const t = this.rows(s, e);
      try {
        out.set(await t.toArray() as Float32Array, s * d);
      } finally {
        t.dispose();
      }
    }
    return out;
  }
}
