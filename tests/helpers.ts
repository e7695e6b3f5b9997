/**
 * Test helpers: a seeded float32 input maker, closeness assertions, and `checkOp`,
 * which checks a GPU op's forward against a float64 reference and its backward against
 * central finite differences of that reference in float64.
 */
import { init } from "../lib/gpu/device.ts";
import { join, normalize } from "node:path";
import { fileURLToPath } from "node:url";
import { Generator } from "../lib/tensor/rng.ts";
import { type Tensor, tensor } from "../lib/tensor/tensor.ts";

/** Initialise WebGPU once (llvmpipe on CI). */
export async function setup(): Promise<void> {
  await init();
}

/** Deno.test options shared by GPU tests: WebGPU keeps handles open between tests. */
export const gpuTest = { sanitizeResources: false, sanitizeOps: false } as const;

/** Seeded values in [lo, hi), rounded to float32 so GPU and reference see the same numbers. */
export function randArray(n: number, seed: number, lo = -1, hi = 1): Float64Array {
  const g = new Generator(seed);
  const a = new Float64Array(n);
  for (let i = 0; i < n; i++) a[i] = Math.fround(g.range(lo, hi));
  return a;
}

/** Tolerance: |got - want| <= atol + rtol * |want|. */
export interface Tol {
  atol: number;
  rtol: number;
}

/** Assert two arrays are elementwise close; the message names the first bad index. */
export function assertClose(
  got: ArrayLike<number>,
  want: ArrayLike<number>,
  tol: Tol,
  what = "values",
): void {
  if (got.length !== want.length) {
    throw new Error(`${what}: length ${got.length} != ${want.length}`);
  }
  let worst = -1;
  let worstErr = 0;
  for (let i = 0; i < got.length; i++) {
    const err = Math.abs(got[i] - want[i]) - (tol.atol + tol.rtol * Math.abs(want[i]));
    if (!(err <= 0) && (worst < 0 || err > worstErr || Number.isNaN(err))) {
      worst = i;
      worstErr = err;
      if (Number.isNaN(err)) break;
    }
  }
  if (worst >= 0) {
    throw new Error(
      `${what}: index ${worst}: got ${got[worst]}, want ${
        want[worst]
      } (atol ${tol.atol}, rtol ${tol.rtol})`,
    );
  }
}

/** One input of `checkOp`. */
export interface InputSpec {
  shape: number[];
  /** Values (float32-representable); random in [-1, 1) if absent. */
  data?: Float64Array;
  /** Check the gradient with respect to this input (default true for f32). */
  grad?: boolean;
  /** Integer input (indices, labels): uploaded as i32, never differentiated. */
  int?: boolean;
}

/** What `checkOp` compares. */
export interface CheckOpSpec {
  inputs: InputSpec[];
  /** The op on the GPU. */
  gpu: (...xs: Tensor[]) => Tensor;
  /** The same op in float64 on the host, returning the flat output. */
  ref: (...xs: Float64Array[]) => Float64Array;
  fwd: Tol;
  /** Gradient tolerance; omit to skip the backward check. */
  bwd?: Tol;
  /** Finite-difference step (float64). */
  eps?: number;
  /** Check at most this many gradient entries per input (sampled). */
  maxGradChecks?: number;
  seed?: number;
}

/**
 * Check forward against the float64 reference and backward against central finite
 * differences of `sum(g * ref(x))` in float64, with a random upstream gradient `g`.
 */
export async function checkOp(name: string, spec: CheckOpSpec): Promise<void> {
  const seed = spec.seed ?? 1;
  const data = spec.inputs.map((s, i) =>
    s.data ?? randArray(s.shape.reduce((a, b) => a * b, 1), seed + 17 * i)
  );
  const ts = spec.inputs.map((s, i) =>
    tensor(s.int ? Int32Array.from(data[i]) : Float32Array.from(data[i]), s.shape, {
      requiresGrad: !s.int && (s.grad ?? true) && spec.bwd !== undefined,
    })
  );
  const out = spec.gpu(...ts);
  const want = spec.ref(...data);
  const got = await out.toArray();
  assertClose(got, want, spec.fwd, `${name} forward`);
  if (!spec.bwd) {
    out.dispose();
    ts.forEach((t) => t.dispose());
    return;
  }
  const g = randArray(want.length, seed + 1000);
  const gt = tensor(Float32Array.from(g), [...out.shape]);
  out.backward(gt);
  const eps = spec.eps ?? 1e-4;
  const dot = (y: Float64Array) => {
    let s = 0;
    for (let i = 0; i < y.length; i++) s += y[i] * g[i];
    return s;
  };
  for (let i = 0; i < ts.length; i++) {
    if (!ts[i].requiresGrad) continue;
    if (!ts[i].grad) throw new Error(`${name}: input ${i} got no gradient`);
    const gotG = await ts[i].grad!.toArray();
    const n = data[i].length;
    const max = spec.maxGradChecks ?? 200;
    const idx: number[] = [];
    if (n <= max) { for (let j = 0; j < n; j++) idx.push(j); }
    else {
      const gen = new Generator(seed + 7 * i);
      for (let j = 0; j < max; j++) idx.push(gen.int(n));
    }
    const fd: number[] = [];
    const gg: number[] = [];
    for (const j of idx) {
      const x = data[i];
      const orig = x[j];
      x[j] = orig + eps;
      const up = dot(spec.ref(...data));
      x[j] = orig - eps;
      const dn = dot(spec.ref(...data));
      x[j] = orig;
      fd.push((up - dn) / (2 * eps));
      gg.push(gotG[j]);
    }
    try {
      assertClose(gg, fd, spec.bwd, `${name} gradient of input ${i}`);
    } catch (e) {
      const m = /index (\d+):/.exec(String(e));
      throw new Error(
        m
          ? String((e as Error).message).replace(`index ${m[1]}:`, `element ${idx[+m[1]]}:`)
          : String(e),
      );
    }
  }
  out.dispose();
  gt.dispose();
  ts.forEach((t) => {
    t.grad?.dispose();
    t.dispose();
  });
}

/** Assert `fn` throws an Error whose message contains `includes`. */
export function assertThrows(fn: () => unknown, includes: string): Error {
  try {
    fn();
  } catch (e) {
    if (!(e instanceof Error)) throw new Error(`expected an Error, got ${String(e)}`);
    if (!e.message.includes(includes)) {
      throw new Error(`error message "${e.message}" does not include "${includes}"`);
    }
    return e;
  }
  throw new Error(`expected an error including "${includes}", nothing was thrown`);
}

/** Assert the promise from `fn` rejects with a message containing `includes`. */
export async function assertRejects(fn: () => Promise<unknown>, includes: string): Promise<Error> {
  try {
    await fn();
  } catch (e) {
    if (!(e instanceof Error)) throw new Error(`expected an Error, got ${String(e)}`);
    if (!e.message.includes(includes)) {
      throw new Error(`error message "${e.message}" does not include "${includes}"`);
    }
    return e;
  }
  throw new Error(`expected a rejection including "${includes}", none came`);
}

/** Assert a condition, with a message. */
export function assert(cond: unknown, msg = "assertion failed"): asserts cond {
  if (!cond) throw new Error(msg);
}

function canonical(v: unknown): string {
  return JSON.stringify(
    v,
    (_k, x) =>
      x && typeof x === "object" && !Array.isArray(x) && !ArrayBuffer.isView(x)
        ? Object.fromEntries(Object.entries(x).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
        : x,
  );
}

/** Assert two values are equal (===, or the same JSON with keys sorted for arrays/objects). */
export function assertEquals(got: unknown, want: unknown, what = "value"): void {
  const g = typeof got === "object" ? canonical(got) : got;
  const w = typeof want === "object" ? canonical(want) : want;
  if (g !== w) throw new Error(`${what}: got ${String(g)}, want ${String(w)}`);
}

/** Same bits (so NaN, -0 and infinities compare exactly), and the same array type. */
export function assertSameBits(got: ArrayBufferView, want: ArrayBufferView, what: string): void {
  assertEquals(got.constructor.name, want.constructor.name, `${what} type`);
  const g = new Uint8Array(got.buffer, got.byteOffset, got.byteLength);
  const w = new Uint8Array(want.buffer, want.byteOffset, want.byteLength);
  assertEquals(g.length, w.length, `${what} byte length`);
  for (let i = 0; i < g.length; i++) {
    if (g[i] !== w[i]) throw new Error(`${what}: byte ${i} differs`);
  }
}

/** A static file server for the checkout on 127.0.0.1 (URL-import tests). */
export interface RepoServer {
  /** `http://127.0.0.1:<port>` */
  origin: string;
  /** Paths requested so far. */
  served: string[];
  close(): Promise<void>;
}

/** Serve the repository root over http on 127.0.0.1, on a free port. */
export function serveRepo(): RepoServer {
  const root = normalize(join(fileURLToPath(new URL(".", import.meta.url)), ".."));
  const served: string[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, async (req) => {
    const pathname = decodeURIComponent(new URL(req.url).pathname);
    const path = normalize(join(root, pathname));
    if (!path.startsWith(root)) return new Response("forbidden", { status: 403 });
    try {
      const body = await Deno.readFile(path);
      served.push(pathname);
      const type = path.endsWith(".ts") ? "application/typescript" : "application/octet-stream";
      return new Response(body, { headers: { "content-type": type } });
    } catch {
      return new Response("not found", { status: 404 });
    }
  });
  const { port } = server.addr as Deno.NetAddr;
  return { origin: `http://127.0.0.1:${port}`, served, close: () => server.shutdown() };
}

/** The bytes of a typed array (a view, no copy). */
export function bytesOf(a: ArrayBufferView): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}
