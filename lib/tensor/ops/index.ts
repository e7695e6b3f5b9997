import type { Tensor } from "../tensor.ts";
export function indexSelect(_x: Tensor, _i: Tensor | number[]): Tensor {
  throw new Error("todo");
}
export function topk(_x: Tensor, _k: number): { values: Tensor; indices: Tensor } {
  throw new Error("todo");
}
