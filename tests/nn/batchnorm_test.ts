import {
  assertClose,
  assertEquals,
  assertThrows,
  checkOp,
  gpuTest,
  randArray,
  setup,
} from "../helpers.ts";
import { BatchNorm1d, batchNorm1d } from "../../lib/nn/batchnorm.ts";
import { copyInto } from "../../lib/nn/module.ts";
import { ProjectionMLP } from "../../lib/mugs/heads.ts";
import { Generator } from "../../lib/tensor/rng.ts";
import { tensor } from "../../lib/tensor/tensor.ts";

await setup();

/** PyTorch's training-mode BatchNorm1d in float64: x [N, C], weight and bias [C]. */
function refBatchNorm(x: Float64Array, w: Float64Array, b: Float64Array, N: number, eps = 1e-5) {
  const C = w.length;
  const y = new Float64Array(N * C);
  for (let c = 0; c < C; c++) {
    let mu = 0;
    for (let n = 0; n < N; n++) mu += x[n * C + c] / N;
    let v = 0;
    for (let n = 0; n < N; n++) v += (x[n * C + c] - mu) ** 2 / N;
    for (let n = 0; n < N; n++) {
      y[n * C + c] = (x[n * C + c] - mu) / Math.sqrt(v + eps) * w[c] + b[c];
    }
  }
  return y;
}

for (const [N, C] of [[2, 3], [9, 5], [64, 33]]) {
  Deno.test(
    `batchNorm1d: [${N}, ${C}] against float64 and finite differences`,
    gpuTest,
    async () => {
      await checkOp(`batchNorm1d ${N}x${C}`, {
        inputs: [{ shape: [N, C] }, { shape: [C] }, { shape: [C] }],
        gpu: (x, w, b) => batchNorm1d(x, w, b),
        ref: (x, w, b) => refBatchNorm(x, w, b, N),
        fwd: { atol: 2e-5, rtol: 2e-5 },
        bwd: { atol: 5e-4, rtol: 5e-3 },
        seed: 31 + N,
      });
    },
  );
}

Deno.test(
  "BatchNorm1d: running statistics as PyTorch (momentum 0.1, unbiased variance); eval uses them",
  gpuTest,
  async () => {
    const N = 6, C = 4;
    const x = randArray(N * C, 5, -2, 3);
    const bn = new BatchNorm1d(C);
    bn.forward(tensor(Float32Array.from(x), [N, C])); // training mode
    const mean = new Float64Array(C), uvar = new Float64Array(C);
    for (let c = 0; c < C; c++) {
      for (let n = 0; n < N; n++) mean[c] += x[n * C + c] / N;
      for (let n = 0; n < N; n++) uvar[c] += (x[n * C + c] - mean[c]) ** 2 / (N - 1);
    }
    const tol = { atol: 1e-5, rtol: 1e-5 };
    assertClose(await bn.runningMean.toArray(), mean.map((m) => 0.1 * m), tol, "running_mean");
    assertClose(await bn.runningVar.toArray(), uvar.map((v) => 0.9 + 0.1 * v), tol, "running_var");
    bn.eval();
    const w = randArray(C, 8);
    copyInto(bn.weight, { shape: [C], data: Float32Array.from(w) });
    const y = await bn.forward(tensor(Float32Array.from(x), [N, C])).toArray();
    const want = x.map((v, i) => {
      const c = i % C;
      return (v - 0.1 * mean[c]) / Math.sqrt(0.9 + 0.1 * uvar[c] + 1e-5) * w[c];
    });
    assertClose(y, want, tol, "eval forward");
  },
);

Deno.test("BatchNorm1d: wrong shapes and a single training row are errors", gpuTest, () => {
  const bn = new BatchNorm1d(4);
  assertThrows(
    () => bn.forward(tensor(new Float32Array(12), [3, 2, 2])),
    "expected features [N, 4]",
  );
  assertThrows(() => bn.forward(tensor(new Float32Array(4), [1, 4])), "at least 2 rows");
});

Deno.test(
  "ProjectionMLP with bn: the official Sequential names (Linear, BatchNorm1d, GELU)",
  gpuTest,
  () => {
    const mlp = new ProjectionMLP({
      nlayers: 3,
      inDim: 8,
      hiddenDim: 16,
      outDim: 4,
      bias: false,
      init: "trunc_normal",
      gen: new Generator(0),
      bn: true,
    });
    assertEquals([...mlp.stateDict().keys()], [
      "0.weight",
      "1.weight",
      "1.bias",
      "3.weight",
      "4.weight",
      "4.bias",
      "6.weight",
      "1.running_mean",
      "1.running_var",
      "4.running_mean",
      "4.running_var",
    ]);
  },
);
