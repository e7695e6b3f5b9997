import type { Tensor } from "../tensor.ts";
export function softmax(_x: Tensor): Tensor {
  throw new Error("todo");
}
export function logSoftmax(_x: Tensor): Tensor {
  throw new Error("todo");
}
