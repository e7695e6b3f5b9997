import {
  assert,
  assertClose,
  assertEquals,
  assertRejects,
  assertThrows,
  gpuTest,
  randArray,
  setup,
} from "../helpers.ts";
import {
  effectiveRankFromGram,
  healthSignals,
  jacobiEigen,
  MAX_RANK_DIM,
} from "../../lib/mugs/health.ts";
import { Generator } from "../../lib/tensor/rng.ts";
import { tensor } from "../../lib/tensor/tensor.ts";
import { gpuStats, sync } from "../../lib/gpu/device.ts";

await setup();

// Tolerances. Teacher entropies: float32 softmax/log-softmax and sums over m <= 300 logits,
// so absolute 2e-5 nats (+ 1e-5 relative). Feature std: float32 normalise + variance,
// absolute 1e-5. Effective rank vs the float64 reference of the same data: relative 1e-3
// (float32 centring and Gram matmul). Jacobi vs exact eigenvalues: 1e-12 relative to the
// largest |eigenvalue|.
const ENT = { atol: 2e-5, rtol: 1e-5 };
const STD = { atol: 1e-5, rtol: 0 };
const RANK = { atol: 0, rtol: 1e-3 };

// ---------------------------------------------------------------- float64 references

function refTeacher(logits: Float64Array, n: number, m: number, temp = 1, center?: Float64Array) {
  const pbar = new Float64Array(m);
  let hSum = 0;
  for (let i = 0; i < n; i++) {
    const z = Array.from({ length: m }, (_, j) => (logits[i * m + j] - (center?.[j] ?? 0)) / temp);
    const mx = Math.max(...z);
    const lse = mx + Math.log(z.reduce((a, v) => a + Math.exp(v - mx), 0));
    let h = 0;
    for (let j = 0; j < m; j++) {
      const lp = z[j] - lse;
      const p = Math.exp(lp);
      h -= p * lp;
      pbar[j] += p / n;
    }
    hSum += h;
  }
  const h = hSum / n;
  let hb = 0;
  for (const p of pbar) if (p > 0) hb -= p * Math.log(p);
  return { h, kl: Math.log(m) - h, hb };
}

function refFeatureStd(x: Float64Array, n: number, d: number): number {
  const z = new Float64Array(n * d);
  for (let i = 0; i < n; i++) {
    let s = 0;
    for (let j = 0; j < d; j++) s += x[i * d + j] ** 2;
    const r = 1 / Math.max(Math.sqrt(s), 1e-12);
    for (let j = 0; j < d; j++) z[i * d + j] = x[i * d + j] * r;
  }
  let tot = 0;
  for (let j = 0; j < d; j++) {
    let mu = 0;
    for (let i = 0; i < n; i++) mu += z[i * d + j] / n;
    let v = 0;
    for (let i = 0; i < n; i++) v += (z[i * d + j] - mu) ** 2;
    tot += Math.sqrt(v / (n - 1));
  }
  return tot / d;
}

/** Effective rank in float64: centre, D x D covariance, Jacobi, entropy of the singular values. */
function refEffectiveRank(x: Float64Array, n: number, d: number): number {
  const mu = new Float64Array(d);
  for (let i = 0; i < n; i++) for (let j = 0; j < d; j++) mu[j] += x[i * d + j] / n;
  const c = new Float64Array(d * d);
  for (let i = 0; i < n; i++) {
    for (let a = 0; a < d; a++) {
      const xa = x[i * d + a] - mu[a];
      for (let b = 0; b < d; b++) c[a * d + b] += xa * (x[i * d + b] - mu[b]);
    }
  }
  return effectiveRankFromGram(c, d, { rtol: 1e-12 });
}

function gaussian(n: number, seed: number): Float64Array {
  const g = new Generator(seed);
  return Float64Array.from({ length: n }, () => Math.fround(g.normal()));
}

/** r orthonormal vectors in R^d (Gram-Schmidt of Gaussians), as rows of an [r, d] array. */
function orthonormal(r: number, d: number, seed: number): Float64Array {
  const q = gaussian(r * d, seed);
  for (let k = 0; k < r; k++) {
    for (let l = 0; l < k; l++) {
      let dot = 0;
      for (let j = 0; j < d; j++) dot += q[k * d + j] * q[l * d + j];
      for (let j = 0; j < d; j++) q[k * d + j] -= dot * q[l * d + j];
    }
    let s = 0;
    for (let j = 0; j < d; j++) s += q[k * d + j] ** 2;
    for (let j = 0; j < d; j++) q[k * d + j] /= Math.sqrt(s);
  }
  return q;
}

function matmulHost(a: Float64Array, b: Float64Array, n: number, k: number, m: number) {
  const c = new Float64Array(n * m);
  for (let i = 0; i < n; i++) {
    for (let l = 0; l < k; l++) {
      const x = a[i * k + l];
      for (let j = 0; j < m; j++) c[i * m + j] += x * b[l * m + j];
    }
  }
  return c;
}

const f32 = (a: Float64Array) => Float64Array.from(a, Math.fround);

// ---------------------------------------------------------------- Jacobi

Deno.test("jacobiEigen: known spectra, eigenvectors and orthonormality", () => {
  const s2 = Math.SQRT2;
  const small = jacobiEigen([[2, -1, 0], [-1, 2, -1], [0, -1, 2]], 3, { vectors: true });
  assertClose(small.values, [2 + s2, 2, 2 - s2], { atol: 1e-14, rtol: 0 }, "3x3 eigenvalues");
  // The eigenvector of 2 is (1, 0, -1)/sqrt(2), up to sign.
  const v1 = [small.vectors![1], small.vectors![4], small.vectors![7]].map((x) =>
    x * Math.sign(small.vectors![1])
  );
  assertClose(v1, [1 / s2, 0, -1 / s2], { atol: 1e-14, rtol: 0 }, "3x3 eigenvector");

  // The n x n second-difference matrix: eigenvalues 2 - 2 cos(k pi / (n + 1)).
  const n = 20;
  const t = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    t[i * n + i] = 2;
    if (i > 0) t[i * n + i - 1] = t[(i - 1) * n + i] = -1;
  }
  const want = Array.from({ length: n }, (_, k) => 2 - 2 * Math.cos(((n - k) * Math.PI) / (n + 1)));
  assertClose(jacobiEigen(t, n).values, want, { atol: 4e-12, rtol: 0 }, "tridiagonal spectrum");

  // Q diag(lambda) Q^T with a random orthogonal Q and a spread of eigenvalues (one
  // negative, one repeated, one zero): values, A v = lambda v, V^T V = I.
  const k = 40;
  const q = orthonormal(k, k, 3);
  const lam = Array.from(
    { length: k },
    (_, i) => (i === 5 ? -3 : i === 6 ? 0 : i === 7 ? 10 : 10 / (i + 1)),
  );
  const a = new Float64Array(k * k);
  for (let i = 0; i < k; i++) {
    for (let j = 0; j < k; j++) {
      let s = 0;
      for (let l = 0; l < k; l++) s += q[l * k + i] * lam[l] * q[l * k + j];
      a[i * k + j] = s;
    }
  }
  for (let i = 0; i < k; i++) for (let j = 0; j < i; j++) a[i * k + j] = a[j * k + i];
  const before = a.slice();
  const r = jacobiEigen(a, k, { vectors: true });
  assertEquals(Array.from(a).join(), Array.from(before).join(), "input left unmodified");
  const sorted = [...lam].sort((x, y) => y - x);
  assertClose(r.values, sorted, { atol: 1e-12 * 10, rtol: 0 }, "40x40 eigenvalues");
  const v = r.vectors!;
  for (let c = 0; c < k; c++) {
    for (let i = 0; i < k; i++) {
      let av = 0;
      for (let j = 0; j < k; j++) av += a[i * k + j] * v[j * k + c];
      assert(Math.abs(av - r.values[c] * v[i * k + c]) < 1e-11, `A v = lambda v, column ${c}`);
    }
    for (let c2 = 0; c2 <= c; c2++) {
      let dot = 0;
      for (let i = 0; i < k; i++) dot += v[i * k + c] * v[i * k + c2];
      assert(Math.abs(dot - (c === c2 ? 1 : 0)) < 1e-12, `V^T V = I at (${c}, ${c2})`);
    }
  }
  assert(r.sweeps <= 12, `sweeps ${r.sweeps}`);

  // A diagonal matrix needs no sweep; a 1 x 1 matrix is its own eigenvalue.
  assertEquals(jacobiEigen([[1, 0], [0, 3]], 2).sweeps, 0, "diagonal sweeps");
  assertEquals(jacobiEigen([5], 1).values[0], 5, "1x1");
});

Deno.test("jacobiEigen: bad inputs", () => {
  assertThrows(() => jacobiEigen([[1, 2], [3, 4]], 2), "not symmetric");
  assertThrows(() => jacobiEigen([1, 2, 3], 2), "not a 2 x 2 matrix");
  assertThrows(() => jacobiEigen([[1, NaN], [NaN, 1]], 2), "is NaN");
  assertThrows(() => jacobiEigen([1], 0), "n must be an integer");
});

Deno.test("effectiveRankFromGram: equal singular values, tolerance, zero matrix", () => {
  assertClose([effectiveRankFromGram([2, 0, 0, 2], 2)], [2], { atol: 1e-12, rtol: 0 }, "2 equal");
  // s = (3, 1): q = (3/4, 1/4), exp(H) = exp(-(0.75 ln 0.75 + 0.25 ln 0.25)).
  const h = -(0.75 * Math.log(0.75) + 0.25 * Math.log(0.25));
  assertClose([effectiveRankFromGram([9, 0, 0, 1], 2)], [Math.exp(h)], { atol: 1e-12, rtol: 0 });
  assertEquals(effectiveRankFromGram([1, 0, 0, 1e-9], 2, { rtol: 1e-6 }), 1, "rtol cut");
  assertEquals(effectiveRankFromGram([1e-20, 0, 0, 1e-20], 2, { atol: 1e-12 }), 0, "atol cut");
  assertEquals(effectiveRankFromGram([0, 0, 0, 0], 2), 0, "zero matrix");
});

// ---------------------------------------------------------------- teacher signals

Deno.test({
  name: "healthSignals: teacher entropy, KL from uniform and batch-mean entropy vs float64",
  ...gpuTest,
  fn: async () => {
    const cases: { name: string; n: number; m: number; logits: Float64Array }[] = [];
    // Uniform: every row's entropy is log m, KL 0, batch-mean entropy log m.
    cases.push({ name: "uniform", n: 6, m: 300, logits: new Float64Array(6 * 300).fill(0.25) });
    // One-hot-ish, all rows on prototype 3: per-row and batch entropy near 0.
    const same = new Float64Array(8 * 64);
    for (let i = 0; i < 8; i++) same[i * 64 + 3] = 30;
    cases.push({ name: "one prototype", n: 8, m: 64, logits: same });
    // One-hot-ish, row i on prototype i: per-row entropy near 0, batch entropy log 8.
    const spread = new Float64Array(8 * 64);
    for (let i = 0; i < 8; i++) spread[i * 64 + i] = 30;
    cases.push({ name: "one prototype per row", n: 8, m: 64, logits: spread });
    cases.push({ name: "random", n: 13, m: 257, logits: randArray(13 * 257, 7, -4, 4) });
    for (const c of cases) {
      const t = tensor(Float32Array.from(c.logits), [c.n, c.m]);
      const got = await healthSignals({ teacherLogits: t });
      t.dispose();
      const want = refTeacher(c.logits, c.n, c.m);
      assertClose([got.teacherEntropy!], [want.h], ENT, `${c.name}: teacherEntropy`);
      assertClose([got.teacherKLFromUniform!], [want.kl], ENT, `${c.name}: KL`);
      assertClose([got.batchMeanEntropy!], [want.hb], ENT, `${c.name}: batchMeanEntropy`);
      assertEquals(got.teacherEntropyMax, Math.log(c.m), `${c.name}: log m`);
      assertEquals(got.featureStd, undefined, `${c.name}: no feature fields`);
    }
    // The closed forms the references must agree with.
    const u = refTeacher(cases[0].logits, 6, 300);
    assertClose([u.h, u.kl, u.hb], [Math.log(300), 0, Math.log(300)], { atol: 1e-12, rtol: 0 });
    const s = refTeacher(cases[2].logits, 8, 64);
    assert(s.h < 1e-8 && Math.abs(s.hb - Math.log(8)) < 1e-8, "one-hot references"); // ~63 e^-30 * 31
  },
});

Deno.test({
  name: "healthSignals: raw logits with a temperature and a centre match pre-scaled logits",
  ...gpuTest,
  fn: async () => {
    const n = 9;
    const m = 33;
    const logits = randArray(n * m, 11, -1, 1);
    const center = randArray(m, 12, -0.5, 0.5);
    const temp = 0.07;
    const t = tensor(Float32Array.from(logits), [n, m]);
    const c = tensor(Float32Array.from(center), [m]);
    const got = await healthSignals({
      teacherLogits: t,
      teacherTemperature: temp,
      teacherCenter: c,
    });
    const want = refTeacher(logits, n, m, temp, center);
    // Logits / 0.07 reach ~21: float32 rounding of the scaled logits adds ~1e-6 per term.
    const tol = { atol: 5e-5, rtol: 1e-5 };
    assertClose([got.teacherEntropy!], [want.h], tol, "teacherEntropy");
    assertClose([got.teacherKLFromUniform!], [want.kl], tol, "KL");
    assertClose([got.batchMeanEntropy!], [want.hb], tol, "batchMeanEntropy");
    t.dispose();
    c.dispose();
  },
});

// ---------------------------------------------------------------- feature signals

Deno.test({
  name: "healthSignals: isotropic features: std ~ 1/sqrt(D), effective rank ~ D",
  ...gpuTest,
  fn: async () => {
    const n = 512;
    const d = 32;
    const x = gaussian(n * d, 21);
    const t = tensor(Float32Array.from(x), [n, d]);
    const got = await healthSignals({ features: t });
    t.dispose();
    assertClose([got.featureStd!], [refFeatureStd(x, n, d)], STD, "featureStd vs float64");
    assertClose(
      [got.effectiveRank!],
      [refEffectiveRank(x, n, d)],
      RANK,
      "effective rank vs float64",
    );
    // Statistics: 5% on the std; the spread of sample singular values (N/D = 16) keeps the
    // effective rank a little under D, above 0.97 D.
    assertClose([got.featureStd!], [1 / Math.sqrt(d)], { atol: 0, rtol: 0.05 }, "std ~ 1/sqrt(D)");
    assert(got.effectiveRank! > 0.97 * d && got.effectiveRank! <= d, `rank ${got.effectiveRank}`);
    assertEquals(got.featureStdIsotropic, 1 / Math.sqrt(d), "1/sqrt(D)");
    assertEquals(got.effectiveRankMax, d, "min(N - 1, D)");
    assertEquals(got.teacherEntropy, undefined, "no teacher fields");
  },
});

Deno.test({
  name: "healthSignals: collapsed features: std 0, effective rank 0 (a point) or 1 (a line)",
  ...gpuTest,
  fn: async () => {
    const n = 64;
    const d = 24;
    const row = randArray(d, 31, -2, 2);
    const x = new Float64Array(n * d);
    for (let i = 0; i < n; i++) x.set(row, i * d);
    const t = tensor(Float32Array.from(x), [n, d]);
    const got = await healthSignals({ features: t });
    t.dispose();
    assert(got.featureStd! < 1e-6, `collapsed std ${got.featureStd}`);
    assertEquals(got.effectiveRank, 0, "effective rank of a point");

    // A line through an offset: rows c + a_i v.
    const v = orthonormal(1, d, 32);
    const a = gaussian(n, 33);
    const line = new Float64Array(n * d);
    for (let i = 0; i < n; i++) for (let j = 0; j < d; j++) line[i * d + j] = row[j] + a[i] * v[j];
    const tl = tensor(Float32Array.from(line), [n, d]);
    const gl = await healthSignals({ features: tl });
    tl.dispose();
    assertClose([gl.effectiveRank!], [1], { atol: 1e-3, rtol: 0 }, "effective rank of a line");
  },
});

Deno.test({
  name: "healthSignals: the effective rank of rank-r data is r",
  ...gpuTest,
  fn: async () => {
    const d = 48;
    // Exact: rows +-sqrt(2) v_k for r orthonormal v_k have mean 0 and r equal singular
    // values, so the effective rank is exactly r (N = 2r <= D: the Gram path), and with
    // r = D it is exactly D.
    for (const r of [5, d]) {
      const v = orthonormal(r, d, 40 + r);
      const x = new Float64Array(2 * r * d);
      for (let k = 0; k < r; k++) {
        for (let j = 0; j < d; j++) {
          x[2 * k * d + j] = v[k * d + j];
          x[(2 * k + 1) * d + j] = -v[k * d + j];
        }
      }
      const t = tensor(Float32Array.from(x), [2 * r, d]);
      const got = await healthSignals({ features: t });
      t.dispose();
      assertClose([got.effectiveRank!], [r], { atol: 0, rtol: 1e-3 }, `exact rank ${r}`);
    }
    // Random: G [N, r] Gaussian times r orthonormal rows, plus an offset (N = 256 > D: the
    // covariance path). The r singular values are close, so the effective rank is just
    // under r; the float32 noise directions are cut, so it never exceeds r by more than 1e-3.
    const n = 256;
    for (const r of [1, 7, 20]) {
      const x = f32(matmulHost(gaussian(n * r, 50 + r), orthonormal(r, d, 60 + r), n, r, d));
      for (let i = 0; i < n; i++) for (let j = 0; j < d; j++) x[i * d + j] += 0.5;
      const t = tensor(Float32Array.from(x), [n, d]);
      const got = await healthSignals({ features: t });
      t.dispose();
      const e = got.effectiveRank!;
      assert(e > 0.95 * r && e < r + 1e-3, `rank-${r} data: effective rank ${e}`);
      assertClose([e], [refEffectiveRank(x, n, d)], RANK, `rank ${r} vs float64`);
    }
  },
});

Deno.test({
  name: "healthSignals: no tape, no leaked buffers, both parts at once",
  ...gpuTest,
  fn: async () => {
    const logits = tensor(Float32Array.from(randArray(16 * 40, 70)), [16, 40], {
      requiresGrad: true,
    });
    const feats = tensor(Float32Array.from(randArray(16 * 12, 71)), [16, 12], {
      requiresGrad: true,
    });
    const input = { teacherLogits: logits, teacherTemperature: 0.1, features: feats };
    await healthSignals(input);
    await sync();
    const before = gpuStats();
    const h = await healthSignals(input);
    await sync();
    const after = gpuStats();
    assertEquals(after.inUse, before.inUse, "buffers in use");
    assertEquals(after.buffers, before.buffers, "pool buffers");
    assert(h.teacherEntropy !== undefined && h.effectiveRank !== undefined, "both parts");
    assertEquals(h.effectiveRankMax, 12, "min(N - 1, D)");
    assertEquals(logits.grad, null, "no gradient");
    logits.dispose();
    feats.dispose();
  },
});

Deno.test({
  name: "healthSignals: bad inputs name what is wrong",
  ...gpuTest,
  fn: async () => {
    const x3 = tensor(new Float32Array(8), [2, 2, 2]);
    const one = tensor(new Float32Array(4), [1, 4]);
    const l = tensor(new Float32Array(12), [3, 4]);
    const c = tensor(new Float32Array(5), [5]);
    const wide = tensor(new Float32Array((MAX_RANK_DIM + 1) * (MAX_RANK_DIM + 1)), [
      MAX_RANK_DIM + 1,
      MAX_RANK_DIM + 1,
    ]);
    await assertRejects(() => healthSignals({}), "give teacherLogits and/or features");
    await assertRejects(() => healthSignals({ features: x3 }), "features must be [N, D]");
    await assertRejects(() => healthSignals({ features: one }), "at least 2 rows");
    await assertRejects(
      () => healthSignals({ teacherLogits: l, teacherTemperature: 0 }),
      "teacherTemperature must be finite and > 0",
    );
    await assertRejects(
      () => healthSignals({ teacherLogits: l, teacherCenter: c }),
      "teacherCenter must be [4] or [1, 4]",
    );
    await assertRejects(
      () => healthSignals({ features: one, teacherTemperature: 0.1 }),
      "need teacherLogits",
    );
    await assertRejects(() => healthSignals({ features: wide }), `is over ${MAX_RANK_DIM}`);
    for (const t of [x3, one, l, c, wide]) t.dispose();
  },
});
