/** A tiny Mugs configuration and state for the step, resume and trainer tests. */
import { type MugsHeadConfig, MugsNet } from "../../lib/mugs/model.ts";
import { type LossWeights, MugsState, type StepConfig } from "../../lib/mugs/step.ts";
import { type ViTConfig, vitConfig } from "../../lib/nn/vit.ts";
import { AdamW, paramGroups } from "../../lib/optim/adamw.ts";
import { MultiCrop, type MultiCropConfig, multiCropConfig } from "../../lib/augment/multicrop.ts";

/** The 28-px ViT shrunk to width 32 and 2 heads. */
export function tinyVit(depth: number, dropPathRate: number): ViTConfig {
  return vitConfig("vit_micro_28", { embedDim: 32, depth, numHeads: 2, dropPathRate });
}

/** Heads small enough for a test. */
export const TINY_HEADS: MugsHeadConfig = {
  hidden: 32,
  out: 16,
  predHidden: 32,
  bottleneck: 16,
  prototypes: 64,
  k: 4,
  relationDepth: 1,
  normLastLayer: true,
};

/** The `mugs` Fashion-MNIST views with 2 local crops. */
export function tinyCrops(): MultiCropConfig {
  const base = multiCropConfig("mugs", "fashion-mnist");
  return { ...base, local: { ...base.local, count: 2 } };
}

/** Student (teacher starts as a copy), AdamW with DINO's groups, and the step's state. */
export function tinyState(o: {
  dropPathRate: number;
  ringSize: number;
  weights?: LossWeights;
  step?: Partial<StepConfig>;
}): MugsState {
  const vit = tinyVit(2, o.dropPathRate);
  const student = new MugsNet(vit, TINY_HEADS, true, 0);
  const teacher = new MugsNet(vit, TINY_HEADS, false, 0);
  teacher.loadStateDict(student.stateDict(), { strict: false }); // teacher starts as the student
  const opt = new AdamW(paramGroups(student.namedParameters(), { patchEmbedLrScale: 0.2 }), {
    lr: 1e-3,
    weightDecay: 0.04,
  });
  return new MugsState(
    student,
    teacher,
    opt,
    new MultiCrop(tinyCrops()),
    {
      weights: o.weights ?? { instance: 1, localGroup: 1, group: 1 },
      queueSize: o.ringSize,
      memorySize: o.ringSize,
      temperature: 0.2,
      clip: 3,
      freezeLastLayer: 1,
      ...o.step,
    },
    0.04,
    0,
  );
}
