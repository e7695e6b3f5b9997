/**
 * How ops launch kernels: a uniform-parameter builder matching WGSL's uniform layout,
 * a 1-D grid helper that stays under the 65 535-workgroups-per-dimension limit, and
 * `launch()`, which compiles (cached) and records one dispatch.
 */
import { runtime } from "../gpu/device.ts";
import type { Tensor } from "./tensor.ts";

/**
 * Loop iterations one invocation may run in all. llvmpipe (the CI adapter) caps the
 * loop iterations of a shader invocation at 65 535 and then silently leaves every loop,
 * with no error: the results are just wrong (measured: two loops of 40 000 ran 40 000
 * and 25 534 times; all loops of an invocation count together, and every entry into a
 * loop costs its iterations + 1, so a loop nested in a loop of n costs n more). Real
 * GPUs have no such cap. Kernels keep each invocation's total under this budget, with a
 * margin, for every size their op accepts.
 *
 * @example
 * ```ts
 * const perPass = Math.floor(LOOP_BUDGET / 2); // elements a two-pass invocation may visit
 * ```
 */
export const LOOP_BUDGET = 60000;

/** Builds a uniform block: 4-byte scalars, then 16-byte aligned `array<vec4u, N>` fields. */
export class Params {
  #u = new Uint32Array(64);
  #f = new Float32Array(this.#u.buffer);
  #i = new Int32Array(this.#u.buffer);
  #n = 0;

  /** Append unsigned integers. */
  u32(...v: number[]): this {
    for (const x of v) this.#u[this.#n++] = x >>> 0;
    return this;
  }

  /** Append signed integers. */
  i32(...v: number[]): this {
    for (const x of v) this.#i[this.#n++] = x | 0;
    return this;
  }

  /** Append floats. */
  f32(...v: number[]): this {
    for (const x of v) this.#f[this.#n++] = x;
    return this;
  }

  /** Pad to a 16-byte boundary. */
  align(): this {
    while (this.#n % 4) this.#n++;
    return this;
  }

  /** Append an `array<vec4u, len/4>` field (16-byte aligned, padded with `fill`). */
  u32s(v: readonly number[], len = 8, fill = 0): this {
    if (v.length > len) throw new Error(`Params.u32s: ${v.length} values exceed ${len}`);
    this.align();
    for (let k = 0; k < len; k++) this.#u[this.#n++] = (k < v.length ? v[k] : fill) >>> 0;
    return this;
  }

  /** The bytes to upload. */
  bytes(): Uint32Array {
    return this.#u.subarray(0, Math.max(4, Math.ceil(this.#n / 4) * 4));
  }
}

/** Workgroup counts for `n` invocations of `wg` threads: `[x, y]` with x ≤ 65 535. */
export function grid(n: number, wg = 256): [number, number] {
  const groups = Math.ceil(n / wg);
  if (groups <= 65535) return [Math.max(groups, 1), 1];
  const y = Math.ceil(groups / 65535);
  return [Math.ceil(groups / y), y];
}

/** Options of one launch. */
export interface Launch {
  /** Buffers, tensors or buffer windows bound at bindings 1..n (null: binding unused). */
  buffers: (Tensor | GPUBuffer | GPUBufferBinding | null)[];
  workgroups: [number, number?, number?];
  params?: Params;
  constants?: Record<string, number>;
}

/** Compile (cached) and record one dispatch of `entry` from `code`. */
export function launch(name: string, code: string, entry: string, o: Launch): void {
  const rt = runtime();
  const k = rt.kernel(name, code, entry, o.constants ?? {});
  // a null entry leaves its binding number unused
  const bufs = o.buffers.map((
    b,
  ) => (b && "storage" in b ? b.buffer : b)) as (GPUBufferBinding | GPUBuffer | null)[];
  rt.dispatch(k, bufs, o.workgroups, o.params?.bytes());
}

/**
 * Floats in one 64 KiB uniform window: the largest uniform binding WebGPU guarantees. The
 * software-adapter kernels (packed matmul, windowed attention) read operands through such
 * windows because llvmpipe's uniform loads are nearly free and its storage loads are not.
 */
export const WINDOW_FLOATS = 16384;

/**
 * Window `i` of a buffer of consecutive 64 KiB windows, as a uniform binding.
 *
 * @example
 * ```ts
 * launch("matmul", code, "mm_ubo", { buffers: [uniformWindow(packedA, 0), ...], ... });
 * ```
 */
export function uniformWindow(t: Tensor, i: number): GPUBufferBinding {
  return { buffer: t.buffer, offset: i * WINDOW_FLOATS * 4, size: WINDOW_FLOATS * 4 };
}
