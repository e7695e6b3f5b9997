/**
 * t-SNE benchmark (issue: exact t-SNE on WebGPU): iterations per second of exact t-SNE at
 * 2 000 points (10 Gaussian clusters in 192-D, perplexity 30), from one full default run
 * (1 000 iterations, 250 of them exaggerated), after a short warm-up run that compiles the
 * kernels. Run alone: `deno run -A bench/tsne.ts`.
 */
import { init, runtime } from "../lib/gpu/device.ts";
import { tsne } from "../lib/eval/tsne.ts";
import { Generator } from "../lib/tensor/rng.ts";
import { r3 } from "./harness.ts";

/** Options of `benchTsne`. */
export interface TsneBenchOptions {
  /** Points [2000]. */
  points?: number;
  /** Input dimension [192]. */
  dim?: number;
  /** Iterations of the timed run [1000]. */
  iterations?: number;
}

/**
 * Time exact t-SNE; one JSON-line object: iterations/s of the gradient-descent loop, the
 * affinity phase (distances, calibration, P, PCA init) and the whole run in seconds.
 *
 * @example
 * ```ts
 * for (const line of await benchTsne()) console.log(JSON.stringify(line));
 * ```
 */
export async function benchTsne(opts: TsneBenchOptions = {}): Promise<Record<string, unknown>[]> {
  await init();
  const N = opts.points ?? 2000;
  const D = opts.dim ?? 192;
  const iterations = opts.iterations ?? 1000;
  const g = new Generator(1);
  const centres = Array.from({ length: 10 }, () => Array.from({ length: D }, () => 3 * g.normal()));
  const x = new Float32Array(N * D);
  for (let i = 0; i < N; i++) {
    for (let d = 0; d < D; d++) x[i * D + d] = centres[i % 10][d] + g.normal();
  }
  await tsne(x, { shape: [N, D], iterations: 10 }); // compile every kernel
  const t0 = performance.now();
  const r = await tsne(x, { shape: [N, D], iterations });
  const total = (performance.now() - t0) / 1000;
  const iterS = r.timing.iterationsMs / 1000;
  return [{
    bench: "tsne",
    name: `tsne exact (${N} points, ${D}-D, perplexity 30, ${iterations} iterations)`,
    points: N,
    dim: D,
    iterations,
    iters_per_s: r3(iterations / iterS),
    [`seconds_${iterations}_iters`]: r3(iterS),
    seconds_affinities: r3(r.timing.affinitiesMs / 1000),
    seconds_total: r3(total),
    kl: r3(r.kl),
    adapter: runtime().info.adapter,
  }];
}

if (import.meta.main) {
  for (const line of await benchTsne()) console.log(JSON.stringify(line));
}
