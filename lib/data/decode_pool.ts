/**
 * A pool of Web Workers that decode image files off the main thread, so decoding an image
 * folder overlaps GPU work on the main thread. Each worker runs `decode_worker.ts` and
 * holds at most two requests at a time; further requests wait in a queue here.
 * `decodeMany` sends files in chunks (about four per worker per call, at most 64 files
 * each) so that small images do not pay one message round trip each.
 *
 * With `workers: 0` the pool decodes on the calling thread instead (same results).
 */
import { type DecodedImage, decodeImage, type DecodeOptions } from "./image_decode.ts";
import type { DecodeReply, DecodeRequest } from "./decode_worker.ts";

interface Job {
  id: number;
  paths: string[];
  opts: DecodeOptions;
  resolve: (img: DecodedImage[]) => void;
  reject: (e: Error) => void;
}

interface Slot {
  worker: Worker;
  jobs: Map<number, Job>;
}

const PER_WORKER = 2;

/**
 * The default worker count: the CPU count minus one for the main thread, at least 1,
 * at most 8.
 *
 * @example
 * ```ts
 * const pool = new DecodePool(defaultWorkers());
 * ```
 */
export function defaultWorkers(): number {
  const n = typeof navigator !== "undefined" ? navigator.hardwareConcurrency ?? 2 : 2;
  return Math.max(1, Math.min(8, n - 1));
}

/**
 * Decodes PNG/JPEG files in Web Workers; `close()` ends them.
 *
 * @example
 * ```ts
 * using pool = new DecodePool();
 * const img = await pool.decode("photos/cat/1.jpg", { channels: 3 });
 * ```
 */
export class DecodePool {
  readonly workers: number;
  #slots: Slot[] = [];
  #queue: Job[] = [];
  #next = 0;
  #closed = false;
  #broken: string | null = null;

  /**
   * @example
   * ```ts
   * const pool = new DecodePool(2);
   * const img = await pool.decode("cat.png", { channels: 3, size: [32, 32] });
   * pool.close();
   * ```
   */
  constructor(workers = defaultWorkers()) {
    if (!Number.isInteger(workers) || workers < 0) {
      throw new Error(`DecodePool: workers must be an integer >= 0, got ${workers}`);
    }
    this.workers = workers;
  }

  /** Decode the image file at `path` (a local path); errors name the file. */
  async decode(path: string, opts: DecodeOptions = {}): Promise<DecodedImage> {
    return (await this.decodeMany([path], opts))[0];
  }

  /**
   * Decode many image files (in chunks, spread over the workers); the result is in the
   * order of `paths`. The first failure rejects, naming its file.
   *
   * @example
   * ```ts
   * const imgs = await pool.decodeMany(["a.png", "b.jpg"], { channels: 1, size: [28, 28] });
   * ```
   */
  async decodeMany(paths: string[], opts: DecodeOptions = {}): Promise<DecodedImage[]> {
    if (this.#closed) throw new Error(`DecodePool: closed (decoding ${paths[0] ?? "nothing"})`);
    if (this.#broken) throw new Error(this.#broken);
    if (!paths.length) return [];
    if (this.workers === 0) {
      const out: DecodedImage[] = [];
      for (const path of paths) {
        let bytes: Uint8Array;
        try {
          bytes = await Deno.readFile(path);
        } catch (e) {
          throw new Error(
            e instanceof Deno.errors.NotFound
              ? `image ${path} does not exist`
              : `image ${path}: could not read it (${(e as Error).message})`,
          );
        }
        out.push(decodeImage(bytes, path, opts));
      }
      return out;
    }
    const size = Math.min(64, Math.max(1, Math.ceil(paths.length / (4 * this.workers))));
    const chunks: Promise<DecodedImage[]>[] = [];
    for (let i = 0; i < paths.length; i += size) {
      const part = paths.slice(i, i + size);
      chunks.push(
        new Promise((resolve, reject) => {
          this.#queue.push({ id: this.#next++, paths: part, opts, resolve, reject });
        }),
      );
    }
    this.#pump();
    return (await Promise.all(chunks)).flat();
  }

  /** End the workers; pending requests are rejected. Idempotent. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#fail("DecodePool: closed before the image was decoded");
  }

  [Symbol.dispose](): void {
    this.close();
  }

  #spawn(): Slot {
    const worker = new Worker(new URL("./decode_worker.ts", import.meta.url), {
      type: "module",
    });
    const slot: Slot = { worker, jobs: new Map() };
    worker.onmessage = (e: MessageEvent<DecodeReply>) => {
      const r = e.data;
      const job = slot.jobs.get(r.id);
      if (!job) return;
      slot.jobs.delete(r.id);
      if ("error" in r) job.reject(new Error(r.error));
      else job.resolve(r.images);
      this.#pump();
    };
    worker.onerror = (e: ErrorEvent) => {
      e.preventDefault();
      this.#broken = `DecodePool: a decode worker failed (${e.message})`;
      this.#fail(this.#broken);
    };
    return slot;
  }

  #fail(msg: string): void {
    for (const s of this.#slots) {
      s.worker.terminate();
      for (const j of s.jobs.values()) j.reject(new Error(`${msg}: ${j.paths[0]}`));
    }
    this.#slots = [];
    for (const j of this.#queue.splice(0)) j.reject(new Error(`${msg}: ${j.paths[0]}`));
  }

  #pump(): void {
    while (this.#queue.length) {
      let slot = this.#slots.find((s) => s.jobs.size === 0) ??
        (this.#slots.length < this.workers
          ? null
          : this.#slots.find((s) => s.jobs.size < PER_WORKER));
      if (slot === null) {
        slot = this.#spawn();
        this.#slots.push(slot);
      }
      if (!slot) return;
      const job = this.#queue.shift()!;
      slot.jobs.set(job.id, job);
      const req: DecodeRequest = { id: job.id, paths: job.paths, opts: job.opts };
      slot.worker.postMessage(req);
    }
  }
}
