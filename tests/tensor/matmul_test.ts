import {
  assert,
  assertClose,
  assertThrows,
  checkOp,
  gpuTest,
  randArray,
  setup,
} from "../helpers.ts";
import { noGrad } from "../../lib/tensor/tape.ts";
import { tensor } from "../../lib/tensor/tensor.ts";
import { useKernels } from "../../lib/gpu/device.ts";
import { linear, matmul, mlp } from "../../lib/tensor/ops/matmul.ts";
import { gelu as refGelu, linear as refLinear } from "../nn/reference.ts";

await setup();

/** float64 reference: op(A) @ op(B) per batch element; batch strides 0 when shared. */
function refMatmul(
  a: Float64Array,
  b: Float64Array,
  batch: number,
  M: number,
  N: number,
  K: number,
  ta: boolean,
  tb: boolean,
  aShared: boolean,
  bShared: boolean,
): Float64Array {
  const out = new Float64Array(batch * M * N);
  for (let z = 0; z < batch; z++) {
    const oa = aShared ? 0 : z * M * K;
    const ob = bShared ? 0 : z * K * N;
    for (let m = 0; m < M; m++) {
      for (let n = 0; n < N; n++) {
        let s = 0;
        for (let k = 0; k < K; k++) {
          const av = ta ? a[oa + k * M + m] : a[oa + m * K + k];
          const bv = tb ? b[ob + n * K + k] : b[ob + k * N + n];
          s += av * bv;
        }
        out[z * M * N + m * N + n] = s;
      }
    }
  }
  return out;
}

const SIZES: [number, number, number][] = [
  [1, 1, 1],
  [7, 13, 5],
  [13, 7, 50],
  [50, 64, 13],
  [64, 64, 64],
  [65, 3, 257],
  [257, 9, 33],
];

for (const ta of [false, true]) {
  for (const tb of [false, true]) {
    Deno.test({
      name: `matmul: ${ta ? "A^T" : "A"} @ ${
        tb ? "B^T" : "B"
      } forward/backward, odd and round sizes`,
      ...gpuTest,
      fn: async () => {
        for (const [M, N, K] of SIZES) {
          await checkOp(`matmul ${M}x${N}x${K}`, {
            inputs: [{ shape: ta ? [K, M] : [M, K] }, { shape: tb ? [N, K] : [K, N] }],
            gpu: (a, b) => matmul(a, b, { transA: ta, transB: tb }),
            ref: (a, b) => refMatmul(a, b, 1, M, N, K, ta, tb, false, false),
            // f32 accumulation of K products of values in [-1, 1): error grows ~ sqrt(K) ulp
            fwd: { atol: 1e-5, rtol: 1e-5 },
            bwd: { atol: 1e-3, rtol: 1e-3 },
            eps: 1e-3,
            maxGradChecks: 60,
          });
        }
      },
    });
  }
}

Deno.test({
  name: "matmul: batched, and one operand shared across the batch",
  ...gpuTest,
  fn: async () => {
    const [Z, M, N, K] = [3, 7, 5, 13];
    for (const ta of [false, true]) {
      for (const tb of [false, true]) {
        const sa = ta ? [K, M] : [M, K];
        const sb = tb ? [N, K] : [K, N];
        await checkOp(`batched ${ta} ${tb}`, {
          inputs: [{ shape: [Z, ...sa] }, { shape: [Z, ...sb] }],
          gpu: (a, b) => matmul(a, b, { transA: ta, transB: tb }),
          ref: (a, b) => refMatmul(a, b, Z, M, N, K, ta, tb, false, false),
          fwd: { atol: 1e-5, rtol: 1e-5 },
          bwd: { atol: 1e-3, rtol: 1e-3 },
          eps: 1e-3,
        });
        await checkOp(`shared B ${ta} ${tb}`, {
          inputs: [{ shape: [Z, ...sa] }, { shape: sb }],
          gpu: (a, b) => matmul(a, b, { transA: ta, transB: tb }),
          ref: (a, b) => refMatmul(a, b, Z, M, N, K, ta, tb, false, true),
          fwd: { atol: 1e-5, rtol: 1e-5 },
          bwd: { atol: 1e-3, rtol: 1e-3 },
          eps: 1e-3,
        });
        await checkOp(`shared A ${ta} ${tb}`, {
          inputs: [{ shape: sa }, { shape: [2, Z, ...sb] }],
          gpu: (a, b) => matmul(a, b, { transA: ta, transB: tb }),
          ref: (a, b) => refMatmul(a, b, 2 * Z, M, N, K, ta, tb, true, false),
          fwd: { atol: 1e-5, rtol: 1e-5 },
          bwd: { atol: 1e-3, rtol: 1e-3 },
          eps: 1e-3,
        });
      }
    }
  },
});

Deno.test({
  name: "matmul: the register-blocked and the tiled kernel agree on both paths",
  ...gpuTest,
  fn: async () => {
    const [M, N, K] = [70, 130, 45];
    const a = randArray(M * K, 9);
    const b = randArray(K * N, 10);
    const want = refMatmul(a, b, 1, M, N, K, false, false, false, false);
    for (const kernels of ["cpu", "gpu"] as const) {
      const prev = useKernels(kernels);
      try {
        const c = matmul(
          tensor(Float32Array.from(a), [M, K]),
          tensor(Float32Array.from(b), [K, N]),
        );
        assertClose(await c.toArray(), want, { atol: 1e-5, rtol: 1e-5 }, `${kernels} kernel`);
      } finally {
        useKernels(prev);
      }
    }
  },
});

Deno.test({
  name: "matmul: shape errors name both shapes",
  ...gpuTest,
  fn: () => {
    const a = tensor(new Float32Array(6), [2, 3]);
    const b = tensor(new Float32Array(8), [4, 2]);
    assertThrows(() => a.matmul(b), "matmul(A, B): inner dimensions differ: [2,3] and [4,2]");
    assertThrows(() => a.matmul(tensor(new Float32Array(3), [3])), "operands need at least 2 dims");
    const c = tensor(new Float32Array(24), [2, 4, 3]);
    const d = tensor(new Float32Array(27), [3, 3, 3]);
    assertThrows(() => c.matmul(d), "batch dims [2] and [3] differ");
  },
});

Deno.test({
  name: "matmul: long K (past llvmpipe's per-invocation loop cap) on every kernel shape",
  ...gpuTest,
  fn: async () => {
    // llvmpipe silently ends loops after ~65k iterations per invocation; K = 9000 crosses it
    const [Z, M, N, K] = [2, 9, 7, 9000];
    const a = randArray(Z * M * K, 21);
    const b = randArray(Z * K * N, 22);
    const want = refMatmul(a, b, Z, M, N, K, false, false, false, false);
    for (const kernels of ["cpu", "gpu"] as const) {
      const prev = useKernels(kernels);
      try {
        const c = matmul(
          tensor(Float32Array.from(a), [Z, M, K]),
          tensor(Float32Array.from(b), [Z, K, N]),
        );
        assertClose(
          await c.toArray(),
          want,
          { atol: 2e-4, rtol: 1e-4 },
          `${kernels} kernel, K = ${K}`,
        );
      } finally {
        useKernels(prev);
      }
    }
    // the packed (uniform-tile) path: one 2-D product with long K
    const a2 = randArray(64 * K, 23);
    const b2 = randArray(K * 32, 24);
    const c2 = matmul(
      tensor(Float32Array.from(a2), [64, K]),
      tensor(Float32Array.from(b2), [K, 32]),
    );
    assertClose(await c2.toArray(), refMatmul(a2, b2, 1, 64, 32, K, false, false, false, false), {
      atol: 2e-4,
      rtol: 1e-4,
    }, "packed path, long K");
  },
});

Deno.test({
  name: "matmul: linear (x W^T + b, bias fused in the epilogue) forward/backward",
  ...gpuTest,
  fn: async () => {
    // with the software adapter's kernels, small products take the plain path; the others the
    // windowed one, with the bias fused in the forward's epilogue and its gradient in dW's
    // product: 70x64x60 and 130x65x257 pack dW's operands (K = R is not a multiple of 4; 257
    // columns are five column blocks); 3300x24 -> 20 reads them in place over several k
    // dispatches that accumulate
    const prev = useKernels("cpu");
    try {
      for (const [R, O, I] of [[7, 5, 3], [70, 64, 60], [130, 65, 257], [3300, 20, 24]]) {
        await checkOp(`linear ${R}x${I} -> ${O}`, {
          inputs: [{ shape: [R, I] }, { shape: [O, I] }, { shape: [O] }],
          gpu: (x, w, b) => linear(x, w, b),
          ref: (x, w, b) => {
            const y = refMatmul(x, w, 1, R, O, I, false, true, false, false);
            return y.map((v, i) => v + b[i % O]);
          },
          fwd: { atol: 1e-5, rtol: 1e-5 },
          // the bias gradient of 3300 rows sums 3300 terms
          bwd: { atol: R > 1000 ? 3e-3 : 1e-3, rtol: 1e-3 },
          eps: 1e-3,
          maxGradChecks: R > 1000 ? 20 : 60,
        });
      }
    } finally {
      useKernels(prev);
    }
    assertThrows(
      () => linear(tensor(new Float32Array(6), [2, 3]), tensor(new Float32Array(8), [2, 4])),
      "linear: input [2,3] and weight [2,4] do not match",
    );
  },
});

Deno.test({
  name: "matmul: mlp (fc1, exact GELU, fc2; fused on the windowed path) forward/backward",
  ...gpuTest,
  fn: async () => {
    // [R, I, H, O] with the software adapter's kernels: 77x52x68x52 takes the windowed path
    // with every epilogue vectorised; 77x52x67x53 with scalar stores and K = 67 (fc2's
    // products pack their operands); 7x5x9x3 is unfused. The GPU kernel choice is unfused.
    const prev = useKernels("cpu");
    try {
      for (const kernels of ["cpu", "gpu"] as const) {
        useKernels(kernels);
        for (const [R, I, H, O] of [[77, 52, 68, 52], [77, 52, 67, 53], [7, 5, 9, 3]]) {
          for (const bias of [true, false]) {
            await checkOp(
              `mlp ${R}x${I} -> ${H} -> ${O}${bias ? "" : " (no biases)"} (${kernels})`,
              {
                inputs: [
                  { shape: [R, I] },
                  { shape: [H, I] },
                  { shape: [H], grad: bias },
                  { shape: [O, H] },
                  { shape: [O], grad: bias },
                ],
                gpu: (x, w1, b1, w2, b2) => mlp(x, w1, bias ? b1 : null, w2, bias ? b2 : null),
                ref: (x, w1, b1, w2, b2) => {
                  const h = refGelu(refLinear(x, R, I, w1, bias ? b1 : null, H));
                  return refLinear(h, R, H, w2, bias ? b2 : null, O);
                },
                fwd: { atol: 1e-5, rtol: 1e-5 },
                bwd: { atol: 1e-3, rtol: 1e-3 },
                eps: 1e-3,
                maxGradChecks: 16,
              },
            );
          }
        }
      }
      useKernels("cpu");
      // K = 4100 for fc1 and for the product that applies gelu': several k dispatches each, so
      // the GELU (and gelu') must wait for the last one; values in [-0.2, 0.2) keep the
      // pre-activations O(1)
      {
        const [R, I, H, O] = [16, 4100, 64, 4100];
        const small = (n: number, seed: number) => randArray(n, seed, -0.2, 0.2);
        await checkOp(`mlp ${R}x${I} -> ${H} -> ${O} (long K)`, {
          inputs: [
            { shape: [R, I], data: small(R * I, 1) },
            { shape: [H, I], data: small(H * I, 2) },
            { shape: [H], data: small(H, 3) },
            { shape: [O, H], data: small(O * H, 4) },
            { shape: [O], data: small(O, 5) },
          ],
          gpu: (x, w1, b1, w2, b2) => mlp(x, w1, b1, w2, b2),
          ref: (x, w1, b1, w2, b2) =>
            refLinear(refGelu(refLinear(x, R, I, w1, b1, H)), R, H, w2, b2, O),
          fwd: { atol: 1e-4, rtol: 1e-4 },
          bwd: { atol: 1e-3, rtol: 1e-3 },
          eps: 1e-3,
          maxGradChecks: 6,
        });
      }
      // with nothing to back-propagate (noGrad, or no input needing a gradient) fc1's epilogue
      // keeps no pre-activation: same values, checked against the float64 reference
      for (const [R, I, H, O] of [[77, 52, 68, 52], [77, 52, 67, 53], [16, 4100, 64, 40]]) {
        const a = [[R, I], [H, I], [H], [O, H], [O]].map((sh, i) =>
          randArray(sh.reduce((p, q) => p * q), 10 + i, -0.2, 0.2)
        );
        const [x, w1, b1, w2, b2] = a.map((d, i) =>
          tensor(Float32Array.from(d), [[R, I], [H, I], [H], [O, H], [O]][i])
        );
        const want = refLinear(refGelu(refLinear(a[0], R, I, a[1], a[2], H)), R, H, a[3], a[4], O);
        for (const what of ["no input needs a gradient", "noGrad"]) {
          w1.requiresGrad = what === "noGrad";
          const y = what === "noGrad"
            ? noGrad(() => mlp(x, w1, b1, w2, b2))
            : mlp(x, w1, b1, w2, b2);
          assert(!y.requiresGrad, `mlp ${R}x${I} (${what}) must not record`);
          assertClose(await y.toArray(), want, { atol: 1e-5, rtol: 1e-4 }, `mlp ${R}x${I} ${what}`);
        }
        w1.requiresGrad = false;
      }
    } finally {
      useKernels(prev);
    }
    const t = (...shape: number[]) =>
      tensor(new Float32Array(shape.reduce((a, b) => a * b)), shape);
    assertThrows(
      () => mlp(t(4, 3), t(5, 2), null, t(2, 5), null),
      "mlp: input [4,3] and fc1 weight",
    );
    assertThrows(() => mlp(t(4, 3), t(5, 3), null, t(2, 4), null), "fc2 weight [2,4]");
    assertThrows(() => mlp(t(4, 3), t(5, 3), t(4), t(2, 5), null), "fc1 bias [4]");
  },
});
