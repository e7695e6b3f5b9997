/**
 * The runtime behind every tensor: kernel cache, buffer pool and command batching.
 *
 * Work is recorded into one command encoder (one open compute pass) and submitted
 * when something must leave the GPU (a read), or when the parameter or upload arena is
 * full. Each dispatch's small parameter block (sizes, strides, scalars) goes into a shared
 * uniform arena at a 256-byte aligned offset; the arena is written once, just before its
 * encoder is submitted. Small uploads while work is pending (a drop-path mask in the middle
 * of a step) go the same way: their bytes are staged in an upload arena written before the
 * submit, and a copy into the destination is recorded in order with the dispatches, so the
 * step stays one submission.
 */
import { BufferPool, type PoolStats } from "./pool.ts";
import type { DeviceInfo } from "./device.ts";

/** A compiled compute pipeline and the name errors will carry. */
export interface Kernel {
  name: string;
  pipeline: GPUComputePipeline;
}

/** Per-kernel timing collected while `Runtime.profile` is on. */
export interface KernelTime {
  name: string;
  calls: number;
  ms: number;
}

const ARENA_SLOT = 256;
const ARENA_SLOTS = 8192; // 2 MiB: a Mugs step (about 3 300 dispatches) fits one submission
/**
 * Bind groups kept for reuse. A training step repeats the same dispatches on the same pooled
 * buffers at the same parameter-arena offsets, and creating a bind group costs ~0.15 ms on
 * llvmpipe (a step records ~1 300 of them), so they are cached by (kernel, arena offset,
 * buffer windows) with first-in-first-out eviction.
 */
const BIND_CACHE = 16384;
/** Bytes of the upload arena (uploads while work is pending, recorded as ordered copies). */
const UPLOAD_ARENA = 1 << 20;

export class Runtime {
  readonly device: GPUDevice;
  readonly info: DeviceInfo;
  readonly pool: BufferPool;
  /** Set to the reason once the device is lost; every later call throws. */
  lost: string | null = null;

  #modules = new Map<
    string,
    { module: GPUShaderModule; kernels: Map<string, Kernel>; broken: Map<string, string> }
  >();
  #kernelCount = 0;
  #checks: Promise<void>[] = [];
  #encoder: GPUCommandEncoder | null = null;
  #pass: GPUComputePassEncoder | null = null;
  #names = new Set<string>();
  #arena: GPUBuffer;
  #arenaData = new ArrayBuffer(ARENA_SLOT * ARENA_SLOTS);
  #arenaUsed = 0;
  #uploads: GPUBuffer;
  #uploadData = new Uint8Array(UPLOAD_ARENA);
  #uploadUsed = 0;
  #uncaptured: string[] = [];
  #dispatches = 0;
  #submits = 0;
  #bindCache = new Map<string, GPUBindGroup>();
  #bindHits = 0;
  #ids = new WeakMap<object, number>();
  #nextId = 1;
  #layouts = new WeakMap<GPUComputePipeline, GPUBindGroupLayout>();
  // profiling
  #profile = false;
  #querySet: GPUQuerySet | null = null;
  #queryNames: string[] = [];
  #times = new Map<string, KernelTime>();

  constructor(device: GPUDevice, info: DeviceInfo) {
    this.device = device;
    this.info = info;
    this.pool = new BufferPool(device, device.limits.maxStorageBufferBindingSize);
    this.#arena = device.createBuffer({
      size: this.#arenaData.byteLength,
      usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST,
      label: "param-arena",
    });
    this.#uploads = device.createBuffer({
      size: UPLOAD_ARENA,
      usage: GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST,
      label: "upload-arena",
    });
    device.lost.then((l) => {
      this.lost = `${l.reason}: ${l.message}`;
    });
    device.addEventListener("uncapturederror", (e: Event) => {
      const err = (e as GPUUncapturedErrorEvent).error;
      this.#uncaptured.push(err?.message ?? String(err));
    });
  }

  /** Compile (once) the entry point `entry` of `code`, specialised by override `constants`. */
  kernel(
    name: string,
    code: string,
    entry = "main",
    constants: Record<string, number> = {},
  ): Kernel {
    // keyed first by the source string itself (V8 hashes a string once), then by entry point
    // and constants, so a dispatch never rebuilds a key out of the whole source; one shader
    // module per source serves all its entry points and specialisations
    let mod = this.#modules.get(code);
    let sub = `${entry}\u0000`;
    for (const c of Object.keys(constants).sort()) sub += `${c}=${constants[c]},`;
    const broken = mod?.broken.get(sub);
    if (broken) throw new Error(broken);
    const k = mod?.kernels.get(sub);
    if (k) return k;
    const label = `${name}:${entry}`;
    this.#assertAlive();
    this.device.pushErrorScope("validation"); // covers the module (first use) and the pipeline
    if (!mod) {
      mod = {
        module: this.device.createShaderModule({ code, label: name }),
        kernels: new Map(),
        broken: new Map(),
      };
      this.#modules.set(code, mod);
    }
    const pipeline = this.device.createComputePipeline({
      layout: "auto",
      label,
      compute: { module: mod.module, entryPoint: entry, constants },
    });
    const owner = mod;
    const check = this.device.popErrorScope().then((err) => {
      if (err) {
        const msg = `kernel '${label}' failed to compile: ${err.message.trim()}`;
        owner.broken.set(sub, msg);
        throw new Error(msg);
      }
    });
    check.catch(() => {}); // surfaced by sync()/read(); avoid unhandled-rejection noise
    this.#checks.push(check);
    const kernel = { name: label, pipeline };
    mod.kernels.set(sub, kernel);
    this.#kernelCount++;
    return kernel;
  }

  /**
   * Record one dispatch. `buffers` are bound at bindings 1..n in order (a whole buffer, or
   * a `{ buffer, offset, size }` window); `params` (if given) is a uniform block at binding 0.
   */
  dispatch(
    k: Kernel,
    buffers: (GPUBuffer | GPUBufferBinding | null)[],
    workgroups: [number, number?, number?],
    params?: ArrayBuffer | ArrayBufferView,
  ): void {
    this.#assertAlive();
    const [x, y = 1, z = 1] = workgroups;
    if (x === 0 || y === 0 || z === 0) return;
    const max = this.device.limits.maxComputeWorkgroupsPerDimension;
    if (x > max || y > max || z > max) {
      throw new Error(
        `kernel '${k.name}': dispatch [${x}, ${y}, ${z}] exceeds ${max} workgroups per dimension`,
      );
    }
    const entries: GPUBindGroupEntry[] = [];
    let key = `${this.#id(k.pipeline)}`;
    if (params) {
      const bytes = params instanceof ArrayBuffer
        ? new Uint8Array(params)
        : new Uint8Array(params.buffer, params.byteOffset, params.byteLength);
      if (bytes.byteLength > ARENA_SLOT) {
        throw new Error(`kernel '${k.name}': params exceed ${ARENA_SLOT} bytes`);
      }
      if (this.#arenaUsed + ARENA_SLOT > this.#arenaData.byteLength) this.flush();
      const offset = this.#arenaUsed;
      new Uint8Array(this.#arenaData, offset, bytes.byteLength).set(bytes);
      this.#arenaUsed += ARENA_SLOT;
      entries.push({ binding: 0, resource: { buffer: this.#arena, offset, size: ARENA_SLOT } });
      key += `|p${offset}`;
    }
    for (let i = 0; i < buffers.length; i++) {
      const b = buffers[i];
      if (!b) continue; // a binding number the entry point does not use
      const res = "buffer" in b ? b : { buffer: b };
      entries.push({ binding: i + 1, resource: res });
      key += `|${i}:${this.#id(res.buffer)}:${res.offset ?? 0}:${res.size ?? -1}`;
    }
    let bind = this.#bindCache.get(key);
    if (bind) this.#bindHits++;
    else {
      let layout = this.#layouts.get(k.pipeline);
      if (!layout) this.#layouts.set(k.pipeline, layout = k.pipeline.getBindGroupLayout(0));
      bind = this.device.createBindGroup({ layout, entries });
      if (this.#bindCache.size >= BIND_CACHE) {
        this.#bindCache.delete(this.#bindCache.keys().next().value!);
      }
      this.#bindCache.set(key, bind);
    }
    const pass = this.#openPass(k.name);
    pass.setPipeline(k.pipeline);
    pass.setBindGroup(0, bind);
    pass.dispatchWorkgroups(x, y, z);
    if (this.#profile) this.#closePass();
    this.#names.add(k.name);
    this.#dispatches++;
  }

  /** A small number naming `o` (a buffer or pipeline) for the bind-group cache keys. */
  #id(o: object): number {
    let i = this.#ids.get(o);
    if (i === undefined) this.#ids.set(o, i = this.#nextId++);
    return i;
  }

  /** Record a buffer-to-buffer copy. */
  copy(src: GPUBuffer, srcOffset: number, dst: GPUBuffer, dstOffset: number, bytes: number): void {
    this.#assertAlive();
    this.#closePass();
    this.#enc().copyBufferToBuffer(src, srcOffset, dst, dstOffset, bytes);
  }

  /**
   * Write host data into `dst`, in order with the recorded work: with nothing pending, or
   * for large or unaligned data, pending work is submitted and the data written at once;
   * otherwise it is staged in the upload arena and copied by a recorded command.
   */
  upload(dst: GPUBuffer, data: ArrayBufferView, dstOffset = 0): void {
    this.#assertAlive();
    const n = data.byteLength;
    if (this.#encoder && n % 4 === 0 && dstOffset % 4 === 0 && n <= UPLOAD_ARENA / 4) {
      if (this.#uploadUsed + n > UPLOAD_ARENA) this.flush();
      if (this.#encoder) {
        const at = this.#uploadUsed;
        this.#uploadData.set(new Uint8Array(data.buffer, data.byteOffset, n), at);
        this.#uploadUsed += n;
        this.#closePass();
        this.#enc().copyBufferToBuffer(this.#uploads, at, dst, dstOffset, n);
        return;
      }
    }
    this.flush();
    this.device.queue.writeBuffer(
      dst,
      dstOffset,
      data.buffer as ArrayBuffer,
      data.byteOffset,
      data.byteLength,
    );
  }

  /** Fill `bytes` bytes of `dst` with zeros (recorded in order with other work). */
  clear(dst: GPUBuffer, offset = 0, bytes = dst.size): void {
    this.#assertAlive();
    this.#closePass();
    this.#enc().clearBuffer(dst, offset, bytes);
  }

  /** Submit the recorded work (no wait). */
  flush(): void {
    if (!this.#encoder) return;
    this.#closePass();
    if (this.#arenaUsed) {
      this.device.queue.writeBuffer(this.#arena, 0, this.#arenaData, 0, this.#arenaUsed);
      this.#arenaUsed = 0;
    }
    if (this.#uploadUsed) {
      this.device.queue.writeBuffer(this.#uploads, 0, this.#uploadData, 0, this.#uploadUsed);
      this.#uploadUsed = 0;
    }
    const timing = this.#resolveTimestamps(this.#encoder);
    const batch = [...this.#names].join(", ");
    this.device.pushErrorScope("out-of-memory");
    this.device.pushErrorScope("validation");
    this.device.queue.submit([this.#encoder.finish()]);
    this.#submits++;
    this.#encoder = null;
    this.#names.clear();
    const v = this.device.popErrorScope();
    const o = this.device.popErrorScope();
    const check = Promise.all([v, o]).then(([ve, oe]) => {
      const err = ve ?? oe;
      if (err) {
        throw new Error(`GPU error in a batch with kernels [${batch}]: ${err.message.trim()}`);
      }
    });
    check.catch(() => {});
    this.#checks.push(check);
    if (timing) this.#checks.push(timing());
  }

  /** Record the resolve of this batch's timestamps; returns what reads them after submit. */
  #resolveTimestamps(enc: GPUCommandEncoder): (() => Promise<void>) | null {
    if (!this.#querySet || !this.#queryNames.length) return null;
    const names = this.#queryNames;
    const set = this.#querySet;
    this.#queryNames = [];
    this.#querySet = null;
    const bytes = names.length * 16;
    const qbuf = this.device.createBuffer({
      size: bytes,
      usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC,
    });
    const rb = this.device.createBuffer({
      size: bytes,
      usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
    });
    enc.resolveQuerySet(set, 0, names.length * 2, qbuf, 0);
    enc.copyBufferToBuffer(qbuf, 0, rb, 0, bytes);
    return () =>
      rb.mapAsync(GPUMapMode.READ).then(() => {
        const t = new BigUint64Array(rb.getMappedRange());
        for (let i = 0; i < names.length; i++) {
          const ms = Number(t[2 * i + 1] - t[2 * i]) / 1e6;
          const e = this.#times.get(names[i]) ?? { name: names[i], calls: 0, ms: 0 };
          e.calls++;
          e.ms += ms;
          this.#times.set(names[i], e);
        }
        rb.unmap();
        rb.destroy();
        qbuf.destroy();
        set.destroy();
      });
  }

  /** Submit pending work, wait for the GPU, and throw any error recorded so far. */
  async sync(): Promise<void> {
    this.flush();
    await this.device.queue.onSubmittedWorkDone();
    await this.#surface();
  }

  /** Copy `bytes` bytes of `src` back to the host. */
  async read(src: GPUBuffer, bytes: number, offset = 0): Promise<ArrayBuffer> {
    this.#assertAlive();
    const size = Math.ceil(bytes / 4) * 4;
    const staging = this.device.createBuffer({
      size,
      usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
    });
    this.#closePass();
    this.#enc().copyBufferToBuffer(src, offset, staging, 0, size);
    this.flush();
    try {
      await staging.mapAsync(GPUMapMode.READ);
      await this.#surface();
      return staging.getMappedRange().slice(0, bytes);
    } finally {
      staging.destroy();
    }
  }

  /** Turn per-dispatch GPU timing on (each dispatch then gets its own pass) or off. */
  set profile(on: boolean) {
    this.flush();
    this.#profile = on && this.device.features.has("timestamp-query");
  }

  get profile(): boolean {
    return this.#profile;
  }

  /** Per-kernel time collected while profiling; `reset` clears it. */
  async kernelTimes(reset = true): Promise<KernelTime[]> {
    await this.sync();
    const out = [...this.#times.values()].sort((a, b) => b.ms - a.ms);
    if (reset) this.#times.clear();
    return out;
  }

  /** Pool and dispatch counters; `bindGroups` is the number of cached bind groups. */
  stats(): PoolStats & {
    dispatches: number;
    submits: number;
    bindGroupHits: number;
    bindGroups: number;
    kernels: number;
  } {
    return {
      ...this.pool.stats(),
      dispatches: this.#dispatches,
      submits: this.#submits,
      bindGroupHits: this.#bindHits,
      bindGroups: this.#bindCache.size,
      kernels: this.#kernelCount,
    };
  }

  destroy(): void {
    this.#encoder = null;
    this.#pass = null;
    this.device.destroy();
    this.lost ??= "destroyed";
  }

  async #surface(): Promise<void> {
    const checks = this.#checks;
    this.#checks = [];
    const results = await Promise.allSettled(checks);
    // let uncaptured errors of the same submissions arrive before reporting
    await new Promise((r) => setTimeout(r, 0));
    const msgs = results.filter((r) => r.status === "rejected").map((r) =>
      String((r as PromiseRejectedResult).reason?.message ?? (r as PromiseRejectedResult).reason)
    );
    const extra = this.#uncaptured.splice(0);
    if (msgs.length) throw new Error(msgs.join("; "));
    if (extra.length) throw new Error(`GPU error: ${extra.join("; ")}`);
    this.#assertAlive();
  }

  #assertAlive(): void {
    if (this.lost) throw new Error(`the WebGPU device was lost (${this.lost}); call init() again.`);
  }

  #enc(): GPUCommandEncoder {
    return (this.#encoder ??= this.device.createCommandEncoder());
  }

  #openPass(name: string): GPUComputePassEncoder {
    if (this.#pass) return this.#pass;
    const enc = this.#enc();
    if (this.#profile) {
      if (!this.#querySet) {
        this.#querySet = this.device.createQuerySet({ type: "timestamp", count: 4096 });
      }
      if (this.#queryNames.length * 2 + 2 > 4096) {
        this.flush();
        return this.#openPass(name);
      }
      const i = this.#queryNames.length * 2;
      this.#queryNames.push(name);
      this.#pass = this.#enc().beginComputePass({
        timestampWrites: {
          querySet: this.#querySet!,
          beginningOfPassWriteIndex: i,
          endOfPassWriteIndex: i + 1,
        },
      });
      return this.#pass;
    }
    this.#pass = enc.beginComputePass();
    return this.#pass;
  }

  #closePass(): void {
    if (this.#pass) {
      this.#pass.end();
      this.#pass = null;
    }
  }
}
