/**
 * Batched GPU augmentations for self-supervised learning: per-sample parameters drawn on the
 * host from a seeded generator (params.ts), WGSL kernels applying them to whole batches
 * (ops.ts, randaugment.ts, mscn.ts), float64 references (reference.ts) and the multi-crop
 * view maker with its presets (multicrop.ts).
 *
 * @example
 * ```ts
 * import { MultiCrop } from "./lib/augment/mod.ts";
 * const views = MultiCrop.preset("mugs", "fashion-mnist").apply(images, 0);
 * ```
 * @module
 */
export * from "./params.ts";
export * from "./ops.ts";
export * from "./randaugment.ts";
export * from "./mscn.ts";
export * from "./multicrop.ts";
export * from "./reference.ts";
