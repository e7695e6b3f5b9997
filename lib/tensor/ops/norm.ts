import type { Tensor } from "../tensor.ts";
export function l2normalize(_x: Tensor, _eps: number): Tensor {
  throw new Error("todo");
}
