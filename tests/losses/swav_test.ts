import { assertClose, assertThrows, checkOp, gpuTest, randArray, setup } from "../helpers.ts";
import { tensor } from "../../lib/tensor/tensor.ts";
import { sinkhorn, swavLoss } from "../../lib/losses/swav.ts";
import { refSinkhorn, refSwav } from "./reference.ts";

await setup();

const K = 17;

function sums(x: ArrayLike<number>, N: number, K: number) {
  const rows = new Float64Array(N);
  const cols = new Float64Array(K);
  for (let n = 0; n < N; n++) {
    for (let k = 0; k < K; k++) {
      rows[n] += x[n * K + k];
      cols[k] += x[n * K + k];
    }
  }
  return { rows, cols };
}

for (const N of [3, 7, 35]) {
  Deno.test(`sinkhorn: N=${N}, K=${K}, 3 iterations vs float64; marginals`, gpuTest, async () => {
    const s = randArray(N * K, N);
    const codes = sinkhorn(tensor(Float32Array.from(s), [N, K]));
    const got = await codes.toArray();
    const want = refSinkhorn(s, N, K, 0.05, 3);
    assertClose(got, want, { atol: 1e-6, rtol: 2e-5 }, "codes");
    const g = sums(got, N, K);
    const w = sums(want, N, K);
    assertClose(
      g.rows,
      new Float64Array(N).fill(1),
      { atol: 2e-6, rtol: 0 },
      "each sample sums to 1",
    );
    assertClose(g.cols, w.cols, { atol: 1e-5, rtol: 1e-5 }, "prototype marginals");
  });
}

Deno.test("sinkhorn: converged marginals (100 iterations) are N/K and 1", gpuTest, async () => {
  const N = 35;
  const s = randArray(N * K, 3);
  const got = await sinkhorn(tensor(Float32Array.from(s), [N, K]), { iterations: 100 }).toArray();
  const { rows, cols } = sums(got, N, K);
  assertClose(rows, new Float64Array(N).fill(1), { atol: 2e-6, rtol: 0 }, "rows");
  assertClose(cols, new Float64Array(K).fill(N / K), { atol: 1e-4, rtol: 0 }, "columns");
  assertClose(got, refSinkhorn(s, N, K, 0.05, 100), { atol: 1e-6, rtol: 1e-4 }, "codes");
});

Deno.test("sinkhorn: large scores (exp(score/eps) overflows f32) stay exact", gpuTest, async () => {
  const N = 7;
  const s = randArray(N * K, 4, -8, 8); // up to exp(160)
  const got = await sinkhorn(tensor(Float32Array.from(s), [N, K])).toArray();
  assertClose(got, refSinkhorn(s, N, K, 0.05, 3), { atol: 1e-6, rtol: 1e-4 }, "codes");
});

for (const B of [3, 7]) {
  for (const mode of ["dino", "mugs"] as const) {
    Deno.test(
      `swavLoss: B=${B}, 2 global + 3 local views, K=${K}, ${mode} averaging`,
      gpuTest,
      async () => {
        const V = 5;
        const data = randArray(V * B * K, 40 + B);
        const frozen = data.slice(); // codes are computed without gradient
        await checkOp(`swavLoss B=${B}`, {
          inputs: [{ shape: [V * B, K], data }],
          gpu: (s) => swavLoss(s, { views: V, pairing: mode }),
          ref: (s) =>
            Float64Array.of(
              refSwav(s, frozen, {
                V,
                B,
                K,
                T: 0.1,
                eps: 0.05,
                iters: 3,
                assign: [0, 1],
                mode,
              }),
            ),
          fwd: { atol: 2e-5, rtol: 2e-5 },
          bwd: { atol: 2e-4, rtol: 2e-3 },
          seed: B,
        });
      },
    );
  }
}

Deno.test(
  "swavLoss: official averaging = per assigned view over V - 1, then over views",
  gpuTest,
  async () => {
    const B = 3;
    const V = 4;
    const s = randArray(V * B * K, 50);
    const loss = await swavLoss(tensor(Float32Array.from(s), [V * B, K]), {
      views: V,
      assign: [1],
      epsilon: 0.1,
      iterations: 5,
      temperature: 0.2,
    }).item();
    const want = refSwav(s, s, {
      V,
      B,
      K,
      T: 0.2,
      eps: 0.1,
      iters: 5,
      assign: [1],
      mode: "dino",
    });
    assertClose([loss], [want], { atol: 2e-5, rtol: 2e-5 }, "assign [1]");
  },
);

Deno.test(
  "swavLoss: queued scores join the Sinkhorn, only the batch's codes are used",
  gpuTest,
  async () => {
    const B = 3;
    const V = 3;
    const Q = 8;
    const s = randArray(V * B * K, 60);
    const q0 = randArray(Q * K, 61);
    const loss = await swavLoss(tensor(Float32Array.from(s), [V * B, K]), {
      views: V,
      queued: [tensor(Float32Array.from(q0), [Q, K]), null],
    }).item();
    // reference: codes of view 0 from [queue; view 0], last B rows; view 1 alone
    const all = new Float64Array((Q + B) * K);
    all.set(q0);
    all.set(s.subarray(0, B * K), Q * K);
    const c0 = refSinkhorn(all, Q + B, K, 0.05, 3).subarray(Q * K);
    const c1 = refSinkhorn(s.subarray(B * K, 2 * B * K), B, K, 0.05, 3);
    let total = 0;
    let n = 0;
    for (const [a, c] of [[0, c0], [1, c1]] as const) {
      for (let v = 0; v < V; v++) {
        if (v === a) continue;
        let l = 0;
        for (let b = 0; b < B; b++) {
          const x = Array.from(s.subarray((v * B + b) * K, (v * B + b + 1) * K), (y) => y / 0.1);
          const mx = Math.max(...x);
          const lse = mx + Math.log(x.reduce((acc, y) => acc + Math.exp(y - mx), 0));
          for (let k = 0; k < K; k++) l -= c[b * K + k] * (x[k] - lse);
        }
        total += l / B;
        n++;
      }
    }
    assertClose([loss], [total / n], { atol: 2e-5, rtol: 2e-5 }, "with queue");
  },
);

Deno.test("swavLoss / sinkhorn: argument errors", gpuTest, () => {
  const s = tensor(new Float32Array(10 * K), [10, K]);
  assertThrows(() => swavLoss(s, { views: 3 }), "swavLoss: want scores [3*B, K], got [10,17]");
  assertThrows(() => swavLoss(s, { views: 5, assign: [0, 5] }), "assign");
  assertThrows(() => sinkhorn(s, { epsilon: 0 }), "epsilon");
  assertThrows(() => sinkhorn(tensor(new Float32Array(4), [4])), "sinkhorn: want scores [N, K]");
});
