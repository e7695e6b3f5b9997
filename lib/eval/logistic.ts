/**
 * Multinomial logistic regression with an L2 penalty, as scikit-learn's
 * `LogisticRegression(C=1.0, solver="lbfgs")` fits it for more than two classes (the
 * multinomial loss), and the semi-supervised read-out built on it: a logistic probe on
 * 1% and 10% of the labels, as DINO/MSN report (they fit the same model on fixed 1% / 10%
 * ImageNet subsets; see lib/eval/splits.ts for ours).
 *
 * The objective is scikit-learn's (>= 1.1) scaling of C * sum_i CE_i + 0.5 * ||W||^2:
 *
 *   f(W, b) = (1/n) sum_i CE(W x_i + b, y_i) + ||W||^2 / (2 C n)      (b not penalised)
 *
 * minimised from zero by full-batch L-BFGS (two-loop recursion, 10 pairs like scipy's
 * `maxcor`, initial scaling s'y / y'y) with a line search satisfying the strong Wolfe
 * conditions (c1 1e-4, c2 0.9; bracketing and safeguarded cubic zoom, Nocedal & Wright
 * algorithms 3.5-3.6; at most 50 evaluations like scikit-learn's `maxls`). It stops when
 * the largest gradient entry is <= `tol` (scipy's `gtol`, 1e-4 as scikit-learn's `tol`),
 * when f's relative decrease is <= `ftol` (64 * machine epsilon, as scikit-learn), or after
 * `maxIter` iterations.
 *
 * Where it runs: entirely on the host in float64. The probe reads the (frozen) feature
 * rows it needs from the GPU once; a loss and gradient cost n * D * C * 4 flops, so the
 * sizes of this kit (n up to a few thousand labelled rows, D of a few hundred, 10
 * classes) take milliseconds per evaluation, and float64 lets the solver converge to the
 * tolerance scikit-learn uses instead of stalling at float32 round-off.
 *
 * Changed from scikit-learn: `maxIter` defaults to 1000 (scikit-learn's 100 often stops
 * before its own tolerance), and the probe L2-normalises features by default (DINO's and
 * MSN's semi-supervised evaluations normalise; a scikit-learn pipeline would usually
 * standardise, which `normalize: "standardize"` does, fitted on the labelled rows). The
 * intercepts sum to zero at every iterate (the loss is invariant to a common shift and
 * every gradient keeps that sum), which is the solution scikit-learn's L-BFGS reaches too.
 */
import { Tensor } from "../tensor/tensor.ts";
import { noGrad } from "../tensor/tape.ts";
import { indexSelect } from "../tensor/ops/index.ts";
import { checkFeatures, checkLabels, labelFraction, type Labels } from "./splits.ts";
import { argmaxRows, confusionMatrix, perClassAccuracy, topkAccuracy } from "./confusion.ts";

/** Solver options of `fitLogistic`. */
export interface LogisticOptions {
  /** Inverse regularisation strength (scikit-learn's C) [1]. */
  C?: number;
  /** L-BFGS iterations at most [1000]. */
  maxIter?: number;
  /** Stop when max |gradient| of f is at most this [1e-4]. */
  tol?: number;
  /** Stop when f's relative decrease is at most this (scipy's `ftol`; 0: off) [64 * 2^-52]. */
  ftol?: number;
  /** L-BFGS correction pairs [10]. */
  history?: number;
  /** Fit intercepts (unpenalised) [true]. */
  fitIntercept?: boolean;
}

/** A fitted multinomial logistic regression. */
export interface LogisticModel {
  numClasses: number;
  dim: number;
  /** Coefficients [numClasses, dim], row-major (scikit-learn's `coef_`). */
  weight: Float64Array;
  /** Intercepts [numClasses] (zeros without `fitIntercept`). */
  bias: Float64Array;
  /** f at the solution (see the module header). */
  loss: number;
  /** max |gradient of f| at the solution. */
  gradMax: number;
  iterations: number;
  /** Loss-and-gradient evaluations. */
  evaluations: number;
  /** True when the gradient or relative-decrease test stopped the solver. */
  converged: boolean;
  /** Why the solver stopped. */
  message: string;
}

/** Training data of `logisticObjective` and `fitLogistic`: rows x [n, dim] row-major. */
export interface LogisticData {
  x: Float64Array | Float32Array;
  labels: Int32Array;
  n: number;
  dim: number;
  numClasses: number;
}

/**
 * f(theta) and its gradient for theta = [W (numClasses x dim, row-major), b (numClasses)]
 * (see the module header). Writes the gradient into `grad` and returns f.
 *
 * @example
 * ```ts
 * const f = logisticObjective(data, theta, grad, 1.0);
 * ```
 */
export function logisticObjective(
  data: LogisticData,
  theta: Float64Array,
  grad: Float64Array,
  C: number,
  fitIntercept = true,
): number {
  const { x, labels, n, dim: D, numClasses: K } = data;
  const bOff = K * D;
  grad.fill(0);
  const z = new Float64Array(K);
  let f = 0;
  for (let i = 0; i < n; i++) {
    const xo = i * D;
    let zmax = -Infinity;
    for (let c = 0; c < K; c++) {
      let s = fitIntercept ? theta[bOff + c] : 0;
      const wo = c * D;
      for (let d = 0; d < D; d++) s += theta[wo + d] * x[xo + d];
      z[c] = s;
      if (s > zmax) zmax = s;
    }
    let se = 0;
    for (let c = 0; c < K; c++) se += Math.exp(z[c] - zmax);
    const lse = zmax + Math.log(se);
    const y = labels[i];
    f += lse - z[y];
    for (let c = 0; c < K; c++) {
      const r = (Math.exp(z[c] - lse) - (c === y ? 1 : 0)) / n;
      const wo = c * D;
      for (let d = 0; d < D; d++) grad[wo + d] += r * x[xo + d];
      if (fitIntercept) grad[bOff + c] += r;
    }
  }
  f /= n;
  const reg = 1 / (C * n);
  let w2 = 0;
  for (let j = 0; j < bOff; j++) {
    w2 += theta[j] * theta[j];
    grad[j] += reg * theta[j];
  }
  return f + 0.5 * reg * w2;
}

function dot(a: Float64Array, b: Float64Array): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
}

function maxAbs(a: Float64Array): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]));
  return m;
}

/** A point of the line search: step, value, gradient, directional derivative. */
interface Probe {
  a: number;
  f: number;
  g: Float64Array;
  dg: number;
}

const C1 = 1e-4;
const C2 = 0.9;
const MAX_LS = 50;

/** Minimiser of the cubic through (a, fa, da) and (b, fb, db), or NaN. */
function cubicMin(a: number, fa: number, da: number, b: number, fb: number, db: number): number {
  const d1 = da + db - (3 * (fa - fb)) / (a - b);
  const disc = d1 * d1 - da * db;
  if (!(disc >= 0)) return NaN;
  const d2 = Math.sign(b - a) * Math.sqrt(disc);
  return b - (b - a) * ((db + d2 - d1) / (db - da + 2 * d2));
}

/**
 * A step along `dir` from `x` (value f0, slope dg0 < 0) satisfying the strong Wolfe
 * conditions, or null when none was found within MAX_LS evaluations.
 */
function lineSearch(
  evalAt: (a: number) => Probe,
  f0: number,
  dg0: number,
  a0: number,
): { best: Probe | null; evals: number } {
  let evals = 0;
  // Near the optimum, f changes less than its round-off and the Armijo test becomes a coin
  // toss; there a step also passes on the slope, Hager & Zhang's approximate Wolfe test
  // (f within round-off of f0 and f'(a) <= (2 c1 - 1) f'(0)), and values within
  // round-off of each other count as ties.
  const noise = 64 * Number.EPSILON * Math.max(Math.abs(f0), 1);
  const armijo = (p: Probe) =>
    Number.isFinite(p.f) &&
    (p.f <= f0 + C1 * p.a * dg0 || (p.f <= f0 + noise && p.dg <= (2 * C1 - 1) * dg0));
  const curvature = (p: Probe) => Math.abs(p.dg) <= -C2 * dg0;
  const zoom = (lo: Probe, hi: Probe): Probe | null => {
    while (evals < MAX_LS) {
      const width = hi.a - lo.a;
      if (Math.abs(width) <= 1e-14 * Math.max(1, Math.abs(hi.a))) break;
      let a = Number.isFinite(hi.f) ? cubicMin(lo.a, lo.f, lo.dg, hi.a, hi.f, hi.dg) : NaN;
      const l = Math.min(lo.a, hi.a) + 0.1 * Math.abs(width);
      const u = Math.max(lo.a, hi.a) - 0.1 * Math.abs(width);
      if (!(a >= l && a <= u)) a = lo.a + 0.5 * width;
      const p = evalAt(a);
      evals++;
      if (!armijo(p) || p.f > lo.f + (lo.a > 0 ? noise : 0)) {
        hi = p;
      } else {
        if (curvature(p)) return p;
        if (p.dg * width >= 0) hi = lo;
        lo = p;
      }
    }
    return lo.a > 0 ? lo : null; // lo always satisfies sufficient decrease
  };
  let prev: Probe = { a: 0, f: f0, g: new Float64Array(0), dg: dg0 };
  let a = a0;
  for (let i = 0; evals < MAX_LS; i++) {
    const p = evalAt(a);
    evals++;
    if (!armijo(p) || (i > 0 && p.f > prev.f + noise)) return { best: zoom(prev, p), evals };
    if (curvature(p)) return { best: p, evals };
    if (p.dg >= 0) return { best: zoom(p, prev), evals };
    prev = p;
    a *= 2;
  }
  return { best: prev.a > 0 ? prev : null, evals };
}

function checkPositive(op: string, what: string, v: number, integer: boolean): void {
  if (
    typeof v !== "number" || !(v > 0) || !Number.isFinite(v) || (integer && !Number.isInteger(v))
  ) {
    throw new Error(
      `${op}: ${what} must be a positive ${integer ? "integer" : "number"}, got ${v}`,
    );
  }
}

/**
 * L-BFGS's memory: the last `m` steps s = x_{k+1} - x_k and gradient changes y, with
 * rho = 1 / (s . y) (Nocedal & Wright, Algorithm 7.4).
 */
class LbfgsMemory {
  #S: Float64Array[] = [];
  #Y: Float64Array[] = [];
  #rho: number[] = [];
  #alpha: Float64Array;

  constructor(readonly P: number, readonly m: number) {
    this.#alpha = new Float64Array(m);
  }

  /** Pairs held. */
  get size(): number {
    return this.#S.length;
  }

  /** Forget every pair (the next direction is steepest descent). */
  clear(): void {
    this.#S.length = this.#Y.length = this.#rho.length = 0;
  }

  /** Write the two-loop recursion's -H g into `dir`; returns g . dir. */
  direction(g: Float64Array, dir: Float64Array): number {
    const { P } = this;
    const S = this.#S, Y = this.#Y, rho = this.#rho, alpha = this.#alpha;
    for (let i = 0; i < P; i++) dir[i] = -g[i];
    for (let j = S.length - 1; j >= 0; j--) {
      alpha[j] = rho[j] * dot(S[j], dir);
      const y = Y[j];
      for (let i = 0; i < P; i++) dir[i] -= alpha[j] * y[i];
    }
    if (S.length) {
      const k = S.length - 1;
      const gamma = 1 / (rho[k] * dot(Y[k], Y[k]));
      for (let i = 0; i < P; i++) dir[i] *= gamma;
    }
    for (let j = 0; j < S.length; j++) {
      const beta = rho[j] * dot(Y[j], dir);
      const s = S[j];
      for (let i = 0; i < P; i++) dir[i] += (alpha[j] - beta) * s[i];
    }
    return dot(g, dir);
  }

  /** Keep the step x -> xNew with gradients g -> gNew, when its curvature s . y is positive. */
  push(x: Float64Array, xNew: Float64Array, g: Float64Array, gNew: Float64Array): void {
    const s = new Float64Array(this.P);
    const y = new Float64Array(this.P);
    for (let i = 0; i < this.P; i++) {
      s[i] = xNew[i] - x[i];
      y[i] = gNew[i] - g[i];
    }
    const sy = dot(s, y);
    if (!(sy > 2.2e-16 * dot(y, y))) return;
    if (this.#S.length === this.m) {
      this.#S.shift();
      this.#Y.shift();
      this.#rho.shift();
    }
    this.#S.push(s);
    this.#Y.push(y);
    this.#rho.push(1 / sy);
  }
}

/**
 * Fit the model to host data by L-BFGS (see the module header).
 *
 * @example
 * ```ts
 * const model = fitLogistic({ x, labels, n: 100, dim: 8, numClasses: 3 }, { C: 1 });
 * model.converged; // true
 * ```
 */
export function fitLogistic(data: LogisticData, opts: LogisticOptions = {}): LogisticModel {
  const op = "fitLogistic";
  const { n, dim: D, numClasses: K } = data;
  checkPositive(op, "n", n, true);
  checkPositive(op, "dim", D, true);
  checkPositive(op, "numClasses", K, true);
  if (data.x.length !== n * D) {
    throw new Error(`${op}: x has ${data.x.length} values, want n * dim = ${n} * ${D}`);
  }
  const labels = checkLabels(op, "labels", data.labels, K, n);
  const C = opts.C ?? 1;
  const maxIter = opts.maxIter ?? 1000;
  const tol = opts.tol ?? 1e-4;
  const m = opts.history ?? 10;
  const fitIntercept = opts.fitIntercept ?? true;
  const ftol = opts.ftol ?? 64 * Number.EPSILON;
  if (!(ftol >= 0)) throw new Error(`${op}: ftol must be a number >= 0, got ${ftol}`);
  checkPositive(op, "C", C, false);
  checkPositive(op, "maxIter", maxIter, true);
  checkPositive(op, "tol", tol, false);
  checkPositive(op, "history", m, true);
  const dataChecked = { ...data, labels };
  const P = K * D + K;
  const fun = (theta: Float64Array, g: Float64Array) =>
    logisticObjective(dataChecked, theta, g, C, fitIntercept);

  let x: Float64Array = new Float64Array(P);
  let g: Float64Array = new Float64Array(P);
  let f = fun(x, g);
  let evaluations = 1;
  const memory = new LbfgsMemory(P, m);
  let iterations = 0;
  let converged = false;
  let message = `reached maxIter = ${maxIter}`;
  const dir = new Float64Array(P);
  if (!Number.isFinite(f)) throw new Error(`${op}: the loss at zero is not finite (bad features?)`);
  while (true) {
    if (maxAbs(g) <= tol) {
      converged = true;
      message = `max |gradient| <= tol (${tol})`;
      break;
    }
    if (iterations >= maxIter) break;
    let dg0 = memory.direction(g, dir);
    if (!(dg0 < 0)) {
      // not a descent direction (round-off): restart from steepest descent
      memory.clear();
      dg0 = memory.direction(g, dir);
    }
    const a0 = memory.size ? 1 : Math.min(1, 1 / Math.sqrt(dot(dir, dir)));
    const evalAt = (a: number): Probe => {
      const xt = new Float64Array(P);
      for (let i = 0; i < P; i++) xt[i] = x[i] + a * dir[i];
      const gt = new Float64Array(P);
      const ft = fun(xt, gt);
      return { a, f: ft, g: gt, dg: dot(gt, dir) };
    };
    const { best, evals } = lineSearch(evalAt, f, dg0, a0);
    evaluations += evals;
    if (!best) {
      if (memory.size) {
        memory.clear(); // retry once along the gradient
        continue;
      }
      message = "the line search found no step with sufficient decrease";
      break;
    }
    iterations++;
    const xNew = new Float64Array(P);
    for (let i = 0; i < P; i++) xNew[i] = x[i] + best.a * dir[i];
    memory.push(x, xNew, g, best.g);
    const fOld = f;
    x = xNew;
    g = best.g;
    f = best.f;
    if (ftol > 0 && fOld - f <= ftol * Math.max(Math.abs(fOld), Math.abs(f), 1)) {
      converged = true;
      message = `relative decrease of the loss <= ftol (${ftol})`;
      break;
    }
  }
  return {
    numClasses: K,
    dim: D,
    weight: x.slice(0, K * D),
    bias: x.slice(K * D),
    loss: f,
    gradMax: maxAbs(g),
    iterations,
    evaluations,
    converged,
    message,
  };
}

/**
 * Logits [rows, numClasses] of host rows x [rows, dim] under `model`, in float64.
 *
 * @example
 * ```ts
 * const pred = argmaxRows(predictLogistic(model, xTest), model.numClasses);
 * ```
 */
export function predictLogistic(
  model: LogisticModel,
  x: Float64Array | Float32Array,
): Float64Array {
  const { dim: D, numClasses: K } = model;
  if (x.length === 0 || x.length % D !== 0) {
    throw new Error(`predictLogistic: x has ${x.length} values, not a multiple of dim ${D}`);
  }
  const rows = x.length / D;
  const out = new Float64Array(rows * K);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < K; c++) {
      let s = model.bias[c];
      for (let d = 0; d < D; d++) s += model.weight[c * D + d] * x[r * D + d];
      out[r * K + c] = s;
    }
  }
  return out;
}

/** Feature preprocessing of the logistic probe. */
export type LogisticNormalize = "l2" | "standardize" | "none";

/** Options of `logisticProbe`. */
export interface LogisticProbeOptions extends LogisticOptions {
  /** Frozen train features [N, D] (f32 tensor). */
  trainFeatures: Tensor;
  trainLabels: Labels;
  /** Held-out features [M, D]. */
  testFeatures: Tensor;
  testLabels: Labels;
  numClasses: number;
  /** "l2" (default, DINO/MSN), "standardize" (StandardScaler on the labelled rows), "none". */
  normalize?: LogisticNormalize;
  /** The labelled train rows (e.g. from `labelFraction`); all rows by default. */
  trainIndices?: Int32Array | number[];
}

/** What `logisticProbe` reports (accuracies in percent). */
export interface LogisticProbeResult {
  top1: number;
  /** Present when numClasses >= 5. */
  top5?: number;
  /** Per-class accuracy on the test split (NaN for a class absent there). */
  perClass: number[];
  /** Confusion matrix on the test split, rows = true class. */
  confusion: number[][];
  /** Labelled train rows used. */
  trainSize: number;
  model: LogisticModel;
}

/** Rows `idx` of a GPU tensor (all rows without `idx`), on the host. */
async function hostRows(t: Tensor, idx?: Int32Array): Promise<Float32Array> {
  if (!idx) return await t.toArray() as Float32Array;
  const sel = noGrad(() => indexSelect(t, Array.from(idx)));
  try {
    return await sel.toArray() as Float32Array;
  } finally {
    sel.dispose();
  }
}

/** Normalise rows in float64: the train rows fix the standardisation. */
function preprocess(
  mode: LogisticNormalize,
  train: Float32Array,
  test: Float32Array,
  D: number,
): [Float64Array, Float64Array] {
  const a = Float64Array.from(train);
  const b = Float64Array.from(test);
  if (mode === "l2") {
    for (const x of [a, b]) {
      for (let o = 0; o < x.length; o += D) {
        let s = 0;
        for (let d = 0; d < D; d++) s += x[o + d] * x[o + d];
        const inv = 1 / Math.max(Math.sqrt(s), 1e-12); // F.normalize's eps
        for (let d = 0; d < D; d++) x[o + d] *= inv;
      }
    }
  } else if (mode === "standardize") {
    const n = a.length / D;
    const mean = new Float64Array(D);
    const sd = new Float64Array(D);
    for (let o = 0; o < a.length; o += D) for (let d = 0; d < D; d++) mean[d] += a[o + d] / n;
    for (let o = 0; o < a.length; o += D) {
      for (let d = 0; d < D; d++) sd[d] += (a[o + d] - mean[d]) ** 2 / n;
    }
    for (let d = 0; d < D; d++) sd[d] = sd[d] > 0 ? Math.sqrt(sd[d]) : 1; // as StandardScaler
    for (const x of [a, b]) {
      for (let o = 0; o < x.length; o += D) {
        for (let d = 0; d < D; d++) x[o + d] = (x[o + d] - mean[d]) / sd[d];
      }
    }
  } else if (mode !== "none") {
    throw new Error(`logisticProbe: normalize must be "l2", "standardize" or "none", got ${mode}`);
  }
  return [a, b];
}

interface Prepared {
  D: number;
  K: number;
  yTrain: Int32Array;
  yTest: Int32Array;
  test: Float32Array;
}

async function prepare(op: string, o: Omit<LogisticProbeOptions, "trainIndices">) {
  const tr = checkFeatures(op, "trainFeatures", o.trainFeatures);
  const te = checkFeatures(op, "testFeatures", o.testFeatures);
  if (tr.shape[1] !== te.shape[1]) {
    throw new Error(
      `${op}: trainFeatures [${tr.shape}] and testFeatures [${te.shape}] differ in feature dimension`,
    );
  }
  const K = o.numClasses;
  checkPositive(op, "numClasses", K, true);
  if (K < 2) throw new Error(`${op}: numClasses must be at least 2, got ${K}`);
  const yTrain = checkLabels(op, "trainLabels", o.trainLabels, K, tr.shape[0]);
  const yTest = checkLabels(op, "testLabels", o.testLabels, K, te.shape[0]);
  const mode = o.normalize ?? "l2";
  if (!["l2", "standardize", "none"].includes(mode)) {
    throw new Error(`${op}: normalize must be "l2", "standardize" or "none", got ${mode}`);
  }
  const test = await hostRows(te);
  return { D: tr.shape[1], K, yTrain, yTest, test } satisfies Prepared;
}

async function fitAndScore(
  o: Omit<LogisticProbeOptions, "trainIndices">,
  p: Prepared,
  idx: Int32Array,
): Promise<LogisticProbeResult> {
  const { D, K } = p;
  const all = idx.length === p.yTrain.length && idx.every((v, i) => v === i);
  const rows = await hostRows(o.trainFeatures, all ? undefined : idx);
  const [x, xt] = preprocess(o.normalize ?? "l2", rows, p.test, D);
  const labels = new Int32Array(idx.length);
  for (let i = 0; i < idx.length; i++) labels[i] = p.yTrain[idx[i]];
  const model = fitLogistic({ x, labels, n: idx.length, dim: D, numClasses: K }, o);
  const logits = predictLogistic(model, xt);
  const pred = argmaxRows(logits, K);
  const confusion = confusionMatrix(pred, p.yTest, K);
  return {
    top1: topkAccuracy(logits, p.yTest, K, 1),
    top5: K >= 5 ? topkAccuracy(logits, p.yTest, K, 5) : undefined,
    perClass: perClassAccuracy(confusion),
    confusion,
    trainSize: idx.length,
    model,
  };
}

/**
 * Fit the logistic regression on frozen train features (optionally only `trainIndices`)
 * and score it on the test split.
 *
 * @example
 * ```ts
 * const r = await logisticProbe({ trainFeatures, trainLabels, testFeatures, testLabels, numClasses: 10 });
 * console.log(r.top1, r.model.converged);
 * ```
 */
export async function logisticProbe(o: LogisticProbeOptions): Promise<LogisticProbeResult> {
  const op = "logisticProbe";
  const p = await prepare(op, o);
  const N = p.yTrain.length;
  let idx: Int32Array;
  if (o.trainIndices === undefined) idx = Int32Array.from({ length: N }, (_, i) => i);
  else {
    idx = Int32Array.from(o.trainIndices);
    if (idx.length === 0) throw new Error(`${op}: trainIndices is empty`);
    idx.forEach((v, i) => {
      if (!Number.isInteger(v) || v < 0 || v >= N) {
        throw new Error(`${op}: trainIndices[${i}] = ${v} is outside the ${N} train rows`);
      }
    });
  }
  return await fitAndScore(o, p, idx);
}

/** Options of `semiSupervisedProbe`. */
export interface SemiSupervisedOptions extends Omit<LogisticProbeOptions, "trainIndices"> {
  /** Fractions of the train labels to use [0.01, 0.1]. */
  fractions?: number[];
  /** Seed of the stratified label subsets [0]. */
  seed?: number;
}

/** One fraction's result of `semiSupervisedProbe` (accuracies in percent). */
export interface SemiSupervisedResult {
  fraction: number;
  /** Labelled train rows drawn. */
  labelled: number;
  top1: number;
  top5?: number;
  perClass: number[];
  iterations: number;
  converged: boolean;
}

/**
 * The semi-supervised read-out: for each fraction, a seeded stratified subset of the
 * train labels (`labelFraction`), a logistic probe on it, top-1 on the whole test split.
 *
 * @example
 * ```ts
 * const rs = await semiSupervisedProbe({ trainFeatures, trainLabels, testFeatures, testLabels, numClasses: 10 });
 * rs.map((r) => `${r.fraction * 100}%: ${r.top1.toFixed(1)}`);
 * ```
 */
export async function semiSupervisedProbe(
  o: SemiSupervisedOptions,
): Promise<SemiSupervisedResult[]> {
  const op = "semiSupervisedProbe";
  const fractions = o.fractions ?? [0.01, 0.1];
  if (!Array.isArray(fractions) || fractions.length === 0) {
    throw new Error(`${op}: fractions must be a non-empty list of numbers in (0, 1]`);
  }
  const p = await prepare(op, o);
  const out: SemiSupervisedResult[] = [];
  for (const fraction of fractions) {
    const idx = labelFraction(p.yTrain, fraction, o.seed ?? 0, p.K);
    const r = await fitAndScore(o, p, idx);
    out.push({
      fraction,
      labelled: idx.length,
      top1: r.top1,
      top5: r.top5,
      perClass: r.perClass,
      iterations: r.model.iterations,
      converged: r.model.converged,
    });
  }
  return out;
}
