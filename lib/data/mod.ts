/**
 * Datasets, the embedded Fashion-MNIST subset and the loader.
 *
 * @example
 * ```ts
 * import { embedded, Loader } from "./lib/data/mod.ts";
 * const loader = new Loader(await embedded("train"), { batchSize: 64, seed: 0 });
 * ```
 * @module
 */
export * from "./dataset.ts";
export * from "./idx.ts";
export * from "./cifar10.ts";
export * from "./image_folder.ts";
export * from "./embedded.ts";
export * from "./loader.ts";
export { uint8ToTensor } from "./convert.ts";
