/** Functional forms of the tensor ops (many are also `Tensor` methods). */
export {
  abs,
  add,
  clamp,
  div,
  exp,
  expand,
  gelu,
  log,
  maximum,
  minimum,
  mul,
  neg,
  pow,
  relu,
  rsqrt,
  sqrt,
  sub,
} from "./elementwise.ts";
export { max, mean, sum, variance } from "./reduce.ts";
export { matmul, type MatmulOptions } from "./matmul.ts";
export { concat, permute, slice, stack, transpose } from "./shape.ts";
export { indexSelect, scatterRows, topk, writeRows_, writeRowsAt_ } from "./index.ts";
export { logSoftmax, softmax } from "./softmax.ts";
export { l2normalize, layerNorm } from "./norm.ts";
export { crossEntropy, type CrossEntropyOptions } from "./loss.ts";
export { bicubicResize, type ResizeOptions } from "./resize.ts";
export { patchify } from "./patches.ts";
export { attention, type AttentionResult } from "./attention.ts";
