/**
 * Trustworthiness of an embedding, scikit-learn's `sklearn.manifold.trustworthiness`
 * (Venna & Kaski): 1 - 2 / (N k (2N - 3k - 1)) * sum over points i and over the k nearest
 * neighbours j of i in the embedding of max(0, r(i, j) - k), where r(i, j) is the rank of j
 * among i's neighbours in the input space (1 = nearest). Euclidean distances in float64 on
 * the host.
 *
 * Changes: ties are ranked by lower index, in both spaces (scikit-learn's unstable argsort
 * leaves them unspecified); ranks are counted directly (O(N^2 (D + k)), no N x N sort).
 */

function checkRows(what: string, a: unknown, n: number): number {
  if (!(a instanceof Float32Array || a instanceof Float64Array || Array.isArray(a))) {
    throw new Error(`trustworthiness: ${what} must be a Float32Array, Float64Array or array`);
  }
  const len = (a as ArrayLike<number>).length;
  if (len % n !== 0 || len === 0) {
    throw new Error(`trustworthiness: ${what} has ${len} values, not a multiple of N = ${n} rows`);
  }
  for (let i = 0; i < len; i++) {
    const v = (a as ArrayLike<number>)[i];
    if (!Number.isFinite(v)) throw new Error(`trustworthiness: ${what}[${i}] = ${v} is not finite`);
  }
  return len / n;
}

function sqDists(x: ArrayLike<number>, D: number, i: number, N: number, out: Float64Array) {
  for (let j = 0; j < N; j++) {
    let s = 0;
    for (let d = 0; d < D; d++) {
      const t = x[i * D + d] - x[j * D + d];
      s += t * t;
    }
    out[j] = s;
  }
}

/**
 * Trustworthiness in [0, 1] of `embedding` ([N, d] row-major) for the data `x` ([N, D]
 * row-major), with `nNeighbors` < N / 2 (scikit-learn's default 5). 1 means every embedding
 * neighbourhood holds only input-space neighbours.
 *
 * @example
 * ```ts
 * const t = trustworthiness(data, result.embedding, N, 10);
 * ```
 */
export function trustworthiness(
  x: ArrayLike<number>,
  embedding: ArrayLike<number>,
  N: number,
  nNeighbors = 5,
): number {
  if (!Number.isInteger(N) || N < 1) {
    throw new Error(`trustworthiness: N must be a positive integer, got ${N}`);
  }
  const D = checkRows("x", x, N);
  const d = checkRows("embedding", embedding, N);
  const k = nNeighbors;
  if (!Number.isInteger(k) || k < 1) {
    throw new Error(`trustworthiness: nNeighbors must be a positive integer, got ${k}`);
  }
  if (k >= N / 2) {
    throw new Error(`trustworthiness: nNeighbors (${k}) must be less than N / 2 (${N / 2})`);
  }
  const dx = new Float64Array(N);
  const dy = new Float64Array(N);
  const nb = new Int32Array(k);
  const nbd = new Float64Array(k);
  let t = 0;
  for (let i = 0; i < N; i++) {
    sqDists(embedding, d, i, N, dy);
    // the k nearest in the embedding (excluding i), by distance then index: insertion sort
    let size = 0;
    for (let j = 0; j < N; j++) {
      if (j === i) continue;
      const v = dy[j];
      if (size === k && !(v < nbd[k - 1])) continue; // equal: j comes later, ranks below
      let p = size < k ? size++ : k - 1;
      while (p > 0 && nbd[p - 1] > v) {
        nbd[p] = nbd[p - 1];
        nb[p] = nb[p - 1];
        p--;
      }
      nbd[p] = v;
      nb[p] = j;
    }
    sqDists(x, D, i, N, dx);
    for (let a = 0; a < k; a++) {
      const j = nb[a];
      const v = dx[j];
      // rank of j among i's input neighbours: 1 + points before it (closer, or as close and
      // of lower index)
      let r = 1;
      for (let l = 0; l < N; l++) {
        if (l === i || l === j) continue;
        if (dx[l] < v || (dx[l] === v && l < j)) r++;
      }
      if (r > k) t += r - k;
    }
  }
  return 1 - (t * 2) / (N * k * (2 * N - 3 * k - 1));
}
