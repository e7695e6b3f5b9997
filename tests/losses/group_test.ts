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
import { GroupLoss, teacherTempSchedule } from "../../lib/losses/group.ts";
import { refGroup, refTeacherProbs } from "./reference.ts";

await setup();

const m = 17;
const vs = 5; // 2 global + 3 local
const vt = 2;
/** Forward: f32 GPU vs float64 loop; gradient vs central differences (eps 1e-4). */
const FWD = { atol: 2e-5, rtol: 2e-5 };
const BWD = { atol: 2e-4, rtol: 2e-3 };

for (const B of [3, 7]) {
  for (const mode of ["mugs", "dino"] as const) {
    Deno.test(
      `GroupLoss: B=${B}, m=${m}, ${vt} x ${vs} views, ${mode} averaging`,
      gpuTest,
      async () => {
        const center = randArray(m, 99, -0.5, 0.5);
        await checkOp(`GroupLoss B=${B} ${mode}`, {
          inputs: [{ shape: [vs * B, m] }, { shape: [vt * B, m], grad: false }],
          gpu: (s, t) => {
            const g = new GroupLoss(m, { studentViews: vs, pairing: mode });
            g.setCenter(Float32Array.from(center));
            return g.forward(s, t, 0);
          },
          ref: (s, t) =>
            Float64Array.of(
              refGroup(s, t, center, {
                vs,
                vt,
                B,
                m,
                studentTemp: 0.1,
                teacherTemp: 0.04,
                mode,
              }),
            ),
          fwd: FWD,
          bwd: BWD,
          seed: 20 + B,
        });
      },
    );
  }
}

Deno.test(
  "GroupLoss: teacher probabilities and the centre update (closed form)",
  gpuTest,
  async () => {
    const B = 7;
    const c0 = randArray(m, 5, -0.3, 0.3);
    const t1 = randArray(vt * B * m, 6);
    const t2 = randArray(vt * B * m, 7);
    const s = tensor(Float32Array.from(randArray(vs * B * m, 8)), [vs * B, m]);
    const g = new GroupLoss(m, { studentViews: vs, centerMomentum: 0.9 });
    assertClose(await g.center.toArray(), new Float64Array(m), { atol: 0, rtol: 0 }, "zero start");
    g.setCenter(tensor(Float32Array.from(c0), [m]));
    const T1 = tensor(Float32Array.from(t1), [vt * B, m]);
    const p = g.teacherProbs(T1, 0);
    assertClose(
      await p.toArray(),
      refTeacherProbs(t1, c0, m, 0.04),
      { atol: 1e-6, rtol: 1e-5 },
      "probs",
    );
    g.forward(s, T1, 0);
    const want = new Float64Array(m);
    const mean = (t: Float64Array) =>
      Float64Array.from({ length: m }, (_, c) => {
        let a = 0;
        for (let r = 0; r < vt * B; r++) a += t[r * m + c];
        return a / (vt * B);
      });
    const m1 = mean(t1);
    for (let c = 0; c < m; c++) want[c] = 0.9 * c0[c] + 0.1 * m1[c];
    assertClose(await g.center.toArray(), want, { atol: 1e-6, rtol: 1e-6 }, "centre after 1 step");
    // the loss of step 2 uses the updated centre; then the centre moves again
    const T2 = tensor(Float32Array.from(t2), [vt * B, m]);
    g.forward(s, T2, 0, { updateCenter: false });
    assertClose(await g.center.toArray(), want, { atol: 1e-6, rtol: 1e-6 }, "no update");
    g.updateCenter(T2);
    const m2 = mean(t2);
    for (let c = 0; c < m; c++) want[c] = 0.9 * want[c] + 0.1 * m2[c];
    assertClose(await g.center.toArray(), want, { atol: 1e-6, rtol: 1e-6 }, "centre after 2 steps");
    assertEquals(g.center.shape, [1, m], "centre shape");
  },
);

Deno.test("teacherTempSchedule: np.linspace warm-up, then constant", () => {
  const tt = teacherTempSchedule({ warmupTemp: 0.04, temp: 0.07, warmupEpochs: 4 });
  // np.concatenate((np.linspace(0.04, 0.07, 4), np.ones(nepochs - 4) * 0.07))
  const want = [0.04, 0.04 + 0.01, 0.04 + 2 * 0.01, 0.07, 0.07, 0.07];
  for (let e = 0; e < want.length; e++) {
    if (Math.abs(tt(e) - want[e]) > 1e-15) throw new Error(`epoch ${e}: ${tt(e)} != ${want[e]}`);
  }
  assertEquals(tt(2.7), tt(2), "fractional epochs are floored");
  assertEquals(tt(3), 0.07, "the last warm-up epoch reaches the final value exactly");
  const one = teacherTempSchedule({ warmupTemp: 0.02, temp: 0.05, warmupEpochs: 1 });
  assertEquals([one(0), one(1)], [0.02, 0.05], "linspace(a, b, 1) = [a]");
  const none = teacherTempSchedule({ warmupTemp: 0.02, temp: 0.04, warmupEpochs: 0 });
  assertEquals(none(0), 0.04);
  assertThrows(
    () => teacherTempSchedule({ warmupTemp: 0, temp: 0.04, warmupEpochs: 2 }),
    "warmupTemp",
  );
  assertThrows(() => tt(-1), "epoch");
});

Deno.test("GroupLoss: a scheduled teacher temperature is used per epoch", gpuTest, async () => {
  const B = 3;
  const sched = teacherTempSchedule({ warmupTemp: 0.02, temp: 0.06, warmupEpochs: 3 });
  const s = randArray(vs * B * m, 30);
  const t = randArray(vt * B * m, 31);
  for (const epoch of [0, 1, 5]) {
    const g = new GroupLoss(m, { studentViews: vs, teacherTemp: sched });
    const loss = g.forward(
      tensor(Float32Array.from(s), [vs * B, m]),
      tensor(Float32Array.from(t), [vt * B, m]),
      epoch,
    );
    const want = refGroup(s, t, new Float64Array(m), {
      vs,
      vt,
      B,
      m,
      studentTemp: 0.1,
      teacherTemp: sched(epoch),
      mode: "mugs",
    });
    assertClose([await loss.item()], [want], FWD, `epoch ${epoch}`);
  }
});

Deno.test("GroupLoss: shape errors name the loss and the shapes", gpuTest, () => {
  const g = new GroupLoss(m, { studentViews: vs });
  const s = tensor(new Float32Array(4 * 3 * m), [12, m]);
  const t = tensor(new Float32Array(2 * 3 * m), [6, m]);
  assertThrows(() => g.forward(s, t), "GroupLoss: want student logits [5*B, 17]");
  assertThrows(() => g.setCenter(new Float32Array(3)), "GroupLoss.setCenter: want 17 values");
  assertThrows(() => new GroupLoss(m, { studentViews: 1, teacherViews: 1 }), "no pairs");
});
