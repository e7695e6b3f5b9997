/**
 * DINO's weighted k-NN classifier (eval_knn.py, `knn_classifier`) on WebGPU.
 *
 * Train and test features are L2-normalised; for each chunk of test rows the cosine
 * similarities to every train row are one matmul ([rows, N], so memory stays bounded
 * whatever M), and an exact top-k of each similarity row (k <= 256, the engine's `topk`)
 * keeps the best `max(ks)` neighbours, best first. Every k in `ks` is a prefix of that
 * one list, so all of them cost one pass. Each neighbour votes for its label with weight
 * exp(s / T); the classes are ranked by vote.
 *
 * Ties, deterministic: neighbours of equal similarity rank by lower train index (so the
 * top k is unique); classes of equal vote rank by lower class index, also for top-5
 * (classes without a vote rank after every voted class, by index, as zeros in DINO's
 * vote matrix do). A test row is top-5 correct when its label is among the first
 * min(5, k) ranked classes (DINO's `correct.narrow(1, 0, min(5, k))`).
 *
 * The exact top-k is the engine's `topk` (heap per chunk of a row, merged lists; exact for
 * every input order within llvmpipe's loop cap).
 *
 * Large banks: when either matrix is kept in host memory (`HostRows`, e.g. the raw pixels of
 * 60 000 images) the train rows go to the GPU in blocks (about 32 MiB each, `trainBlock`
 * rows); each block's top-k of every test row is merged on the host into the running top-k
 * (ties to the earlier block, i.e. the lower train index, so the result is the same list), so
 * GPU memory is a block, a test chunk and one similarity chunk, whatever N.
 */
import { runtime } from "../gpu/device.ts";
import { Tensor } from "../tensor/tensor.ts";
import { noGrad } from "../tensor/tape.ts";
import { matmulRaw } from "../tensor/ops/matmul.ts";
import { l2normalize } from "../tensor/ops/norm.ts";
import { topk, TOPK_MAX } from "../tensor/ops/index.ts";
import { checkFeatures } from "./splits.ts";
import { blockRows, HostRows } from "../tensor/host_rows.ts";

/**
 * Largest k the k-NN top-k supports.
 *
 * @example
 * ```ts
 * const ks = [10, 20, 100, 200].filter((k) => k <= KNN_MAX_K);
 * ```
 */
export const KNN_MAX_K = TOPK_MAX;

/** Bytes of one chunk's similarity matrix by default (and at most the binding limit). */
const SIM_BYTES = 64 << 20;

/** Options shared by `knnNeighbors` and `knnClassify`. */
export interface KnnChunking {
  /** Test rows per similarity chunk (default: a [chunk, N] matrix of about 64 MiB). */
  chunk?: number;
  /**
   * Train rows per block when the bank is read in blocks (default: about 32 MiB of
   * features). Blocks are used when either matrix is `HostRows`, or when this is set.
   */
  trainBlock?: number;
}

function intOpt(op: string, what: string, v: number | undefined, min: number): void {
  if (v !== undefined && (!Number.isInteger(v) || v < min)) {
    throw new Error(`${op}: ${what} must be an integer >= ${min}, got ${v}`);
  }
}

function checkPair(op: string, train: unknown, test: unknown): [Tensor, Tensor] {
  const a = checkFeatures(op, "trainFeatures", train);
  const b = checkFeatures(op, "testFeatures", test);
  if (a.shape[1] !== b.shape[1]) {
    throw new Error(
      `${op}: trainFeatures [${a.shape}] and testFeatures [${b.shape}] differ in feature dimension`,
    );
  }
  return [a, b];
}

function checkK(op: string, k: number, N: number, what = "k"): void {
  if (!Number.isInteger(k) || k < 1) {
    throw new Error(`${op}: ${what} must be a positive integer, got ${k}`);
  }
  if (k > KNN_MAX_K) {
    throw new Error(`${op}: ${what} = ${k} exceeds the supported maximum ${KNN_MAX_K}`);
  }
  if (k > N) throw new Error(`${op}: ${what} = ${k} exceeds the ${N} train rows (trainFeatures)`);
}

/** Test rows per chunk: the caller's, or a similarity matrix of about SIM_BYTES. */
function chunkRows(M: number, N: number, chunk: number | undefined): number {
  if (chunk !== undefined) return Math.min(chunk, M);
  const rt = runtime();
  const bytes = Math.min(SIM_BYTES, rt.device.limits.maxStorageBufferBindingSize);
  return Math.max(1, Math.min(M, Math.floor(bytes / (4 * N))));
}

/** Rows `s..e` of a matrix as a GPU tensor, and whether the caller owns (disposes) it. */
function rowsOf(t: Tensor, s: number, e: number): { t: Tensor; owned: boolean } {
  if (t instanceof HostRows) return { t: t.rows(s, e), owned: true };
  if (s === 0 && e === t.shape[0]) return { t, owned: false };
  return { t: noGrad(() => t.slice(0, s, e)), owned: true };
}

/** L2-normalised rows `s..e` (a new tensor). */
function normalisedRows(t: Tensor, s: number, e: number): Tensor {
  const r = rowsOf(t, s, e);
  try {
    return noGrad(() => l2normalize(r.t));
  } finally {
    if (r.owned) r.t.dispose();
  }
}

/**
 * Merge a block's top lists (train indices offset by the block's start, all above those
 * merged so far) into the running top-`K` lists of rows `s..s+rows`; on equal similarity the
 * earlier (lower-index) neighbour stays first.
 */
function mergeTop(
  best: { sims: Float32Array; idx: Int32Array },
  have: number,
  K: number,
  s: number,
  rows: number,
  kc: number,
  sims: Float32Array,
  idx: Int32Array,
  offset: number,
): void {
  const total = Math.min(K, have + kc);
  const ts = new Float32Array(total);
  const ti = new Int32Array(total);
  for (let r = 0; r < rows; r++) {
    const o = (s + r) * K;
    let a = 0;
    let b = 0;
    for (let j = 0; j < total; j++) {
      if (b >= kc || (a < have && best.sims[o + a] >= sims[r * kc + b])) {
        ts[j] = best.sims[o + a];
        ti[j] = best.idx[o + a++];
      } else {
        ts[j] = sims[r * kc + b];
        ti[j] = idx[r * kc + b++] + offset;
      }
    }
    best.sims.set(ts, o);
    best.idx.set(ti, o);
  }
}

/**
 * The bank in blocks: each block of train rows is uploaded (or sliced) and normalised once,
 * every chunk of test rows is compared with it, and the block's top lists are merged into the
 * running ones on the host. Yields one chunk holding every test row.
 */
async function* blockedChunks(
  train: Tensor,
  test: Tensor,
  K: number,
  o: KnnChunking,
): AsyncGenerator<{ start: number; rows: number; sims: Float32Array; idx: Int32Array }> {
  const [N, D] = train.shape;
  const [M] = test.shape;
  const block = Math.min(N, o.trainBlock ?? blockRows(D));
  const testBlock = blockRows(D);
  const rows = Math.min(chunkRows(M, block, o.chunk), testBlock);
  const best = { sims: new Float32Array(M * K), idx: new Int32Array(M * K) };
  // the test rows stay on the GPU, normalised, when they fit one block; else per chunk
  const te = M <= testBlock ? normalisedRows(test, 0, M) : null;
  try {
    for (let a = 0; a < N; a += block) {
      const b = Math.min(N, a + block);
      const kc = Math.min(K, b - a);
      const have = Math.min(K, a);
      const tr = normalisedRows(train, a, b);
      try {
        for (let s = 0; s < M; s += rows) {
          const e = Math.min(M, s + rows);
          const q = te ? (e - s === M ? te : noGrad(() => te.slice(0, s, e))) : normalisedRows(
            test,
            s,
            e,
          );
          const sim = matmulRaw(q, tr, false, true);
          if (q !== te) q.dispose();
          const { values, indices } = topk(sim, kc);
          sim.dispose();
          try {
            const sims = await values.toArray() as Float32Array;
            const idx = await indices.toArray() as Int32Array;
            mergeTop(best, have, K, s, e - s, kc, sims, idx, a);
          } finally {
            values.dispose();
            indices.dispose();
          }
        }
      } finally {
        tr.dispose();
      }
    }
  } finally {
    te?.dispose();
  }
  yield { start: 0, rows: M, sims: best.sims, idx: best.idx };
}

/**
 * For each chunk of test rows: normalise, multiply, select. Yields the chunk's first
 * row, its row count, and its top-`K` similarities and train indices [rows, K].
 */
async function* neighbourChunks(
  train: Tensor,
  test: Tensor,
  K: number,
  o: KnnChunking,
): AsyncGenerator<{ start: number; rows: number; sims: Float32Array; idx: Int32Array }> {
  if (train instanceof HostRows || test instanceof HostRows || o.trainBlock !== undefined) {
    yield* blockedChunks(train, test, K, o);
    return;
  }
  const [N] = train.shape;
  const [M] = test.shape;
  const rows = chunkRows(M, N, o.chunk);
  const tr = noGrad(() => l2normalize(train));
  const te = noGrad(() => l2normalize(test));
  try {
    for (let s = 0; s < M; s += rows) {
      const e = Math.min(M, s + rows);
      const q = e - s === M ? te : noGrad(() => te.slice(0, s, e));
      const sim = matmulRaw(q, tr, false, true);
      if (q !== te) q.dispose();
      const { values, indices } = topk(sim, K);
      sim.dispose();
      try {
        const sims = await values.toArray() as Float32Array;
        const idx = await indices.toArray() as Int32Array;
        yield { start: s, rows: e - s, sims, idx };
      } finally {
        values.dispose();
        indices.dispose();
      }
    }
  } finally {
    tr.dispose();
    te.dispose();
  }
}

/**
 * The `k` nearest train rows (cosine similarity of the L2-normalised rows) of every test
 * row, best first, ties by lower train index: `similarities` (f32) and `indices` (i32),
 * both row-major [M, k]. Exact for any k <= 256 (`KNN_MAX_K`) and k <= N.
 *
 * @example
 * ```ts
 * const { similarities, indices } = await knnNeighbors(trainFeats, testFeats, 20);
 * ```
 */
export async function knnNeighbors(
  trainFeatures: Tensor,
  testFeatures: Tensor,
  k: number,
  opts: KnnChunking = {},
): Promise<{ similarities: Float32Array; indices: Int32Array }> {
  const op = "knnNeighbors";
  const [train, test] = checkPair(op, trainFeatures, testFeatures);
  checkK(op, k, train.shape[0]);
  checkChunking(op, opts);
  const M = test.shape[0];
  const similarities = new Float32Array(M * k);
  const indices = new Int32Array(M * k);
  for await (const c of neighbourChunks(train, test, k, opts)) {
    similarities.set(c.sims, c.start * k);
    indices.set(c.idx, c.start * k);
  }
  return { similarities, indices };
}

function checkChunking(op: string, o: KnnChunking): void {
  intOpt(op, "chunk", o.chunk, 1);
  intOpt(op, "trainBlock", o.trainBlock, 1);
}

/** Arguments of `knnClassify`. */
export interface KnnClassifyOptions extends KnnChunking {
  /** Train features [N, D] (f32; normalised here); `HostRows` are read in blocks. */
  trainFeatures: Tensor;
  /** Train labels, N integers in [0, numClasses). */
  trainLabels: Int32Array;
  /** Test features [M, D] (f32; normalised here). */
  testFeatures: Tensor;
  /** Test labels, M integers in [0, numClasses). */
  testLabels: Int32Array;
  /** Neighbour counts (default DINO's [10, 20, 100, 200]); each in 1..min(N, 256). */
  ks?: number[];
  /** Temperature T of the weights exp(s / T) (default 0.07). */
  temperature?: number;
  /** Number of classes (default: the largest label + 1). */
  numClasses?: number;
}

/** Accuracy of the weighted k-NN classifier for one k, in percent (as DINO prints). */
export interface KnnResult {
  k: number;
  /** Top-1 accuracy, percent of test rows. */
  top1: number;
  /** Top-5 accuracy (label among the first min(5, k) ranked classes), percent. */
  top5: number;
}

function checkLabels(
  op: string,
  what: string,
  l: unknown,
  rows: number,
  feats: string,
): Int32Array {
  if (!(l instanceof Int32Array)) throw new Error(`${op}: ${what} must be an Int32Array`);
  if (l.length !== rows) {
    throw new Error(`${op}: ${what} has ${l.length} labels but ${feats} has ${rows} rows`);
  }
  return l;
}

/**
 * DINO's weighted k-NN classifier: top-1 and top-5 accuracy (percent) for each k in
 * `ks`, in the order given, from one top-max(ks) pass. Cosine similarity s of the
 * L2-normalised features, neighbour weights exp(s / temperature), class votes summed
 * over the k nearest; ties go to the lower train index (neighbours) and to the lower
 * class index (votes), see the module header.
 *
 * @example
 * ```ts
 * const res = await knnClassify({ trainFeatures, trainLabels, testFeatures, testLabels });
 * // [{ k: 10, top1: 71.2, top5: 93.0 }, { k: 20, ... }, ...]
 * ```
 */
export async function knnClassify(opts: KnnClassifyOptions): Promise<KnnResult[]> {
  const op = "knnClassify";
  if (opts === null || typeof opts !== "object") {
    throw new Error(`${op}: expects an options object`);
  }
  const [train, test] = checkPair(op, opts.trainFeatures, opts.testFeatures);
  const [N] = train.shape;
  const [M] = test.shape;
  const trainLabels = checkLabels(op, "trainLabels", opts.trainLabels, N, "trainFeatures");
  const testLabels = checkLabels(op, "testLabels", opts.testLabels, M, "testFeatures");
  const ks = opts.ks ?? [10, 20, 100, 200];
  if (!Array.isArray(ks) || ks.length === 0) throw new Error(`${op}: ks must be a non-empty array`);
  ks.forEach((k, i) => checkK(op, k, N, `ks[${i}]`));
  const T = opts.temperature ?? 0.07;
  if (typeof T !== "number" || !Number.isFinite(T) || T <= 0) {
    throw new Error(`${op}: temperature must be a finite number > 0, got ${T}`);
  }
  checkChunking(op, opts);
  let C = opts.numClasses;
  if (C === undefined) {
    C = 0;
    for (const l of trainLabels) C = Math.max(C, l + 1);
    for (const l of testLabels) C = Math.max(C, l + 1);
  } else intOpt(op, "numClasses", C, 1);
  for (const [what, ls] of [["trainLabels", trainLabels], ["testLabels", testLabels]] as const) {
    for (let i = 0; i < ls.length; i++) {
      if (ls[i] < 0 || ls[i] >= C) {
        throw new Error(
          `${op}: ${what}[${i}] = ${ls[i]} is outside [0, ${C}) (numClasses ${C})`,
        );
      }
    }
  }
  const K = Math.max(...ks);
  // evaluate after j + 1 neighbours for every k = j + 1 in ks
  const at = new Map<number, number[]>();
  ks.forEach((k, i) => at.set(k - 1, [...(at.get(k - 1) ?? []), i]));
  const hits1 = new Float64Array(ks.length);
  const hits5 = new Float64Array(ks.length);
  const votes = new Float64Array(C);
  const voted = new Uint8Array(C);
  const touched: number[] = [];
  for await (const c of neighbourChunks(train, test, K, opts)) {
    for (let r = 0; r < c.rows; r++) {
      const t = testLabels[c.start + r];
      for (let j = 0; j < K; j++) {
        const cls = trainLabels[c.idx[r * K + j]];
        if (!voted[cls]) {
          voted[cls] = 1;
          touched.push(cls);
        }
        votes[cls] += Math.exp(c.sims[r * K + j] / T);
        const which = at.get(j);
        if (!which) continue;
        // rank of the true class: classes with more votes, or as many and a lower index
        const vt = votes[t];
        let rank = 0;
        let below = 0;
        for (const u of touched) {
          if (votes[u] > vt || (votes[u] === vt && u < t)) rank++;
          if (u < t) below++;
        }
        if (!voted[t]) rank += t - below; // unvoted classes below t tie with it (0 votes)
        for (const i of which) {
          if (rank === 0) hits1[i]++;
          if (rank < Math.min(5, ks[i])) hits5[i]++;
        }
      }
      for (const u of touched) votes[u] = voted[u] = 0;
      touched.length = 0;
    }
  }
  return ks.map((k, i) => ({ k, top1: (100 * hits1[i]) / M, top5: (100 * hits5[i]) / M }));
}
