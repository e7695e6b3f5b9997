// Row indexing: indexSelect, scatterRows, writeRows_, writeRowsAt_, topk.
// Tolerances: gathers and row writes copy 32-bit words, so forward is exact (atol 0).
// indexSelect's backward sums float32 gradients of repeated indices (at most a few
// dozen terms in the small cases): bwd 1e-5 absolute/relative against float64 finite
// differences of a linear map. The loop-budget cases (sizes past llvmpipe's silent cap
// of ~65 535 loop iterations per invocation, LOOP_BUDGET) check the whole gradient
// bit for bit against the float32 sum in increasing position order, and against float64
// within 1e-6 per summed term. topk is compared exactly (values and indices), ties
// included.
import {
  assert,
  assertEquals,
  assertThrows,
  checkOp,
  gpuTest,
  randArray,
  setup,
} from "../helpers.ts";
import { noGrad } from "../../lib/tensor/tape.ts";
import { type Tensor, tensor } from "../../lib/tensor/tensor.ts";
import { tidy } from "../../lib/tensor/scope.ts";
import { gpuStats, sync, useKernels } from "../../lib/gpu/device.ts";
import { Generator } from "../../lib/tensor/rng.ts";
import {
  BACKWARD_SPAN,
  csrPlan,
  indexSelect,
  scatterRows,
  topk,
  topkChunks,
  topkCost,
  writeRows_,
  writeRowsAt_,
} from "../../lib/tensor/ops/index.ts";
import { LOOP_BUDGET } from "../../lib/tensor/launch.ts";

await setup();

const EXACT = { atol: 0, rtol: 0 };
const BWD = { atol: 1e-5, rtol: 1e-5 };

function randIdx(n: number, rows: number, seed: number): Float64Array {
  const g = new Generator(seed);
  return Float64Array.from({ length: n }, () => g.int(rows));
}

function gatherRef(x: Float64Array, idx: ArrayLike<number>, C: number): Float64Array {
  const out = new Float64Array(idx.length * C);
  for (let m = 0; m < idx.length; m++) {
    for (let c = 0; c < C; c++) out[m * C + c] = x[idx[m] * C + c];
  }
  return out;
}

function scatterRef(t: Float64Array, idx: ArrayLike<number>, s: Float64Array, C: number) {
  const out = Float64Array.from(t);
  for (let m = 0; m < idx.length; m++) { // in order: the last repeat wins
    for (let c = 0; c < C; c++) out[idx[m] * C + c] = s[m * C + c];
  }
  return out;
}

Deno.test({
  name: "index: indexSelect forward/backward, repeated indices, i32 and number[] indices",
  ...gpuTest,
  fn: async () => {
    // [x shape, M]
    const cases: [number[], number][] = [
      [[1], 1],
      [[1, 7], 5], // every index is 0: one row receives all gradients
      [[7, 13], 7],
      [[13, 50], 29],
      [[50, 7, 3], 64],
      [[64, 257], 13],
      [[257, 7], 300],
    ];
    for (const [shape, M] of cases) {
      const R = shape[0];
      const C = shape.slice(1).reduce((a, b) => a * b, 1);
      const idx = randIdx(M, R, R + M);
      await checkOp(`indexSelect [${shape}] with ${M} i32 indices`, {
        inputs: [{ shape }, { shape: [M], data: idx, int: true }],
        gpu: (x, i) => indexSelect(x, i),
        ref: (x, i) => gatherRef(x, i, C),
        fwd: EXACT,
        bwd: BWD,
      });
      const list = Array.from(idx);
      await checkOp(`indexSelect [${shape}] with ${M} number[] indices`, {
        inputs: [{ shape }],
        gpu: (x) => x.indexSelect(list),
        ref: (x) => gatherRef(x, list, C),
        fwd: EXACT,
        bwd: BWD,
      });
    }
  },
});

Deno.test({
  name: "index: indexSelect backward is deterministic with many repeats",
  ...gpuTest,
  fn: async () => {
    const R = 13, C = 50, M = 2000;
    const idx = randIdx(M, R, 3);
    const xs = tensor(Float32Array.from(randArray(R * C, 1)), [R, C], { requiresGrad: true });
    const it = tensor(Int32Array.from(idx), [M], { dtype: "i32" });
    const g = tensor(Float32Array.from(randArray(M * C, 2, -100, 100)), [M, C]);
    const runs: Float32Array[] = [];
    for (let k = 0; k < 3; k++) {
      const y = indexSelect(xs, it);
      y.backward(g);
      runs.push((await xs.grad!.toArray()) as Float32Array);
      xs.grad!.dispose();
      xs.grad = null;
      y.dispose();
    }
    // bit-identical, and equal to the sum in increasing position order in float32
    const want = new Float32Array(R * C);
    const gd = await g.toArray();
    for (let m = 0; m < M; m++) {
      for (let c = 0; c < C; c++) {
        want[idx[m] * C + c] = Math.fround(want[idx[m] * C + c] + gd[m * C + c]);
      }
    }
    for (const r of runs) assertEquals(Array.from(r), Array.from(want), "gradient");
    for (const t of [xs, it, g]) t.dispose();
  },
});

/**
 * indexSelect forward and backward of x [R, C] at `idx` against host references: the
 * forward exactly, the whole gradient bit for bit against the float32 sum in increasing
 * position order (the documented order) and within 1e-6 per term of the float64 sum.
 */
async function checkBigSelect(R: number, C: number, idx: Int32Array, what: string) {
  const M = idx.length;
  const xd = Float32Array.from(randArray(R * C, R + 1));
  const gd = Float32Array.from(randArray(M * C, M + 2));
  const x = tensor(xd, [R, C], { requiresGrad: true });
  const it = tensor(idx, [M], { dtype: "i32" });
  const y = indexSelect(x, it);
  const got = await y.toArray();
  for (let m = 0; m < M; m++) {
    for (let c = 0; c < C; c++) {
      if (got[m * C + c] !== xd[idx[m] * C + c]) {
        throw new Error(`${what} forward: element [${m}, ${c}]: got ${got[m * C + c]}`);
      }
    }
  }
  y.backward(tensor(gd, [M, C]));
  const dx = await x.grad!.toArray();
  const f32 = new Float32Array(R * C);
  const f64 = new Float64Array(R * C);
  const count = new Float64Array(R);
  for (let m = 0; m < M; m++) {
    count[idx[m]]++;
    for (let c = 0; c < C; c++) {
      const j = idx[m] * C + c;
      f32[j] = Math.fround(f32[j] + gd[m * C + c]);
      f64[j] += gd[m * C + c];
    }
  }
  for (let j = 0; j < R * C; j++) {
    const tol = 1e-6 * Math.max(1, count[Math.floor(j / C)]);
    if (dx[j] !== f32[j] || !(Math.abs(dx[j] - f64[j]) <= tol)) {
      throw new Error(
        `${what} gradient: element ${j} (row ${Math.floor(j / C)}, named ${
          count[Math.floor(j / C)]
        } times): got ${dx[j]}, want ${f32[j]} (float32 in order), ${f64[j]} (float64)`,
      );
    }
  }
  x.grad!.dispose();
  for (const t of [x, it, y]) t.dispose();
}

Deno.test({
  name: "index: indexSelect with R past the loop budget (FIFO memories of 65 536 rows and more)",
  ...gpuTest,
  fn: async () => {
    // R = 70 000 rows, M = 130 000 positions: every other one names row 12 345 (65 000
    // repeats: a row whose sum needs two backward passes), the rest are random rows, so
    // some rows are named several times and most not at all
    const R = 70000, M = 130000;
    const g = new Generator(5);
    const idx = Int32Array.from({ length: M }, (_, m) => (m % 2 ? g.int(R) : 12345));
    idx[1] = 0;
    idx[M - 1] = R - 1;
    assert(M / 2 > BACKWARD_SPAN, "the heavy row needs more than one backward pass");
    await checkBigSelect(R, 3, idx, `indexSelect [${R}, 3] with ${M} indices`);
    // a memory of 2^20 rows and a small batch of keys (the k-NN / MoCo use)
    const R2 = 1 << 20;
    const idx2 = Int32Array.from({ length: 3000 }, (_, m) => (m % 3 ? g.int(R2) : g.int(100)));
    await checkBigSelect(R2, 1, idx2, `indexSelect [${R2}, 1] with 3000 indices`);
    // M = 2^20 positions over few rows
    const idx3 = Int32Array.from({ length: 1 << 20 }, () => g.int(13));
    await checkBigSelect(13, 1, idx3, "indexSelect [13, 1] with 2^20 indices");
    // the CSR sort's plan: invocations visit at most 16 384 keys, digits cover 0..R
    for (const [r, m] of [[1, 1], [13, 2000], [65536, 256], [70000, 130000], [1 << 20, 1 << 20]]) {
      const pl = csrPlan(r, m);
      assert(pl.chunk <= 16384 && pl.chunk * pl.chunks >= m, `csrPlan(${r}, ${m}) chunks`);
      assert(pl.passes * pl.bits >= r.toString(2).length, `csrPlan(${r}, ${m}) digits`);
      assert(pl.bits <= 11 && (pl.chunks << pl.bits) <= 4 * m + 4096, `csrPlan(${r}, ${m}) hist`);
    }
  },
});

Deno.test({
  name: "index: indexSelect of an i32 tensor, and out-of-range indices",
  ...gpuTest,
  fn: async () => {
    const labels = tensor(Int32Array.from([5, -7, 2147483647, 9]), [4], { dtype: "i32" });
    const picked = indexSelect(labels, [2, 1, 1]);
    assertEquals(picked.dtype, "i32", "dtype");
    assertEquals(Array.from(await picked.toArray()), [2147483647, -7, -7], "values");
    // a bad index inside an i32 tensor: that row is NaN (i32 min for i32 data), never clamped
    const x = tensor([[1, 2], [3, 4], [5, 6]]);
    const bad = tensor(Int32Array.from([1, 3, -1, 0]), [4], { dtype: "i32" });
    const y = await indexSelect(x, bad).toArray();
    assertEquals(Array.from(y.slice(0, 2)), [3, 4], "row 0");
    assert(y.slice(2, 6).every(Number.isNaN), `rows 1-2 should be NaN, got ${y}`);
    assertEquals(Array.from(y.slice(6)), [1, 2], "row 3");
    const yi = await indexSelect(labels, bad).toArray();
    assertEquals(Array.from(yi), [-7, 9, -2147483648, 5], "i32 with bad indices");
    // the backward drops the bad positions (they sort after every row in the CSR table)
    const xg = tensor(Float32Array.from([1, 2, 3, 4, 5, 6]), [3, 2], { requiresGrad: true });
    const badg = tensor(Int32Array.from([1, 3, -1, 0, 1]), [5], { dtype: "i32" });
    const yg = indexSelect(xg, badg);
    yg.backward(tensor([[1, 2], [3, 4], [5, 6], [7, 8], [9, 10]]));
    assertEquals(Array.from(await xg.grad!.toArray()), [7, 8, 10, 12, 0, 0], "bad: gradient");
    for (const t of [xg.grad!, xg, badg, yg]) t.dispose();
    // host indices are checked on the host
    assertThrows(
      () => indexSelect(x, [0, 3]),
      "indexSelect: index 3 at position 1 is out of range for 3 rows (shape [3,2])",
    );
    assertThrows(() => indexSelect(x, [-1]), "indexSelect: index -1 at position 0 is out of range");
    assertThrows(() => indexSelect(x, [0.5]), "index 0.5 at position 0 is out of range");
    assertThrows(() => indexSelect(x, []), "indexSelect: indices are empty");
    assertThrows(() => indexSelect(x, x), "indexSelect: indices must be i32, got f32 tensor [3,2]");
    assertThrows(
      () => indexSelect(x, tensor(new Int32Array(4), [2, 2], { dtype: "i32" })),
      "indexSelect: indices must be 1-D, got shape [2,2]",
    );
    assertThrows(() => indexSelect(tensor(1), [0]), "indexSelect: input must have at least 1");
    for (const t of [labels, picked, x, bad]) t.dispose();
  },
});

Deno.test({
  name: "index: scatterRows forward/backward (last repeat wins)",
  ...gpuTest,
  fn: async () => {
    const cases: [number[], number][] = [
      [[1], 1],
      [[7, 13], 3],
      [[13, 50], 20], // more positions than rows: repeats
      [[64, 7, 3], 64],
      [[257, 5], 50],
    ];
    for (const [shape, M] of cases) {
      const R = shape[0];
      const C = shape.slice(1).reduce((a, b) => a * b, 1);
      const idx = randIdx(M, R, 11 * R + M);
      const srcShape = [M, ...shape.slice(1)];
      await checkOp(`scatterRows [${shape}] with ${M} rows`, {
        inputs: [{ shape }, { shape: [M], data: idx, int: true }, { shape: srcShape }],
        gpu: (t, i, s) => scatterRows(t, i, s),
        ref: (t, i, s) => scatterRef(t, i, s, C),
        fwd: EXACT,
        bwd: BWD,
      });
      const list = Array.from(idx);
      await checkOp(`scatterRows [${shape}] number[] indices, src only`, {
        inputs: [{ shape, grad: false }, { shape: srcShape }],
        gpu: (t, s) => scatterRows(t, list, s),
        ref: (t, s) => scatterRef(t, list, s, C),
        fwd: EXACT,
        bwd: BWD,
      });
    }
    // a bad index in a tensor poisons the whole output
    const t = tensor([[1, 2], [3, 4]]);
    const y = await scatterRows(t, tensor(Int32Array.from([1, 2]), [2], { dtype: "i32" }), t)
      .toArray();
    assert(y.every(Number.isNaN), `expected all NaN, got ${y}`);
    assertThrows(
      () => scatterRows(t, [0, 1, 0], t),
      "scatterRows: 3 indices but src [2,2] has 2 rows",
    );
    assertThrows(() => scatterRows(t, [2, 0], t), "scatterRows: index 2 at position 0");
    t.dispose();
  },
});

Deno.test({
  name: "index: writeRows_ is a FIFO ring write with wrap-around",
  ...gpuTest,
  fn: async () => {
    // [R, C, B, start]
    const cases: [number, number, number, number][] = [
      [1, 1, 1, 0],
      [7, 3, 4, 5], // rows 5, 6, 0, 1
      [7, 3, 7, 3], // a full lap
      [13, 50, 13, 0],
      [64, 7, 50, 60],
      [257, 13, 100, -5], // negative start: row 252
      [50, 4, 1, 1234],
    ];
    for (const [R, C, B, start] of cases) {
      const init = randArray(R * C, R);
      const src = randArray(B * C, B + 1);
      const q = tensor(Float32Array.from(init), [R, C]);
      const s = tensor(Float32Array.from(src), [B, C]);
      const ret = writeRows_(q, start, s);
      assert(ret === q, "writeRows_ returns its target");
      const want = Float64Array.from(init);
      const s0 = ((start % R) + R) % R;
      for (let b = 0; b < B; b++) {
        for (let c = 0; c < C; c++) want[((s0 + b) % R) * C + c] = src[b * C + c];
      }
      assertEquals(Array.from(await q.toArray()), Array.from(want), `R ${R} B ${B} start ${start}`);
      q.dispose();
      s.dispose();
    }
    // i32 queues (labels) and extra trailing dims
    const lq = tensor(new Int32Array(5), [5], { dtype: "i32" });
    writeRows_(lq, 3, tensor(Int32Array.from([-1, 2147483647, 7]), [3], { dtype: "i32" }));
    assertEquals(Array.from(await lq.toArray()), [7, 0, 0, -1, 2147483647], "i32 queue");
    const q3 = tensor(new Float32Array(12), [3, 2, 2]);
    writeRows_(q3, 2, tensor([[[1, 2], [3, 4]], [[5, 6], [7, 8]]]));
    assertEquals(await q3.toList(), [[[5, 6], [7, 8]], [[0, 0], [0, 0]], [[1, 2], [3, 4]]]);
    // errors
    const q = tensor(new Float32Array(8), [4, 2]);
    assertThrows(
      () => writeRows_(q, 0, tensor(new Float32Array(10), [5, 2])),
      "writeRows_: src [5,2] has 5 rows, more than the 4 of target [4,2]",
    );
    assertThrows(
      () => writeRows_(q, 0, tensor(new Float32Array(6), [2, 3])),
      "writeRows_: src rows [2,3] do not match target rows [4,2]",
    );
    assertThrows(
      () => writeRows_(q, 0, tensor(new Int32Array(2), [1, 2], { dtype: "i32" })),
      "writeRows_: src dtype i32 [1,2] differs from target f32 [4,2]",
    );
    assertThrows(() => writeRows_(q, 1.5, q.slice(0, 0, 1)), "writeRows_: start 1.5 must be an");
    assertThrows(
      () => writeRows_(q, 0, q.reshape(4, 2)),
      "writeRows_: tensor [4,2] shares storage with target [4,2]; pass a copy",
    );
    const p = tensor(new Float32Array(8), [4, 2], { requiresGrad: true });
    assertThrows(() => writeRows_(p, 0, q), "writeRows_: target [4,2] requires a gradient");
    noGrad(() => writeRows_(p, 0, q)); // allowed under noGrad, like torch.no_grad()
    for (const t of [lq, q3, q, p]) t.dispose();
  },
});

Deno.test({
  name: "index: writeRowsAt_ writes rows in place (last repeat wins)",
  ...gpuTest,
  fn: async () => {
    for (const [R, C, M] of [[1, 1, 1], [7, 13, 3], [13, 50, 30], [257, 7, 64]]) {
      const init = randArray(R * C, R);
      const src = randArray(M * C, M);
      const idx = randIdx(M, R, R * M);
      const t = tensor(Float32Array.from(init), [R, C]);
      const s = tensor(Float32Array.from(src), [M, C]);
      const it = tensor(Int32Array.from(idx), [M], { dtype: "i32" });
      writeRowsAt_(t, it, s);
      const want = scatterRef(init, idx, src, C);
      assertEquals(Array.from(await t.toArray()), Array.from(want), `R ${R} M ${M}`);
      writeRowsAt_(t, Array.from(idx).reverse(), s); // number[] form
      const rev = scatterRef(want, Array.from(idx).reverse(), src, C);
      assertEquals(Array.from(await t.toArray()), Array.from(rev), `R ${R} M ${M} number[]`);
      for (const u of [t, s, it]) u.dispose();
    }
    // a bad index in a tensor: NaN rows at every valid indices[m] and at rows m % R
    const t = tensor([[1, 2], [3, 4], [5, 6], [7, 8], [9, 10]]);
    writeRowsAt_(t, tensor(Int32Array.from([3, 9]), [2], { dtype: "i32" }), t.slice(0, 0, 2));
    const y = Array.from(await t.toArray());
    assert(y.slice(0, 4).every(Number.isNaN), `rows 0, 1 should be NaN, got ${y}`);
    assertEquals(y.slice(4, 6), [5, 6], "row 2 untouched");
    assert(y.slice(6, 8).every(Number.isNaN), `row 3 should be NaN, got ${y}`);
    assertEquals(y.slice(8), [9, 10], "row 4 untouched");
    assertThrows(
      () => writeRowsAt_(t, [0, -1], t.slice(0, 0, 2)),
      "writeRowsAt_: index -1 at position 1",
    );
    assertThrows(() => writeRowsAt_(t, [0, 1, 2, 3, 4], t), "shares storage with target");
    t.dispose();
  },
});

/** Stable top-k reference: value descending (NaN first), then index ascending. */
function topkRef(x: ArrayLike<number>, L: number, k: number) {
  const rank = (v: number) => (Number.isNaN(v) ? Infinity : v);
  const vals: number[] = [];
  const idx: number[] = [];
  for (let r = 0; r < x.length / L; r++) {
    const order = Array.from({ length: L }, (_, j) => j);
    order.sort((a, b) => {
      const va = rank(x[r * L + a]), vb = rank(x[r * L + b]);
      const nan = Number(Number.isNaN(x[r * L + b])) - Number(Number.isNaN(x[r * L + a]));
      if (nan) return nan; // NaN above +inf
      return va !== vb ? vb - va : a - b;
    });
    for (const j of order.slice(0, k)) {
      vals.push(x[r * L + j]);
      idx.push(j);
    }
  }
  return { vals, idx };
}

Deno.test({
  name: "index: topk values and indices, ties to the lower index, both strategies",
  ...gpuTest,
  fn: async () => {
    // [shape, k, quantise to few distinct values (ties)]
    const cases: [number[], number, boolean][] = [
      [[1], 1, false],
      [[7], 7, false],
      [[13, 50], 8, false],
      [[13, 50], 8, true],
      [[64, 257], 64, false],
      [[2, 3, 257], 10, true],
      [[50, 4096], 20, false],
      [[3, 65536], 64, false], // chunked
      [[2, 65536], 64, true], // chunked, ties across chunks
      [[1, 8192], 5, true],
      [[9, 300], 65, false], // the 256-entry heaps from here on
      [[5, 20000], 200, true], // chunked, ties across chunks
      [[3, 256], 256, false],
    ];
    // both chunking policies: the CPU one (256 invocations), the GPU one (16 384)
    const prev = useKernels("cpu");
    const runs = cases.flatMap(([s, k, t]) =>
      (["cpu", "gpu"] as const).map((kernels) => ({ shape: s, k, ties: t, kernels }))
    );
    for (const { shape, k, ties, kernels } of runs) {
      useKernels(kernels);
      const n = shape.reduce((a, b) => a * b, 1);
      const L = shape[shape.length - 1];
      let data = randArray(n, n + k, -1, 1);
      if (ties) data = data.map((v) => Math.round(v * 3));
      const x = tensor(Float32Array.from(data), shape);
      const { values, indices } = topk(x, k);
      assertEquals(values.shape, [...shape.slice(0, -1), k], "values shape");
      assertEquals(indices.dtype, "i32", "indices dtype");
      const want = topkRef(data, L, k);
      const what = `topk [${shape}] k ${k}${ties ? " (ties)" : ""} ${kernels} kernels`;
      assertEquals(Array.from(await indices.toArray()), want.idx, `${what} indices`);
      assertEquals(Array.from(await values.toArray()), want.vals, `${what} values`);
      for (const t of [x, values, indices]) t.dispose();
    }
    useKernels(prev);
    assertEquals(topkChunks(1, 65536, 64, 256), { chunks: 128, chunk: 512, group: 906 }, "1 row");
    assert(topkChunks(3, 65536, 64, 256).chunks > 1, "few long rows are chunked");
    assertEquals(topkChunks(4096, 4096, 8, 256).chunks, 1, "many rows: one invocation per row");
    assertEquals(topkChunks(256, 4096, 64, 256).chunks, 1, "k-NN rows fit one invocation");
    assertEquals(topkChunks(7, 100, 64, 16384).chunks, 1, "short rows are never chunked");
    // every plan fits the loop budget in the worst case, whatever the row length
    for (const k of [...Array.from({ length: 64 }, (_, i) => i + 1), 65, 100, 200, 255, 256]) {
      for (const [rows, L] of [[1, 1e7], [256, 4096], [4096, 65536], [1, 100]]) {
        for (const target of [256, 16384]) {
          const { chunk, group } = topkChunks(rows, Math.max(L, k), k, target);
          assert(topkCost(k, { scan: chunk }) <= LOOP_BUDGET, `k ${k} L ${L}: chunk ${chunk}`);
          assert(topkCost(k, { lists: group }) <= LOOP_BUDGET, `k ${k}: group ${group}`);
          assert(group >= 2, `k ${k}: a merge combines at least 2 lists`);
        }
      }
    }
  },
});

/** Assert two long lists are equal, naming the first difference (not printing them). */
function assertSameList(got: ArrayLike<number>, want: ArrayLike<number>, what: string) {
  assertEquals(got.length, want.length, `${what}: length`);
  for (let i = 0; i < want.length; i++) {
    if (!Object.is(got[i], want[i])) {
      throw new Error(`${what}: entry ${i}: got ${got[i]}, want ${want[i]}`);
    }
  }
}

Deno.test({
  name: "index: topk is exact past the loop budget (ascending rows, long rows, deep merges)",
  ...gpuTest,
  fn: async () => {
    // ascending rows make every element enter the k best: the worst case of the scan
    const prev = useKernels("cpu");
    const cases: [number, number, number, string][] = [
      [256, 4096, 64, "ascending"], // the k-NN shape
      [256, 4096, 8, "ascending"],
      [2, 100000, 64, "ascending"],
      [2, 100000, 64, "random"],
      [2, 100000, 64, "descending"],
      [300, 10000, 256, "ascending"], // the largest k: chunks of a row merged
      [2, 100000, 200, "ascending"],
    ];
    for (const [rows, L, k, order] of cases) {
      const data = new Float32Array(rows * L);
      const rnd = randArray(rows * L, L + k);
      for (let i = 0; i < data.length; i++) {
        const j = i % L;
        data[i] = order === "ascending" ? j / L : order === "descending" ? -j / L : rnd[i];
      }
      const want = topkRef(data, L, k);
      const x = tensor(data, [rows, L]);
      for (const kernels of ["cpu", "gpu"] as const) {
        useKernels(kernels);
        const { values, indices } = topk(x, k);
        const what = `topk [${rows}, ${L}] k ${k} ${order} ${kernels} kernels`;
        assertSameList(await indices.toArray(), want.idx, `${what} indices`);
        assertSameList(await values.toArray(), want.vals, `${what} values`);
        values.dispose();
        indices.dispose();
      }
      x.dispose();
    }
    // a row so long that its chunks' candidate lists take two merge levels
    const L = 6_300_000, k = 64;
    for (const kernels of ["cpu", "gpu"] as const) {
      useKernels(kernels);
      const plan = topkChunks(1, L, k);
      assert(plan.chunks > plan.group, `${kernels}: ${plan.chunks} lists need two merge levels`);
    }
    const rnd = randArray(L, 9);
    for (const order of ["ascending", "random"]) {
      const data = order === "ascending"
        ? Float32Array.from({ length: L }, (_, j) => j)
        : Float32Array.from(rnd);
      // reference: the few entries above a threshold, sorted (value down, index up)
      const cut = order === "ascending" ? L - 2 * k : 0.999;
      const cand: number[] = [];
      for (let j = 0; j < L; j++) if (data[j] >= cut) cand.push(j);
      assert(cand.length >= k, "enough candidates");
      cand.sort((a, b) => data[b] - data[a] || a - b);
      const want = cand.slice(0, k);
      for (const kernels of ["cpu", "gpu"] as const) {
        useKernels(kernels);
        const x = tensor(data, [1, L]);
        const { values, indices } = topk(x, k);
        const what = `topk [1, ${L}] k ${k} ${order} ${kernels} kernels`;
        assertEquals(Array.from(await indices.toArray()), want, `${what} indices`);
        assertEquals(
          Array.from(await values.toArray()),
          want.map((j) => data[j]),
          `${what} values`,
        );
        for (const t of [x, values, indices]) t.dispose();
      }
    }
    useKernels(prev);
  },
});

Deno.test({
  name: "index: topk orders NaN, infinities and signed zeros like PyTorch",
  ...gpuTest,
  fn: async () => {
    const x = tensor([[0, -Infinity, NaN, -0, Infinity, -1, 3]]);
    const { values, indices } = x.topk(7);
    assertEquals(Array.from(await indices.toArray()), [2, 4, 6, 0, 3, 5, 1], "indices");
    const v = Array.from(await values.toArray());
    assert(Number.isNaN(v[0]), "NaN first");
    assertEquals(v.slice(1), [Infinity, 3, 0, -0, -1, -Infinity], "values");
    for (const t of [x, values, indices]) t.dispose();
  },
});

Deno.test({
  name: "index: topk bad input",
  ...gpuTest,
  fn: () => {
    const x = tensor(new Float32Array(21), [3, 7]);
    assertThrows(() => topk(x, 8), "topk: k = 8 exceeds the last dimension 7 of input [3,7]");
    assertThrows(() => topk(x, 0), "topk: k must be a positive integer, got 0");
    assertThrows(() => topk(x, 2.5), "topk: k must be a positive integer, got 2.5");
    const big = tensor(new Float32Array(300), [300]);
    assertThrows(() => topk(big, 257), "topk: k = 257 exceeds the supported maximum 256");
    const i = tensor(new Int32Array(4), [4], { dtype: "i32" });
    assertThrows(() => topk(i, 1), "topk: input must be f32, got i32 tensor [4]");
    assertThrows(() => topk(tensor(1), 1), "topk: input must have at least 1 dimension");
    for (const t of [x, big, i]) t.dispose();
  },
});

Deno.test({
  name: "index: backward frees its temporaries (CSR tables, uploaded indices)",
  ...gpuTest,
  fn: async () => {
    const x = tensor(Float32Array.from(randArray(50 * 7, 1)), [50, 7], { requiresGrad: true });
    const it = tensor(Int32Array.from([3, 3, 49, 0]), [4], { dtype: "i32" });
    const step = () => {
      tidy(() => {
        const a = indexSelect(x, it);
        const b = indexSelect(x, [1, 2, 1]);
        const c = scatterRows(x, [5, 6, 5, 7], a);
        const loss = concatRows(a, b, c);
        loss.backward(loss);
      });
      x.grad!.dispose();
      x.grad = null;
    };
    step();
    await sync();
    const before = gpuStats().inUse;
    for (let i = 0; i < 3; i++) step();
    const { values, indices } = topk(x, 3);
    values.dispose();
    indices.dispose();
    await sync();
    assertEquals(gpuStats().inUse, before, "buffers in use after 3 more steps");
    x.dispose();
    it.dispose();
  },
});

/** [a; b; c] flattened, through scatterRows so only this file's ops are involved. */
function concatRows(a: Tensor, b: Tensor, c: Tensor): Tensor {
  const rows = a.shape[0] + b.shape[0] + c.shape[0];
  const base = tensor(new Float32Array(rows * 7), [rows, 7]);
  const ia = Array.from({ length: a.shape[0] }, (_, i) => i);
  const ib = Array.from({ length: b.shape[0] }, (_, i) => a.shape[0] + i);
  const ic = Array.from({ length: c.shape[0] }, (_, i) => a.shape[0] + b.shape[0] + i);
  return scatterRows(scatterRows(scatterRows(base, ia, a), ib, b), ic, c);
}
