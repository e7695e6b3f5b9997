/**
 * Parameter initialisers, computed on the host from a seeded generator (so a seed gives
 * the same model on every adapter), as in DINO/Mugs and timm.
 */
import { Generator } from "../tensor/rng.ts";
import { numel, type Tensor, tensor } from "../tensor/tensor.ts";

/**
 * Truncated normal: N(mean, std) restricted to [a, b] by rejection (timm's `trunc_normal_`,
 * whose bounds are absolute values: with std 0.02 and [-2, 2] it is effectively untruncated).
 *
 * @example
 * ```ts
 * const w = truncNormal([64, 64], 0.02, new Generator(0));
 * ```
 */
export function truncNormal(
  shape: number[],
  std: number,
  g: Generator,
  mean = 0,
  a = -2,
  b = 2,
): Tensor {
  const out = new Float32Array(numel(shape));
  for (let i = 0; i < out.length; i++) {
    let v: number;
    do v = mean + std * g.normal(); while (v < a || v > b);
    out[i] = v;
  }
  return tensor(out, shape);
}

/**
 * Uniform in [-bound, bound) (PyTorch's default Linear/Conv2d init uses bound 1/sqrt(fan_in)).
 *
 * @example
 * ```ts
 * const b = uniform([64], 1 / Math.sqrt(48), new Generator(0));
 * ```
 */
export function uniform(shape: number[], bound: number, g: Generator): Tensor {
  const out = new Float32Array(numel(shape));
  for (let i = 0; i < out.length; i++) out[i] = g.range(-bound, bound);
  return tensor(out, shape);
}

/** A constant-filled parameter. @example `constant([64], 1)` */
export function constant(shape: number[], value: number): Tensor {
  return tensor(new Float32Array(numel(shape)).fill(value), shape);
}
