import { assert, assertEquals, assertRejects, gpuTest, randArray, setup } from "../helpers.ts";
import { knnClassify, knnNeighbors } from "../../lib/eval/knn.ts";
import { topkChunks } from "../../lib/tensor/ops/index.ts";
import { Generator } from "../../lib/tensor/rng.ts";
import { tensor } from "../../lib/tensor/tensor.ts";

await setup();

/** Float64 brute force: normalised rows, similarities [M, N]. */
function refSims(train: Float64Array, test: Float64Array, N: number, M: number, D: number) {
  const norm = (x: Float64Array, R: number) => {
    const y = new Float64Array(x.length);
    for (let r = 0; r < R; r++) {
      let s = 0;
      for (let d = 0; d < D; d++) s += x[r * D + d] ** 2;
      const n = Math.max(Math.sqrt(s), 1e-12);
      for (let d = 0; d < D; d++) y[r * D + d] = x[r * D + d] / n;
    }
    return y;
  };
  const a = norm(train, N);
  const b = norm(test, M);
  const sims = new Float64Array(M * N);
  for (let m = 0; m < M; m++) {
    for (let n = 0; n < N; n++) {
      let s = 0;
      for (let d = 0; d < D; d++) s += b[m * D + d] * a[n * D + d];
      sims[m * N + n] = s;
    }
  }
  return sims;
}

/** Train indices of row m, best first (similarity descending, then index ascending). */
function refOrder(sims: Float64Array, m: number, N: number): number[] {
  let rows = orders.get(sims);
  if (!rows) orders.set(sims, rows = []);
  if (!rows[m]) {
    const o = Array.from({ length: N }, (_, i) => i);
    rows[m] = o.sort((i, j) => sims[m * N + j] - sims[m * N + i] || i - j);
  }
  return rows[m];
}
const orders = new WeakMap<Float64Array, number[][]>();

/** DINO's classifier in float64, with the documented tie rules, written independently. */
function refClassify(
  sims: Float64Array,
  N: number,
  M: number,
  trainLabels: Int32Array,
  testLabels: Int32Array,
  ks: number[],
  C: number,
  T = 0.07,
): { k: number; top1: number; top5: number }[] {
  return ks.map((k) => {
    let h1 = 0;
    let h5 = 0;
    for (let m = 0; m < M; m++) {
      const votes = new Float64Array(C);
      for (const i of refOrder(sims, m, N).slice(0, k)) {
        votes[trainLabels[i]] += Math.exp(Math.fround(sims[m * N + i]) / T);
      }
      const ranked = Array.from({ length: C }, (_, c) => c).sort((a, b) =>
        votes[b] - votes[a] || a - b
      );
      const pos = ranked.indexOf(testLabels[m]);
      if (pos === 0) h1++;
      if (pos < Math.min(5, k)) h5++;
    }
    return { k, top1: (100 * h1) / M, top5: (100 * h5) / M };
  });
}

function labels(n: number, C: number, seed: number): Int32Array {
  const g = new Generator(seed);
  return Int32Array.from({ length: n }, () => g.int(C));
}

/** Check GPU neighbours against the reference; swaps allowed only between near-equal sims. */
function checkNeighbours(
  got: { similarities: Float32Array; indices: Int32Array },
  sims: Float64Array,
  N: number,
  M: number,
  k: number,
  tol = 1e-5,
): void {
  for (let m = 0; m < M; m++) {
    const want = refOrder(sims, m, N);
    const seen = new Set<number>();
    for (let j = 0; j < k; j++) {
      const gi = got.indices[m * k + j];
      assert(gi >= 0 && gi < N && !seen.has(gi), `row ${m} pos ${j}: bad or repeated index ${gi}`);
      seen.add(gi);
      const gs = got.similarities[m * k + j];
      const ws = sims[m * N + want[j]];
      assert(Math.abs(gs - ws) <= tol, `row ${m} pos ${j}: sim ${gs}, want ${ws}`);
      assert(
        Math.abs(sims[m * N + gi] - gs) <= tol,
        `row ${m} pos ${j}: index ${gi} has sim ${sims[m * N + gi]}, reported ${gs}`,
      );
      if (gi !== want[j]) {
        assert(
          Math.abs(sims[m * N + gi] - ws) <= tol,
          `row ${m} pos ${j}: index ${gi}, want ${want[j]} (no near-tie)`,
        );
      }
    }
  }
}

Deno.test("knn: neighbours and accuracies match a float64 brute force", gpuTest, async () => {
  const [N, M, D, C] = [257, 50, 13, 7];
  const train = randArray(N * D, 1);
  const test = randArray(M * D, 2);
  const trainLabels = labels(N, C, 3);
  const testLabels = labels(M, C, 4);
  const sims = refSims(train, test, N, M, D);
  const tr = tensor(Float32Array.from(train), [N, D]);
  const te = tensor(Float32Array.from(test), [M, D]);
  const ks = [1, 10, 64, 65, 100, 200];
  for (const k of [...ks, 256]) {
    checkNeighbours(await knnNeighbors(tr, te, k), sims, N, M, k);
  }
  const got = await knnClassify({
    trainFeatures: tr,
    trainLabels,
    testFeatures: te,
    testLabels,
    ks,
  });
  const want = refClassify(sims, N, M, trainLabels, testLabels, ks, C);
  for (let i = 0; i < ks.length; i++) {
    assertEquals(got[i].k, want[i].k, "k");
    assert(
      Math.abs(got[i].top1 - want[i].top1) < 1e-9,
      `k=${ks[i]} top1 ${got[i].top1} vs ${want[i].top1}`,
    );
    assert(
      Math.abs(got[i].top5 - want[i].top5) < 1e-9,
      `k=${ks[i]} top5 ${got[i].top5} vs ${want[i].top5}`,
    );
  }
  // small test-row chunks give the same answer
  const base = await knnNeighbors(tr, te, 200, { chunk: 7 });
  checkNeighbours(base, sims, N, M, 200);
  // results for unsorted, repeated ks come back in the given order
  const again = await knnClassify({
    trainFeatures: tr,
    trainLabels,
    testFeatures: te,
    testLabels,
    ks: [65, 1, 65],
    chunk: 9,
  });
  assertEquals(again, [got[3], got[0], got[3]], "ks order");
  tr.dispose();
  te.dispose();
});

Deno.test("knn: exact ties go to the lower train index and the lower class", gpuTest, async () => {
  // train: e0 three times (labels 2, 0, 1), e1 (label 3), e2 (label 1)
  const D = 3;
  const train = tensor(new Float32Array([1, 0, 0, 1, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1]), [5, D]);
  const trainLabels = new Int32Array([2, 0, 1, 3, 1]);
  // test 0: e0 (3 tied nearest); test 1: e1 + e2 (the last two tie at 1/sqrt 2)
  const test = tensor(new Float32Array([2, 0, 0, 0, 3, 3]), [2, D]);
  const nb = await knnNeighbors(train, test, 5);
  assertEquals(Array.from(nb.indices), [0, 1, 2, 3, 4, 3, 4, 0, 1, 2], "tie order");
  const run = (testLabels: number[], ks: number[]) =>
    knnClassify({
      trainFeatures: train,
      trainLabels,
      testFeatures: test,
      testLabels: new Int32Array(testLabels),
      ks,
      numClasses: 6,
    });
  // k = 1: test 0 takes train 0 (class 2); test 1 takes train 3 (class 3)
  assertEquals(await run([2, 3], [1]), [{ k: 1, top1: 100, top5: 100 }], "k=1");
  // k = 2: test 0 has classes 2 and 0 tied -> predicts 0; test 1 has classes 3 and 1
  // tied -> predicts 1 (the lower class); both labels are within min(5, k) = 2
  assertEquals(await run([0, 1], [2]), [{ k: 2, top1: 100, top5: 100 }], "k=2 lower class");
  assertEquals(await run([2, 1], [2]), [{ k: 2, top1: 50, top5: 100 }], "k=2 test 0 misses");
  assertEquals(await run([2, 3], [2]), [{ k: 2, top1: 0, top5: 100 }], "k=2 both miss");
  // k = 5: test 0 ranks classes 1 (e^(1/T) + 1), 0, 2 (tied e^(1/T)), 3 (1), then the
  // unvoted 4 and 5 by index; test 1 ranks 1, 3, 0, 2, then 4 and 5. Label 4 ranks 5th
  // (a top-5 hit), label 5 ranks 6th (a miss).
  assertEquals(await run([4, 4], [5]), [{ k: 5, top1: 0, top5: 100 }], "unvoted label 4");
  assertEquals(await run([5, 5], [5]), [{ k: 5, top1: 0, top5: 0 }], "unvoted label 5");
  assertEquals(await run([1, 1], [5]), [{ k: 5, top1: 100, top5: 100 }], "k=5 label 1");
  train.dispose();
  test.dispose();
});

Deno.test("knn: argument errors name the argument", gpuTest, async () => {
  const tr = tensor(randArray(20 * 4, 5), [20, 4]);
  const te = tensor(randArray(3 * 4, 6), [3, 4]);
  const te5 = tensor(randArray(3 * 5, 6), [3, 5]);
  const l20 = new Int32Array(20);
  const l3 = new Int32Array(3);
  const base = { trainFeatures: tr, trainLabels: l20, testFeatures: te, testLabels: l3, ks: [5] };
  await assertRejects(() => knnClassify({ ...base, ks: [21] }), "exceeds the 20 train rows");
  await assertRejects(() => knnNeighbors(tr, te, 21), "k = 21 exceeds the 20 train rows");
  await assertRejects(() => knnClassify({ ...base, ks: [0] }), "ks[0] must be a positive integer");
  await assertRejects(() => knnClassify({ ...base, ks: [] }), "ks must be a non-empty array");
  const big = tensor(randArray(300 * 4, 7), [300, 4]);
  await assertRejects(() => knnNeighbors(big, te, 257), "exceeds the supported maximum 256");
  await assertRejects(
    () => knnClassify({ ...base, testFeatures: te5 }),
    "differ in feature dimension",
  );
  await assertRejects(
    () => knnClassify({ ...base, trainLabels: new Int32Array(19) }),
    "trainLabels has 19 labels but trainFeatures has 20 rows",
  );
  await assertRejects(
    () => knnClassify({ ...base, testLabels: new Int32Array([0, 1, -1]) }),
    "testLabels[2] = -1",
  );
  await assertRejects(
    () => knnClassify({ ...base, testLabels: new Int32Array([0, 1, 4]), numClasses: 4 }),
    "testLabels[2] = 4 is outside [0, 4)",
  );
  await assertRejects(
    () => knnClassify({ ...base, trainLabels: [0] as unknown as Int32Array }),
    "trainLabels must be an Int32Array",
  );
  await assertRejects(() => knnClassify({ ...base, temperature: 0 }), "temperature");
  await assertRejects(() => knnClassify({ ...base, chunk: 0 }), "chunk must be an integer >= 1");
  await assertRejects(
    () => knnClassify({ ...base, trainFeatures: tr.reshape(80) }),
    "trainFeatures must be a 2-D f32 tensor",
  );
  const i32 = tensor(new Int32Array(12), [3, 4]);
  await assertRejects(() => knnNeighbors(tr, i32, 1), "testFeatures must be a 2-D f32 tensor");
  for (const t of [tr, te, te5, big, i32]) t.dispose();
});

Deno.test("knn: an ascending row (every element enters the heap) at k = 256", gpuTest, async () => {
  // sim of train row i with every test row is -0.9 + 1.8 i / N: strictly ascending
  const [N, M] = [10000, 300];
  const train = new Float32Array(N * 2);
  for (let i = 0; i < N; i++) {
    const s = -0.9 + (1.8 * i) / N;
    train[2 * i] = s;
    train[2 * i + 1] = Math.sqrt(1 - s * s);
  }
  const test = new Float32Array(M * 2);
  for (let m = 0; m < M; m++) test[2 * m] = 1 + m; // all along e0
  const tr = tensor(train, [N, 2]);
  const te = tensor(test, [M, 2]);
  const K = 256;
  assert(topkChunks(M, N, K, 256).chunks >= 2, "a row is split into chunks, then merged");
  const { indices } = await knnNeighbors(tr, te, K);
  for (let m = 0; m < M; m++) {
    for (let j = 0; j < K; j++) {
      if (indices[m * K + j] !== N - 1 - j) {
        throw new Error(`row ${m} pos ${j}: index ${indices[m * K + j]}, want ${N - 1 - j}`);
      }
    }
  }
  tr.dispose();
  te.dispose();
});

Deno.test("knn: N=10000, M=500, D=64 with exact (tied) similarities", gpuTest, async () => {
  // entries +-1 in D = 64: normalised entries +-1/8, similarities exact multiples of 1/64,
  // so float32 and float64 agree exactly and ties are everywhere
  const [N, M, D, C] = [10000, 500, 64, 10];
  const sign = (n: number, seed: number) => {
    const g = new Generator(seed);
    return Float64Array.from({ length: n }, () => (g.uniform() < 0.5 ? -1 : 1));
  };
  const train = sign(N * D, 11);
  const test = sign(M * D, 12);
  const trainLabels = labels(N, C, 13);
  const testLabels = labels(M, C, 14);
  const sims = refSims(train, test, N, M, D);
  const tr = tensor(Float32Array.from(train), [N, D]);
  const te = tensor(Float32Array.from(test), [M, D]);
  const nb = await knnNeighbors(tr, te, 200);
  for (let m = 0; m < M; m++) {
    const want = refOrder(sims, m, N);
    for (let j = 0; j < 200; j++) {
      const gi = nb.indices[m * 200 + j];
      if (gi !== want[j] || nb.similarities[m * 200 + j] !== sims[m * N + want[j]]) {
        throw new Error(`row ${m} pos ${j}: index ${gi}, want ${want[j]}`);
      }
    }
  }
  const ks = [10, 20, 100, 200];
  const got = await knnClassify({
    trainFeatures: tr,
    trainLabels,
    testFeatures: te,
    testLabels,
    chunk: 128,
  });
  const want = refClassify(sims, N, M, trainLabels, testLabels, ks, C);
  for (let i = 0; i < ks.length; i++) {
    assert(
      Math.abs(got[i].top1 - want[i].top1) < 1e-9,
      `k=${ks[i]} top1 ${got[i].top1} vs ${want[i].top1}`,
    );
    assert(
      Math.abs(got[i].top5 - want[i].top5) < 1e-9,
      `k=${ks[i]} top5 ${got[i].top5} vs ${want[i].top5}`,
    );
  }
  tr.dispose();
  te.dispose();
});
