/**
 * Mugs kit: self-supervised vision on Deno's native WebGPU.
 *
 * The public API. Import it locally or by URL:
 *
 * @example
 * ```ts
 * import { init, randn } from "./mod.ts";
 * await init();
 * const c = randn([64, 32], { seed: 0 }).matmul(randn([32, 16], { seed: 1 }));
 * console.log(await c.toArray());
 * ```
 * @module
 */
export { type DeviceInfo, init, type InitOptions, useKernels } from "./lib/gpu/device.ts";
export {
  type DType,
  full,
  ones,
  rand,
  randn,
  type RandomOptions,
  Tensor,
  tensor,
  type TensorOptions,
  zeros,
} from "./lib/tensor/tensor.ts";
export { noGrad } from "./lib/tensor/tape.ts";
export { keep, tidy } from "./lib/tensor/scope.ts";
export { Generator, manualSeed } from "./lib/tensor/rng.ts";
export * from "./lib/tensor/ops/mod.ts";
export { gpuStats, sync } from "./lib/gpu/device.ts";
