/**
 * Float64 host references of the losses, written as the official loops (Mugs
 * `src/loss.py`, DINO `main_dino.py`, SwAV `main_swav.py`): one term per (teacher view,
 * student view) pair, averaged by the pairing rule.
 */

/** Views are stacked view-major: row `v * B + b` of a [V*B, D] matrix. */
export function row(x: Float64Array, r: number, D: number): Float64Array {
  return x.subarray(r * D, (r + 1) * D);
}

function normalize(x: Float64Array): Float64Array {
  let s = 0;
  for (const v of x) s += v * v;
  const n = Math.max(Math.sqrt(s), 1e-12);
  return x.map((v) => v / n);
}

function dot(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
}

/** log-softmax of a vector. */
export function logSoftmax(x: ArrayLike<number>): Float64Array {
  let m = -Infinity;
  for (let i = 0; i < x.length; i++) m = Math.max(m, x[i]);
  let s = 0;
  for (let i = 0; i < x.length; i++) s += Math.exp(x[i] - m);
  const lse = m + Math.log(s);
  return Float64Array.from(x, (v) => v - lse);
}

/** Official averaging of per-pair terms: `"mugs"` large/small split or `"dino"` plain mean. */
export function average(
  terms: { v: number; loss: number }[],
  mode: "mugs" | "dino",
  globalViews = 2,
): number {
  if (mode === "dino") return terms.reduce((a, t) => a + t.loss, 0) / terms.length;
  const large = terms.filter((t) => t.v < globalViews);
  const small = terms.filter((t) => t.v >= globalViews);
  const avg = (ts: typeof terms) => ts.reduce((a, t) => a + t.loss, 0) / ts.length;
  if (!small.length) return avg(large);
  if (!large.length) return avg(small);
  return 0.5 * (avg(large) + avg(small));
}

/** Options of the InfoNCE reference. */
export interface RefInfoNCE {
  vs: number;
  vt: number;
  B: number;
  D: number;
  K: number;
  T: number;
  mode: "mugs" | "dino";
  normalize: boolean;
  /** Pair the single view with itself (`infoNCE` on one pair). */
  single?: boolean;
  scaleBy2T?: boolean;
  /** Add the teacher targets of the batch's other images (same teacher view) as negatives. */
  batch?: boolean;
}

/** Multi-crop InfoNCE with a queue: per pair, CE of `[q·k, q·queue] / T` with label 0. */
export function refInfoNCE(
  s: Float64Array,
  t: Float64Array,
  queue: Float64Array,
  o: RefInfoNCE,
): number {
  const terms: { v: number; loss: number }[] = [];
  for (let ti = 0; ti < o.vt; ti++) {
    for (let v = 0; v < o.vs; v++) {
      if (ti === v && !o.single) continue;
      let loss = 0;
      for (let b = 0; b < o.B; b++) {
        let q = row(s, v * o.B + b, o.D);
        let k = row(t, ti * o.B + b, o.D);
        if (o.normalize) {
          q = normalize(q);
          k = normalize(k);
        }
        const logits = [dot(q, k) / o.T];
        for (let j = 0; j < o.K; j++) logits.push(dot(q, row(queue, j, o.D)) / o.T);
        for (let j = 0; o.batch && j < o.B; j++) {
          const kj = row(t, ti * o.B + j, o.D);
          if (j !== b) logits.push(dot(q, o.normalize ? normalize(kj) : kj) / o.T);
        }
        loss -= logSoftmax(logits)[0];
      }
      terms.push({ v, loss: loss / o.B });
    }
  }
  return average(terms, o.mode) * (o.scaleBy2T ? 2 * o.T : 1);
}

/** Options of the group (DINO / Mugs clustering) reference. */
export interface RefGroup {
  vs: number;
  vt: number;
  B: number;
  m: number;
  studentTemp: number;
  teacherTemp: number;
  mode: "mugs" | "dino";
}

/** Teacher probabilities softmax((t - center) / T_t) per row. */
export function refTeacherProbs(
  t: Float64Array,
  center: Float64Array,
  m: number,
  temp: number,
): Float64Array {
  const out = new Float64Array(t.length);
  for (let r = 0; r < t.length / m; r++) {
    const x = Float64Array.from(row(t, r, m), (v, c) => (v - center[c]) / temp);
    const lp = logSoftmax(x);
    for (let c = 0; c < m; c++) out[r * m + c] = Math.exp(lp[c]);
  }
  return out;
}

/** Cross-entropy of per-pair teacher targets `targets(ti, b)` against student views. */
function pairCE(
  s: Float64Array,
  target: (ti: number, b: number) => ArrayLike<number>,
  o: { vs: number; vt: number; B: number; m: number; T: number; same: number[] },
): { v: number; loss: number }[] {
  const terms: { v: number; loss: number }[] = [];
  for (let ti = 0; ti < o.vt; ti++) {
    for (let v = 0; v < o.vs; v++) {
      if (o.same[ti] === v) continue;
      let loss = 0;
      for (let b = 0; b < o.B; b++) {
        const lp = logSoftmax(Float64Array.from(row(s, v * o.B + b, o.m), (x) => x / o.T));
        loss -= dot(target(ti, b), lp);
      }
      terms.push({ v, loss: loss / o.B });
    }
  }
  return terms;
}

/** The group loss for student logits, teacher logits and a centre. */
export function refGroup(
  s: Float64Array,
  t: Float64Array,
  center: Float64Array,
  o: RefGroup,
): number {
  const p = refTeacherProbs(t, center, o.m, o.teacherTemp);
  const terms = pairCE(s, (ti, b) => row(p, ti * o.B + b, o.m), {
    ...o,
    T: o.studentTemp,
    same: Array.from({ length: o.vt }, (_, i) => i),
  });
  return average(terms, o.mode);
}

/** SwAV's `distributed_sinkhorn` on one process, in float64 (no max shift). */
export function refSinkhorn(
  scores: Float64Array,
  N: number,
  K: number,
  eps: number,
  iters: number,
): Float64Array {
  // Q is K x N, stored as q[k * N + n]
  const q = new Float64Array(N * K);
  for (let n = 0; n < N; n++) {
    for (let k = 0; k < K; k++) q[k * N + n] = Math.exp(scores[n * K + k] / eps);
  }
  let sum = 0;
  for (const v of q) sum += v;
  for (let i = 0; i < q.length; i++) q[i] /= sum;
  for (let it = 0; it < iters; it++) {
    for (let k = 0; k < K; k++) {
      let r = 0;
      for (let n = 0; n < N; n++) r += q[k * N + n];
      for (let n = 0; n < N; n++) q[k * N + n] = q[k * N + n] / r / K;
    }
    for (let n = 0; n < N; n++) {
      let c = 0;
      for (let k = 0; k < K; k++) c += q[k * N + n];
      for (let k = 0; k < K; k++) q[k * N + n] = q[k * N + n] / c / N;
    }
  }
  const out = new Float64Array(N * K); // Q.t() * N
  for (let n = 0; n < N; n++) for (let k = 0; k < K; k++) out[n * K + k] = q[k * N + n] * N;
  return out;
}

/** Options of the SwAV reference. */
export interface RefSwav {
  V: number;
  B: number;
  K: number;
  T: number;
  eps: number;
  iters: number;
  assign: number[];
  mode: "mugs" | "dino";
}

/**
 * SwAV's swapped loss; the codes come from `codeScores` (a frozen copy, so finite
 * differences see them as constants, as the official `torch.no_grad()` codes).
 */
export function refSwav(scores: Float64Array, codeScores: Float64Array, o: RefSwav): number {
  const codes = o.assign.map((a) =>
    refSinkhorn(codeScores.subarray(a * o.B * o.K, (a + 1) * o.B * o.K), o.B, o.K, o.eps, o.iters)
  );
  const terms = pairCE(scores, (i, b) => row(codes[i], b, o.K), {
    vs: o.V,
    vt: o.assign.length,
    B: o.B,
    m: o.K,
    T: o.T,
    same: o.assign,
  });
  return average(terms, o.mode);
}

/** SimCLR's NT-Xent over [2B, D] rows: row i's positive is (i + B) mod 2B, itself excluded. */
export function refNtXent(z: Float64Array, n: number, D: number, T: number): number {
  const q = Array.from({ length: n }, (_, i) => normalize(row(z, i, D)));
  let loss = 0;
  for (let i = 0; i < n; i++) {
    const others: number[] = [];
    let pos = 0;
    for (let j = 0; j < n; j++) {
      if (j === i) continue;
      if (j === (i + n / 2) % n) pos = others.length;
      others.push(dot(q[i], q[j]) / T);
    }
    loss -= logSoftmax(others)[pos];
  }
  return loss / n;
}
