/**
 * Exact t-SNE on WebGPU (shaders/tsne.wgsl), following scikit-learn's
 * `TSNE(method="exact")` wherever the kit's issue is silent.
 *
 * Follows scikit-learn: squared Euclidean input distances; the conditional affinities of
 * each point by `_binary_search_perplexity` (beta from 1, doubled / halved until bracketed,
 * then bisected, until the entropy is within 1e-5 nats of log(perplexity), at most 100
 * steps, the affinities of the last evaluated beta); P = (P + P^T) / 2N floored at float64's
 * machine epsilon; a Student-t Q with one degree of freedom; the KL gradient
 * 4 sum_j (p_ij - q_ij) (y_i - y_j) / (1 + |y_i - y_j|^2); `_gradient_descent` with momentum
 * and gains (+0.2 where the update and the gradient differ in sign, else x0.8, at least
 * 0.01), 250 iterations with P x 12 and momentum 0.5, then momentum 0.8 to 1 000 iterations
 * in all, update and gains reset at the switch (scikit-learn's two `_gradient_descent`
 * calls); learning rate "auto" = max(N / earlyExaggeration / 4, 50); init "pca" (PCA
 * scores scaled so the first has standard deviation 1e-4) or "random" (normal, std 1e-4).
 *
 * Changes: f32 on the GPU (scikit-learn works in float64); each row's distances are shifted
 * by the row's smallest one before exp (same affinities and entropy, no f32 underflow to a
 * zero sum, which also makes scikit-learn's `sum_Pi == 0` fallback unnecessary); the data
 * are centred before the Gram matrix (same distances, less cancellation in f32); no early
 * stopping (scikit-learn may stop on a tiny gradient norm or 300 iterations without progress;
 * here every iteration runs, so a run is one batch of GPU work and deterministic); the
 * KL divergence returned is that of the returned embedding (scikit-learn's is from the
 * objective evaluated before its last update); PCA by subspace iteration on the covariance
 * (scikit-learn: randomized SVD) with scikit-learn's sign rule (the largest |loading| of
 * each component positive); only 1-D and 2-D embeddings (one degree of freedom, as
 * scikit-learn uses for these); the random init uses the kit's seeded generator; and the
 * KL divergence drops scikit-learn's floor of q at 2.2e-16 (it binds only where
 * num / Z < 2.2e-16, a negligible term).
 *
 * GPU work: the Gram matrix of the centred data by the engine's matmul; the squared distances
 * packed into tiles of 64 KiB (blocks of R rows x tiles of TW columns, shaders/tsne.wgsl),
 * calibrated and turned into P in place there. With the software adapter's kernel shapes
 * ("cpu") every row walk reads its block's tiles through ten uniform-window bindings, one
 * dispatch per row block (llvmpipe's uniform loads cost about 1/13 of its storage loads,
 * measured); with a GPU's ("gpu") the same tiles are read from storage. The N x N Gram
 * matrix and the tiles must each fit `maxStorageBufferBindingSize` (about 5 700 points with
 * llvmpipe's 128 MiB). An iteration is the row sums (one dispatch per row block, or one), a
 * block sum of Z and the update, recorded without readback, so hundreds of iterations go in
 * one submission; the embedding and the KL divergence come back at the end and at callback
 * points. Fixed summation orders throughout (no atomics): a seed gives bit-equal runs on one
 * adapter. Every invocation's loops stay under `LOOP_BUDGET`: the calibration runs as many
 * dispatches of a few binary-search steps as the budget needs (`calibrationSteps`).
 */
import code from "../../shaders/tsne.wgsl" with { type: "text" };
import { runtime } from "../gpu/device.ts";
import type { Kernel, Runtime } from "../gpu/runtime.ts";
import { sizeClass } from "../gpu/pool.ts";
import { Tensor, tensor } from "../tensor/tensor.ts";
import {
  grid,
  launch,
  LOOP_BUDGET,
  Params,
  uniformWindow,
  WINDOW_FLOATS,
} from "../tensor/launch.ts";
import { matmulRaw } from "../tensor/ops/matmul.ts";
import { Generator } from "../tensor/rng.ts";

/** scikit-learn's `_binary_search_perplexity` limits. */
const PERPLEXITY_TOL = 1e-5;
const PERPLEXITY_STEPS = 100;
const MIN_GAIN = 0.01;
const WG = 64;
/** Points of the software path: Y and its padding columns fill one uniform window. */
const UNIFORM_POINTS = WINDOW_FLOATS / 2 - 4;

/** Options of `tsne`. */
export interface TsneOptions {
  /** With a Float32Array input: its shape [N, D]. */
  shape?: readonly [number, number] | readonly number[];
  /** Embedding dimension, 1 or 2 [2]. */
  nComponents?: number;
  /** Perplexity, 0 < perplexity < N [30]. */
  perplexity?: number;
  /** Factor on P during the first `exaggerationIters` iterations [12]. */
  earlyExaggeration?: number;
  /** Iterations with exaggerated P and `momentum` [250]. */
  exaggerationIters?: number;
  /** Iterations in all [1000]. */
  iterations?: number;
  /** Step size, or "auto": max(N / earlyExaggeration / 4, 50) ["auto"]. */
  learningRate?: number | "auto";
  /** Momentum of the exaggeration phase [0.5]. */
  momentum?: number;
  /** Momentum after it [0.8]. */
  finalMomentum?: number;
  /** Seed of the random init [0]. */
  seed?: number;
  /** "pca", "random", or an initial embedding [N * nComponents] ["pca"]. */
  init?: "pca" | "random" | Float32Array;
  /**
   * Called every `callbackEvery` iterations and after the last: the iterations done, the KL
   * divergence of that iteration's objective (with the exaggerated P while exaggerating, as
   * scikit-learn's verbose log) and the embedding after its update [N * nComponents].
   */
  onIteration?: (iteration: number, kl: number, embedding: Float32Array) => void | Promise<void>;
  /** Iterations between `onIteration` calls [50]. */
  callbackEvery?: number;
  /**
   * Tuning and tests: the kernel shape, "cpu" (the packed P read through 64 KiB uniform
   * windows, N <= 8188) or "gpu" (read from storage) [the runtime's kernel shapes].
   */
  kernel?: "cpu" | "gpu";
}

/** What `tsne` returns. */
export interface TsneResult {
  /** The embedding, row-major [N, nComponents]. */
  embedding: Float32Array;
  shape: [number, number];
  /** KL(P || Q) of the returned embedding (P not exaggerated). */
  kl: number;
  /**
   * Wall-clock milliseconds: the setup (distances, calibration, P, init) and the iterations
   * (with the final KL pass and readback).
   */
  timing: { affinitiesMs: number; iterationsMs: number };
}

type Input = Tensor | Float32Array;

function fail(op: string, msg: string): never {
  throw new Error(`${op}: ${msg}`);
}

function intOpt(op: string, what: string, v: unknown, min: number): void {
  if (v !== undefined && (typeof v !== "number" || !Number.isInteger(v) || v < min)) {
    fail(op, `${what} must be an integer >= ${min}, got ${v}`);
  }
}

function numOpt(op: string, what: string, v: unknown, ok: (x: number) => boolean, rule: string) {
  if (v !== undefined && (typeof v !== "number" || !Number.isFinite(v) || !ok(v))) {
    fail(op, `${what} must be ${rule}, got ${v}`);
  }
}

/** The input's shape, checked (no data read). */
function inputShape(op: string, x: unknown, shape: unknown): [number, number] {
  if (x instanceof Tensor) {
    if (x.disposed) fail(op, `input tensor [${x.shape}] was disposed`);
    if (x.dtype !== "f32" || x.ndim !== 2) {
      fail(op, `input must be a 2-D f32 tensor [N, D], got ${x.dtype} [${x.shape}]`);
    }
    return [x.shape[0], x.shape[1]];
  }
  if (!(x instanceof Float32Array)) fail(op, "input must be a Tensor [N, D] or a Float32Array");
  if (!Array.isArray(shape) || shape.length !== 2) {
    fail(op, `a Float32Array input needs options.shape = [N, D], got ${JSON.stringify(shape)}`);
  }
  const [N, D] = shape as number[];
  if (!Number.isInteger(N) || !Number.isInteger(D) || N < 1 || D < 1) {
    fail(op, `shape [${shape}] must be two positive integers [N, D]`);
  }
  if (x.length !== N * D) {
    fail(op, `input has ${x.length} values but shape [${N}, ${D}] needs ${N * D}`);
  }
  return [N, D];
}

/** The input on the host, centred (float64 means), as f32; throws on a non-finite value. */
async function centred(op: string, x: Input, N: number, D: number): Promise<Float32Array> {
  const data = x instanceof Tensor ? (await x.toArray()) as Float32Array : x;
  const mean = new Float64Array(D);
  for (let i = 0; i < N; i++) {
    for (let d = 0; d < D; d++) {
      const v = data[i * D + d];
      if (!Number.isFinite(v)) fail(op, `input[${i}, ${d}] = ${v} is not finite`);
      mean[d] += v;
    }
  }
  for (let d = 0; d < D; d++) mean[d] /= N;
  const out = new Float32Array(N * D);
  for (let i = 0; i < N; i++) {
    for (let d = 0; d < D; d++) out[i * D + d] = data[i * D + d] - mean[d];
  }
  return out;
}

/** Floats per packed tile: one 64 KiB uniform window. */
const TILE = WINDOW_FLOATS;
/** Window bindings of the "_w" kernels (tiles per row block on the software path). */
const TILE_WINDOWS = 10;
/** Workgroup size of the "_w" kernels (one llvmpipe SIMD group; R / 8 workgroups a block). */
const WG_W = 8;

/** The packed tile layout (see shaders/tsne.wgsl): R rows x TW columns per tile. */
interface Layout {
  kernel: "cpu" | "gpu";
  /** Rows per block. */
  R: number;
  /** Columns per tile (a multiple of 4; R x tw <= 16 384). */
  tw: number;
  /** Tiles per row block. */
  nt: number;
  /** Row blocks. */
  nb: number;
  /** Rows per gradient invocation on the software path (they share the Y loads). */
  k: number;
}

/**
 * The tile layout for N points. "cpu": rows cut into at most 10 tiles (the window bindings),
 * blocks of a multiple of 32 rows (at most 512) when a window holds that many, so that a
 * block's dispatch has an even number of 8-invocation workgroups (measured best on two
 * llvmpipe threads: 64 rows x 256 columns at N = 2 000), and tiles as wide as the window
 * then allows; "gpu": 64 rows x 256 columns.
 */
function layout(N: number, kernel: "cpu" | "gpu"): Layout {
  let R = 64;
  if (kernel === "cpu") {
    const need = 4 * Math.ceil(N / (4 * TILE_WINDOWS)); // narrowest tile width
    R = Math.min(512, 32 * Math.floor(TILE / need / 32));
    if (R < 32) R = 8 * Math.floor(TILE / need / 8);
    if (R < 8) throw new Error(`tsne: ${N} points do not fit the software path's tiles`);
  }
  const tw = 4 * Math.floor(TILE / R / 4);
  return { kernel, R, tw, nt: Math.ceil(N / tw), nb: Math.ceil(N / R), k: R >= 32 ? 2 : 1 };
}

/** Throw unless the N x N Gram matrix and the packed tiles fit one storage binding each. */
function checkFits(op: string, N: number, kernel: "cpu" | "gpu"): void {
  const max = runtime().device.limits.maxStorageBufferBindingSize;
  const need = (n: number) => {
    const L = layout(n, kernel);
    return Math.max(sizeClass(n * n * 4), L.nb * L.nt * TILE * 4);
  };
  if (need(N) <= max) return;
  let n = Math.floor(Math.sqrt(max / 4));
  while (n > 1 && need(n) > max) n--;
  const mib = (b: number) => (b / 2 ** 20).toFixed(1);
  fail(
    op,
    `${N} points need an ${N} x ${N} f32 affinity matrix (${mib(need(N))} MiB), over this ` +
      `device's maxStorageBufferBindingSize (${mib(max)} MiB); use at most ${n} points`,
  );
}

/** Loop iterations of one row walk over the packed tiles (vec4s, plus loop entries). */
function walkCost(N: number, nt: number): number {
  return Math.ceil(N / 4) + 3 * nt + 8;
}

/**
 * Binary-search steps one calibration invocation may run for N points within
 * `LOOP_BUDGET` (after the walk that finds the row minimum); the calibration then takes
 * ceil(100 / steps) dispatches. Exported for tests.
 *
 * @example
 * ```ts
 * calibrationSteps(3000); // 76: 100 steps would take two dispatches
 * ```
 */
export function calibrationSteps(N: number, kernel: "cpu" | "gpu" = "cpu"): number {
  const w = walkCost(N, layout(N, kernel).nt);
  const s = Math.floor((LOOP_BUDGET - w - 16) / (w + 2));
  if (s < 1) throw new Error(`tsne: ${N} points exceed what one invocation may walk`);
  return Math.min(s, PERPLEXITY_STEPS);
}

function params(
  n: number,
  u: {
    count?: number;
    chunk?: number;
    chunks?: number;
    blocks?: number;
    flag?: number;
    nt?: number;
    blk?: number;
    /** The tile layout (rows per block, columns per tile). */
    L?: Layout;
  },
  f: { a?: number; b?: number; c?: number } = {},
): Params {
  return new Params()
    .u32(n, u.count ?? n, u.chunk ?? 0, u.chunks ?? 0, u.blocks ?? 0, u.flag ?? 0)
    .u32(u.nt ?? u.L?.nt ?? 0, u.blk ?? 0, u.L?.R ?? 0, u.L?.tw ?? 0, 0, 0)
    .f32(f.a ?? 0, f.b ?? 0, f.c ?? 0, 0);
}

/** The window bindings of row block `b`: its tiles, the rest repeating its first. */
function blockWindows(t: Tensor, L: Layout, b: number): GPUBufferBinding[] {
  return Array.from(
    { length: TILE_WINDOWS },
    (_, w) => uniformWindow(t, b * L.nt + (w < L.nt ? w : 0)),
  );
}

/** The squared distances of the centred rows `xc` [N, D], packed (a new tensor). */
function packedDistances(xc: Tensor, N: number, L: Layout): Tensor {
  const g = matmulRaw(xc, xc, false, true);
  const norms = Tensor.empty([N], "f32", "tsne");
  try {
    launch("tsne", code, "tsne_norms", {
      buffers: [g, norms],
      workgroups: grid(N, WG),
      params: params(N, {}),
      constants: { WG },
    });
    const packed = Tensor.empty([L.nb * L.nt * TILE], "f32", "tsne");
    const count = L.nb * L.nt * (TILE / 4);
    launch("tsne", code, "tsne_pack_d", {
      buffers: [g, norms, packed],
      workgroups: grid(count, WG),
      params: params(N, { count, L }),
      constants: { WG },
    });
    return packed;
  } finally {
    g.dispose();
    norms.dispose();
  }
}

/** Calibrate every row of the packed D (binary search on beta); returns the row states. */
function calibrate(D: Tensor, N: number, L: Layout, perplexity: number, steps?: number): Tensor {
  const rows = Tensor.empty([N, 8], "f32", "tsne");
  launch("tsne", code, "tsne_rows_init", {
    buffers: [null, rows],
    workgroups: grid(N, WG),
    params: params(N, {}),
    constants: { WG },
  });
  const S = Math.min(steps ?? PERPLEXITY_STEPS, calibrationSteps(N, L.kernel));
  const f = { a: Math.log(perplexity), b: PERPLEXITY_TOL };
  for (let done = 0; done < PERPLEXITY_STEPS; done += S) {
    if (L.kernel === "cpu") {
      for (let b = 0; b < L.nb; b++) {
        launch("tsne", code, "tsne_cal_w", {
          buffers: [null, rows, null, ...blockWindows(D, L, b)],
          workgroups: [Math.ceil(L.R / WG_W)],
          params: params(N, { chunk: S, flag: PERPLEXITY_STEPS, L, blk: b }, f),
          constants: { WG: WG_W },
        });
      }
    } else {
      launch("tsne", code, "tsne_cal_s", {
        buffers: [null, rows, null, D],
        workgroups: grid(N, WG),
        params: params(N, { chunk: S, flag: PERPLEXITY_STEPS, L }, f),
        constants: { WG },
      });
    }
  }
  return rows;
}

/** Turn the packed D into the joint P (or the conditional P), in place. */
function affinitiesInPlace(D: Tensor, rows: Tensor, N: number, L: Layout, conditional = false) {
  const cs = Tensor.empty([N, 4], "f32", "tsne");
  launch("tsne", code, "tsne_states", {
    buffers: [null, rows, cs],
    workgroups: grid(N, WG),
    params: params(N, {}),
    constants: { WG },
  });
  const count = L.nb * L.nt * (TILE / 4);
  launch("tsne", code, "tsne_affin", {
    buffers: [D, cs],
    workgroups: grid(count, WG),
    params: params(N, { count, L }, { b: 2 * N }),
    constants: { WG, MODE: conditional ? 1 : 0 },
  });
  cs.dispose();
}

/** The packed tiles as a row-major [N, N] matrix. */
function unpack(t: Float32Array, N: number, L: Layout): Float32Array {
  const out = new Float32Array(N * N);
  for (let w = 0; w < L.nb * L.nt; w++) {
    const b = Math.floor(w / L.nt);
    const c = w % L.nt;
    for (let e = 0; e < (L.R * L.tw) / 4; e++) {
      const i = b * L.R + (e % L.R);
      const j0 = c * L.tw + 4 * Math.floor(e / L.R);
      if (i >= N) continue;
      for (let l = 0; l < 4 && j0 + l < N; l++) out[i * N + j0 + l] = t[w * TILE + 4 * e + l];
    }
  }
  return out;
}

function checkPerplexity(op: string, perplexity: unknown, N: number): number {
  const p = perplexity ?? 30;
  if (typeof p !== "number" || !Number.isFinite(p) || p <= 0) {
    fail(op, `perplexity must be a finite number > 0, got ${p}`);
  }
  if (p >= N) fail(op, `perplexity (${p}) must be less than the number of points N = ${N}`);
  return p;
}

function checkKernel(op: string, k: unknown, N: number): "cpu" | "gpu" {
  const kernel = k ?? runtime().info.kernels;
  if (kernel !== "cpu" && kernel !== "gpu") {
    fail(op, `kernel must be "cpu" or "gpu", got ${kernel}`);
  }
  if (kernel === "cpu" && N > UNIFORM_POINTS) {
    if (k) fail(op, `kernel "cpu" takes at most ${UNIFORM_POINTS} points, got ${N}`);
    return "gpu";
  }
  return kernel;
}

/** Options of `tsneAffinities`. */
export interface TsneAffinityOptions {
  /** With a Float32Array input: its shape [N, D]. */
  shape?: readonly number[];
  /** Perplexity, 0 < perplexity < N [30]. */
  perplexity?: number;
  /** Return the conditional P (rows sum to 1) instead of the joint P [false]. */
  conditional?: boolean;
  /** Tuning and tests: kernel shape, as in `TsneOptions`. */
  kernel?: "cpu" | "gpu";
  /** Tuning and tests: at most this many binary-search steps per dispatch. */
  stepsPerDispatch?: number;
}

/** What `tsneAffinities` returns. */
export interface TsneAffinities {
  /** Row-major [N, N]: the joint P, or the conditional P (rows sum to 1) with `conditional`. */
  P: Float32Array;
  /** Per row: the calibrated beta = 1 / (2 sigma^2). */
  beta: Float32Array;
  /** Per row: the entropy (nats) of the conditional row at that beta. */
  entropy: Float32Array;
  /** Per row: binary-search steps evaluated. */
  steps: Int32Array;
}

/**
 * The affinities t-SNE fits: per-row binary search on beta to the perplexity, then the joint
 * P (or, with `conditional`, the conditional rows), computed on the GPU as `tsne` does.
 *
 * @example
 * ```ts
 * const { P, entropy } = await tsneAffinities(data, { shape: [500, 50], perplexity: 30 });
 * ```
 */
export async function tsneAffinities(
  x: Input,
  opts: TsneAffinityOptions = {},
): Promise<TsneAffinities> {
  const op = "tsneAffinities";
  const [N, D] = inputShape(op, x, opts.shape);
  if (N < 2) fail(op, `needs at least 2 points, got N = ${N}`);
  const perplexity = checkPerplexity(op, opts.perplexity, N);
  intOpt(op, "stepsPerDispatch", opts.stepsPerDispatch, 1);
  const L = layout(N, checkKernel(op, opts.kernel, N));
  checkFits(op, N, L.kernel);
  const xc = tensor(await centred(op, x, N, D), [N, D]);
  let packed: Tensor | null = null;
  let rows: Tensor | null = null;
  try {
    packed = packedDistances(xc, N, L);
    rows = calibrate(packed, N, L, perplexity, opts.stepsPerDispatch);
    affinitiesInPlace(packed, rows, N, L, opts.conditional);
    const P = unpack((await packed.toArray()) as Float32Array, N, L);
    const r = (await rows.toArray()) as Float32Array;
    const beta = new Float32Array(N);
    const entropy = new Float32Array(N);
    const steps = new Int32Array(N);
    for (let i = 0; i < N; i++) {
      beta[i] = r[8 * i];
      entropy[i] = r[8 * i + 7];
      steps[i] = r[8 * i + 5];
    }
    return { P, beta, entropy, steps };
  } finally {
    xc.dispose();
    packed?.dispose();
    rows?.dispose();
  }
}

/** Top `k` eigenvectors of the symmetric D x D matrix `C` (subspace iteration), [k][D]. */
function topEigenvectors(C: Float64Array, D: number, k: number): Float64Array[] {
  const g = new Generator(0x75e);
  let V: Float64Array[] = Array.from(
    { length: k },
    () => Float64Array.from({ length: D }, () => g.normal()),
  );
  const orth = (W: Float64Array[]) => {
    for (let a = 0; a < W.length; a++) {
      for (let b = 0; b < a; b++) {
        let dot = 0;
        for (let d = 0; d < D; d++) dot += W[a][d] * W[b][d];
        for (let d = 0; d < D; d++) W[a][d] -= dot * W[b][d];
      }
      let n = 0;
      for (let d = 0; d < D; d++) n += W[a][d] ** 2;
      n = Math.sqrt(n) || 1;
      for (let d = 0; d < D; d++) W[a][d] /= n;
    }
    return W;
  };
  V = orth(V);
  for (let it = 0; it < 1000; it++) {
    const W = V.map((v) => {
      const w = new Float64Array(D);
      for (let r = 0; r < D; r++) {
        let s = 0;
        const row = r * D;
        for (let c = 0; c < D; c++) s += C[row + c] * v[c];
        w[r] = s;
      }
      return w;
    });
    orth(W);
    let change = 0;
    for (let a = 0; a < k; a++) {
      let dot = 0;
      for (let d = 0; d < D; d++) dot += W[a][d] * V[a][d];
      change = Math.max(change, 1 - Math.abs(dot));
    }
    V = W;
    if (change < 1e-12) break;
  }
  return V;
}

/** scikit-learn's PCA init: scores on the top components, first one scaled to std 1e-4. */
async function pcaInit(xc: Tensor, host: Float32Array, N: number, D: number, k: number) {
  const cov = matmulRaw(xc, xc, true, false);
  let C: Float32Array;
  try {
    C = (await cov.toArray()) as Float32Array;
  } finally {
    cov.dispose();
  }
  const V = topEigenvectors(Float64Array.from(C), D, k);
  for (const v of V) {
    // svd_flip (v-based): the largest |loading| of each component is positive
    let best = 0;
    for (let d = 1; d < D; d++) if (Math.abs(v[d]) > Math.abs(v[best])) best = d;
    if (v[best] < 0) { for (let d = 0; d < D; d++) v[d] = -v[d]; }
  }
  const Y = new Float64Array(N * k);
  for (let i = 0; i < N; i++) {
    for (let a = 0; a < k; a++) {
      let s = 0;
      for (let d = 0; d < D; d++) s += host[i * D + d] * V[a][d];
      Y[i * k + a] = s;
    }
  }
  let m = 0;
  for (let i = 0; i < N; i++) m += Y[i * k];
  m /= N;
  let v = 0;
  for (let i = 0; i < N; i++) v += (Y[i * k] - m) ** 2;
  const std = Math.sqrt(v / N) || 1;
  return Float32Array.from(Y, (y) => (y / std) * 1e-4);
}

/** Iterations recorded per submission (the GPU starts on them while the next are recorded). */
const SUBMIT_EVERY = 25;

/** One recorded dispatch: a pipeline, its bind group (made once), its workgroups. */
interface Cmd {
  pipeline: GPUComputePipeline;
  bind: GPUBindGroup;
  workgroups: [number, number?, number?];
}

/**
 * Records the iteration loop's dispatches straight into command encoders of the runtime's
 * device, with every bind group and parameter block made once (`cmd`) and reused. It only
 * submits; reads go through the runtime, whose queue order puts them after. GPU errors
 * surface at the runtime's next read (its uncaptured-error check). Not in the runtime's
 * dispatch counts or kernel profile.
 */
class LoopRecorder {
  #rt: Runtime;
  #params: Uint8Array[] = [];
  #buffer: GPUBuffer | null = null;
  #pending: { kernel: Kernel; buffers: (Tensor | GPUBufferBinding | null)[]; cmd: Cmd }[] = [];
  #enc: GPUCommandEncoder | null = null;
  #pass: GPUComputePassEncoder | null = null;

  constructor(rt: Runtime) {
    this.#rt = rt;
    rt.flush(); // everything recorded through the runtime so far goes first
  }

  /** A dispatch to record (its bind group is made by `upload`). */
  cmd(
    kernel: Kernel,
    buffers: (Tensor | GPUBufferBinding | null)[],
    workgroups: [number, number?, number?],
    p: Params,
  ): Cmd {
    const b = p.bytes();
    this.#params.push(new Uint8Array(b.buffer, b.byteOffset, b.byteLength).slice());
    const cmd = { pipeline: kernel.pipeline, bind: null as unknown as GPUBindGroup, workgroups };
    this.#pending.push({ kernel, buffers, cmd });
    return cmd;
  }

  /** Write every parameter block (256-byte slots) and make the bind groups. */
  upload(): void {
    const dev = this.#rt.device;
    this.#buffer = dev.createBuffer({
      size: 256 * this.#params.length,
      usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST,
      label: "tsne-params",
    });
    const all = new Uint8Array(256 * this.#params.length);
    this.#params.forEach((p, i) => all.set(p, 256 * i));
    dev.queue.writeBuffer(this.#buffer, 0, all);
    this.#pending.forEach(({ kernel, buffers, cmd }, i) => {
      const entries: GPUBindGroupEntry[] = [
        { binding: 0, resource: { buffer: this.#buffer!, offset: 256 * i, size: 256 } },
      ];
      buffers.forEach((b, j) => {
        if (!b) return;
        entries.push({
          binding: j + 1,
          resource: b instanceof Tensor ? { buffer: b.buffer } : b,
        });
      });
      cmd.bind = dev.createBindGroup({ layout: kernel.pipeline.getBindGroupLayout(0), entries });
    });
    this.#pending = [];
  }

  record(cmds: Cmd[]): void {
    if (!this.#pass) {
      this.#enc = this.#rt.device.createCommandEncoder({ label: "tsne-loop" });
      this.#pass = this.#enc.beginComputePass();
    }
    for (const c of cmds) {
      this.#pass.setPipeline(c.pipeline);
      this.#pass.setBindGroup(0, c.bind);
      this.#pass.dispatchWorkgroups(...c.workgroups);
    }
  }

  submit(): void {
    if (!this.#pass) return;
    this.#pass.end();
    this.#rt.device.queue.submit([this.#enc!.finish()]);
    this.#pass = null;
    this.#enc = null;
  }

  /** Drop what was recorded and not submitted (an error ended the loop); free the params. */
  dispose(): void {
    this.#pass?.end();
    this.#pass = null;
    this.#enc = null;
    this.#buffer?.destroy();
    this.#buffer = null;
  }
}

/** `TsneOptions` checked, with their defaults filled in. */
interface TsneSettings {
  perplexity: number;
  k: number;
  ee: number;
  iterations: number;
  exIters: number;
  lr: number;
  m0: number;
  m1: number;
  every: number;
  init: "pca" | "random" | Float32Array;
}

/** Check `opts` for [N, D] input and fill in scikit-learn's defaults. */
function tsneSettings(op: string, opts: TsneOptions, N: number, D: number): TsneSettings {
  const perplexity = checkPerplexity(op, opts.perplexity, N);
  const k = opts.nComponents ?? 2;
  if (k !== 1 && k !== 2) fail(op, `nComponents must be 1 or 2, got ${k}`);
  const ee = opts.earlyExaggeration ?? 12;
  numOpt(op, "earlyExaggeration", ee, (v) => v >= 1, "a finite number >= 1");
  intOpt(op, "exaggerationIters", opts.exaggerationIters, 0);
  intOpt(op, "iterations", opts.iterations, 1);
  const iterations = opts.iterations ?? 1000;
  const exIters = Math.min(opts.exaggerationIters ?? 250, iterations);
  const lrOpt = opts.learningRate ?? "auto";
  if (lrOpt !== "auto") {
    numOpt(op, "learningRate", lrOpt, (v) => v > 0, `"auto" or a finite number > 0`);
  }
  const lr = lrOpt === "auto" ? Math.max(N / ee / 4, 50) : lrOpt;
  const m0 = opts.momentum ?? 0.5;
  const m1 = opts.finalMomentum ?? 0.8;
  numOpt(op, "momentum", m0, (v) => v >= 0 && v < 1, "in [0, 1)");
  numOpt(op, "finalMomentum", m1, (v) => v >= 0 && v < 1, "in [0, 1)");
  intOpt(op, "seed", opts.seed, -(2 ** 53));
  intOpt(op, "callbackEvery", opts.callbackEvery, 1);
  const every = opts.callbackEvery ?? 50;
  if (opts.onIteration !== undefined && typeof opts.onIteration !== "function") {
    fail(op, "onIteration must be a function");
  }
  const init = opts.init ?? "pca";
  if (init instanceof Float32Array) {
    if (init.length !== N * k) {
      fail(op, `init has ${init.length} values but [N, nComponents] = [${N}, ${k}] needs ${N * k}`);
    }
    for (let i = 0; i < init.length; i++) {
      if (!Number.isFinite(init[i])) fail(op, `init[${i}] = ${init[i]} is not finite`);
    }
  } else if (init !== "pca" && init !== "random") {
    fail(op, `init must be "pca", "random" or a Float32Array [N * nComponents], got ${init}`);
  }
  if (init === "pca" && D < k) {
    fail(
      op,
      `init "pca" needs at least nComponents = ${k} input dimensions, got D = ${D}; ` +
        `use init "random"`,
    );
  }
  return { perplexity, k, ee, iterations, exIters, lr, m0, m1, every, init };
}

/** The initial embedding [N * k]: the given one, N(0, 1e-4^2) from the seed, or PCA. */
async function initialEmbedding(
  s: TsneSettings,
  seed: number | undefined,
  xc: Tensor,
  host: Float32Array,
  N: number,
  D: number,
): Promise<Float32Array> {
  if (s.init instanceof Float32Array) return s.init;
  if (s.init === "random") {
    const g = new Generator(seed ?? 0);
    return Float32Array.from({ length: N * s.k }, () => 1e-4 * g.normal());
  }
  return await pcaInit(xc, host, N, D, s.k);
}

/** The GPU buffers of the descent loop (Y padded as [N] vec2f, gains and velocities, sums). */
interface LoopBuffers {
  P: Tensor;
  Y: Tensor;
  opt: Tensor;
  part: Tensor;
  klpart: Tensor;
  zpart: Tensor;
  zb: Tensor;
}

/** A phase of the descent (exaggerated, then not): its recorded dispatches. */
interface Phase {
  /** The gradient pass: per-row partial sums and Z. */
  grad: Cmd[];
  /** The same pass with the KL terms (this iteration's objective). */
  kl: Cmd[];
  /** The update with this phase's momentum: [within the phase, at its first iteration]. */
  update: [Cmd, Cmd];
}

/**
 * Record the loop's dispatches once, with bind groups made once: recording through `launch`
 * makes a bind group per dispatch, measured 0.2 ms of host time each on llvmpipe (34
 * dispatches an iteration at 2 000 points), against ~1 us with a ready bind group.
 */
function recordPhases(
  loop: LoopRecorder,
  b: LoopBuffers,
  s: TsneSettings,
  N: number,
  L: Layout,
  z: { chunks: number; zvals: number; zchunk: number; blocks: number },
): Phase[] {
  const rt = runtime();
  const cpu = L.kernel === "cpu";
  const { chunks, zvals, zchunk, blocks } = z;
  // per-row partial sums (with `kl`: KL terms) of the objective at the current Y
  const passCmds = (exaggeration: number, kl: boolean): Cmd[] => {
    const out = kl ? b.klpart : b.part;
    const bl = kl ? blocks : 0;
    const cmds = [];
    if (cpu) {
      const kern = rt.kernel("tsne", code, "tsne_grad_w", { WG: WG_W, K: L.k, KL: kl ? 1 : 0 });
      for (let blk = 0; blk < L.nb; blk++) {
        cmds.push(loop.cmd(
          kern,
          [uniformWindow(b.Y, 0), out, b.zpart, ...blockWindows(b.P, L, blk), b.zb],
          [Math.ceil(L.R / L.k / WG_W)],
          params(N, { L, blk, blocks: bl }, { a: exaggeration }),
        ));
      }
    } else {
      const kern = rt.kernel("tsne", code, "tsne_grad_s", { WG, KL: kl ? 1 : 0 });
      cmds.push(loop.cmd(
        kern,
        [null, out, b.zpart, b.P, b.Y, ...new Array(8).fill(null), b.zb],
        grid(zvals, WG),
        params(N, { count: zvals, L, blocks: bl }, { a: exaggeration }),
      ));
    }
    if (!kl) {
      cmds.push(loop.cmd(
        rt.kernel("tsne", code, "tsne_zsum", { WG }),
        [b.zpart, b.zb],
        grid(blocks, WG),
        params(N, { count: zvals, chunk: zchunk, blocks }),
      ));
    }
    return cmds;
  };
  const kUpdate = rt.kernel("tsne", code, "tsne_update", { WG });
  const Yn = { buffer: b.Y.buffer, offset: 0, size: N * 8 };
  const updateCmd = (momentum: number, start: boolean) =>
    loop.cmd(
      kUpdate,
      [b.zb, b.part, Yn, b.opt],
      grid(N, WG),
      params(N, { chunks, blocks, flag: start ? 1 : 0 }, { a: momentum, b: s.lr, c: MIN_GAIN }),
    );
  return [s.ee, 1].map((ex, ph) => ({
    grad: passCmds(ex, false),
    kl: passCmds(ex, true),
    update: [updateCmd(ph ? s.m1 : s.m0, false), updateCmd(ph ? s.m1 : s.m0, true)],
  }));
}

/**
 * Exact t-SNE of the rows of `x` ([N, D], a GPU tensor or a Float32Array with
 * `options.shape`) into `nComponents` (2) dimensions, on the GPU, deterministic for a
 * seed. Defaults as scikit-learn's `TSNE(method="exact")` (see the module header).
 *
 * @example
 * ```ts
 * const { embedding, kl } = await tsne(features, { perplexity: 30, seed: 0 });
 * // embedding: Float32Array [N * 2]
 * ```
 */
export async function tsne(x: Input, opts: TsneOptions = {}): Promise<TsneResult> {
  const op = "tsne";
  if (opts === null || typeof opts !== "object") fail(op, "options must be an object");
  const [N, D] = inputShape(op, x, opts.shape);
  if (N < 2) fail(op, `needs at least 2 points, got N = ${N}`);
  const s = tsneSettings(op, opts, N, D);
  const { k, iterations, exIters, every } = s;
  const rt = runtime();
  const L = layout(N, checkKernel(op, opts.kernel, N));
  checkFits(op, N, L.kernel);
  const cpu = L.kernel === "cpu";
  const chunks = cpu ? 1 : L.nt;
  const zvals = chunks * N;
  const zchunk = Math.max(1024, Math.ceil(zvals / 256));
  const blocks = Math.ceil(zvals / zchunk);
  if (zchunk + Math.ceil(zchunk / 64) + 4 > LOOP_BUDGET || blocks + chunks + 4 > LOOP_BUDGET) {
    fail(op, `${N} points exceed the per-invocation loop budget`);
  }

  const host = await centred(op, x, N, D);
  const t0 = performance.now();
  const owned: { dispose(): void }[] = [];
  const own = (t: Tensor) => (owned.push(t), t);
  try {
    const xc = own(tensor(host, [N, D]));
    const P = own(packedDistances(xc, N, L));
    const rows = own(calibrate(P, N, L, s.perplexity));
    affinitiesInPlace(P, rows, N, L);
    rows.dispose();
    const y0 = await initialEmbedding(s, opts.seed, xc, host, N, D);
    xc.dispose();
    // Y as [N] vec2f (second coordinate 0 when k = 1), zero beyond N (the padding columns'
    // points), a whole uniform window on the software path
    const ypad = new Float32Array(Math.max(4 * Math.ceil((2 * N + 8) / 4), cpu ? TILE : 0));
    for (let i = 0; i < N; i++) for (let a = 0; a < k; a++) ypad[2 * i + a] = y0[i * k + a];
    const b: LoopBuffers = {
      P,
      Y: own(tensor(ypad, [ypad.length])),
      opt: own(Tensor.empty([N, 4], "f32", "tsne")),
      part: own(Tensor.empty([zvals, 4], "f32", "tsne")),
      klpart: own(Tensor.empty([zvals, 4], "f32", "tsne")),
      zpart: own(Tensor.empty([zvals], "f32", "tsne")),
      zb: own(Tensor.empty([blocks], "f32", "tsne")),
    };
    await rt.sync();
    const t1 = performance.now();

    const loop = new LoopRecorder(rt);
    owned.push(loop);
    const phases = recordPhases(loop, b, s, N, L, { chunks, zvals, zchunk, blocks });
    loop.upload();
    // KL(P || Q): the sum of the KL terms of the last KL pass
    const readKl = async () => {
      const t = await b.klpart.toArray();
      let kl = 0;
      for (let i = 0; i < t.length; i += 4) kl += t[i];
      return kl;
    };
    const embedding = async () => {
      const y = (await b.Y.toArray()) as Float32Array;
      const out = new Float32Array(N * k);
      for (let i = 0; i < N; i++) for (let a = 0; a < k; a++) out[i * k + a] = y[2 * i + a];
      return out;
    };

    for (let it = 0; it < iterations; it++) {
      const ph = phases[it < exIters ? 0 : 1];
      loop.record(ph.grad);
      const report = opts.onIteration && ((it + 1) % every === 0 || it === iterations - 1);
      // recorded before the update, so it is this iteration's objective
      if (report) loop.record(ph.kl);
      loop.record([ph.update[it === 0 || it === exIters ? 1 : 0]]);
      if (report) {
        loop.submit();
        await opts.onIteration!(it + 1, await readKl(), await embedding());
      } else if ((it + 1) % SUBMIT_EVERY === 0) loop.submit();
    }
    loop.record(phases[1].grad);
    loop.record(phases[1].kl);
    loop.submit();
    const kl = await readKl();
    const out = await embedding();
    const t2 = performance.now();
    return {
      embedding: out,
      shape: [N, k],
      kl,
      timing: { affinitiesMs: t1 - t0, iterationsMs: t2 - t1 },
    };
  } finally {
    for (const t of owned) t.dispose();
  }
}
