/** A tiny Mugs configuration and state for the step, resume and trainer tests. */
import type { MugsHeadConfig } from "../../lib/mugs/model.ts";
import { type LossWeights, MugsState, type StepConfig } from "../../lib/mugs/step.ts";
import { type ViTConfig, vitConfig } from "../../lib/nn/vit.ts";
import { type MultiCropConfig, multiCropConfig } from "../../lib/augment/multicrop.ts";

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
  return MugsState.create({
    vit: tinyVit(2, o.dropPathRate),
    heads: TINY_HEADS,
    crops: tinyCrops(),
    step: {
      weights: o.weights ?? { instance: 1, localGroup: 1, group: 1 },
      queueSize: o.ringSize,
      memorySize: o.ringSize,
      temperature: 0.2,
      clip: 3,
      freezeLastLayer: 1,
      ...o.step,
    },
    teacherTemp: 0.04,
    seed: 0,
    lr: 1e-3,
    weightDecay: 0.04,
    patchEmbedLrScale: 0.2,
  });
}
