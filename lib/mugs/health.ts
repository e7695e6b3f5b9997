/**
 * Collapse signals for self-supervised training, logged per epoch next to the k-NN
 * accuracy (issue 5, `metrics.jsonl`):
 *
 * - Teacher output entropy (DINO's group head): the mean per-row entropy `H(p_i)` of the
 *   teacher distributions, its maximum `log m`, the mean KL from uniform
 *   (`log m - H(p_i)`, averaged), and the entropy of the batch-mean distribution
 *   `H(mean_i p_i)`. The two DINO collapse modes read off directly: every row on one
 *   prototype gives `batchMeanEntropy ~ 0`; uniform outputs give `teacherEntropy ~ log m`
 *   (`teacherKLFromUniform ~ 0`). Healthy training has a low per-row entropy and a high
 *   batch-mean entropy.
 * - Feature spread: the mean over dimensions of the per-dimension std over the batch of
 *   the L2-normalised features (SimSiam's collapse signal, `torch.std` semantics, i.e.
 *   unbiased): about `1/sqrt(D)` when features are spread isotropically on the sphere, 0
 *   when every row is the same.
 * - Effective rank (Roy & Vetterli 2007): `exp(-sum_k q_k log q_k)` with
 *   `q_k = s_k / sum_j s_j` over the singular values `s_k` of the centred feature batch;
 *   `D` for isotropic features, `r` for features spread equally over `r` directions, 1 for
 *   a line and 0 when the batch collapsed to one point.
 *
 * The heavy parts run on the GPU with existing ops (softmax, log-softmax, sums, variance,
 * one matmul for the Gram or covariance matrix); only scalars, the [m] batch-mean
 * distribution and the k x k matrix (k = min(N, D)) come back, and the eigenvalues are
 * found on the host in float64 by a cyclic Jacobi solver (`jacobiEigen`).
 */
import { type Tensor } from "../tensor/tensor.ts";
import { tidy } from "../tensor/scope.ts";
import { noGrad } from "../tensor/tape.ts";
import { concat } from "../tensor/ops/shape.ts";

/** The largest `min(N, D)` the effective rank accepts: the host Jacobi solver is O(k^3). */
export const MAX_RANK_DIM = 512;

/** Float32 machine epsilon (2^-23). */
const EPS32 = 2 ** -23;

/**
 * Inputs of `healthSignals`; either part may be left out.
 *
 * @example
 * ```ts
 * const input: HealthInput = { teacherLogits, teacherTemperature: 0.04, teacherCenter: center };
 * ```
 */
export interface HealthInput {
  /**
   * Teacher logits [N, m]: by default already centred and divided by the teacher
   * temperature (so `softmax` of a row is the teacher distribution), else raw logits with
   * `teacherCenter` and/or `teacherTemperature` given.
   */
  teacherLogits?: Tensor;
  /** Teacher temperature (finite, > 0): the logits are divided by it after centring. */
  teacherTemperature?: number;
  /** Teacher centre, [m] or [1, m], subtracted from the logits before the temperature. */
  teacherCenter?: Tensor;
  /** A feature batch [N, D] (for example backbone CLS tokens or head embeddings). */
  features?: Tensor;
  /**
   * Eigenvalues of the centred Gram/covariance matrix at or below
   * `rankRtol * max eigenvalue` count as 0 (float32 rounding of the GPU matmul).
   * Default `max(N, D) * 2^-23`, numpy's `matrix_rank` tolerance applied to the
   * squared singular values. Independently, eigenvalues under
   * `||X||_F^2 * (max(N, D) * 2^-23)^2` (float32 residue of centring) always count as 0.
   */
  rankRtol?: number;
}

/**
 * Collapse signals (entropies in nats). Teacher fields are present when `teacherLogits`
 * was given, feature fields when `features` was given.
 *
 * @example
 * ```ts
 * const h: HealthSignals = await healthSignals({ features });
 * console.log(h.featureStd, h.effectiveRank);
 * ```
 */
export interface HealthSignals {
  /** Mean over rows of the entropy of the teacher distribution, `mean_i H(p_i)`. */
  teacherEntropy?: number;
  /** `log m`, the entropy of the uniform distribution over the m prototypes. */
  teacherEntropyMax?: number;
  /** Mean over rows of `KL(p_i || uniform) = log m - H(p_i)`; 0 for uniform outputs. */
  teacherKLFromUniform?: number;
  /** Entropy of the batch-mean teacher distribution `H(mean_i p_i)`; ~0 on one prototype. */
  batchMeanEntropy?: number;
  /** Mean over dims of the (unbiased) std over the batch of L2-normalised features. */
  featureStd?: number;
  /** `1/sqrt(D)`: `featureStd` of features spread isotropically on the sphere. */
  featureStdIsotropic?: number;
  /** Effective rank of the centred feature batch (0 for a batch collapsed to a point). */
  effectiveRank?: number;
  /** `min(N - 1, D)`: the largest effective rank a centred batch of N rows can have. */
  effectiveRankMax?: number;
}

function check2d(what: string, t: Tensor): [number, number] {
  if (t.ndim !== 2) {
    throw new Error(
      `healthSignals: ${what} must be [N, ${what === "features" ? "D" : "m"}], got [${t.shape}]`,
    );
  }
  if (t.dtype !== "f32") throw new Error(`healthSignals: ${what} must be f32, got ${t.dtype}`);
  return [t.shape[0], t.shape[1]];
}

/**
 * Collapse signals of a teacher output batch and/or a feature batch (see the module doc
 * for the definitions). Records no tape, releases every intermediate tensor, and reads
 * back only scalars, the [m] batch-mean distribution and one min(N, D)^2 matrix.
 *
 * @example
 * ```ts
 * const h = await healthSignals({
 *   teacherLogits: logits, teacherTemperature: 0.04, teacherCenter: center, // [N, m], [m]
 *   features: cls, // [N, D]
 * });
 * log.epoch({ epoch, ...h });
 * ```
 */
export async function healthSignals(input: HealthInput): Promise<HealthSignals> {
  const out: HealthSignals = {};
  const { teacherLogits, teacherTemperature: temp, teacherCenter: center, features } = input;
  if (!teacherLogits && !features) {
    throw new Error("healthSignals: give teacherLogits and/or features");
  }
  if ((temp !== undefined || center) && !teacherLogits) {
    throw new Error("healthSignals: teacherTemperature/teacherCenter need teacherLogits");
  }
  if (teacherLogits) {
    const [, m] = check2d("teacherLogits", teacherLogits);
    if (temp !== undefined && !(Number.isFinite(temp) && temp > 0)) {
      throw new Error(`healthSignals: teacherTemperature must be finite and > 0, got ${temp}`);
    }
    if (center && !(center.size === m && (center.ndim === 1 || center.ndim === 2))) {
      throw new Error(
        `healthSignals: teacherCenter must be [${m}] or [1, ${m}], got [${center.shape}]`,
      );
    }
    const readT = noGrad(() =>
      tidy(() => {
        let z = teacherLogits;
        if (center) z = z.sub(center.reshape([1, m]));
        if (temp !== undefined) z = z.div(temp);
        const p = z.softmax();
        const h = p.mul(z.logSoftmax()).sum(1).mean().neg().reshape([1]);
        return concat([h, p.mean(0)], 0); // [1 + m]: mean entropy, then the mean distribution
      })
    );
    let read: Float32Array;
    try {
      read = (await readT.toArray()) as Float32Array;
    } finally {
      readT.dispose();
    }
    const h = read[0];
    const pbar = read.subarray(1);
    const logm = Math.log(m);
    out.teacherEntropy = h;
    out.teacherEntropyMax = logm;
    out.teacherKLFromUniform = logm - h;
    out.batchMeanEntropy = entropy(pbar);
  }
  if (features) {
    const [n, d] = check2d("features", features);
    if (n < 2) {
      throw new Error(`healthSignals: features need at least 2 rows, got [${features.shape}]`);
    }
    const k = Math.min(n, d);
    if (k > MAX_RANK_DIM) {
      throw new Error(
        `healthSignals: min(N, D) = ${k} is over ${MAX_RANK_DIM} for the effective rank ` +
          `(features [${features.shape}]); pass at most ${MAX_RANK_DIM} rows`,
      );
    }
    const rtol = input.rankRtol ?? Math.max(n, d) * EPS32;
    if (!(Number.isFinite(rtol) && rtol >= 0)) {
      throw new Error(`healthSignals: rankRtol must be finite and >= 0, got ${rtol}`);
    }
    const [statsT, gramT] = noGrad(() =>
      tidy(() => {
        const std = features.l2normalize().var(0, false, 1).sqrt().mean().reshape([1]);
        const energy = features.mul(features).sum().reshape([1]);
        const xc = features.sub(features.mean(0, true));
        // The nonzero eigenvalues of Xc Xc^T and Xc^T Xc agree: take the smaller one.
        const gram = n <= d ? xc.matmul(xc, { transB: true }) : xc.matmul(xc, { transA: true });
        return [concat([std, energy], 0), gram];
      })
    );
    let stats: Float32Array;
    let gram: Float32Array;
    try {
      stats = (await statsT.toArray()) as Float32Array;
      gram = (await gramT.toArray()) as Float32Array;
    } finally {
      statsT.dispose();
      gramT.dispose();
    }
    out.featureStd = stats[0];
    out.featureStdIsotropic = 1 / Math.sqrt(d);
    // Centring in float32 leaves rounding residue of about eps * |x| per entry, so a batch
    // collapsed to one point still has a tiny nonzero Gram matrix: eigenvalues under
    // ||X||_F^2 * (max(N, D) * eps)^2 are that residue, not spread.
    const atol = stats[1] * (Math.max(n, d) * EPS32) ** 2;
    out.effectiveRank = effectiveRankFromGram(gram, k, { rtol, atol });
    out.effectiveRankMax = Math.min(n - 1, d);
  }
  return out;
}

/** Entropy in nats of a non-negative vector, renormalised to sum 1 in float64. */
function entropy(p: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < p.length; i++) s += Math.max(0, p[i]);
  if (!(s > 0)) return NaN;
  let h = 0;
  for (let i = 0; i < p.length; i++) {
    const q = Math.max(0, p[i]) / s;
    if (q > 0) h -= q * Math.log(q);
  }
  return h;
}

/**
 * Effective rank from a k x k Gram (or covariance) matrix `G = Xc^T Xc` (row-major, any
 * float array, symmetrised here): its eigenvalues are the squared singular values of `Xc`.
 * Eigenvalues at or below `max(rtol * largest, atol)` count as 0; when all do (a zero
 * matrix) the effective rank is 0.
 *
 * @example
 * ```ts
 * effectiveRankFromGram(new Float64Array([2, 0, 0, 2]), 2); // 2
 * ```
 */
export function effectiveRankFromGram(
  gram: ArrayLike<number>,
  k: number,
  tol: { rtol?: number; atol?: number } = {},
): number {
  if (gram.length !== k * k) {
    throw new Error(`effectiveRankFromGram: ${gram.length} values are not a ${k} x ${k} matrix`);
  }
  const a = new Float64Array(k * k);
  for (let i = 0; i < k; i++) {
    for (let j = 0; j < k; j++) a[i * k + j] = 0.5 * (gram[i * k + j] + gram[j * k + i]);
  }
  for (let i = 0; i < a.length; i++) {
    if (!Number.isFinite(a[i])) return NaN;
  }
  const { values } = jacobiEigen(a, k);
  const cut = Math.max((tol.rtol ?? 0) * values[0], tol.atol ?? 0);
  if (!(values[0] > cut)) return 0;
  const s = Array.from(values, (l) => (l > cut ? Math.sqrt(l) : 0));
  return Math.exp(entropy(s));
}

/**
 * Result of `jacobiEigen`.
 *
 * @example
 * ```ts
 * const { values, vectors }: EigenResult = jacobiEigen([[2, 1], [1, 2]], 2, { vectors: true });
 * ```
 */
export interface EigenResult {
  /** Eigenvalues, largest first. */
  values: Float64Array;
  /** When asked for: n x n row-major, column `j` is the unit eigenvector of `values[j]`. */
  vectors?: Float64Array;
  /** Jacobi sweeps used. */
  sweeps: number;
}

/**
 * Eigen-decomposition of a real symmetric n x n matrix in float64 by the cyclic Jacobi
 * method (Numerical Recipes' `jacobi`, with threshold sweeps and underflow pruning).
 * Accurate to a few ulps of the largest eigenvalue; O(n^3) per sweep, usually 6-10 sweeps.
 * The input (row-major flat or nested rows) is not modified; it must be symmetric to
 * `1e-9` relative to its largest entry.
 *
 * @example
 * ```ts
 * jacobiEigen([[2, -1], [-1, 2]], 2).values; // Float64Array [3, 1]
 * ```
 */
export function jacobiEigen(
  matrix: ArrayLike<number> | number[][],
  n: number,
  opts: { vectors?: boolean; maxSweeps?: number } = {},
): EigenResult {
  if (!Number.isInteger(n) || n < 1) {
    throw new Error(`jacobiEigen: n must be an integer >= 1, got ${n}`);
  }
  const rows = Array.isArray(matrix) && Array.isArray(matrix[0]);
  const a = new Float64Array(n * n);
  if (rows) {
    const m = matrix as number[][];
    if (m.length !== n || m.some((r) => !Array.isArray(r) || r.length !== n)) {
      throw new Error(`jacobiEigen: the rows are not a ${n} x ${n} matrix`);
    }
    for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) a[i * n + j] = m[i][j];
  } else {
    const m = matrix as ArrayLike<number>;
    if (m.length !== n * n) {
      throw new Error(`jacobiEigen: ${m.length} values are not a ${n} x ${n} matrix`);
    }
    for (let i = 0; i < n * n; i++) a[i] = m[i];
  }
  let scale = 0;
  for (let i = 0; i < n * n; i++) {
    if (!Number.isFinite(a[i])) throw new Error(`jacobiEigen: entry ${i} is ${a[i]}`);
    scale = Math.max(scale, Math.abs(a[i]));
  }
  for (let i = 0; i < n; i++) {
    for (let j = i + 1; j < n; j++) {
      if (Math.abs(a[i * n + j] - a[j * n + i]) > 1e-9 * scale) {
        throw new Error(
          `jacobiEigen: the matrix is not symmetric (a[${i}][${j}] = ${a[i * n + j]}, ` +
            `a[${j}][${i}] = ${a[j * n + i]})`,
        );
      }
    }
  }
  const maxSweeps = opts.maxSweeps ?? 100;
  const v = opts.vectors ? new Float64Array(n * n) : null;
  if (v) { for (let i = 0; i < n; i++) v[i * n + i] = 1; }
  const d = new Float64Array(n);
  const b = new Float64Array(n);
  const z = new Float64Array(n);
  for (let i = 0; i < n; i++) d[i] = b[i] = a[i * n + i];
  let sweeps = 0;
  let converged = false;
  for (let sweep = 1; sweep <= maxSweeps; sweep++) {
    let sm = 0;
    for (let p = 0; p < n - 1; p++) for (let q = p + 1; q < n; q++) sm += Math.abs(a[p * n + q]);
    if (sm === 0) {
      converged = true;
      break;
    }
    sweeps = sweep;
    const tresh = sweep < 4 ? (0.2 * sm) / (n * n) : 0;
    for (let p = 0; p < n - 1; p++) {
      for (let q = p + 1; q < n; q++) {
        const apq = a[p * n + q];
        const g = 100 * Math.abs(apq);
        if (
          sweep > 4 && Math.abs(d[p]) + g === Math.abs(d[p]) &&
          Math.abs(d[q]) + g === Math.abs(d[q])
        ) {
          a[p * n + q] = 0;
        } else if (Math.abs(apq) > tresh) {
          let h = d[q] - d[p];
          let t: number;
          if (Math.abs(h) + g === Math.abs(h)) t = apq / h;
          else {
            const theta = (0.5 * h) / apq;
            t = 1 / (Math.abs(theta) + Math.sqrt(1 + theta * theta));
            if (theta < 0) t = -t;
          }
          const c = 1 / Math.sqrt(1 + t * t);
          const s = t * c;
          const tau = s / (1 + c);
          h = t * apq;
          z[p] -= h;
          z[q] += h;
          d[p] -= h;
          d[q] += h;
          a[p * n + q] = 0;
          // Rotate the upper triangle: a[j][p], a[j][q] for j < p; a[p][j], a[j][q] for
          // p < j < q; a[p][j], a[q][j] for j > q.
          for (let j = 0; j < p; j++) {
            const x = a[j * n + p];
            const y = a[j * n + q];
            a[j * n + p] = x - s * (y + x * tau);
            a[j * n + q] = y + s * (x - y * tau);
          }
          for (let j = p + 1; j < q; j++) {
            const x = a[p * n + j];
            const y = a[j * n + q];
            a[p * n + j] = x - s * (y + x * tau);
            a[j * n + q] = y + s * (x - y * tau);
          }
          for (let j = q + 1; j < n; j++) {
            const x = a[p * n + j];
            const y = a[q * n + j];
            a[p * n + j] = x - s * (y + x * tau);
            a[q * n + j] = y + s * (x - y * tau);
          }
          if (v) {
            for (let j = 0; j < n; j++) {
              const x = v[j * n + p];
              const y = v[j * n + q];
              v[j * n + p] = x - s * (y + x * tau);
              v[j * n + q] = y + s * (x - y * tau);
            }
          }
        }
      }
    }
    for (let p = 0; p < n; p++) {
      b[p] += z[p];
      d[p] = b[p];
      z[p] = 0;
    }
  }
  if (!converged) {
    throw new Error(`jacobiEigen: no convergence in ${maxSweeps} sweeps (n = ${n})`);
  }
  const order = Array.from({ length: n }, (_, i) => i).sort((i, j) => d[j] - d[i]);
  const values = Float64Array.from(order, (i) => d[i]);
  if (!v) return { values, sweeps };
  const vectors = new Float64Array(n * n);
  for (let r = 0; r < n; r++) {
    for (let c = 0; c < n; c++) vectors[r * n + c] = v[r * n + order[c]];
  }
  return { values, vectors, sweeps };
}
