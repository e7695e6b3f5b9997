/**
 * Evaluation of a trained backbone (DESIGN.md §6): features, weighted k-NN, linear and
 * few-label probes, confusion matrices, t-SNE with trustworthiness, attention maps.
 *
 * @example
 * ```ts
 * import { extractFeatures, knnClassify, loadBackbone } from "./lib/eval/mod.ts";
 * ```
 */
export { checkFits, loadBackbone, type LoadedBackbone, type Network } from "./backbone.ts";
export { extractFeatures, type FeatureOptions, rawPixelFeatures } from "./features.ts";
export {
  KNN_MAX_K,
  knnClassify,
  type KnnClassifyOptions,
  knnNeighbors,
  type KnnResult,
} from "./knn.ts";
export {
  DEFAULT_PROBE_LRS,
  linearProbe,
  type LinearProbeOptions,
  type LinearProbeResult,
  trainLinearClassifiers,
} from "./linear_probe.ts";
export {
  fitLogistic,
  logisticProbe,
  predictLogistic,
  semiSupervisedProbe,
  type SemiSupervisedResult,
} from "./logistic.ts";
export { accuracyOf, confusionMatrix, perClassAccuracy, topkAccuracy } from "./confusion.ts";
export { labelFraction, stratifiedSplit } from "./splits.ts";
export { tsne, tsneAffinities, type TsneOptions, type TsneResult } from "./tsne.ts";
export { trustworthiness } from "./trustworthiness.ts";
export {
  type AttentionMapOptions,
  type AttentionMaps,
  attentionMaps,
  thresholdMask,
} from "./attention_maps.ts";
