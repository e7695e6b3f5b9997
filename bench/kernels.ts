/** Kernel benchmarks: matmul GFLOP/s at three shapes, softmax and LayerNorm throughput. */
import { useKernels } from "../lib/gpu/device.ts";
import { randn } from "../lib/tensor/tensor.ts";
import { matmulRaw } from "../lib/tensor/ops/matmul.ts";
import { r3, report, timeIt } from "./harness.ts";

/** Run the kernel benchmarks; `both` also times the kernel shape the adapter does not use. */
export async function benchKernels(both: boolean, isFallback: boolean): Promise<void> {
  const paths: ("cpu" | "gpu")[] = both ? ["cpu", "gpu"] : [isFallback ? "cpu" : "gpu"];
  for (const path of paths) {
    const prev = useKernels(path);
    for (const [M, N, K] of [[256, 256, 256], [512, 512, 512], [1024, 64, 1024]]) {
      const a = randn([M, K], { seed: 1 });
      const b = randn([K, N], { seed: 2 });
      const ms = await timeIt(() => matmulRaw(a, b).dispose());
      report({
        name: `matmul ${M}x${N}x${K}`,
        kernels: path,
        gflops: r3((2 * M * N * K) / ms / 1e6),
        ms: r3(ms),
      });
      a.dispose();
      b.dispose();
    }
    useKernels(prev);
  }
}
