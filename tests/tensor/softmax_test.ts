import { assertClose, assertThrows, checkOp, gpuTest, randArray, setup } from "../helpers.ts";
import { Tensor, tensor } from "../../lib/tensor/tensor.ts";
import { LOOP_BUDGET } from "../../lib/tensor/ops/reduce.ts";
import {
  logSoftmax,
  rowKernel,
  type RowPlan,
  rowPlan,
  softmax,
} from "../../lib/tensor/ops/softmax.ts";

await setup();

// float64 references over the last axis
function refSoftmax(x: Float64Array, L: number, log: boolean): Float64Array {
  const y = new Float64Array(x.length);
  for (let b = 0; b < x.length; b += L) {
    let m = -Infinity;
    for (let i = 0; i < L; i++) m = Math.max(m, x[b + i]);
    let s = 0;
    for (let i = 0; i < L; i++) s += Math.exp(x[b + i] - m);
    for (let i = 0; i < L; i++) {
      y[b + i] = log ? x[b + i] - m - Math.log(s) : Math.exp(x[b + i] - m) / s;
    }
  }
  return y;
}

function refBackward(g: Float64Array, y: Float64Array, L: number, log: boolean): Float64Array {
  const dx = new Float64Array(g.length);
  for (let b = 0; b < g.length; b += L) {
    let d = 0;
    for (let i = 0; i < L; i++) d += log ? g[b + i] : g[b + i] * y[b + i];
    for (let i = 0; i < L; i++) {
      dx[b + i] = log ? g[b + i] - Math.exp(y[b + i]) * d : y[b + i] * (g[b + i] - d);
    }
  }
  return dx;
}

const SHAPES = [[1], [7], [13], [3, 50], [2, 64], [5, 257], [3, 1024], [2, 4096], [4, 3, 13], [
  1,
  65536,
]];

// Tolerances. Forward: float32 exp and a float32 row sum (sequential: error grows like
// sqrt(L) ulp), so softmax is checked at rtol 1e-5 (1e-4 for L = 65536) with atol 1e-7;
// log-softmax at atol 2e-6 (values are O(log L)) and rtol 1e-6. Backward: central
// differences (eps 1e-3) of the float64 reference; gradients of softmax scale like 1/L,
// so atol is 1e-6 with rtol 1e-3.
for (const log of [false, true]) {
  const name = log ? "logSoftmax" : "softmax";
  Deno.test({
    name: `softmax: ${name} forward/backward, rows of 1 to 65536`,
    ...gpuTest,
    fn: async () => {
      for (const shape of SHAPES) {
        const L = shape[shape.length - 1];
        await checkOp(`${name} [${shape}]`, {
          inputs: [{ shape }],
          gpu: (x) => (log ? logSoftmax(x) : softmax(x)),
          ref: (x) => refSoftmax(x, L, log),
          fwd: log ? { atol: 2e-6, rtol: 1e-6 } : { atol: 1e-7, rtol: L > 4096 ? 1e-4 : 1e-5 },
          bwd: { atol: 1e-6, rtol: 1e-3 },
          eps: 1e-3,
          maxGradChecks: 100,
        });
      }
    },
  });

  Deno.test({
    name: `softmax: ${name} is stable for large and spread-out logits`,
    ...gpuTest,
    fn: async () => {
      // values up to +-80 (exp overflows float32 past 88) shifted by 1000
      for (const L of [7, 50, 257]) {
        const data = randArray(3 * L, 9, -80, 80).map((v) => Math.fround(v + 1000));
        await checkOp(`${name} [3,${L}] spread`, {
          inputs: [{ shape: [3, L], data }],
          gpu: (x) => (log ? logSoftmax(x) : softmax(x)),
          ref: (x) => refSoftmax(x, L, log),
          // inputs near 1000 carry 6e-5 of float32 spacing into x - max: atol 1e-4
          fwd: log ? { atol: 1e-4, rtol: 1e-6 } : { atol: 1e-7, rtol: 1e-5 },
          bwd: { atol: 1e-5, rtol: 1e-3 },
          eps: 1e-3,
        });
      }
    },
  });
}

Deno.test({
  name: "softmax: both kernel shapes (per row, cooperative) agree with the references",
  ...gpuTest,
  fn: async () => {
    const plans: RowPlan[] = [
      { coop: false, wg: 8 },
      { coop: false, wg: 64 },
      { coop: true, wg: 8 },
      { coop: true, wg: 64 },
      { coop: true, wg: 256 },
    ];
    for (const [rows, L] of [[1, 1], [5, 7], [3, 13], [2, 64], [4, 257], [2, 4096], [1, 65536]]) {
      const xd = randArray(rows * L, 3, -4, 4);
      const gd = randArray(rows * L, 4);
      for (const log of [false, true]) {
        const op = log ? "logSoftmax" : "softmax";
        const yref = refSoftmax(xd, L, log);
        const yd = Float64Array.from(Float32Array.from(yref));
        const dref = refBackward(gd, yd, L, log);
        for (const plan of plans) {
          // llvmpipe caps an invocation's loop iterations (LOOP_BUDGET): a single invocation
          // cannot make two passes over 65536 elements there
          if (Math.ceil(L / (plan.coop ? plan.wg : 1)) * 2 > LOOP_BUDGET) continue;
          const what = `${op} [${rows},${L}] ${plan.coop ? "coop" : "row"} WG ${plan.wg}`;
          const x = tensor(Float32Array.from(xd), [rows, L]);
          const g = tensor(Float32Array.from(gd), [rows, L]);
          const yin = tensor(Float32Array.from(yd), [rows, L]);
          const y = Tensor.empty([rows, L]);
          const dx = Tensor.empty([rows, L]);
          rowKernel("forward", op, [x, y], rows, L, plan);
          rowKernel("backward", op, [g, yin, dx], rows, L, plan);
          assertClose(
            await y.toArray(),
            yref,
            log ? { atol: 1e-5, rtol: 1e-6 } : { atol: 1e-7, rtol: L > 4096 ? 1e-4 : 1e-5 },
            `${what} forward`,
          );
          assertClose(await dx.toArray(), dref, { atol: 1e-6, rtol: 1e-4 }, `${what} backward`);
          for (const t of [x, g, yin, y, dx]) t.dispose();
        }
      }
    }
  },
});

Deno.test({
  name: "softmax: more rows than one grid dimension holds",
  ...gpuTest,
  fn: async () => {
    // 600 000 rows of 1: over 65 535 workgroups of 8, so the 2-D grid is used
    const n = 600_000;
    const x = tensor(randArray(n, 2).map(Math.fround), [n, 1]);
    const y = softmax(x);
    const got = await y.toArray();
    assertClose(got, new Float64Array(n).fill(1), { atol: 0, rtol: 0 }, "softmax [600000,1]");
    const z = tensor(randArray(70_000 * 2, 2), [70_000, 2]);
    const yc = Tensor.empty([70_000, 2]);
    rowKernel("forward", "softmax", [z, yc], 70_000, 2, { coop: true, wg: 64 });
    const zd = await z.toArray();
    assertClose(
      await yc.toArray(),
      refSoftmax(Float64Array.from(zd), 2, false),
      { atol: 1e-7, rtol: 1e-6 },
      "coop softmax [70000,2]",
    );
    for (const t of [x, y, z, yc]) t.dispose();
  },
});

Deno.test({
  name: "softmax: bad input",
  ...gpuTest,
  fn: () => {
    const i = tensor(new Int32Array([1, 2, 3]), [3]);
    assertThrows(() => softmax(i), "softmax: input must be f32, got i32 tensor [3]");
    assertThrows(() => logSoftmax(i), "logSoftmax: input must be f32");
    const s = tensor(1);
    assertThrows(() => softmax(s), "softmax: needs at least one dimension");
    assertThrows(() => rowPlan("softmax", 8_000_000), "softmax: rows of 8000000 elements");
    const x = tensor([1, 2]);
    x.dispose();
    assertThrows(() => x.softmax(), "used after dispose");
    i.dispose();
    s.dispose();
  },
});
