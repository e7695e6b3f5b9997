/**
 * AdamW with parameter groups (PyTorch semantics, fused WGSL update), as Mugs/DINO use it:
 * no weight decay on biases and 1-D parameters, a learning-rate multiplier for the patch
 * embedding, per-parameter gradient clipping folded into the update, and parameters whose
 * gradient is cancelled (the group head's last layer in epoch 0) skipped entirely.
 */
import { type Tensor, zeros } from "../tensor/tensor.ts";
import { keep } from "../tensor/scope.ts";
import { adamwKernel, sumSquares } from "./kernels.ts";

/** A group of parameters sharing a weight-decay switch and a learning-rate multiplier. */
export interface ParamGroup {
  name: string;
  params: Tensor[];
  /** Parameter names, same order (for state dicts and messages). */
  names: string[];
  /** Apply weight decay to this group. */
  decay: boolean;
  /** Learning rate multiplier (patch embedding: 0.2 in Mugs). */
  lrScale: number;
}

/** Options of `paramGroups`. */
export interface GroupOptions {
  /** LR multiplier for parameters whose name contains `patch_embed` (1 = none). */
  patchEmbedLrScale?: number;
}

/**
 * Split named parameters into DINO's groups: "regularized" (matrices) and "not regularized"
 * (biases and 1-D tensors), each split again when the patch embedding has its own LR.
 *
 * @example
 * ```ts
 * const groups = paramGroups(vit.namedParameters(), { patchEmbedLrScale: 0.2 });
 * ```
 */
export function paramGroups(named: [string, Tensor][], opts: GroupOptions = {}): ParamGroup[] {
  const scale = opts.patchEmbedLrScale ?? 1;
  const groups = new Map<string, ParamGroup>();
  for (const [name, p] of named) {
    const decay = !(name.endsWith(".bias") || p.ndim === 1);
    const pe = scale !== 1 && name.includes("patch_embed");
    const key = `${decay ? "regularized" : "not_regularized"}${pe ? "_patch_embed" : ""}`;
    let g = groups.get(key);
    if (!g) {
      g = { name: key, params: [], names: [], decay, lrScale: pe ? scale : 1 };
      groups.set(key, g);
    }
    g.params.push(p);
    g.names.push(name);
  }
  return [...groups.values()];
}

/** AdamW hyper-parameters; `lr` and `weightDecay` are usually set per step by schedules. */
export interface AdamWOptions {
  lr?: number;
  weightDecay?: number;
  betas?: [number, number];
  eps?: number;
}

interface Slot {
  m: Tensor;
  v: Tensor;
  norm2: Tensor;
  step: number;
}

export class AdamW {
  lr: number;
  weightDecay: number;
  readonly betas: [number, number];
  readonly eps: number;
  readonly groups: ParamGroup[];
  #state = new Map<Tensor, Slot>();

  /**
   * @example
   * ```ts
   * const opt = new AdamW(paramGroups(vit.namedParameters()), { lr: 5e-4, weightDecay: 0.04 });
   * loss.backward();
   * opt.step({ clip: 3.0 });
   * opt.zeroGrad();
   * ```
   */
  constructor(groups: ParamGroup[], opts: AdamWOptions = {}) {
    this.groups = groups;
    this.lr = opts.lr ?? 1e-3;
    this.weightDecay = opts.weightDecay ?? 1e-2;
    this.betas = opts.betas ?? [0.9, 0.999];
    this.eps = opts.eps ?? 1e-8;
    for (const g of groups) {
      for (const p of g.params) {
        this.#state.set(p, {
          m: keep(zeros([...p.shape])),
          v: keep(zeros([...p.shape])),
          norm2: keep(zeros([1])),
          step: 0,
        });
      }
    }
  }

  /**
   * Update every parameter that has a gradient and is not in `skip`. With `clip`, each
   * parameter's gradient is first scaled to L2 norm at most `clip` (Mugs' `clip_gradients`).
   */
  step(opts: { clip?: number; skip?: Set<Tensor> } = {}): void {
    const [b1, b2] = this.betas;
    for (const g of this.groups) {
      for (const p of g.params) {
        if (!p.grad || opts.skip?.has(p)) continue;
        const s = this.#state.get(p)!;
        s.step++;
        const clip = opts.clip !== undefined && opts.clip > 0;
        if (clip) sumSquares(p.grad, s.norm2);
        adamwKernel(p, p.grad, s.m, s.v, s.norm2, clip, {
          lr: this.lr * g.lrScale,
          wd: g.decay ? this.weightDecay : 0,
          beta1: b1,
          beta2: b2,
          eps: this.eps,
          bc1: 1 - b1 ** s.step,
          bc2: 1 - b2 ** s.step,
          maxNorm: opts.clip ?? 0,
        });
      }
    }
  }

  /** Drop every parameter's gradient (PyTorch's `zero_grad(set_to_none=True)`). */
  zeroGrad(): void {
    for (const g of this.groups) {
      for (const p of g.params) {
        p.grad?.dispose();
        p.grad = null;
      }
    }
  }

  /** Moments and step counts by parameter name (`<name>.exp_avg`, `.exp_avg_sq`, `.step`). */
  stateDict(): { tensors: Map<string, Tensor>; steps: Record<string, number> } {
    const tensors = new Map<string, Tensor>();
    const steps: Record<string, number> = {};
    for (const g of this.groups) {
      g.params.forEach((p, i) => {
        const s = this.#state.get(p)!;
        tensors.set(`${g.names[i]}.exp_avg`, s.m);
        tensors.set(`${g.names[i]}.exp_avg_sq`, s.v);
        steps[g.names[i]] = s.step;
      });
    }
    return { tensors, steps };
  }

  /** The state of one parameter (tests, inspection). */
  slot(p: Tensor): { m: Tensor; v: Tensor; step: number } {
    const s = this.#state.get(p);
    if (!s) throw new Error("AdamW.slot: this tensor is not one of the optimiser's parameters");
    return s;
  }

  /**
   * Release the optimiser's GPU state (moments and the per-parameter norm buffers); the
   * parameters are left alone.
   *
   * @example
   * ```ts
   * opt.dispose(); // after training a throw-away classifier
   * ```
   */
  dispose(): void {
    for (const s of this.#state.values()) for (const t of [s.m, s.v, s.norm2]) t.dispose();
    this.#state.clear();
  }

  /** Restore step counts (moments are restored by copying into `stateDict().tensors`). */
  setSteps(steps: Record<string, number>): void {
    for (const g of this.groups) {
      g.params.forEach((p, i) => {
        const n = steps[g.names[i]];
        if (n === undefined) {
          throw new Error(`optimiser state has no step count for '${g.names[i]}'`);
        }
        this.#state.get(p)!.step = n;
      });
    }
  }
}
