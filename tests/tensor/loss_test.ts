import {
  assert,
  assertClose,
  assertThrows,
  checkOp,
  gpuTest,
  randArray,
  setup,
} from "../helpers.ts";
import { tensor } from "../../lib/tensor/tensor.ts";
import { useKernels } from "../../lib/gpu/device.ts";
import { crossEntropy } from "../../lib/tensor/ops/loss.ts";

await setup();

function logSoftmaxRow(x: Float64Array, off: number, C: number): Float64Array {
  let m = -Infinity;
  for (let c = 0; c < C; c++) m = Math.max(m, x[off + c]);
  let s = 0;
  for (let c = 0; c < C; c++) s += Math.exp(x[off + c] - m);
  const lse = m + Math.log(s);
  return Float64Array.from({ length: C }, (_, c) => x[off + c] - lse);
}

// float64 references: per-row losses, then the mean unless reduction is "none"
function refHard(x: Float64Array, t: Float64Array, N: number, C: number, none: boolean) {
  const rows = Float64Array.from({ length: N }, (_, n) => {
    const k = t[n];
    return k < 0 || k >= C ? NaN : -logSoftmaxRow(x, n * C, C)[k];
  });
  return none ? rows : Float64Array.of(rows.reduce((a, b) => a + b, 0) / N);
}

function refSoft(x: Float64Array, t: Float64Array, N: number, C: number, none: boolean) {
  const rows = Float64Array.from({ length: N }, (_, n) => {
    const lp = logSoftmaxRow(x, n * C, C);
    let s = 0;
    for (let c = 0; c < C; c++) s -= t[n * C + c] * lp[c];
    return s;
  });
  return none ? rows : Float64Array.of(rows.reduce((a, b) => a + b, 0) / N);
}

function labels(N: number, C: number, seed: number): Float64Array {
  return randArray(N, seed, 0, C).map(Math.floor);
}

/** Soft targets: rows of positive weights normalised to 1 (or left unnormalised). */
function probs(N: number, C: number, seed: number, normalise = true): Float64Array {
  const t = randArray(N * C, seed, 0.01, 1);
  if (!normalise) return t;
  for (let n = 0; n < N; n++) {
    let s = 0;
    for (let c = 0; c < C; c++) s += t[n * C + c];
    for (let c = 0; c < C; c++) t[n * C + c] = Math.fround(t[n * C + c] / s);
  }
  return t;
}

const SHAPES: [number, number][] = [[1, 1], [7, 13], [13, 7], [50, 64], [4, 257], [3, 4096], [
  2,
  65536,
]];

/** Run `fn` with the software-adapter kernel choice, then with the GPU one. */
async function bothKernelShapes(fn: (k: string) => Promise<void>): Promise<void> {
  for (const k of ["cpu", "gpu"] as const) {
    const prev = useKernels(k);
    try {
      await fn(k);
    } finally {
      useKernels(prev);
    }
  }
}

// Tolerances. Forward: a float32 online log-sum-exp (exp, log, a row sum of C terms):
// atol 1e-5 with rtol 1e-5 (losses are O(log C)). Backward: central differences (eps
// 1e-3) of the float64 reference; gradients are O(1/C) per element (over N for the mean),
// so atol 1e-6 with rtol 1e-3.
Deno.test({
  name: "loss: crossEntropy with class indices, mean and none, both kernel shapes",
  ...gpuTest,
  fn: async () => {
    await bothKernelShapes(async (k) => {
      for (const [N, C] of SHAPES) {
        for (const none of [false, true]) {
          await checkOp(`crossEntropy hard [${N},${C}] ${none ? "none" : "mean"} (${k})`, {
            inputs: [{ shape: [N, C], data: randArray(N * C, 7, -3, 3) }, {
              shape: [N],
              data: labels(N, C, 8),
              int: true,
            }],
            gpu: (x, t) => crossEntropy(x, t, { reduction: none ? "none" : "mean" }),
            ref: (x, t) => refHard(x, t, N, C, none),
            fwd: { atol: 1e-5, rtol: 1e-5 },
            bwd: { atol: 1e-6, rtol: 1e-3 },
            eps: 1e-3,
            maxGradChecks: C > 4096 ? 12 : 80,
          });
        }
      }
    });
  },
});

Deno.test({
  name: "loss: crossEntropy with class indices, every logit's gradient is softmax - onehot",
  ...gpuTest,
  fn: async () => {
    // the finite-difference check above samples elements and rarely lands on a label, so
    // the one-hot term is checked here on every element (scalar and vec4 kernels)
    for (const [N, C] of [[7, 13], [50, 64], [3, 4096]]) {
      const xd = randArray(N * C, 11, -3, 3);
      const td = labels(N, C, 12);
      const x = tensor(Float32Array.from(xd), [N, C], { requiresGrad: true });
      const t = tensor(Int32Array.from(td), [N]);
      const loss = crossEntropy(x, t);
      loss.backward();
      const want = new Float64Array(N * C);
      for (let n = 0; n < N; n++) {
        const lp = logSoftmaxRow(Float64Array.from(await x.toArray(), Number), n * C, C);
        for (let c = 0; c < C; c++) {
          want[n * C + c] = (Math.exp(lp[c]) - (c === td[n] ? 1 : 0)) / N;
        }
      }
      assertClose(await x.grad!.toArray(), want, { atol: 1e-7, rtol: 1e-4 }, `dx [${N},${C}]`);
      for (const u of [x, t, loss, x.grad!]) u.dispose();
    }
  },
});

Deno.test({
  name: "loss: crossEntropy with soft targets, gradients to logits and targets",
  ...gpuTest,
  fn: async () => {
    await bothKernelShapes(async (k) => {
      for (const [N, C] of SHAPES) {
        for (const none of [false, true]) {
          // unnormalised weights exercise the sum(t) term of the logits gradient
          const normalise = !none;
          await checkOp(`crossEntropy soft [${N},${C}] ${none ? "none" : "mean"} (${k})`, {
            inputs: [
              { shape: [N, C], data: randArray(N * C, 9, -3, 3) },
              { shape: [N, C], data: probs(N, C, 10, normalise) },
            ],
            gpu: (x, t) => crossEntropy(x, t, { reduction: none ? "none" : "mean" }),
            ref: (x, t) => refSoft(x, t, N, C, none),
            // unnormalised rows of 65536 weights sum to ~3e4: rtol carries it
            fwd: { atol: 1e-5, rtol: 1e-5 },
            bwd: { atol: 1e-6, rtol: 1e-3 },
            eps: 1e-3,
            maxGradChecks: C > 4096 ? 12 : 80,
          });
        }
      }
    });
  },
});

Deno.test({
  name: "loss: crossEntropy is stable for large logits; a frozen target gets no gradient",
  ...gpuTest,
  fn: async () => {
    for (const C of [7, 257]) {
      const data = randArray(3 * C, 4, -80, 80).map((v) => Math.fround(v + 1000));
      await checkOp(`crossEntropy hard large logits C ${C}`, {
        inputs: [{ shape: [3, C], data }, { shape: [3], data: labels(3, C, 2), int: true }],
        gpu: (x, t) => crossEntropy(x, t, { reduction: "none" }),
        ref: (x, t) => refHard(x, t, 3, C, true),
        // inputs near 1000 carry float32 spacing 6e-5 into x - max
        fwd: { atol: 2e-4, rtol: 1e-6 },
        bwd: { atol: 1e-5, rtol: 1e-3 },
        eps: 1e-3,
      });
      await checkOp(`crossEntropy soft large logits C ${C}`, {
        inputs: [{ shape: [3, C], data }, { shape: [3, C], data: probs(3, C, 5), grad: false }],
        gpu: (x, t) => crossEntropy(x, t),
        ref: (x, t) => refSoft(x, t, 3, C, false),
        fwd: { atol: 2e-4, rtol: 1e-6 },
        bwd: { atol: 1e-5, rtol: 1e-3 },
        eps: 1e-3,
      });
    }
    const x = tensor(randArray(8, 1), [2, 4], { requiresGrad: true });
    const t = tensor(probs(2, 4, 2), [2, 4]);
    const loss = crossEntropy(x, t);
    loss.backward();
    assert(x.grad !== null && t.grad === null, "only the logits get a gradient");
    for (const u of [x, t, loss, x.grad!]) u.dispose();
  },
});

Deno.test({
  name: "loss: an out-of-range class index gives NaN for its row, not a silent value",
  ...gpuTest,
  fn: async () => {
    // C = 4 takes the vec4 backward kernel, C = 5 the scalar one
    for (const C of [4, 5]) {
      const x = tensor(randArray(3 * C, 3), [3, C], { requiresGrad: true });
      const t = tensor(new Int32Array([1, C, -1]), [3]);
      const rows = crossEntropy(x, t, { reduction: "none" });
      const got = await rows.toArray();
      const want = refHard(
        Float64Array.from(await x.toArray()),
        Float64Array.of(1, 0, 0),
        3,
        C,
        true,
      );
      assertClose([got[0]], [want[0]], { atol: 1e-6, rtol: 1e-6 }, `valid row (C ${C})`);
      assert(Number.isNaN(got[1]) && Number.isNaN(got[2]), `bad rows give NaN, got ${got}`);
      rows.backward(tensor([1, 1, 1]));
      const g = await x.grad!.toArray();
      assert(g.slice(0, C).every(Number.isFinite), `valid row's gradient is finite (C ${C})`);
      assert(g.slice(C).every(Number.isNaN), `bad rows' gradients are NaN (C ${C})`);
      const mean = crossEntropy(x, t);
      assert(Number.isNaN(await mean.item()), "the mean over a bad row is NaN");
      for (const u of [x, t, rows, mean, x.grad!]) u.dispose();
    }
  },
});

Deno.test({
  name: "loss: bad input names the op and the shapes",
  ...gpuTest,
  fn: () => {
    const x = tensor(new Float32Array(40), [4, 10]);
    const t5 = tensor(new Int32Array(5), [5]);
    const tf = tensor(new Float32Array(4), [4]);
    const ti2 = tensor(new Int32Array(40), [4, 10]);
    const x1 = tensor(new Float32Array(10), [10]);
    const xi = tensor(new Int32Array(40), [4, 10]);
    const t4 = tensor(new Int32Array(4), [4]);
    assertThrows(() => crossEntropy(x, t5), "crossEntropy: logits [4,10] and target [5]");
    assertThrows(
      () => crossEntropy(x, tf),
      "crossEntropy: a class-index target must be i32, got f32 tensor [4]",
    );
    assertThrows(
      () => crossEntropy(x, ti2),
      "crossEntropy: a probability target must be f32, got i32 tensor [4,10]",
    );
    assertThrows(() => crossEntropy(x1, t4), "crossEntropy: logits must be [N, C], got [10]");
    assertThrows(() => crossEntropy(xi, t4), "crossEntropy: logits must be f32");
    assertThrows(
      () => crossEntropy(x, t4, { reduction: "sum" as never }),
      'crossEntropy: reduction must be "mean" or "none", got "sum"',
    );
    for (const u of [x, t5, tf, ti2, x1, xi, t4]) u.dispose();
  },
});
