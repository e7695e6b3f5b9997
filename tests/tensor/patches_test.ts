// Patch extraction: forward against a float64 reference, backward against finite
// differences, and the PatchEmbed identity: patchify(x) @ W.reshape(D, C*p*p)^T equals a
// float64 Conv2d(C, D, kernel p, stride p), flattened and transposed.
// Tolerances: patchify copies values, so forward is exact (atol 0); its backward is the
// inverse copy, exact up to the float64 finite-difference rounding (1e-6). The conv
// identity sums C*p*p float32-exact products in float64: 1e-9.
import {
  assertClose,
  assertEquals,
  assertThrows,
  checkOp,
  gpuTest,
  randArray,
  setup,
} from "../helpers.ts";
import { tensor } from "../../lib/tensor/tensor.ts";
import { patchify } from "../../lib/tensor/ops/patches.ts";
import { gpuStats, sync, useKernels } from "../../lib/gpu/device.ts";
import { tidy } from "../../lib/tensor/scope.ts";

await setup();

function patchifyRef(x: Float64Array, [N, C, H, W]: number[], p: number): Float64Array {
  const GH = H / p, GW = W / p, F = C * p * p;
  const out = new Float64Array(x.length);
  for (let n = 0; n < N; n++) {
    for (let gy = 0; gy < GH; gy++) {
      for (let gx = 0; gx < GW; gx++) {
        for (let c = 0; c < C; c++) {
          for (let py = 0; py < p; py++) {
            for (let px = 0; px < p; px++) {
              const t = gy * GW + gx;
              const f = (c * p + py) * p + px;
              out[(n * GH * GW + t) * F + f] = x[((n * C + c) * H + gy * p + py) * W + gx * p + px];
            }
          }
        }
      }
    }
  }
  return out;
}

Deno.test({
  name: "patches: patchify forward/backward",
  ...gpuTest,
  fn: async () => {
    const cases: [number[], number][] = [
      [[1, 1, 1, 1], 1],
      [[1, 1, 4, 4], 4], // one patch
      [[1, 3, 7, 7], 7],
      [[2, 1, 28, 28], 4], // Fashion-MNIST, patch 4: 7 x 7 grid
      [[2, 3, 32, 32], 4], // CIFAR-10
      [[1, 2, 13, 26], 13],
      [[1, 3, 8, 8], 1],
      [[1, 3, 64, 64], 16],
      [[1, 2, 50, 64], 2],
    ];
    for (const [shape, p] of cases) {
      const [N, C, H, W] = shape;
      await checkOp(`patchify [${shape}] p ${p}`, {
        inputs: [{ shape }],
        gpu: (x) => {
          const y = patchify(x, p);
          assertEquals(y.shape, [N, (H / p) * (W / p), C * p * p], "shape");
          return y;
        },
        ref: (x) => patchifyRef(x, shape, p),
        fwd: { atol: 0, rtol: 0 },
        bwd: { atol: 1e-6, rtol: 1e-6 },
      });
    }
  },
});

Deno.test({
  name: "patches: patchify @ W^T equals Conv2d(kernel p, stride p) flattened and transposed",
  ...gpuTest,
  fn: async () => {
    for (const [N, C, H, W, p, D] of [[2, 3, 12, 8, 4, 5], [1, 1, 28, 28, 7, 13]]) {
      const x = randArray(N * C * H * W, 1);
      const w = randArray(D * C * p * p, 2); // Conv2d weight [D, C, p, p]
      const GH = H / p, GW = W / p, F = C * p * p;
      // float64 Conv2d, output [N, D, GH, GW]
      const conv = new Float64Array(N * D * GH * GW);
      for (let n = 0; n < N; n++) {
        for (let d = 0; d < D; d++) {
          for (let gy = 0; gy < GH; gy++) {
            for (let gx = 0; gx < GW; gx++) {
              let s = 0;
              for (let c = 0; c < C; c++) {
                for (let ky = 0; ky < p; ky++) {
                  for (let kx = 0; kx < p; kx++) {
                    s += w[((d * C + c) * p + ky) * p + kx] *
                      x[((n * C + c) * H + gy * p + ky) * W + gx * p + kx];
                  }
                }
              }
              conv[((n * D + d) * GH + gy) * GW + gx] = s;
            }
          }
        }
      }
      // GPU patches, then patches @ W.reshape(D, F)^T in float64
      const xt = tensor(Float32Array.from(x), [N, C, H, W]);
      const pt = patchify(xt, p);
      const patches = await pt.toArray();
      const got = new Float64Array(N * GH * GW * D);
      const want = new Float64Array(N * GH * GW * D);
      for (let n = 0; n < N; n++) {
        for (let t = 0; t < GH * GW; t++) {
          for (let d = 0; d < D; d++) {
            let s = 0;
            for (let f = 0; f < F; f++) s += patches[(n * GH * GW + t) * F + f] * w[d * F + f];
            got[(n * GH * GW + t) * D + d] = s;
            // conv.flatten(2).transpose(1, 2)
            want[(n * GH * GW + t) * D + d] = conv[(n * D + d) * GH * GW + t];
          }
        }
      }
      assertClose(got, want, { atol: 1e-9, rtol: 1e-9 }, `PatchEmbed [${N},${C},${H},${W}] p ${p}`);
      xt.dispose();
      pt.dispose();
    }
  },
});

Deno.test({
  name: "patches: bad input",
  ...gpuTest,
  fn: () => {
    const x = tensor(new Float32Array(2 * 3 * 30 * 32), [2, 3, 30, 32]);
    assertThrows(
      () => patchify(x, 4),
      "patchify: height 30 and width 32 of input [2,3,30,32] must be divisible by the patch size 4",
    );
    assertThrows(() => patchify(x, 0), "patchify: patch size must be a positive integer, got 0");
    assertThrows(
      () => patchify(tensor(new Float32Array(16), [4, 4]), 2),
      "patchify: input must be [N, C, H, W], got [4,4]",
    );
    const i = tensor(new Int32Array(16), [1, 1, 4, 4], { dtype: "i32" });
    assertThrows(() => patchify(i, 2), "patchify: input must be f32");
    x.dispose();
    i.dispose();
  },
});

Deno.test({
  name: "patches: GPU-shaped kernels (one element per invocation) agree; no leaks",
  ...gpuTest,
  fn: async () => {
    const prev = useKernels("gpu");
    try {
      await checkOp("patchify [2,3,12,8] p 4 gpu kernels", {
        inputs: [{ shape: [2, 3, 12, 8] }],
        gpu: (x) => patchify(x, 4),
        ref: (x) => patchifyRef(x, [2, 3, 12, 8], 4),
        fwd: { atol: 0, rtol: 0 },
        bwd: { atol: 1e-6, rtol: 1e-6 },
      });
    } finally {
      useKernels(prev);
    }
    const x = tensor(new Float32Array(2 * 3 * 8 * 8), [2, 3, 8, 8], { requiresGrad: true });
    const step = () => {
      tidy(() => {
        const y = patchify(x, 4);
        y.backward(y);
      });
      x.grad!.dispose();
      x.grad = null;
    };
    step();
    await sync();
    const before = gpuStats().inUse;
    for (let i = 0; i < 3; i++) step();
    await sync();
    assertEquals(gpuStats().inUse, before, "buffers in use after 3 more steps");
    x.dispose();
  },
});
