import { assertRejects, assertThrows, checkOp, gpuTest, randArray, setup } from "../helpers.ts";
import { type Tensor, tensor } from "../../lib/tensor/tensor.ts";
import { div as divF, expand, residual, sub as subF } from "../../lib/tensor/ops/elementwise.ts";

await setup();

// reference broadcasting in float64
function bcast(
  a: Float64Array,
  sa: number[],
  b: Float64Array,
  sb: number[],
  f: (x: number, y: number) => number,
) {
  const r = Math.max(sa.length, sb.length);
  const pa = [...Array(r - sa.length).fill(1), ...sa];
  const pb = [...Array(r - sb.length).fill(1), ...sb];
  const so = pa.map((d, i) => Math.max(d, pb[i]));
  const n = so.reduce((x, y) => x * y, 1);
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let rem = i, ia = 0, ib = 0, sta = 1, stb = 1;
    for (let d = r - 1; d >= 0; d--) {
      const c = rem % so[d];
      rem = Math.floor(rem / so[d]);
      if (pa[d] !== 1) ia += c * sta;
      if (pb[d] !== 1) ib += c * stb;
      sta *= pa[d];
      stb *= pb[d];
    }
    out[i] = f(a[ia], b[ib]);
  }
  return out;
}

const SHAPES: [number[], number[]][] = [
  [[1], [1]],
  [[7], [7]],
  [[13, 50], [13, 50]],
  [[64, 257], [257]],
  [[7, 1, 13], [1, 5, 1]],
  [[50, 1], [1, 64]],
  [[3, 4, 5], [4, 1]],
  // each kernel mode: b trailing block, a trailing block, b leading block, a leading block
  [[257], [64, 257]],
  [[1], [7, 13]],
  [[13, 50], [13, 1]],
  [[13, 1, 1], [13, 7, 5]],
  // the vec4 kernels (sizes and broadcast blocks a multiple of 4), one per mode
  [[12, 8], [12, 8]],
  [[6, 20], [20]],
  [[20], [6, 20]],
  [[3, 4, 8], [3, 1, 1]],
  [[6, 1], [6, 20]],
];

const binops: [string, (x: number, y: number) => number, (a: Tensor, b: Tensor) => Tensor][] = [
  ["add", (x, y) => x + y, (a, b) => a.add(b)],
  ["sub", (x, y) => x - y, (a, b) => a.sub(b)],
  ["mul", (x, y) => x * y, (a, b) => a.mul(b)],
  ["div", (x, y) => x / y, (a, b) => a.div(b)],
  ["maximum", (x, y) => Math.max(x, y), (a, b) => a.maximum(b)],
  ["minimum", (x, y) => Math.min(x, y), (a, b) => a.minimum(b)],
];

for (const [name, f, op] of binops) {
  Deno.test({
    name: `elementwise: ${name} forward/backward with broadcasting`,
    ...gpuTest,
    fn: async () => {
      for (const [sa, sb] of SHAPES) {
        const nb = sb.reduce((x, y) => x * y, 1);
        // keep divisors away from 0
        const bdata = name === "div" ? randArray(nb, 5, 0.5, 2) : undefined;
        await checkOp(`${name} [${sa}] [${sb}]`, {
          inputs: [{ shape: sa }, { shape: sb, data: bdata }],
          gpu: op,
          ref: (a, b) => bcast(a, sa, b, sb, f),
          fwd: { atol: 1e-6, rtol: 1e-6 },
          bwd: { atol: 1e-3, rtol: 1e-3 },
          // max/min are piecewise linear: a tiny step keeps FD away from ties
          eps: name === "maximum" || name === "minimum" ? 1e-6 : 1e-3,
        });
      }
    },
  });
}

const unops: [string, (x: number) => number, (t: Tensor) => Tensor, [number, number]][] = [
  ["neg", (x) => -x, (t) => t.neg(), [-2, 2]],
  ["exp", Math.exp, (t) => t.exp(), [-3, 3]],
  ["log", Math.log, (t) => t.log(), [0.2, 4]],
  ["sqrt", Math.sqrt, (t) => t.sqrt(), [0.2, 4]],
  ["rsqrt", (x) => 1 / Math.sqrt(x), (t) => t.rsqrt(), [0.2, 4]],
  ["pow 3", (x) => x ** 3, (t) => t.pow(3), [-2, 2]],
  ["pow 0.5", (x) => x ** 0.5, (t) => t.pow(0.5), [0.2, 4]],
  ["pow -2", (x) => x ** -2, (t) => t.pow(-2), [0.5, 3]],
  ["abs", Math.abs, (t) => t.abs(), [-2, 2]],
  ["clamp", (x) => Math.min(Math.max(x, -0.5), 0.7), (t) => t.clamp(-0.5, 0.7), [-2, 2]],
  ["relu", (x) => Math.max(x, 0), (t) => t.relu(), [-2, 2]],
  ["add scalar", (x) => x + 1.5, (t) => t.add(1.5), [-2, 2]],
  ["rsub scalar", (x) => 1.5 - x, (t) => tensorSub(1.5, t), [-2, 2]],
  ["mul scalar", (x) => x * -3, (t) => t.mul(-3), [-2, 2]],
  ["div scalar", (x) => x / 4, (t) => t.div(4), [-2, 2]],
];
function tensorSub(s: number, t: Tensor) {
  return subF(s, t);
}

// erf via a high-precision series/continued fraction in float64
function erf(x: number): number {
  const t = Math.abs(x);
  if (t < 3) {
    let sum = 0, term = t, n = 0;
    while (Math.abs(term) > 1e-17 * Math.abs(sum) || n < 5) {
      sum += term / (2 * n + 1);
      n++;
      term *= -t * t / n;
      if (n > 200) break;
    }
    return Math.sign(x) * 2 / Math.sqrt(Math.PI) * sum;
  }
  // asymptotic for large |x|
  let s = 1, term = 1;
  for (let n = 1; n < 12; n++) {
    term *= -(2 * n - 1) / (2 * t * t);
    s += term;
  }
  return Math.sign(x) * (1 - Math.exp(-t * t) / (t * Math.sqrt(Math.PI)) * s);
}
unops.push(["gelu", (x) => 0.5 * x * (1 + erf(x / Math.SQRT2)), (t) => t.gelu(), [-4, 4]]);
unops.push(["rdiv scalar", (x) => 2 / x, (t) => divF(2, t), [0.5, 2]]);

for (const [name, f, op, [lo, hi]] of unops) {
  Deno.test({
    name: `elementwise: ${name} forward/backward`,
    ...gpuTest,
    fn: async () => {
      for (const shape of [[1], [7], [13, 50], [64, 257]]) {
        const n = shape.reduce((x, y) => x * y, 1);
        const data = randArray(n, 3, lo, hi);
        // keep clamp/relu/abs inputs away from the kinks for finite differences
        if (["clamp", "relu", "abs"].includes(name)) {
          for (let i = 0; i < n; i++) {
            for (const k of [-0.5, 0.7, 0]) {
              if (Math.abs(data[i] - k) < 0.01) data[i] = Math.fround(k + 0.05);
            }
          }
        }
        await checkOp(`${name} [${shape}]`, {
          inputs: [{ shape, data }],
          gpu: op,
          ref: (x) => x.map(f),
          // exp/log/pow use the GPU's f32 transcendental functions: a few ulp
          fwd: { atol: 1e-6, rtol: 2e-6 },
          bwd: { atol: 1e-3, rtol: 1e-3 },
          eps: 1e-4,
        });
      }
    },
  });
}

Deno.test({
  name: "elementwise: expand sums its gradient back",
  ...gpuTest,
  fn: async () => {
    await checkOp("expand [1,5] -> [3,5]", {
      inputs: [{ shape: [1, 5] }],
      gpu: (x) => expand(x, [3, 5]),
      ref: (x) => Float64Array.from({ length: 15 }, (_, i) => x[i % 5]),
      fwd: { atol: 0, rtol: 0 },
      bwd: { atol: 1e-4, rtol: 1e-4 },
    });
  },
});

Deno.test({
  name: "elementwise: errors name the op and both shapes",
  ...gpuTest,
  fn: async () => {
    const a = tensor(new Float32Array(6), [2, 3]);
    const b = tensor(new Float32Array(8), [2, 4]);
    assertThrows(() => a.add(b), "add: shapes [2,3] and [2,4] cannot be broadcast together");
    assertThrows(() => a.clamp(2, 1), "clamp: min 2 > max 1");
    assertThrows(() => a.pow(NaN), "pow: exponent must be finite");
    a.dispose();
    assertThrows(() => a.mul(2), "used after dispose");
    await assertRejects(() => a.toArray(), "used after dispose");
    b.dispose();
  },
});

Deno.test({
  name: "elementwise: residual with a per-sample scale (stochastic depth) forward/backward",
  ...gpuTest,
  fn: async () => {
    for (const shape of [[1, 1], [7, 13], [5, 3, 50], [3, 4, 8]]) {
      const B = shape[0];
      const inner = shape.slice(1).reduce((a, b) => a * b, 1);
      const s = Float64Array.from({ length: B }, (_, i) => (i % 3 === 0 ? 0 : 1 / 0.9));
      const st = tensor(Float32Array.from(s), [B]);
      await checkOp(`residual [${shape}]`, {
        inputs: [{ shape }, { shape }],
        gpu: (x, y) => residual(x, y, st),
        ref: (x, y) => x.map((v, i) => v + Math.fround(s[Math.floor(i / inner)]) * y[i]),
        fwd: { atol: 1e-6, rtol: 1e-6 },
        bwd: { atol: 1e-4, rtol: 1e-4 },
      });
    }
    const x = tensor(new Float32Array(6), [2, 3]);
    assertThrows(
      () => residual(x, x, tensor([1, 1, 1])),
      "residual: x [2,3], branch [2,3] and scale [3] do not match",
    );
  },
});
