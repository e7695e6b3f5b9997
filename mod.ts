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
export { type LoadResult, Module, ModuleList } from "./lib/nn/module.ts";
export { Linear, type LinearOptions } from "./lib/nn/linear.ts";
export { LayerNorm } from "./lib/nn/layernorm.ts";
export { MLP } from "./lib/nn/mlp.ts";
export { Attention } from "./lib/nn/attention.ts";
export { Block, type BlockOptions, DropPath } from "./lib/nn/block.ts";
export {
  PatchEmbed,
  ViT,
  VIT_PRESETS,
  type ViTConfig,
  vitConfig,
  type ViTOutput,
} from "./lib/nn/vit.ts";
export { AdamW, type AdamWOptions, type ParamGroup, paramGroups } from "./lib/optim/adamw.ts";
export { type CosineOptions, cosineSchedule } from "./lib/optim/schedule.ts";
export { emaUpdate } from "./lib/optim/ema.ts";
export { cancelGradients, clipGradients } from "./lib/optim/clip.ts";
export {
  parseSafetensors,
  readSafetensors,
  serializeSafetensors,
  writeSafetensors,
} from "./lib/io/safetensors.ts";
export { parseNpy, readNpy, serializeNpy, writeNpy } from "./lib/io/npy.ts";
export { writeFileAtomic } from "./lib/io/atomic.ts";
export * from "./lib/data/mod.ts";
export {
  colorJitter,
  type DataPreset,
  gaussianBlur,
  grayscale,
  horizontalFlip,
  MultiCrop,
  multiCropConfig,
  type MultiCropPreset,
  normalize,
  randomErase,
  resizedCrop,
  solarize,
} from "./lib/augment/mod.ts";
export * from "./lib/memory/mod.ts";
export * from "./lib/losses/mod.ts";
export {
  GroupHead,
  InstanceHead,
  LocalGroupHead,
  ProjectionMLP,
  WeightNormLinear,
} from "./lib/mugs/heads.ts";
export { LocalGroupTransformer } from "./lib/mugs/local_group_transformer.ts";
export { type MugsHeadConfig, MugsNet, type MugsOutputs } from "./lib/mugs/model.ts";
export {
  type LossWeights,
  MugsState,
  type NeighbourProbe,
  type StepBatch,
  type StepConfig,
  type StepLosses,
  type StepSchedule,
} from "./lib/mugs/step.ts";
export * from "./lib/eval/mod.ts";
/** Plotly figures (`viz.lossCurves`, `viz.tsneScatter`, `viz.display`, `viz.writeHtml`, …). */
export * as viz from "./lib/viz/mod.ts";
