/**
 * Multi-crop augmentation benchmark (issue 4): the `mugs` preset on a batch of 256
 * Fashion-MNIST-sized images (random data, 1 x 28 x 28): 2 teacher + 2 student global views
 * at 28 px and 10 local views at 12 px per image, half the student views strong (RandAugment
 * + erasing). Reports views/s for the batched GPU path (parameter sampling on the host, then
 * the WebGPU kernels, waited for) and for a plain per-image float64 TypeScript loop over the
 * reference transforms (lib/augment/reference.ts) doing the same work from the same
 * parameters, plus the GPU time per kernel when the adapter has timestamp queries.
 * Run alone: `deno run -A bench/augment.ts`.
 */
import { runtime, sync } from "../lib/gpu/device.ts";
import { rand } from "../lib/tensor/tensor.ts";
import { Generator } from "../lib/tensor/rng.ts";
import { MultiCrop, multiCropReference } from "../lib/augment/multicrop.ts";
import { benchInit, r3, report } from "./harness.ts";

/**
 * Run the multi-crop benchmark: `iters` timed GPU batches and `cpuIters` timed CPU batches.
 *
 * @example
 * ```ts
 * await benchInit();
 * await benchAugment();
 * ```
 */
export async function benchAugment(iters = 8, cpuIters = 2, profile = true): Promise<void> {
  const B = 256;
  const mc = MultiCrop.preset("mugs", "fashion-mnist");
  const perImage = 4 + mc.config.local.count;
  const views = B * perImage;
  const x = rand([B, 1, 28, 28], { seed: 1 });
  const host = await x.toArray();
  const g = new Generator(0);

  // GPU: sample + render + wait, per batch (warm-up compiles the kernels, fills the pool)
  for (let i = 0; i < 2; i++) mc.apply(x, g).dispose();
  await sync();
  const times: number[] = [];
  let sampleMs = 0;
  for (let i = 0; i < iters; i++) {
    const t0 = performance.now();
    const params = mc.sample(g, B, 1, 28, 28);
    const t1 = performance.now();
    const v = mc.render(x, params);
    await sync();
    times.push(performance.now() - t0);
    sampleMs += t1 - t0;
    v.dispose();
  }
  times.sort((a, b) => a - b);
  const ms = times[Math.floor(times.length / 2)];
  report({
    name: "multicrop mugs 256x1x28x28 (gpu batched)",
    views,
    ms: r3(ms),
    sample_ms: r3(sampleMs / iters),
    views_per_s: Math.round((views * 1000) / ms),
    images_per_s: Math.round((B * 1000) / ms),
  });

  // the same work, image by image, in float64 TypeScript
  let cpuMs = Infinity;
  for (let i = 0; i < cpuIters; i++) {
    const t0 = performance.now();
    const params = mc.sample(g, B, 1, 28, 28);
    multiCropReference(mc, host, params);
    cpuMs = Math.min(cpuMs, performance.now() - t0);
  }
  report({
    name: "multicrop mugs 256x1x28x28 (ts per-image loop)",
    views,
    ms: r3(cpuMs),
    views_per_s: Math.round((views * 1000) / cpuMs),
    images_per_s: Math.round((B * 1000) / cpuMs),
    gpu_speedup: r3(cpuMs / ms),
  });

  const rt = runtime();
  if (profile && rt.device.features.has("timestamp-query")) {
    rt.profile = true;
    mc.apply(x, g).dispose();
    const kt = await rt.kernelTimes();
    rt.profile = false;
    report({
      name: "multicrop mugs kernels (gpu ms per batch)",
      ...Object.fromEntries(kt.map((k) => [k.name, r3(k.ms)])),
    });
  }
  x.dispose();
}

if (import.meta.main) {
  await benchInit();
  await benchAugment();
}
