/**
 * Overfit: the Mugs step at the small run's shapes (vit_micro_28, heads 256/128/512/128,
 * 1 024 prototypes, k = 8, 2 local crops, the Mugs views), on one fixed batch of embedded
 * images with the same views every step, queues of 32 fixed random negatives (reset before each
 * step: a fixed batch would otherwise fill them with stale copies of its own positives, which
 * no network can tell apart), a constant lr, teacher momentum 0.9 and no stochastic depth. All
 * three losses must fall below half their chance level (ln of the number of candidates:
 * InfoNCE's positive and queue, the prototypes) within 20 steps, and the two InfoNCE losses
 * must end below a quarter of it. (The group loss swings once it has fallen, while the centre
 * catches up with a batch that never changes, so for it the test asks only that it falls.) The float64 unit tests check each
 * kernel at odd small sizes; this guards them together at the real ones.
 */
import { assert, gpuTest, setup } from "../helpers.ts";
import { MugsState } from "../../lib/mugs/step.ts";
import { vitConfig } from "../../lib/nn/vit.ts";
import { multiCropConfig } from "../../lib/augment/multicrop.ts";
import { embedded } from "../../lib/data/embedded.ts";
import { tensor } from "../../lib/tensor/tensor.ts";
import { tidy } from "../../lib/tensor/scope.ts";

await setup();

const B = 32;
const QUEUE = B;
const HEADS = {
  hidden: 256,
  out: 128,
  predHidden: 512,
  bottleneck: 128,
  prototypes: 1024,
  k: 8,
  relationDepth: 1,
  normLastLayer: true,
};
const MAX_STEPS = 20;

Deno.test({
  name:
    `mugs step overfits one batch: every loss falls below half its chance level in ${MAX_STEPS} steps`,
  ...gpuTest,
  fn: async () => {
    const vit = vitConfig("vit_micro_28", { dropPathRate: 0 });
    const base = multiCropConfig("mugs", "fashion-mnist");
    const state = MugsState.create({
      vit,
      heads: HEADS,
      crops: { ...base, local: { ...base.local, count: 2 } },
      step: {
        weights: { instance: 1, localGroup: 1, group: 1 },
        queueSize: QUEUE,
        memorySize: 256,
        temperature: 0.2,
        clip: 3,
        freezeLastLayer: 0,
      },
      teacherTemp: 0.04,
      seed: 0,
      lr: 1e-3,
      weightDecay: 0.04,
      patchEmbedLrScale: 0.2,
    });
    const train = await embedded("train");
    const per = train.height * train.width;
    const images = tensor(
      Float32Array.from(train.images.subarray(0, B * per), (v) => v / 255),
      [B, 1, train.height, train.width],
    );
    const chance = {
      instance: Math.log(QUEUE + 1),
      localGroup: Math.log(QUEUE + 1),
      group: Math.log(HEADS.prototypes),
    };
    const sched = { epoch: 1, lr: 1e-3, weightDecay: 0.04, momentum: 0.9 };
    const queues = [state.instanceQueue, state.localGroupQueue];
    const fixed = await Promise.all(queues.map((q) => q.state()));
    const keys = Object.keys(chance) as (keyof typeof chance)[];
    const first: Record<string, number> = {};
    const low: Record<string, number> = {};
    let last: Record<string, number> = {};
    for (let step = 0; step < MAX_STEPS; step++) {
      queues.forEach((q, i) => q.load(fixed[i]));
      const l = tidy(() => state.step(images, 7, sched)); // seed 7 every step: the same views
      last = {
        instance: await l.instance!.item(),
        localGroup: await l.localGroup!.item(),
        group: await l.group!.item(),
      };
      for (const t of [l.total, l.instance, l.localGroup, l.group]) t?.dispose();
      if (step === 0) Object.assign(first, last);
      for (const k of keys) low[k] = Math.min(low[k] ?? Infinity, last[k]);
    }
    const report = keys.map((k) =>
      `${k} ${first[k].toFixed(3)} -> min ${low[k].toFixed(3)}, last ${last[k].toFixed(3)} ` +
      `(chance ${chance[k].toFixed(3)})`
    ).join("; ");
    console.log(`overfit, ${MAX_STEPS} steps: ${report}`);
    for (const k of keys) {
      assert(first[k] > 0.5 * chance[k], `${k} starts near chance: ${report}`);
      assert(low[k] < 0.5 * chance[k], `${k} falls below half its chance level: ${report}`);
    }
    // the two InfoNCE losses stay down: below a quarter of chance after the last step
    for (const k of ["instance", "localGroup"] as const) {
      assert(last[k] < 0.25 * chance[k], `${k} ends below a quarter of chance: ${report}`);
    }
  },
});
