import {
  assert,
  assertClose,
  assertEquals,
  assertThrows,
  checkOp,
  gpuTest,
  randArray,
  setup,
} from "../helpers.ts";
import { tensor } from "../../lib/tensor/tensor.ts";
import { LOOP_BUDGET, max, mean, sum, variance } from "../../lib/tensor/ops/reduce.ts";

await setup();

/** Which dims an `axis` argument marks (all when undefined). */
function marks(shape: number[], axis?: number | number[]): boolean[] {
  if (axis === undefined) return shape.map(() => true);
  const m = shape.map(() => false);
  for (const a of Array.isArray(axis) ? axis : [axis]) m[a < 0 ? a + shape.length : a] = true;
  return m;
}

/**
 * float64 reference: apply `f` to the values of each output's reduced elements (in
 * row-major order of the reduced dims); outputs in row-major order of the kept dims.
 */
function refReduce(
  x: Float64Array,
  shape: number[],
  mark: boolean[],
  f: (v: number[]) => number,
): Float64Array {
  const kept = shape.filter((_, i) => !mark[i]);
  const nOut = kept.reduce((a, b) => a * b, 1);
  const groups: number[][] = Array.from({ length: nOut }, () => []);
  for (let i = 0; i < x.length; i++) {
    let rem = i, o = 0, so = 1;
    for (let d = shape.length - 1; d >= 0; d--) {
      const c = rem % shape[d];
      rem = Math.floor(rem / shape[d]);
      if (!mark[d]) {
        o += c * so;
        so *= shape[d];
      }
    }
    groups[o].push(x[i]);
  }
  return Float64Array.from(groups.map(f));
}

const fsum = (v: number[]) => v.reduce((a, b) => a + b, 0);
const fmean = (v: number[]) => fsum(v) / v.length;
const fmax = (v: number[]) => v.reduce((a, b) => (b > a || Number.isNaN(b) ? b : a), -Infinity);
const fvar = (c: number) => (v: number[]) => {
  const m = fmean(v);
  return v.reduce((a, b) => a + (b - m) ** 2, 0) / Math.max(0, v.length - c);
};

const CASES: [number[], (number | number[] | undefined)[]][] = [
  [[1], [0, undefined]],
  [[7], [0, -1, undefined]],
  [[13, 50], [0, 1, [0, 1], undefined]],
  [[64, 257], [0, 1, -1]],
  [[7, 1, 13], [1, 2, [0, 2], undefined]],
  [[3, 4, 5, 6], [2, [1, 3], [0, 2, 3], [-1, 0]]],
];

// Tolerances: sums and means in float32 accumulate about n ulp at worst, so forward atol
// 1e-5 with rtol 1e-6 on inputs in [-1, 1) (n <= 257 here); the gradient of a linear op
// is exact, so the backward is checked at 1e-6 (central differences, eps 1e-3).
for (const [name, op, f] of [["sum", sum, fsum], ["mean", mean, fmean]] as const) {
  Deno.test({
    name: `reduce: ${name} over one axis, several axes, all axes, with keepdim`,
    ...gpuTest,
    fn: async () => {
      for (const [shape, axes] of CASES) {
        for (const axis of axes) {
          for (const keepdim of [false, true]) {
            await checkOp(`${name} [${shape}] axis ${JSON.stringify(axis)} keepdim ${keepdim}`, {
              inputs: [{ shape }],
              gpu: (x) => {
                const y = op(x, axis, keepdim);
                const m = marks(shape, axis);
                const want = keepdim
                  ? shape.map((d, i) => (m[i] ? 1 : d))
                  : shape.filter((_, i) => !m[i]);
                assertEquals(y.shape, want, "output shape");
                return y;
              },
              ref: (x) => refReduce(x, shape, marks(shape, axis), f),
              fwd: { atol: 1e-5, rtol: 1e-6 },
              bwd: { atol: 1e-6, rtol: 1e-5 },
              eps: 1e-3,
            });
          }
        }
      }
    },
  });
}

Deno.test({
  name: "reduce: big sums (1<<20 elements) and reductions longer than the loop budget",
  ...gpuTest,
  fn: async () => {
    // A chunked reduction adds about sqrt(n) partial sums of sqrt(n) terms: on positive
    // inputs the float32 result is within rtol 1e-5 of the float64 sum.
    const cases: [number[], number | number[] | undefined][] = [
      [[1 << 20], undefined],
      [[100_003], undefined], // prime: ragged last chunk
      [[70_001, 3], 0], // few outputs, long strided reduction
      [[2, 256, 10_007], [0, 2]], // 256 outputs of a 2-D reduced index, over the budget
      [[301, 5, 300], [0, 2]], // a 2-D reduced index over 90 300 elements
    ];
    for (const [shape, axis] of cases) {
      const n = shape.reduce((a, b) => a * b, 1);
      const data = randArray(n, 11, 0, 1);
      const x = tensor(Float32Array.from(data), shape);
      const m = marks(shape, axis);
      for (const [name, op, f] of [["sum", sum, fsum], ["mean", mean, fmean]] as const) {
        const y = op(x, axis);
        assertClose(
          await y.toArray(),
          refReduce(data, shape, m, f),
          { atol: 0, rtol: 1e-5 },
          `${name} [${shape}] axis ${axis}`,
        );
        y.dispose();
      }
      x.dispose();
    }
    assert(LOOP_BUDGET < 65535, "the loop budget stays under llvmpipe's cap");
  },
});

// max: piecewise linear, so finite differences use a tiny step (1e-6) that stays away
// from ties; the forward is exact.
Deno.test({
  name: "reduce: max over one axis or all elements, gradient to the first maximum",
  ...gpuTest,
  fn: async () => {
    for (const [shape, axes] of CASES) {
      for (const axis of axes) {
        if (Array.isArray(axis)) continue;
        for (const keepdim of [false, true]) {
          await checkOp(`max [${shape}] axis ${axis} keepdim ${keepdim}`, {
            inputs: [{ shape }],
            gpu: (x) => max(x, axis, keepdim),
            ref: (x) => refReduce(x, shape, marks(shape, axis), fmax),
            fwd: { atol: 0, rtol: 0 },
            bwd: { atol: 1e-6, rtol: 1e-6 },
            eps: 1e-6,
          });
        }
      }
    }
  },
});

Deno.test({
  name: "reduce: max ties, NaN and long reductions",
  ...gpuTest,
  fn: async () => {
    // ties: the gradient goes to the first maximum along the axis
    const x = tensor([[3, 1, 3], [2, 5, 5], [-1, -1, -2]], undefined, { requiresGrad: true });
    const y = max(x, 1);
    assertClose(await y.toArray(), [3, 5, -1], { atol: 0, rtol: 0 }, "max values");
    y.backward(tensor([10, 20, 30]));
    assertClose(
      await x.grad!.toArray(),
      [10, 0, 0, 0, 20, 0, 30, 0, 0],
      { atol: 0, rtol: 0 },
      "max gradient",
    );
    // NaN is the maximum (PyTorch propagates it)
    const z = tensor([1, NaN, 7, 2]);
    const zm = max(z);
    assert(Number.isNaN(await zm.item()), "max of a row with NaN is NaN");
    // longer than one invocation's loop budget, ties across chunks keep the first
    for (
      const [shape, axis] of [[[200_000], undefined], [[70_001, 3], 0], [[3, 70_001], 1]] as const
    ) {
      const n = shape.reduce((a, b) => a * b, 1);
      const data = randArray(n, 5);
      // plant equal maxima in late chunks
      for (let i = 60_000; i < n; i += 20_011) data[i] = 2;
      const t = tensor(Float32Array.from(data), [...shape], { requiresGrad: true });
      const m = max(t, axis);
      const want = refReduce(data, [...shape], marks([...shape], axis), fmax);
      assertClose(await m.toArray(), want, { atol: 0, rtol: 0 }, `max [${shape}]`);
      m.backward(tensor(new Float32Array(m.size).fill(1), [...m.shape]));
      const g = await t.grad!.toArray();
      // exactly one 1 per output, at the first maximum
      const ones = Array.from(g).filter((v) => v === 1).length;
      assertEquals(ones, m.size, `max [${shape}] gradient count`);
      if (axis === undefined) assertEquals(g[60_000], 1, "first of the planted maxima");
      t.grad!.dispose();
      for (const u of [t, m]) u.dispose();
    }
    for (const t of [x, y, z, zm]) t.dispose();
    x.grad!.dispose();
  },
});

// variance: two-pass (mean, then squared deviations) in float32: forward rtol 1e-5,
// atol 1e-6; gradient 2 (x - mean) g / (n - c) checked at 1e-4 with eps 1e-3 (the
// function is quadratic, so central differences are exact up to rounding).
Deno.test({
  name: "reduce: var over axes with corrections 0, 1, 2 and keepdim",
  ...gpuTest,
  fn: async () => {
    for (const [shape, axes] of CASES) {
      for (const axis of axes) {
        const m = marks(shape, axis);
        const n = shape.reduce((a, d, i) => (m[i] ? a * d : a), 1);
        for (const correction of [0, 1, 2]) {
          if (n - correction <= 0) continue;
          const keepdim = correction === 1;
          await checkOp(`var [${shape}] axis ${JSON.stringify(axis)} correction ${correction}`, {
            inputs: [{ shape }],
            gpu: (x) => variance(x, axis, keepdim, correction),
            ref: (x) => refReduce(x, shape, m, fvar(correction)),
            fwd: { atol: 1e-6, rtol: 1e-5 },
            bwd: { atol: 1e-4, rtol: 1e-4 },
            eps: 1e-3,
          });
        }
      }
    }
    // the method form and the default (unbiased) correction
    const x = tensor(randArray(50, 2).map(Math.fround), [5, 10]);
    const v = x.var(1);
    assertClose(
      await v.toArray(),
      refReduce(Float64Array.from(await x.toArray()), [5, 10], [false, true], fvar(1)),
      { atol: 1e-6, rtol: 1e-5 },
      "x.var(1)",
    );
    x.dispose();
    v.dispose();
  },
});

Deno.test({
  name: "reduce: var of long reductions and degenerate divisors",
  ...gpuTest,
  fn: async () => {
    // chunked: partial means and M2 merged pairwise; values offset by 10 so a naive
    // E[x^2] - E[x]^2 would lose digits
    for (
      const [shape, axis] of [[[1 << 20], undefined], [[70_001, 3], 0], [[2, 100_003], 1]] as const
    ) {
      const n = shape.reduce((a, b) => a * b, 1);
      const data = randArray(n, 21, 9, 11);
      const x = tensor(Float32Array.from(data), [...shape], { requiresGrad: true });
      const v = variance(x, axis);
      const want = refReduce(data, [...shape], marks([...shape], axis), fvar(1));
      assertClose(await v.toArray(), want, { atol: 0, rtol: 1e-4 }, `var [${shape}]`);
      const g = randArray(v.size, 3);
      v.backward(tensor(Float32Array.from(g), [...v.shape]));
      const gx = await x.grad!.toArray();
      // spot-check the analytic gradient 2 (x - mean) g / (n - 1)
      const m = marks([...shape], axis);
      const means = refReduce(data, [...shape], m, fmean);
      const nRed = n / v.size;
      for (const i of [0, 1, 12_345, n - 1]) {
        const o = axis === 0 ? i % 3 : axis === 1 ? Math.floor(i / 100_003) : 0;
        const want = 2 * (data[i] - means[o]) * g[o] / (nRed - 1);
        assertClose([gx[i]], [want], { atol: 1e-7, rtol: 1e-3 }, `var [${shape}] grad ${i}`);
      }
      x.grad!.dispose();
      x.dispose();
      v.dispose();
    }
    // n - correction <= 0: NaN for one element (0/0), inf for a spread (PyTorch)
    const one = tensor([[3], [4]]);
    const v1 = variance(one, 1);
    const got = await v1.toArray();
    assert(Number.isNaN(got[0]) && Number.isNaN(got[1]), `var of one element: ${got}`);
    const two = tensor([1, 2]);
    const v2 = variance(two, 0, false, 2);
    assertEquals(await v2.item(), Infinity, "var with correction = n");
    for (const t of [one, v1, two, v2]) t.dispose();
  },
});

Deno.test({
  name: "reduce: bad input names the op",
  ...gpuTest,
  fn: () => {
    const x = tensor(new Float32Array(6), [2, 3]);
    const i = tensor(new Int32Array(3), [3]);
    assertThrows(() => sum(x, 2), "sum: axis 2 is out of range for a tensor of rank 2");
    assertThrows(() => mean(x, [0, -2]), "mean: axis -2 given twice");
    assertThrows(() => max(x, -3), "max: axis -3 is out of range for a tensor of rank 2");
    assertThrows(() => max(x, [0, 1] as unknown as number), "max: reduces over one axis");
    assertThrows(() => variance(x, 5), "var: axis 5 is out of range");
    assertThrows(() => variance(x, 0, false, -1), "var: correction must be a finite number");
    assertThrows(() => sum(i), "sum: input must be f32, got i32 tensor [3]");
    assertThrows(() => max(i), "max: input must be f32, got i32 tensor [3]");
    assertThrows(() => variance(i), "var: input must be f32");
    x.dispose();
    assertThrows(() => max(x), "used after dispose");
    i.dispose();
  },
});
