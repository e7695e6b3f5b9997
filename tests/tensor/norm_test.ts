import { assertClose, assertThrows, checkOp, gpuTest, randArray, setup } from "../helpers.ts";
import { tensor } from "../../lib/tensor/tensor.ts";
import { useKernels } from "../../lib/gpu/device.ts";
import { l2normalize, layerNorm } from "../../lib/tensor/ops/norm.ts";

await setup();

// float64 reference LayerNorm over the last axis (biased variance)
function refLayerNorm(
  x: Float64Array,
  L: number,
  w: Float64Array | null,
  b: Float64Array | null,
  eps: number,
): Float64Array {
  const y = new Float64Array(x.length);
  for (let r = 0; r < x.length; r += L) {
    let mu = 0;
    for (let c = 0; c < L; c++) mu += x[r + c];
    mu /= L;
    let v = 0;
    for (let c = 0; c < L; c++) v += (x[r + c] - mu) ** 2;
    const rs = 1 / Math.sqrt(v / L + eps);
    for (let c = 0; c < L; c++) {
      y[r + c] = (x[r + c] - mu) * rs * (w ? w[c] : 1) + (b ? b[c] : 0);
    }
  }
  return y;
}

// float64 reference of F.normalize(x, dim=-1, eps)
function refL2(x: Float64Array, L: number, eps: number): Float64Array {
  const y = new Float64Array(x.length);
  for (let r = 0; r < x.length; r += L) {
    let s = 0;
    for (let c = 0; c < L; c++) s += x[r + c] ** 2;
    const d = Math.max(Math.sqrt(s), eps);
    for (let c = 0; c < L; c++) y[r + c] = x[r + c] / d;
  }
  return y;
}

const SHAPES = [[1], [7], [3, 13], [4, 50], [2, 64], [3, 257], [2, 1024], [2, 4096], [2, 3, 13]];

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

// Tolerances. Forward: two-pass mean and variance in float32 and inverseSqrt: atol 1e-5,
// rtol 1e-5 on outputs of size O(1). Backward: central differences (eps 1e-3) of the
// float64 reference; the truncation error of the difference is O(eps^2 * x'''), so
// atol 1e-4 with rtol 1e-3.
Deno.test({
  name: "norm: layerNorm forward/backward with and without affine, both kernel shapes",
  ...gpuTest,
  fn: async () => {
    await bothKernelShapes(async (k) => {
      for (const shape of SHAPES) {
        const L = shape[shape.length - 1];
        const affine = [[true, true], [true, false], [false, true], [false, false]] as const;
        for (const [hasW, hasB] of L > 1024 && k === "gpu" ? [affine[0]] : affine) {
          const inputs = [{ shape }];
          if (hasW) inputs.push({ shape: [L], data: randArray(L, 5, 0.5, 1.5) } as never);
          if (hasB) inputs.push({ shape: [L] });
          await checkOp(`layerNorm [${shape}] w ${hasW} b ${hasB} (${k} kernels)`, {
            inputs,
            gpu: (x, ...wb) => layerNorm(x, hasW ? wb[0] : null, hasB ? wb[hasW ? 1 : 0] : null),
            ref: (x, ...wb) =>
              refLayerNorm(x, L, hasW ? wb[0] : null, hasB ? wb[hasW ? 1 : 0] : null, 1e-5),
            fwd: { atol: 1e-5, rtol: 1e-5 },
            bwd: { atol: 1e-4, rtol: 1e-3 },
            eps: 1e-3,
            maxGradChecks: 60,
          });
        }
      }
    });
  },
});

Deno.test({
  name: "norm: layerNorm weight/bias gradients summed over many rows (chunked), eps 1e-6",
  ...gpuTest,
  fn: async () => {
    // 2100 rows: three row chunks of the column kernel, the last one ragged
    for (const shape of [[2100, 7], [3, 700, 5]]) {
      const L = shape[shape.length - 1];
      await checkOp(`layerNorm [${shape}]`, {
        inputs: [{ shape }, { shape: [L] }, { shape: [L] }],
        gpu: (x, w, b) => layerNorm(x, w, b, 1e-6),
        ref: (x, w, b) => refLayerNorm(x, L, w, b, 1e-6),
        fwd: { atol: 1e-5, rtol: 1e-5 },
        // column sums over 2100 rows: absolute error grows with the sum
        bwd: { atol: 1e-3, rtol: 1e-3 },
        eps: 1e-3,
        maxGradChecks: 40,
      });
    }
  },
});

Deno.test({
  name: "norm: layerNorm vec4 kernels (rows a multiple of 4 long), an offset mean, many rows",
  ...gpuTest,
  fn: async () => {
    // the software-adapter kernels take rows of 4k <= 512 floats (a private copy of the row
    // up to 256, streamed past); [70000, 4] would pass llvmpipe's loop cap in the
    // weight/bias gradient without its row chunks, and data around 100 with spread 1 breaks
    // a one-pass sum of squares in float32 (not Welford's update)
    const prev = useKernels("cpu");
    try {
      const cases: [number[], number, number][] = [
        [[5, 4], 0, 1e-5],
        [[3, 7, 12], 0, 1e-5],
        [[3, 256], 0, 1e-5],
        [[2, 260], 0, 1e-5],
        [[3, 512], 0, 1e-5],
        [[2100, 8], 0, 1e-5],
        [[70000, 4], 0, 1e-5],
        [[9, 64], 100, 1e-4],
        [[9, 300], 100, 1e-4],
      ];
      for (const [shape, offset, atol] of cases) {
        const L = shape[shape.length - 1];
        const n = shape.reduce((a, b) => a * b);
        const data = randArray(n, 11, offset - 1, offset + 1);
        await checkOp(`layerNorm [${shape}] around ${offset}`, {
          inputs: [{ shape, data }, { shape: [L], data: randArray(L, 5, 0.5, 1.5) }, {
            shape: [L],
          }],
          gpu: (x, w, b) => layerNorm(x, w, b, 1e-6),
          ref: (x, w, b) => refLayerNorm(x, L, w, b, 1e-6),
          fwd: { atol, rtol: 1e-5 },
          // column sums over up to 70000 rows: absolute error grows with the sum
          bwd: { atol: n > 10000 ? 2e-2 : 1e-3, rtol: 1e-3 },
          eps: 1e-3,
          maxGradChecks: 20,
        });
      }
    } finally {
      useKernels(prev);
    }
  },
});

Deno.test({
  name: "norm: layerNorm of a constant row is bias, and only needed gradients are made",
  ...gpuTest,
  fn: async () => {
    const x = tensor([[2, 2, 2], [1, 2, 3]]);
    const w = tensor([1, 2, 3], undefined, { requiresGrad: true });
    const b = tensor([0.5, 0, -0.5]);
    const y = layerNorm(x, w, b);
    const want = refLayerNorm(Float64Array.from([2, 2, 2, 1, 2, 3]), 3, [1, 2, 3] as never, [
      0.5,
      0,
      -0.5,
    ] as never, 1e-5);
    assertClose(await y.toArray(), want, { atol: 1e-5, rtol: 1e-5 }, "layerNorm constant row");
    y.backward(tensor([[1, 1, 1], [1, 1, 1]]));
    // dweight = sum over rows of xhat
    const xh = refLayerNorm(Float64Array.from([2, 2, 2, 1, 2, 3]), 3, null, null, 1e-5);
    assertClose(
      await w.grad!.toArray(),
      [0, 1, 2].map((c) => xh[c] + xh[3 + c]),
      { atol: 1e-5, rtol: 1e-5 },
      "dweight",
    );
    if (x.grad || b.grad) throw new Error("gradients for inputs that do not require them");
    for (const t of [x, w, b, y, w.grad!]) t.dispose();
  },
});

// l2normalize: forward rtol 2e-6 (a float32 sum of squares and a sqrt); backward
// atol 1e-4, rtol 1e-3 (central differences, eps 1e-3; the function is smooth away from 0).
Deno.test({
  name: "norm: l2normalize forward/backward, both kernel shapes",
  ...gpuTest,
  fn: async () => {
    await bothKernelShapes(async (k) => {
      for (const shape of SHAPES) {
        const L = shape[shape.length - 1];
        await checkOp(`l2normalize [${shape}] (${k} kernels)`, {
          inputs: [{ shape }],
          gpu: (x) => l2normalize(x),
          ref: (x) => refL2(x, L, 1e-12),
          fwd: { atol: 1e-7, rtol: 2e-6 },
          bwd: { atol: 1e-4, rtol: 1e-3 },
          eps: 1e-3,
          maxGradChecks: 60,
        });
      }
    });
  },
});

Deno.test({
  name: "norm: l2normalize clamps small norms at eps (gradient g / eps there)",
  ...gpuTest,
  fn: async () => {
    // row 0 has norm about 0.05 < eps = 0.5, row 1 about 2 > eps
    const data = Float64Array.from([
      ...randArray(5, 3, -0.02, 0.02),
      ...randArray(5, 4, 0.5, 1.2),
    ]);
    await checkOp("l2normalize eps 0.5", {
      inputs: [{ shape: [2, 5], data }],
      gpu: (x) => l2normalize(x, 0.5),
      ref: (x) => refL2(x, 5, 0.5),
      fwd: { atol: 1e-7, rtol: 2e-6 },
      bwd: { atol: 1e-4, rtol: 1e-3 },
      eps: 1e-4,
    });
    // a zero row stays zero (no NaN), as in PyTorch
    const z = tensor(new Float32Array(4), [1, 4]);
    const y = l2normalize(z);
    assertClose(await y.toArray(), [0, 0, 0, 0], { atol: 0, rtol: 0 }, "l2normalize of zeros");
    z.dispose();
    y.dispose();
  },
});

Deno.test({
  name: "norm: bad input names the op and the shapes",
  ...gpuTest,
  fn: () => {
    const x = tensor(new Float32Array(24), [4, 6]);
    const w5 = tensor(new Float32Array(5), [5]);
    const w2d = tensor(new Float32Array(6), [1, 6]);
    const wi = tensor(new Int32Array(6), [6]);
    const xi = tensor(new Int32Array(6), [6]);
    assertThrows(
      () => layerNorm(x, w5),
      "layerNorm: weight [5] does not match the last dimension of x [4,6] (want [6])",
    );
    assertThrows(() => layerNorm(x, null, w2d), "layerNorm: bias [1,6] does not match");
    assertThrows(() => layerNorm(x, wi), "layerNorm: weight must be f32, got i32 tensor [6]");
    assertThrows(() => layerNorm(xi), "layerNorm: input must be f32, got i32 tensor [6]");
    assertThrows(() => layerNorm(x, null, null, -1), "layerNorm: eps must be a finite number");
    assertThrows(() => l2normalize(x, 0), "l2normalize: eps must be a finite number > 0");
    assertThrows(() => l2normalize(xi), "l2normalize: input must be f32");
    const s = tensor(3);
    assertThrows(() => layerNorm(s), "layerNorm: needs at least one dimension");
    assertThrows(() => s.l2normalize(), "l2normalize: needs at least one dimension");
    for (const t of [x, w5, w2d, wi, xi, s]) t.dispose();
  },
});
