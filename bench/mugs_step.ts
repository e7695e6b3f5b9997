/**
 * Mugs step benchmark (issue 5's configuration): batch 64, the 28-px ViT (patch 4, dim 64,
 * depth 4, 4 heads); teacher 2 x 28 px, student 2 x 28 px + 4 x 12 px; head hidden 256,
 * output 128 (prediction hidden 512); queues and memories of 4096; 4096 prototypes; k = 8.
 * Prints images/s, then one line with the share of time per phase (measured in a separate
 * step run phase by phase, `MugsState.phases`, with a GPU sync after each).
 */
import { sync } from "../lib/gpu/device.ts";
import { MugsState, type StepSchedule } from "../lib/mugs/step.ts";
import { vitConfig } from "../lib/nn/vit.ts";
import { multiCropConfig } from "../lib/augment/multicrop.ts";
import { rand, type Tensor } from "../lib/tensor/tensor.ts";
import { tidy, tidyAsync } from "../lib/tensor/scope.ts";
import { r3, report, reportKernelTimes, stepCounters } from "./harness.ts";

/**
 * The benchmarked Mugs training state and batch (also timed against the official PyTorch code by
 * scripts/speed_vs_pytorch.ts). `step(i)` records one step with view seed `i` (no GPU wait).
 *
 * @example
 * ```ts
 * const { batch, step } = mugsStepSetup();
 * step(0);
 * await sync();
 * ```
 */
export function mugsStepSetup(): {
  batch: number;
  state: MugsState;
  images: Tensor;
  sched: StepSchedule;
  step: (seed: number) => void;
} {
  const B = 64;
  const vit = vitConfig("vit_micro_28", { dropPathRate: 0.1 });
  const heads = {
    hidden: 256,
    out: 128,
    predHidden: 512,
    bottleneck: 128,
    prototypes: 4096,
    k: 8,
    relationDepth: 1,
    normLastLayer: true,
  };
  const base = multiCropConfig("mugs", "fashion-mnist");
  const state = MugsState.create({
    vit,
    heads,
    crops: { ...base, local: { ...base.local, count: 4 } },
    step: {
      weights: { instance: 1, localGroup: 1, group: 1 },
      queueSize: 4096,
      memorySize: 4096,
      temperature: 0.2,
      clip: 3,
      freezeLastLayer: 0,
    },
    teacherTemp: 0.04,
    seed: 0,
    lr: 5e-4,
    weightDecay: 0.04,
    patchEmbedLrScale: 0.2,
  });
  const images = rand([B, 1, 28, 28], { seed: 1 });
  const sched = { epoch: 1, lr: 5e-4, weightDecay: 0.04, momentum: 0.996 };
  const step = (seed: number) => tidy(() => void state.step(images, seed, sched));
  return { batch: B, state, images, sched, step };
}

/** Run the Mugs step benchmark. */
export async function benchMugsStep(steps = 4): Promise<void> {
  const { batch: B, state, images, sched, step } = mugsStepSetup();
  for (let i = 0; i < 2; i++) step(i);
  await sync();
  const counters = stepCounters();
  const t0 = performance.now();
  for (let i = 0; i < steps; i++) step(10 + i);
  await sync();
  const ms = (performance.now() - t0) / steps;
  report({
    name:
      "mugs step (28px ViT dim 64 depth 4, batch 64, 2+2x28 + 4x12 views, queues 4096, 4096 prototypes)",
    images_per_s: r3((B * 1000) / ms),
    ms: r3(ms),
    ...counters(steps),
  });
  // phase shares: one step run phase by phase (MugsState.phases) with a GPU sync after each
  const phases: Record<string, number> = {};
  await tidyAsync(async () => {
    const it = state.phases(images, 99, sched);
    let t = performance.now();
    for (let r = it.next(); !r.done; r = it.next()) {
      await sync();
      phases[r.value] = performance.now() - t;
      t = performance.now();
    }
  });
  const sum = Object.values(phases).reduce((a, b) => a + b, 0);
  const shares: Record<string, number> = {};
  for (const [k, v] of Object.entries(phases)) shares[k] = r3(v / sum);
  report({ name: "mugs step phase shares", ...shares, ms: r3(sum) });
  await reportKernelTimes("mugs step", () => tidy(() => void state.step(images, 100, sched)), 16);
}
