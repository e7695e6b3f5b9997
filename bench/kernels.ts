/**
 * Kernel benchmarks: matmul GFLOP/s at three shapes, softmax and LayerNorm throughput.
 * Four runs are recorded per GPU round trip (throughput, as GPU benchmarks measure it).
 */
import { useKernels } from "../lib/gpu/device.ts";
import { randn } from "../lib/tensor/tensor.ts";
import { matmulRaw } from "../lib/tensor/ops/matmul.ts";
import { softmax } from "../lib/tensor/ops/softmax.ts";
import { layerNorm } from "../lib/tensor/ops/norm.ts";
import { ones, zeros } from "../lib/tensor/tensor.ts";
import { r3, report, timeIt, timeStats } from "./harness.ts";

/** Run the kernel benchmarks; `both` also times the kernel shape the adapter does not use. */
export async function benchKernels(both: boolean, isFallback: boolean): Promise<void> {
  const paths: ("cpu" | "gpu")[] = both ? ["cpu", "gpu"] : [isFallback ? "cpu" : "gpu"];
  for (const path of paths) {
    const prev = useKernels(path);
    for (const [M, N, K] of [[256, 256, 256], [512, 512, 512], [1024, 64, 1024]]) {
      const a = randn([M, K], { seed: 1 });
      const b = randn([K, N], { seed: 2 });
      const { median: ms, best } = await timeStats(() => matmulRaw(a, b).dispose(), 2000, 3, 4);
      report({
        name: `matmul ${M}x${N}x${K}`,
        kernels: path,
        gflops: r3((2 * M * N * K) / ms / 1e6),
        gflops_best: r3((2 * M * N * K) / best / 1e6),
        ms: r3(ms),
      });
      a.dispose();
      b.dispose();
    }
    useKernels(prev);
  }
  // row kernels: throughput in rows/s and GB/s (one read and one write of the tensor)
  for (const [R, L] of [[4096, 256], [256, 4096], [3200, 64]]) {
    const x = randn([R, L], { seed: 3 });
    const ms = await timeIt(() => softmax(x).dispose(), 1000, 3, 4);
    report({
      name: `softmax ${R}x${L}`,
      ms: r3(ms),
      rows_per_s: Math.round((R * 1000) / ms),
      gbps: r3((8 * R * L) / ms / 1e6),
    });
    const w = ones([L]);
    const b = zeros([L]);
    const ms2 = await timeIt(() => layerNorm(x, w, b, 1e-6).dispose(), 1000, 3, 4);
    report({
      name: `layernorm ${R}x${L}`,
      ms: r3(ms2),
      rows_per_s: Math.round((R * 1000) / ms2),
      gbps: r3((8 * R * L) / ms2 / 1e6),
    });
    x.dispose();
    w.dispose();
    b.dispose();
  }
}
