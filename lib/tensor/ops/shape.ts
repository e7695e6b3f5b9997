import type { Tensor } from "../tensor.ts";
export function permute(_x: Tensor, _dims: number[]): Tensor {
  throw new Error("todo");
}
export function transpose(_x: Tensor, _d0: number, _d1: number): Tensor {
  throw new Error("todo");
}
export function slice(_x: Tensor, _axis: number, _start: number, _end?: number): Tensor {
  throw new Error("todo");
}
