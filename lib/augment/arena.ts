/**
 * Per-dispatch records (view parameters, index lists, RandAugment steps) gathered into one
 * buffer so a whole rendering needs one queue write: every upload submits the pending work
 * first, and a dozen small uploads per batch cost more than the records themselves.
 * Sections start at the device's storage-offset alignment and are bound as buffer windows.
 */
import { runtime } from "../gpu/device.ts";
import { Tensor } from "../tensor/tensor.ts";

/**
 * One upload of several aligned sections of 32-bit words.
 *
 * @example
 * ```ts
 * const arena = new Arena();
 * const i = arena.add(Uint32Array.from([1, 2, 3]));
 * arena.upload();
 * ```
 */
export class Arena {
  #parts: Uint32Array[] = [];
  #offsets: number[] = [];
  #words = 0;
  #align: number;
  #buf: Tensor | null = null;

  /**
   * @example
   * ```ts
   * const arena = new Arena();
   * ```
   */
  constructor() {
    this.#align = Math.max(4, runtime().device.limits.minStorageBufferOffsetAlignment / 4);
  }

  /**
   * Add a section; returns its index for `binding`.
   *
   * @example
   * ```ts
   * const list = arena.add(Uint32Array.from([0, 2, 5]));
   * ```
   */
  add(data: Uint32Array): number {
    if (this.#buf) throw new Error("Arena.add: the arena was already uploaded");
    const off = this.#words;
    this.#parts.push(data);
    this.#offsets.push(off);
    const len = Math.max(data.length, 4);
    this.#words = Math.ceil((off + len) / this.#align) * this.#align;
    return this.#parts.length - 1;
  }

  /**
   * Upload every section (one queue write).
   *
   * @example
   * ```ts
   * arena.upload();
   * ```
   */
  upload(): void {
    const all = new Uint32Array(Math.max(this.#words, 4));
    this.#parts.forEach((p, i) => all.set(p, this.#offsets[i]));
    this.#buf = Tensor.empty([all.length], "i32", "augment records");
    runtime().upload(this.#buf.buffer, all);
  }

  /**
   * The buffer window of section `i` (after `upload`).
   *
   * @example
   * ```ts
   * launch(name, code, entry, { buffers: [x, arena.binding(list), out], workgroups: [1] });
   * ```
   */
  binding(i: number): GPUBufferBinding {
    if (!this.#buf) throw new Error("Arena.binding: upload() first");
    return {
      buffer: this.#buf.buffer,
      offset: this.#offsets[i] * 4,
      size: Math.max(this.#parts[i].length, 4) * 4,
    };
  }

  /**
   * Release the buffer (safe once the dispatches using it are recorded).
   *
   * @example
   * ```ts
   * arena.dispose();
   * ```
   */
  dispose(): void {
    this.#buf?.dispose();
    this.#buf = null;
  }
}
