/**
 * A pool of GPU storage buffers, reused by size class.
 *
 * Sizes are rounded up to a class (multiples of 256 bytes up to 64 KiB, then eight
 * classes per power of two), so a buffer freed by one tensor serves the next tensor
 * of a similar size. Buffers are never destroyed while the pool lives; `stats()`
 * tells how many exist, which a test uses to show a training loop does not grow.
 */

/** Counts reported by `BufferPool.stats()`. */
export interface PoolStats {
  /** GPU buffers created by the pool and still alive (in use + free). */
  buffers: number;
  /** Buffers handed out and not yet released. */
  inUse: number;
  /** Bytes held by all pooled buffers. */
  bytes: number;
}

// UNIFORM too: the software-adapter matmul binds packed tiles as uniform buffers
const USAGE = 0x80 /* STORAGE */ | 0x40 /* UNIFORM */ | 0x04 /* COPY_SRC */ | 0x08; /* COPY_DST */

/** Round a byte size up to its size class. */
export function sizeClass(bytes: number): number {
  const b = Math.max(bytes, 16);
  if (b <= 65536) return Math.ceil(b / 256) * 256;
  const step = 2 ** (Math.floor(Math.log2(b - 1)) - 3); // 8 classes per octave
  return Math.ceil(b / step) * step;
}

export class BufferPool {
  /** Free buffers per size class, by creation order, newest first (so `pop` gives the oldest). */
  #free = new Map<number, GPUBuffer[]>();
  #order = new WeakMap<GPUBuffer, number>();
  #created = 0;
  #count = 0;
  #inUse = 0;
  #bytes = 0;

  constructor(private device: GPUDevice, private maxBytes: number) {}

  /** A buffer of at least `bytes` bytes (contents undefined). */
  acquire(bytes: number): GPUBuffer {
    if (bytes > this.maxBytes) {
      throw new Error(
        `buffer of ${bytes} bytes exceeds the device's maxStorageBufferBindingSize ` +
          `(${this.maxBytes} bytes); work on the data in pieces (a smaller batch or block)`,
      );
    }
    // a size class past the limit is clamped to it (the request itself fits)
    const size = Math.min(sizeClass(bytes), this.maxBytes);
    this.#inUse++;
    const list = this.#free.get(size);
    if (list && list.length) return list.pop()!;
    this.#count++;
    this.#bytes += size;
    const buf = this.device.createBuffer({ size, usage: USAGE, label: `pool:${size}` });
    this.#order.set(buf, this.#created++);
    return buf;
  }

  /**
   * Return a buffer to its size class for reuse. Each class hands out its oldest free buffer
   * first, whatever order buffers came back in: a training step that frees all it made then
   * gets the same buffers, in the same roles, in every step, so the runtime's cached bind
   * groups (keyed by buffer) repeat from step to step.
   */
  release(buf: GPUBuffer): void {
    this.#inUse--;
    const list = this.#free.get(buf.size);
    if (!list) {
      this.#free.set(buf.size, [buf]);
      return;
    }
    // keep the list sorted newest first: binary search for the insertion point
    const id = this.#order.get(buf) ?? 0;
    let lo = 0;
    let hi = list.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if ((this.#order.get(list[mid]) ?? 0) > id) lo = mid + 1;
      else hi = mid;
    }
    list.splice(lo, 0, buf);
  }

  /** Destroy every free buffer (those in use stay). */
  trim(): void {
    for (const list of this.#free.values()) {
      for (const b of list) {
        this.#count--;
        this.#bytes -= b.size;
        b.destroy();
      }
    }
    this.#free.clear();
  }

  stats(): PoolStats {
    return { buffers: this.#count, inUse: this.#inUse, bytes: this.#bytes };
  }
}
