import { assertClose, assertThrows, checkOp, gpuTest, randArray, setup } from "../helpers.ts";
import { attention } from "../../lib/tensor/ops/attention.ts";
import { tensor } from "../../lib/tensor/tensor.ts";

await setup();

/** float64 attention on qkv [B, N, 3, H, d]: out [B, N, H*d] and probabilities [B, H, N, N]. */
function ref(qkv: Float64Array, B: number, N: number, H: number, d: number, scale: number) {
  const C = H * d;
  const out = new Float64Array(B * N * C);
  const P = new Float64Array(B * H * N * N);
  const at = (b: number, n: number, s: number, h: number, e: number) =>
    qkv[(((b * N + n) * 3 + s) * H + h) * d + e];
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < H; h++) {
      for (let i = 0; i < N; i++) {
        const s = new Float64Array(N);
        let mx = -Infinity;
        for (let j = 0; j < N; j++) {
          for (let e = 0; e < d; e++) s[j] += at(b, i, 0, h, e) * at(b, j, 1, h, e) * scale;
          mx = Math.max(mx, s[j]);
        }
        let z = 0;
        for (let j = 0; j < N; j++) z += s[j] = Math.exp(s[j] - mx);
        for (let j = 0; j < N; j++) P[((b * H + h) * N + i) * N + j] = s[j] / z;
        for (let e = 0; e < d; e++) {
          let acc = 0;
          for (let j = 0; j < N; j++) acc += (s[j] / z) * at(b, j, 2, h, e);
          out[(b * N + i) * C + h * d + e] = acc;
        }
      }
    }
  }
  return { out, P };
}

Deno.test({
  name: "attention: fused forward and backward against float64 on odd sizes",
  ...gpuTest,
  fn: async () => {
    for (
      const [B, N, H, d] of [
        [1, 1, 1, 1],
        [2, 7, 3, 5],
        [3, 13, 2, 16],
        [2, 50, 4, 16],
        [2, 9, 2, 40],
        [1, 17, 2, 64],
        [1, 5, 1, 80],
        [8, 50, 4, 16],
      ]
    ) {
      // the last spans two uniform windows (16 pairs of 50 rows each per window)
      const scale = d ** -0.5;
      // forward and probabilities: f32 exp/sum, ~1e-6 relative
      await checkOp(`attention B${B} N${N} H${H} d${d}`, {
        inputs: [{ shape: [B, N, 3 * H * d], data: randArray(B * N * 3 * H * d, 3, -2, 2) }],
        gpu: (qkv) => attention(qkv, H, scale).out,
        ref: (qkv) => ref(qkv, B, N, H, d, scale).out,
        fwd: { atol: 2e-6, rtol: 1e-5 },
        bwd: { atol: 1e-4, rtol: 1e-3 },
        eps: 1e-4,
        maxGradChecks: 120,
      });
      const data = randArray(B * N * 3 * H * d, 4, -2, 2);
      const { probs } = attention(tensor(Float32Array.from(data), [B, N, 3 * H * d]), H, scale, {
        probs: true,
      });
      assertClose(
        await probs!.toArray(),
        ref(data, B, N, H, d, scale).P,
        { atol: 1e-6, rtol: 1e-5 },
        "probabilities",
      );
    }
  },
});

Deno.test({
  name: "attention: bad shapes name the op and the shape",
  ...gpuTest,
  fn: () => {
    assertThrows(
      () => attention(tensor(new Float32Array(30), [2, 5, 3]), 2, 1),
      "attention: qkv must be [B, N, 3*heads*d]",
    );
    assertThrows(
      () => attention(tensor(new Float32Array(60), [2, 30]), 2, 1),
      "attention: qkv must be",
    );
  },
});
