/**
 * Shared helpers of the Mugs head tests: random module states, host copies of weights,
 * and a whole-module gradient check against central finite differences of a float64
 * reference (checkOp style, over parameters and inputs).
 */
import { assertClose, randArray, type Tol } from "../helpers.ts";
import type { Module } from "../../lib/nn/module.ts";
import { type Tensor, tensor } from "../../lib/tensor/tensor.ts";
import { toHost } from "../../lib/io/weights.ts";
import { Generator } from "../../lib/tensor/rng.ts";
import type { Weights } from "../nn/reference.ts";

/** Give every parameter and buffer of `m` random values (norm weights and `weight_g` near 1). */
export function randomise(m: Module, seed: number): void {
  let s = seed;
  const state = new Map<string, { shape: number[]; data: Float32Array }>();
  for (const [n, p] of m.stateDict()) {
    const nearOne = (n.includes("norm") && n.endsWith("weight")) || n.endsWith("weight_g");
    const [lo, hi] = nearOne ? [0.5, 1.5] : [-0.5, 0.5];
    state.set(n, { shape: [...p.shape], data: Float32Array.from(randArray(p.size, s++, lo, hi)) });
  }
  m.loadStateDict(state);
}

/** Float64 copies of a module's state (with an optional name prefix). */
export async function hostWeights(m: Module, prefix = "", into: Weights = new Map()) {
  for (const [n, t] of await toHost(m.stateDict())) {
    into.set(prefix + n, { shape: t.shape, data: Float64Array.from(t.data) });
  }
  return into;
}

/** A GPU tensor from float64 values (rounded to float32). */
export function gpu(data: Float64Array, shape: number[], requiresGrad = false): Tensor {
  return tensor(Float32Array.from(data), shape, { requiresGrad });
}

/** What `gradCheck` differentiates: a name for messages, the GPU tensor, its float64 values. */
export interface GradTarget {
  name: string;
  t: Tensor;
  data: Float64Array;
}

/**
 * Backpropagate `sum(G * out)` (G random) and compare every target's gradient with central
 * differences of `sum(G * ref())` in float64, where `ref` reads the targets' `data` arrays
 * (perturbed in place). Checks up to `perTarget` entries of each (first, middle, last, and
 * random ones).
 */
export async function gradCheck(
  what: string,
  out: Tensor,
  ref: () => Float64Array,
  targets: GradTarget[],
  tol: Tol,
  opts: { eps?: number; perTarget?: number; seed?: number } = {},
): Promise<void> {
  const G = randArray(out.size, opts.seed ?? 4242);
  out.backward(gpu(G, [...out.shape]));
  const eps = opts.eps ?? 1e-5;
  const loss = () => {
    const y = ref();
    let s = 0;
    for (let i = 0; i < y.length; i++) s += y[i] * G[i];
    return s;
  };
  const gen = new Generator(opts.seed ?? 7);
  for (const { name, t, data } of targets) {
    if (!t.grad) throw new Error(`${what}: ${name} got no gradient`);
    const got = await t.grad.toArray();
    const n = data.length;
    const idx = new Set([0, Math.floor(n / 2), n - 1]);
    while (idx.size < Math.min(n, opts.perTarget ?? 6)) idx.add(gen.int(n));
    const fd: number[] = [];
    const gg: number[] = [];
    for (const j of idx) {
      const orig = data[j];
      data[j] = orig + eps;
      const up = loss();
      data[j] = orig - eps;
      const dn = loss();
      data[j] = orig;
      fd.push((up - dn) / (2 * eps));
      gg.push(got[j]);
    }
    assertClose(gg, fd, tol, `${what}: d loss / d ${name} at [${[...idx]}]`);
  }
}
