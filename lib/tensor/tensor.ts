/**
 * `Tensor`: a contiguous f32 (or i32) GPU buffer with a shape and, when it needs a
 * gradient, the tape node of the op that made it. Ops are methods, PyTorch-style;
 * each lives with its kernels in `lib/tensor/ops/`.
 */
import type { Runtime } from "../gpu/runtime.ts";
import { runtime } from "../gpu/device.ts";
import { type Disposable, track } from "./scope.ts";
import { type Node, record, runBackward } from "./tape.ts";
import { defaultGenerator, Generator } from "./rng.ts";
import * as ew from "./ops/elementwise.ts";
import * as red from "./ops/reduce.ts";
import * as mm from "./ops/matmul.ts";
import * as sh from "./ops/shape.ts";
import * as ix from "./ops/index.ts";
import * as sm from "./ops/softmax.ts";
import * as nm from "./ops/norm.ts";

/** Element type of a tensor. Indices and labels are `i32`. */
export type DType = "f32" | "i32";

/** A GPU buffer shared by a tensor and its views (reshape, detach). */
export interface Storage {
  buffer: GPUBuffer;
  refs: number;
  rt: Runtime;
}

/** Number of elements of a shape. */
export function numel(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/** Throw unless every dimension is a positive integer. */
export function checkShape(op: string, shape: readonly number[]): void {
  for (const d of shape) {
    if (!Number.isInteger(d) || d < 0) {
      throw new Error(`${op}: invalid shape [${shape}] (dimensions must be integers >= 1)`);
    }
    if (d === 0) {
      throw new Error(
        `${op}: zero-size tensors are not supported (shape [${shape}] has a 0 dimension)`,
      );
    }
  }
}

let nextId = 0;

export class Tensor implements Disposable {
  readonly id = nextId++;
  readonly shape: readonly number[];
  readonly dtype: DType;
  readonly size: number;
  /** @internal */
  storage: Storage | null;
  requiresGrad = false;
  /** Accumulated gradient after `backward()`. */
  grad: Tensor | null = null;
  /** @internal the op that made this tensor (null for leaves). */
  node: Node | null = null;

  /** @internal use `tensor()`, `zeros()`, … to make tensors. */
  constructor(storage: Storage, shape: readonly number[], dtype: DType = "f32") {
    this.storage = storage;
    this.shape = Object.freeze([...shape]);
    this.dtype = dtype;
    this.size = numel(shape);
    track(this);
  }

  /** @internal a fresh (uninitialised) tensor from the pool. */
  static empty(shape: readonly number[], dtype: DType = "f32", op = "empty"): Tensor {
    checkShape(op, shape);
    const rt = runtime();
    const bytes = numel(shape) * 4;
    const max = rt.device.limits.maxStorageBufferBindingSize;
    if (bytes > max) {
      throw new Error(
        `${op}: a ${dtype} tensor [${shape}] needs ${bytes} bytes, more than this device's ` +
          `maxStorageBufferBindingSize (${max} bytes, the largest buffer a kernel can bind); ` +
          `work on it in pieces: a smaller batch, or rows kept in host memory and uploaded by ` +
          `blocks (HostRows, lib/tensor/host_rows.ts)`,
      );
    }
    const buffer = rt.pool.acquire(bytes);
    return new Tensor({ buffer, refs: 1, rt }, shape, dtype);
  }

  /** The GPU buffer (throws once disposed). */
  get buffer(): GPUBuffer {
    if (!this.storage) {
      throw new Error(`tensor #${this.id} [${this.shape}] was used after dispose()`);
    }
    return this.storage.buffer;
  }

  get disposed(): boolean {
    return this.storage === null;
  }

  get ndim(): number {
    return this.shape.length;
  }

  /** Release the GPU buffer (returned to the pool when no view shares it). Idempotent. */
  dispose(): void {
    const s = this.storage;
    if (!s) return;
    this.storage = null;
    this.node = null;
    if (--s.refs === 0 && !s.rt.lost) s.rt.pool.release(s.buffer);
  }

  /** Copy to the host. */
  async toArray(): Promise<Float32Array | Int32Array> {
    const buffer = this.buffer; // throws if disposed
    const bytes = await this.storage!.rt.read(buffer, this.size * 4);
    return this.dtype === "i32" ? new Int32Array(bytes) : new Float32Array(bytes);
  }

  /** The value of a one-element tensor. */
  async item(): Promise<number> {
    if (this.size !== 1) {
      throw new Error(`item(): tensor has ${this.size} elements, shape [${this.shape}]`);
    }
    return (await this.toArray())[0];
  }

  /** Nested arrays, like `tensor.tolist()`. */
  async toList(): Promise<unknown> {
    const data = Array.from(await this.toArray());
    const nest = (off: number, d: number): unknown =>
      d === this.shape.length ? data[off] : Array.from({ length: this.shape[d] }, (_, i) => {
        const stride = numel(this.shape.slice(d + 1));
        return nest(off + i * stride, d + 1);
      });
    return nest(0, 0);
  }

  /** Back-propagate; a non-scalar tensor needs an explicit upstream `grad`. */
  backward(grad?: Tensor): void {
    if (!this.requiresGrad) {
      throw new Error("backward(): this tensor does not require a gradient (no tape recorded)");
    }
    if (!grad) {
      if (this.size !== 1) {
        throw new Error(
          `backward(): a gradient is needed for a non-scalar tensor of shape [${this.shape}]`,
        );
      }
      grad = full([...this.shape], 1);
      runBackward(this, grad);
      grad.dispose();
      return;
    }
    if (grad.shape.join() !== this.shape.join()) {
      throw new Error(
        `backward(): grad shape [${grad.shape}] does not match tensor shape [${this.shape}]`,
      );
    }
    runBackward(this, grad);
  }

  /** A tensor sharing this storage, cut from the tape. */
  detach(): Tensor {
    const s = this.storage;
    if (!s) throw new Error(`detach(): tensor #${this.id} was disposed`);
    s.refs++;
    return new Tensor(s, this.shape, this.dtype);
  }

  /** Mark this leaf as needing a gradient. */
  requiresGrad_(on = true): this {
    if (this.node) throw new Error("requiresGrad_(): only leaf tensors can change requiresGrad");
    this.requiresGrad = on;
    return this;
  }

  /** Same data, new shape (one dimension may be -1). Shares storage. */
  reshape(...shape: (number | number[])[]): Tensor {
    const want = shape.flat();
    const known = want.filter((d) => d !== -1);
    const inferred = want.length - known.length;
    if (inferred > 1) throw new Error(`reshape: at most one -1 in [${want}]`);
    const rest = numel(known);
    const full = want.map((d) => (d === -1 ? this.size / rest : d));
    if (numel(full) !== this.size || full.some((d) => !Number.isInteger(d) || d <= 0)) {
      throw new Error(
        `reshape: cannot view shape [${this.shape}] (${this.size} elements) as [${want}]`,
      );
    }
    const s = this.storage;
    if (!s) throw new Error(`reshape: tensor #${this.id} was disposed`);
    s.refs++;
    const out = new Tensor(s, full, this.dtype);
    const from = this.shape;
    return record(out, "reshape", [this], (g) => [g.reshape([...from])]);
  }

  /** Alias of `reshape`. */
  view(...shape: (number | number[])[]): Tensor {
    return this.reshape(...shape);
  }

  /** Flatten dims `start..end` into one. */
  flatten(start = 0, end = -1): Tensor {
    const r = this.ndim;
    const s = start < 0 ? start + r : start;
    const e = end < 0 ? end + r : end;
    return this.reshape([
      ...this.shape.slice(0, s),
      numel(this.shape.slice(s, e + 1)),
      ...this.shape.slice(e + 1),
    ]);
  }

  // ---- elementwise (lib/tensor/ops/elementwise.ts)
  add(o: Tensor | number): Tensor {
    return ew.add(this, o);
  }
  sub(o: Tensor | number): Tensor {
    return ew.sub(this, o);
  }
  mul(o: Tensor | number): Tensor {
    return ew.mul(this, o);
  }
  div(o: Tensor | number): Tensor {
    return ew.div(this, o);
  }
  maximum(o: Tensor | number): Tensor {
    return ew.maximum(this, o);
  }
  minimum(o: Tensor | number): Tensor {
    return ew.minimum(this, o);
  }
  neg(): Tensor {
    return ew.neg(this);
  }
  exp(): Tensor {
    return ew.exp(this);
  }
  log(): Tensor {
    return ew.log(this);
  }
  sqrt(): Tensor {
    return ew.sqrt(this);
  }
  rsqrt(): Tensor {
    return ew.rsqrt(this);
  }
  pow(p: number): Tensor {
    return ew.pow(this, p);
  }
  abs(): Tensor {
    return ew.abs(this);
  }
  clamp(min?: number, max?: number): Tensor {
    return ew.clamp(this, min, max);
  }
  gelu(): Tensor {
    return ew.gelu(this);
  }
  relu(): Tensor {
    return ew.relu(this);
  }

  // ---- reductions (lib/tensor/ops/reduce.ts)
  sum(axis?: number | number[], keepdim = false): Tensor {
    return red.sum(this, axis, keepdim);
  }
  mean(axis?: number | number[], keepdim = false): Tensor {
    return red.mean(this, axis, keepdim);
  }
  max(axis?: number, keepdim = false): Tensor {
    return red.max(this, axis, keepdim);
  }
  var(axis?: number | number[], keepdim = false, correction = 1): Tensor {
    return red.variance(this, axis, keepdim, correction);
  }

  // ---- linear algebra (lib/tensor/ops/matmul.ts)
  matmul(o: Tensor, opts: mm.MatmulOptions = {}): Tensor {
    return mm.matmul(this, o, opts);
  }

  // ---- layout (lib/tensor/ops/shape.ts)
  permute(...dims: (number | number[])[]): Tensor {
    return sh.permute(this, dims.flat());
  }
  transpose(d0 = -2, d1 = -1): Tensor {
    return sh.transpose(this, d0, d1);
  }
  slice(axis: number, start: number, end?: number): Tensor {
    return sh.slice(this, axis, start, end);
  }

  // ---- indexing (lib/tensor/ops/index.ts)
  indexSelect(indices: Tensor | number[]): Tensor {
    return ix.indexSelect(this, indices);
  }
  topk(k: number): { values: Tensor; indices: Tensor } {
    return ix.topk(this, k);
  }

  // ---- softmax and norms (lib/tensor/ops/softmax.ts, norm.ts)
  softmax(): Tensor {
    return sm.softmax(this);
  }
  logSoftmax(): Tensor {
    return sm.logSoftmax(this);
  }
  l2normalize(eps = 1e-12): Tensor {
    return nm.l2normalize(this, eps);
  }

  toString(): string {
    return `Tensor(${this.dtype}, [${this.shape}]${this.requiresGrad ? ", requiresGrad" : ""})`;
  }
}

/** Options for tensor creation. */
export interface TensorOptions {
  requiresGrad?: boolean;
  dtype?: DType;
}

type Nested = number | Nested[];

function flatten(data: Nested, shape: number[], out: number[], depth = 0): void {
  if (typeof data === "number") {
    if (depth !== shape.length) throw new Error(`tensor(): ragged nested array at depth ${depth}`);
    out.push(data);
    return;
  }
  if (!Array.isArray(data)) throw new Error(`tensor(): unsupported element ${String(data)}`);
  if (depth === shape.length) shape.push(data.length);
  else if (shape[depth] !== data.length) {
    throw new Error(
      `tensor(): ragged nested array (length ${data.length} vs ${shape[depth]} at depth ${depth})`,
    );
  }
  for (const d of data) flatten(d, shape, out, depth + 1);
}

/**
 * A tensor from host data: a number, nested arrays, or a typed array with a shape.
 *
 * @example
 * ```ts
 * const a = tensor([[1, 2], [3, 4]], undefined, { requiresGrad: true });
 * const b = tensor(new Float32Array(6), [2, 3]);
 * ```
 */
export function tensor(
  data: Nested | Float32Array | Int32Array | Uint8Array | Float64Array,
  shape?: number[],
  opts: TensorOptions = {},
): Tensor {
  let flat: ArrayLike<number>;
  let inferred: number[] = [];
  if (typeof data === "number") {
    flat = [data];
  } else if (Array.isArray(data)) {
    const out: number[] = [];
    flatten(data, inferred, out);
    flat = out;
  } else if (ArrayBuffer.isView(data)) {
    flat = data;
    inferred = [data.length];
  } else {
    throw new Error(`tensor(): unsupported data ${Object.prototype.toString.call(data)}`);
  }
  const sh = shape ?? inferred;
  if (numel(sh) !== flat.length) {
    throw new Error(
      `tensor(): ${flat.length} values do not fill shape [${sh}] (${numel(sh)} elements)`,
    );
  }
  const dtype = opts.dtype ?? (data instanceof Int32Array ? "i32" : "f32");
  const t = Tensor.empty(sh, dtype, "tensor()");
  const arr = dtype === "i32" ? Int32Array.from(flat) : Float32Array.from(flat);
  t.storage!.rt.upload(t.buffer, arr);
  if (opts.requiresGrad) t.requiresGrad = true;
  return t;
}

/**
 * A tensor filled with `value`.
 *
 * @example
 * ```ts
 * const t = full([2, 3], 0.5);
 * ```
 */
export function full(shape: number[], value: number, opts: TensorOptions = {}): Tensor {
  const t = Tensor.empty(shape, opts.dtype ?? "f32", "full()");
  ew.fill(t, value);
  if (opts.requiresGrad) t.requiresGrad = true;
  return t;
}

/**
 * A tensor of zeros.
 *
 * @example
 * ```ts
 * const z = zeros([4, 4]);
 * ```
 */
export function zeros(shape: number[], opts: TensorOptions = {}): Tensor {
  return full(shape, 0, opts);
}

/**
 * A tensor of ones.
 *
 * @example
 * ```ts
 * const o = ones([4]);
 * ```
 */
export function ones(shape: number[], opts: TensorOptions = {}): Tensor {
  return full(shape, 1, opts);
}

/** Options for random tensors. */
export interface RandomOptions extends TensorOptions {
  /** A seed (a fresh generator) or a generator; the global generator by default. */
  seed?: number | Generator;
}

function gen(op: string, seed: number | Generator | undefined): Generator {
  if (seed === undefined) return defaultGenerator();
  if (seed instanceof Generator) return seed;
  if (!Number.isFinite(seed) || !Number.isInteger(seed)) {
    throw new Error(`${op}: seed must be a finite integer, got ${seed}`);
  }
  return new Generator(seed);
}

/**
 * Standard-normal samples, identical on every adapter for a given seed.
 *
 * @example
 * ```ts
 * const w = randn([64, 64], { seed: 0 });
 * ```
 */
export function randn(shape: number[], opts: RandomOptions = {}): Tensor {
  checkShape("randn", shape);
  const g = gen("randn", opts.seed);
  const a = new Float32Array(numel(shape));
  for (let i = 0; i < a.length; i++) a[i] = g.normal();
  return tensor(a, shape, { requiresGrad: opts.requiresGrad });
}

/**
 * Uniform samples in [0, 1), identical on every adapter for a given seed.
 *
 * @example
 * ```ts
 * const u = rand([8], { seed: 1 });
 * ```
 */
export function rand(shape: number[], opts: RandomOptions = {}): Tensor {
  checkShape("rand", shape);
  const g = gen("rand", opts.seed);
  const a = new Float32Array(numel(shape));
  for (let i = 0; i < a.length; i++) a[i] = g.uniform();
  return tensor(a, shape, { requiresGrad: opts.requiresGrad });
}
