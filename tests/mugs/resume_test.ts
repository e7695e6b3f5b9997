import { assert, assertEquals, gpuTest, setup } from "../helpers.ts";
import { type MugsHeadConfig, MugsNet } from "../../lib/mugs/model.ts";
import { MugsState } from "../../lib/mugs/step.ts";
import { restoreTrainingState, saveTrainingState } from "../../lib/mugs/resume.ts";
import { vitConfig } from "../../lib/nn/vit.ts";
import { AdamW, paramGroups } from "../../lib/optim/adamw.ts";
import { MultiCrop, multiCropConfig } from "../../lib/augment/multicrop.ts";
import { rand } from "../../lib/tensor/tensor.ts";
import { tidy } from "../../lib/tensor/scope.ts";
import { toHost } from "../../lib/io/weights.ts";

await setup();

const VIT = vitConfig("vit_micro_28", { embedDim: 32, depth: 2, numHeads: 2, dropPathRate: 0.2 });
const HEADS: MugsHeadConfig = {
  hidden: 32,
  out: 16,
  predHidden: 32,
  bottleneck: 16,
  prototypes: 64,
  k: 4,
  relationDepth: 1,
  normLastLayer: true,
};

function build(): MugsState {
  const student = new MugsNet(VIT, HEADS, true, 0);
  const teacher = new MugsNet(VIT, HEADS, false, 0);
  teacher.loadStateDict(student.stateDict(), { strict: false });
  const opt = new AdamW(paramGroups(student.namedParameters(), { patchEmbedLrScale: 0.2 }), {
    lr: 1e-3,
    weightDecay: 0.04,
  });
  const base = multiCropConfig("mugs", "fashion-mnist");
  const crops = new MultiCrop({ ...base, local: { ...base.local, count: 2 } });
  return new MugsState(
    student,
    teacher,
    opt,
    crops,
    {
      weights: { instance: 1, localGroup: 1, group: 1 },
      queueSize: 32,
      memorySize: 32,
      temperature: 0.2,
      clip: 3,
      freezeLastLayer: 1,
    },
    0.04,
    0,
  );
}

const sched = (i: number) => ({
  epoch: i < 2 ? 0 : 1,
  lr: 1e-3 * (i + 1),
  weightDecay: 0.04,
  momentum: 0.99,
});

async function weights(s: MugsState): Promise<Map<string, number[]>> {
  const out = new Map<string, number[]>();
  for (
    const [n, t] of await toHost(
      [...s.student.stateDict(), ...s.teacher.stateDict().entries()].map((
        [n, t],
        i,
      ) => [`${i}:${n}`, t]),
    )
  ) {
    out.set(n, Array.from(t.data));
  }
  return out;
}

Deno.test({
  name:
    "mugs resume: 4 steps straight equal 2 steps, save, restore into a fresh state, 2 steps (bit for bit)",
  ...gpuTest,
  fn: async () => {
    const images = rand([4, 1, 28, 28], { seed: 9 });
    const straight = build();
    for (let i = 0; i < 4; i++) tidy(() => void straight.step(images, 100 + i, sched(i)));
    const want = await weights(straight);

    const first = build();
    for (let i = 0; i < 2; i++) tidy(() => void first.step(images, 100 + i, sched(i)));
    const dir = await Deno.makeTempDir({ prefix: "mugs-resume-" });
    await saveTrainingState(dir, first, { epoch: 1, step: 2 });
    const resumed = build();
    const meta = await restoreTrainingState(dir, resumed);
    assertEquals([meta.epoch, meta.step], [1, 2]);
    for (let i = 2; i < 4; i++) tidy(() => void resumed.step(images, 100 + i, sched(i)));
    const got = await weights(resumed);
    assertEquals(got.size, want.size, "tensor count");
    for (const [n, w] of want) {
      const g = got.get(n)!;
      assert(g.every((v, i) => Object.is(v, w[i])), `${n} differs after resume`);
    }
    assertEquals(resumed.instanceQueue.pointer, straight.instanceQueue.pointer);
    assertEquals(resumed.studentMemory.pointer, straight.studentMemory.pointer);
    await Deno.remove(dir, { recursive: true });
  },
});
