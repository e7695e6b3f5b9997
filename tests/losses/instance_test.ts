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
import { infoNCE, instanceLoss } from "../../lib/losses/instance.ts";
import { localGroupLoss } from "../../lib/losses/local_group.ts";
import { refInfoNCE } from "./reference.ts";

await setup();

const D = 13;
const K = 50;
/** Forward: f32 GPU vs float64 loop; gradient vs central differences (eps 1e-4). */
const FWD = { atol: 2e-5, rtol: 2e-5 };
const BWD = { atol: 2e-4, rtol: 2e-3 };

for (const B of [3, 7]) {
  Deno.test(`infoNCE: one pair, B=${B}, D=${D}, queue ${K}`, gpuTest, async () => {
    await checkOp(`infoNCE B=${B}`, {
      inputs: [{ shape: [B, D] }, { shape: [B, D], grad: false }, { shape: [K, D], grad: false }],
      gpu: (q, k, queue) => infoNCE(q, k, queue),
      ref: (q, k, queue) =>
        Float64Array.of(
          refInfoNCE(q, k, queue, {
            vs: 1,
            vt: 1,
            B,
            D,
            K,
            T: 0.2,
            mode: "dino",
            normalize: true,
            single: true,
          }),
        ),
      fwd: FWD,
      bwd: BWD,
      seed: B,
    });
  });

  for (const mode of ["mugs", "dino"] as const) {
    for (
      const [name, fn] of [["instanceLoss", instanceLoss], [
        "localGroupLoss",
        localGroupLoss,
      ]] as const
    ) {
      Deno.test(
        `${name}: 2 teacher + (2 global + 3 local) student views, B=${B}, ${mode} averaging`,
        gpuTest,
        async () => {
          const vs = 5;
          await checkOp(`${name} B=${B} ${mode}`, {
            inputs: [
              { shape: [vs * B, D] },
              { shape: [2 * B, D], grad: false },
              { shape: [K, D], grad: false },
            ],
            gpu: (s, t, queue) => fn(s, t, queue, { studentViews: vs, pairing: mode }),
            ref: (s, t, queue) =>
              Float64Array.of(
                refInfoNCE(s, t, queue, { vs, vt: 2, B, D, K, T: 0.2, mode, normalize: true }),
              ),
            fwd: FWD,
            bwd: BWD,
            seed: 10 + B,
          });
        },
      );
    }
  }
}

// in-batch negatives (MoCo v3's keys): with the queue (B = 1, 7; 4 student views) or alone
// (B = 6; 3 views; the reference then has no queue)
for (
  const [negatives, B, vs, seed] of [
    ["queue+batch", 1, 4, 41],
    ["queue+batch", 7, 4, 47],
    ["batch", 6, 3, 60],
  ] as const
) {
  Deno.test(`instanceLoss: ${negatives} negatives, B=${B}`, gpuTest, async () => {
    const withQueue = negatives === "queue+batch";
    await checkOp(`instanceLoss ${negatives} B=${B}`, {
      inputs: [
        { shape: [vs * B, D] },
        { shape: [2 * B, D], grad: false },
        { shape: [K, D], grad: false },
      ],
      gpu: (s, t, queue) => instanceLoss(s, t, queue, { studentViews: vs, negatives }),
      ref: (s, t, queue) =>
        Float64Array.of(
          refInfoNCE(s, t, withQueue ? queue : new Float64Array(0), {
            vs,
            vt: 2,
            B,
            D,
            K: withQueue ? K : 0,
            T: 0.2,
            mode: "mugs",
            normalize: true,
            batch: true,
          }),
        ),
      fwd: FWD,
      bwd: BWD,
      seed,
    });
  });
}

Deno.test("instanceLoss: no normalisation, T=0.1, MoCo v3's 2T scaling", gpuTest, async () => {
  const B = 3;
  const vs = 4;
  await checkOp("instanceLoss raw", {
    inputs: [
      { shape: [vs * B, D] },
      { shape: [2 * B, D], grad: false },
      { shape: [K, D], grad: false },
    ],
    gpu: (s, t, queue) =>
      instanceLoss(s, t, queue, {
        studentViews: vs,
        temperature: 0.1,
        normalize: false,
        scaleBy2T: true,
      }),
    ref: (s, t, queue) =>
      Float64Array.of(
        refInfoNCE(s, t, queue, {
          vs,
          vt: 2,
          B,
          D,
          K,
          T: 0.1,
          mode: "mugs",
          normalize: false,
          scaleBy2T: true,
        }),
      ),
    fwd: FWD,
    bwd: BWD,
    seed: 5,
  });
});

Deno.test("instanceLoss: the teacher and the queue get no gradient", gpuTest, async () => {
  const B = 3;
  const s = tensor(Float32Array.from(randArray(4 * B * D, 1)), [4 * B, D], { requiresGrad: true });
  const t = tensor(Float32Array.from(randArray(2 * B * D, 2)), [2 * B, D], { requiresGrad: true });
  const q = tensor(Float32Array.from(randArray(K * D, 3)), [K, D], { requiresGrad: true });
  const loss = instanceLoss(s, t, q, { studentViews: 4 });
  loss.backward();
  assert(s.grad !== null, "student gradient");
  assert(t.grad === null && q.grad === null, "teacher and queue must be detached");
  const g = await s.grad!.toArray();
  assertClose([g.every(Number.isFinite) ? 1 : 0], [1], { atol: 0, rtol: 0 }, "finite");
});

Deno.test("instanceLoss: shape errors name the loss and the shapes", gpuTest, () => {
  const s = tensor(new Float32Array(5 * 3 * D), [15, D]);
  const t = tensor(new Float32Array(2 * 3 * D), [6, D]);
  const q = tensor(new Float32Array(K * D), [K, D]);
  const bad = tensor(new Float32Array(K * 4), [K, 4]);
  assertThrows(
    () => instanceLoss(s, t, q, { studentViews: 4 }),
    "instanceLoss: shapes do not match",
  );
  assertThrows(() => localGroupLoss(s, t, bad, { studentViews: 5 }), "queue [50,4]");
  assertThrows(() => instanceLoss(s, t, q, { studentViews: 5, temperature: 0 }), "temperature");
  assertThrows(() => infoNCE(s, t, q), "infoNCE: prediction [15,13] and target [6,13]");
});
