/**
 * `Loader`: shuffled batches on the GPU, seeded and epoch-aware.
 *
 * - Order: epoch e visits the samples in `new Generator(epochSeed(seed, e)).permutation(n)`
 *   (or 0..n-1 with `shuffle: false`), so the order of an epoch depends only on the seed
 *   and the epoch number: resuming at an epoch reproduces it.
 * - Batches: consecutive `batchSize` slices of that order; the last, smaller batch is
 *   kept unless `dropLast` is set.
 * - Transfer: a batch's uint8 CHW bytes are uploaded packed and widened on the GPU to f32
 *   in [0, 1] (`uint8ToTensor`), giving `images` [B, C, H, W]; `labels` is an i32 tensor
 *   [B] (-1 for unlabeled images); `indices` are the dataset indices of the batch.
 * - Sources: an in-memory `Dataset`, or any `BatchSource` (e.g. an `ImageFolder`, which
 *   decodes in workers); the bytes of the next batch are requested as soon as a batch is
 *   handed out, so decoding overlaps the caller's GPU work.
 * - State: `{ seed, epoch, position }` (position = samples of the epoch already handed
 *   out) can be saved with `state()` and restored with `setState()`.
 */
import { Generator } from "../tensor/rng.ts";
import { type Tensor, tensor } from "../tensor/tensor.ts";
import { type Dataset } from "./dataset.ts";
import { uint8ToTensor } from "./convert.ts";

/**
 * Anything the loader can draw batches from (an `ImageFolder` is one).
 *
 * @example
 * ```ts
 * const src: BatchSource = await ImageFolder.open("photos", { size: 32 });
 * ```
 */
export interface BatchSource {
  readonly n: number;
  readonly channels: number;
  readonly height: number;
  readonly width: number;
  /** One label per sample (-1 = unlabeled). */
  readonly labels: Int32Array;
  readonly classes: string[];
  /** The uint8 CHW bytes of the samples at `indices`, back to back. */
  gather(indices: Int32Array): Uint8Array | Promise<Uint8Array>;
}

/**
 * Options of `Loader`.
 *
 * @example
 * ```ts
 * const opts: LoaderOptions = { batchSize: 256, seed: 0, shuffle: true, dropLast: true };
 * ```
 */
export interface LoaderOptions {
  /** Samples per batch (a positive integer). */
  batchSize: number;
  /** Seed of the per-epoch permutations (default 0). */
  seed?: number;
  /** Shuffle each epoch (default true). */
  shuffle?: boolean;
  /** Skip the last batch of an epoch when it is smaller than `batchSize` (default false). */
  dropLast?: boolean;
}

/**
 * Where a loader stands; save it in a checkpoint and restore it with `setState`.
 *
 * @example
 * ```ts
 * const s: LoaderState = loader.state(); // e.g. { seed: 0, epoch: 3, position: 512 }
 * ```
 */
export interface LoaderState {
  seed: number;
  epoch: number;
  /** Samples of `epoch` already handed out (a multiple of the batch size). */
  position: number;
}

/**
 * One batch on the GPU.
 *
 * @example
 * ```ts
 * const { images, labels, indices, epoch, step }: Batch = await loader.next();
 * ```
 */
export interface Batch {
  /** f32 [B, C, H, W], values in [0, 1]. */
  images: Tensor;
  /** i32 [B]. */
  labels: Tensor;
  /** Dataset indices of the batch's samples. */
  indices: Int32Array;
  epoch: number;
  /** Batch number within the epoch (0-based). */
  step: number;
}

/**
 * The 32-bit seed of epoch `epoch`'s permutation: a hash of (seed, epoch).
 *
 * @example
 * ```ts
 * const order = new Generator(epochSeed(0, 3)).permutation(100); // epoch 3's order
 * ```
 */
export function epochSeed(seed: number, epoch: number): number {
  let h = 0x9e3779b9 ^ (seed >>> 0);
  for (
    const v of [Math.floor(seed / 2 ** 32) >>> 0, epoch >>> 0, Math.floor(epoch / 2 ** 32) >>> 0]
  ) {
    h = Math.imul(h ^ v, 0x85ebca6b) >>> 0;
    h = (h ^ (h >>> 13)) >>> 0;
    h = Math.imul(h, 0xc2b2ae35) >>> 0;
    h = (h ^ (h >>> 16)) >>> 0;
  }
  return h;
}

class DatasetSource implements BatchSource {
  readonly n: number;
  readonly channels: number;
  readonly height: number;
  readonly width: number;
  readonly labels: Int32Array;
  readonly classes: string[];
  #images: Uint8Array;

  constructor(ds: Dataset) {
    this.n = ds.n;
    this.channels = ds.channels;
    this.height = ds.height;
    this.width = ds.width;
    this.labels = ds.labels;
    this.classes = ds.classes;
    this.#images = ds.images;
    const per = ds.channels * ds.height * ds.width;
    if (ds.images.length !== ds.n * per || ds.labels.length !== ds.n) {
      throw new Error(
        `Loader: dataset fields disagree: ${ds.images.length} image bytes and ` +
          `${ds.labels.length} labels for n = ${ds.n} images of [${ds.channels}, ${ds.height}, ${ds.width}]`,
      );
    }
  }

  gather(indices: Int32Array): Uint8Array {
    const per = this.channels * this.height * this.width;
    const out = new Uint8Array(indices.length * per);
    for (let j = 0; j < indices.length; j++) {
      const i = indices[j];
      out.set(this.#images.subarray(i * per, (i + 1) * per), j * per);
    }
    return out;
  }
}

function checkInt(what: string, v: unknown, min: number): number {
  if (typeof v !== "number" || !Number.isInteger(v) || v < min) {
    throw new Error(`Loader: ${what} must be an integer >= ${min}, got ${String(v)}`);
  }
  return v;
}

/**
 * Streams shuffled batches of a dataset to the GPU; see the module doc.
 *
 * @example
 * ```ts
 * const loader = new Loader(await embedded("train"), { batchSize: 128, seed: 0 });
 * for await (const batch of loader.epoch()) batch.images.dispose();
 * ```
 */
export class Loader {
  readonly source: BatchSource;
  readonly batchSize: number;
  readonly seed: number;
  readonly shuffle: boolean;
  readonly dropLast: boolean;
  #epoch = 0;
  #position = 0;
  #order: { epoch: number; perm: Int32Array } | null = null;
  #prefetch: { epoch: number; position: number; bytes: Promise<Uint8Array> } | null = null;

  /**
   * @example
   * ```ts
   * const loader = new Loader(await embedded("train"), { batchSize: 64, seed: 0, dropLast: true });
   * const { images, labels } = await loader.next(); // images f32 [64, 1, 28, 28]
   * ```
   */
  constructor(data: Dataset | BatchSource, opts: LoaderOptions) {
    if (!opts || typeof opts !== "object") throw new Error("Loader: options are required");
    this.source = "gather" in data ? data : new DatasetSource(data);
    this.batchSize = checkInt("batchSize", opts.batchSize, 1);
    const seed = opts.seed ?? 0;
    if (!Number.isSafeInteger(seed)) {
      throw new Error(`Loader: seed must be a safe integer, got ${String(seed)}`);
    }
    this.seed = seed;
    this.shuffle = opts.shuffle ?? true;
    this.dropLast = opts.dropLast ?? false;
    const n = this.source.n;
    if (n < 1) throw new Error("Loader: the dataset is empty (n = 0)");
    if (this.dropLast && this.batchSize > n) {
      throw new Error(
        `Loader: batchSize ${this.batchSize} is larger than the dataset (${n} samples), so ` +
          `dropLast leaves no batch; use a batchSize <= ${n} or dropLast: false`,
      );
    }
  }

  /** Samples per epoch. */
  get n(): number {
    return this.source.n;
  }

  /** Batches in one epoch (the last, partial one counted unless `dropLast`). */
  get batchesPerEpoch(): number {
    return this.dropLast ? Math.floor(this.n / this.batchSize) : Math.ceil(this.n / this.batchSize);
  }

  /** Samples handed out per epoch (`n`, or fewer with `dropLast`). */
  get samplesPerEpoch(): number {
    return this.dropLast ? this.batchesPerEpoch * this.batchSize : this.n;
  }

  /**
   * The order in which epoch `epoch` visits the samples.
   *
   * @example
   * ```ts
   * const first = loader.order(0).slice(0, 64); // the indices of epoch 0's first batch
   * ```
   */
  order(epoch: number): Int32Array {
    checkInt("epoch", epoch, 0);
    if (this.#order?.epoch === epoch) return this.#order.perm;
    const perm = this.shuffle
      ? new Generator(epochSeed(this.seed, epoch)).permutation(this.n)
      : Int32Array.from({ length: this.n }, (_, i) => i);
    this.#order = { epoch, perm };
    return perm;
  }

  /**
   * Where the loader stands (the next batch is at `position` of `epoch`).
   *
   * @example
   * ```ts
   * const saved = loader.state(); // { seed, epoch, position }
   * ```
   */
  state(): LoaderState {
    return { seed: this.seed, epoch: this.#epoch, position: this.#position };
  }

  /**
   * Continue from a saved state: the next batch is the one that followed it.
   *
   * @example
   * ```ts
   * loader.setState({ seed: 0, epoch: 3, position: 0 }); // start of epoch 3
   * ```
   */
  setState(s: LoaderState): void {
    if (!s || typeof s !== "object") throw new Error("Loader.setState: a state object is required");
    if (s.seed !== this.seed) {
      throw new Error(
        `Loader.setState: field 'seed' is ${s.seed} but this loader's seed is ${this.seed}; ` +
          `make the loader with the saved seed`,
      );
    }
    const epoch = checkInt("state field 'epoch'", s.epoch, 0);
    const position = checkInt("state field 'position'", s.position, 0);
    if (position % this.batchSize !== 0 || position > this.samplesPerEpoch) {
      throw new Error(
        `Loader.setState: field 'position' ${position} is not a batch boundary of this loader ` +
          `(batchSize ${this.batchSize}, ${this.samplesPerEpoch} samples per epoch)`,
      );
    }
    this.#epoch = epoch;
    this.#position = position;
    this.#normalise();
    this.#prefetch = null;
  }

  /** Roll over to the next epoch once this one is used up. */
  #normalise(): void {
    if (this.#position >= this.samplesPerEpoch) {
      this.#epoch++;
      this.#position = 0;
    }
  }

  #indices(epoch: number, position: number): Int32Array {
    const end = Math.min(position + this.batchSize, this.n);
    return this.order(epoch).slice(position, end);
  }

  #fetch(epoch: number, position: number): Promise<Uint8Array> {
    const p = this.#prefetch;
    if (p && p.epoch === epoch && p.position === position) {
      this.#prefetch = null;
      return p.bytes;
    }
    return Promise.resolve(this.source.gather(this.#indices(epoch, position)));
  }

  /**
   * The next batch, moving into the next epoch when this one is done. The bytes of the
   * batch after it are requested before this returns (prefetch).
   *
   * @example
   * ```ts
   * const batch = await loader.next();
   * batch.images.dispose();
   * batch.labels.dispose();
   * ```
   */
  async next(): Promise<Batch> {
    this.#normalise();
    const epoch = this.#epoch;
    const position = this.#position;
    const indices = this.#indices(epoch, position);
    const bytes = await this.#fetch(epoch, position);
    if (this.#epoch !== epoch || this.#position !== position) {
      throw new Error(
        "Loader.next: the loader moved while a batch was loading (concurrent next())",
      );
    }
    const b = indices.length;
    const per = this.source.channels * this.source.height * this.source.width;
    if (bytes.length !== b * per) {
      throw new Error(
        `Loader: the source returned ${bytes.length} bytes for ${b} samples of ` +
          `[${this.source.channels}, ${this.source.height}, ${this.source.width}] (${
            b * per
          } expected)`,
      );
    }
    this.#position += b;
    this.#normalise();
    // start reading the following batch now (decoding overlaps the caller's GPU work)
    const ne = this.#epoch;
    const np = this.#position;
    const nbytes = Promise.resolve().then(() => this.source.gather(this.#indices(ne, np)));
    nbytes.catch(() => {}); // reported when that batch is asked for
    this.#prefetch = { epoch: ne, position: np, bytes: nbytes };
    const labels = new Int32Array(b);
    for (let j = 0; j < b; j++) labels[j] = this.source.labels[indices[j]];
    const images = uint8ToTensor(bytes, [
      b,
      this.source.channels,
      this.source.height,
      this.source.width,
    ]);
    let lab: Tensor;
    try {
      lab = tensor(labels, [b], { dtype: "i32" });
    } catch (e) {
      images.dispose();
      throw e;
    }
    return { images, labels: lab, indices, epoch, step: position / this.batchSize };
  }

  /**
   * The remaining batches of the current epoch; afterwards the loader stands at the start
   * of the next epoch.
   *
   * @example
   * ```ts
   * for await (const { images, labels } of loader.epoch()) {
   *   // train on images, labels; dispose them
   * }
   * ```
   */
  async *epoch(): AsyncGenerator<Batch> {
    this.#normalise();
    const e = this.#epoch;
    while (this.#epoch === e) yield await this.next();
  }
}
