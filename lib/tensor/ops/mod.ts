/** Functional forms of the tensor ops (each also a `Tensor` method where it reads better). */
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
