/**
 * Training-step benchmark (issue: ViT + optimiser): the 28-px ViT preset (patch 4, dim 64,
 * depth 4, 4 heads, 50 tokens), batch 64, forward + backward + AdamW, images/s, with the
 * GPU time per kernel (timestamp queries) when the adapter supports them.
 */
import { runtime, sync } from "../lib/gpu/device.ts";
import { ViT, vitConfig } from "../lib/nn/vit.ts";
import { AdamW, paramGroups } from "../lib/optim/adamw.ts";
import { randn } from "../lib/tensor/tensor.ts";
import { tidy } from "../lib/tensor/scope.ts";
import { r3, report, reportKernelTimes, stepCounters } from "./harness.ts";

/**
 * The benchmarked ViT training step (also timed against PyTorch by scripts/speed_vs_pytorch.ts):
 * batch 64, loss mean((cls - target)^2), backward, AdamW with clipping at 3. `step` records one
 * step (no GPU wait).
 *
 * @example
 * ```ts
 * const { batch, step } = trainStepSetup();
 * step();
 * await sync();
 * ```
 */
export function trainStepSetup(): { batch: number; step: () => void } {
  const B = 64;
  const vit = new ViT(vitConfig("vit_micro_28", { dropPathRate: 0.1 }), 0);
  const opt = new AdamW(paramGroups(vit.namedParameters(), { patchEmbedLrScale: 0.2 }), {
    lr: 5e-4,
    weightDecay: 0.04,
  });
  const x = randn([B, 1, 28, 28], { seed: 1 });
  const target = randn([B, 64], { seed: 2 });
  const step = () =>
    tidy(() => {
      runtime().flush(); // each step starts a submission: its bind groups repeat, cached
      const { cls } = vit.forward(x);
      const loss = cls.sub(target).pow(2).mean();
      loss.backward();
      opt.step({ clip: 3 });
      opt.zeroGrad();
    });
  return { batch: B, step };
}

/** Run the ViT training-step benchmark. */
export async function benchTrainStep(steps = 8, profile = true): Promise<void> {
  const { batch: B, step } = trainStepSetup();
  step();
  step();
  await sync();
  const counters = stepCounters();
  const t0 = performance.now();
  for (let i = 0; i < steps; i++) step();
  await sync();
  const ms = (performance.now() - t0) / steps;
  report({
    name: "vit train step (28px, patch 4, dim 64, depth 4, batch 64)",
    images_per_s: r3((B * 1000) / ms),
    ms: r3(ms),
    ...counters(steps),
  });
  if (profile) await reportKernelTimes("vit train step", step);
}
