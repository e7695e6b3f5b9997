/**
 * Stochastic gradient descent with momentum, following `torch.optim.SGD` (PyTorch's
 * default, non-foreach semantics) with a fused WGSL update per parameter
 * (shaders/sgd.wgsl):
 *
 *   d = grad + weightDecay * param
 *   buf = d on the first step (PyTorch clones the first d, without dampening),
 *   buf = momentum * buf + (1 - dampening) * d afterwards; d = nesterov ? d + momentum * buf : buf
 *   param -= lr * d
 *
 * Parameters come in the same `ParamGroup`s as `AdamW` (lib/optim/adamw.ts), so a caller
 * can swap one optimiser for the other: a group's `lrScale` multiplies `lr`, and a group
 * with `decay: false` gets no weight decay. Changed from PyTorch: no `maximize` and no
 * sparse gradients; defaults are PyTorch's (momentum 0, dampening 0, no Nesterov, no
 * weight decay) except `lr`, which PyTorch requires and which defaults to 1e-3 here.
 * Added: optional per-row learning-rate multipliers for a parameter (`setRowLr`), so
 * independent linear classifiers stacked in one weight matrix can each have their own lr
 * (lib/eval/linear_probe.ts trains a learning-rate sweep that way).
 */
import code from "../../shaders/sgd.wgsl" with { type: "text" };
import { type Tensor, tensor, zeros } from "../tensor/tensor.ts";
import { keep } from "../tensor/scope.ts";
import { grid, launch, Params } from "../tensor/launch.ts";
import type { ParamGroup } from "./adamw.ts";

/** SGD hyper-parameters; `lr` may be changed between steps (schedules). */
export interface SGDOptions {
  lr?: number;
  /** Momentum factor [0]. */
  momentum?: number;
  /** Dampening of the momentum (not applied on the first step, as in PyTorch) [0]. */
  dampening?: number;
  /** L2 penalty added to the gradient (groups with `decay: false` skip it) [0]. */
  weightDecay?: number;
  /** Nesterov momentum (needs momentum > 0 and dampening 0, as in PyTorch) [false]. */
  nesterov?: boolean;
}

function checkNumber(what: string, v: number, min: number, max = Infinity): void {
  if (typeof v !== "number" || !Number.isFinite(v) || v < min || v > max) {
    throw new Error(`SGD: ${what} must be a finite number in [${min}, ${max}], got ${v}`);
  }
}

export class SGD {
  lr: number;
  weightDecay: number;
  readonly momentum: number;
  readonly dampening: number;
  readonly nesterov: boolean;
  readonly groups: ParamGroup[];
  #buf = new Map<Tensor, Tensor>();
  #started = new Set<Tensor>();
  #rows = new Map<Tensor, Tensor>();
  #disposed = false;

  /**
   * Parameters as `ParamGroup`s (see `paramGroups` in lib/optim/adamw.ts) or a plain list
   * (one group, weight decay on every tensor).
   *
   * @example
   * ```ts
   * const opt = new SGD(fc.parameters(), { lr: 0.1, momentum: 0.9 });
   * loss.backward();
   * opt.step();
   * opt.zeroGrad();
   * ```
   */
  constructor(params: ParamGroup[] | Tensor[], opts: SGDOptions = {}) {
    if (!Array.isArray(params) || params.length === 0) {
      throw new Error("SGD: params must be a non-empty list of tensors or parameter groups");
    }
    const isGroups = params.every((p) => "params" in (p as object));
    this.groups = isGroups ? params as ParamGroup[] : [{
      name: "params",
      params: params as Tensor[],
      names: (params as Tensor[]).map((_, i) => String(i)),
      decay: true,
      lrScale: 1,
    }];
    this.lr = opts.lr ?? 1e-3;
    this.momentum = opts.momentum ?? 0;
    this.dampening = opts.dampening ?? 0;
    this.weightDecay = opts.weightDecay ?? 0;
    this.nesterov = opts.nesterov ?? false;
    checkNumber("lr", this.lr, 0);
    checkNumber("momentum", this.momentum, 0);
    checkNumber("dampening", this.dampening, 0);
    checkNumber("weightDecay", this.weightDecay, 0);
    if (this.nesterov && (this.momentum <= 0 || this.dampening !== 0)) {
      throw new Error(
        `SGD: nesterov needs momentum > 0 and dampening 0 (got momentum ${this.momentum}, dampening ${this.dampening})`,
      );
    }
    const seen = new Set<Tensor>();
    for (const g of this.groups) {
      g.params.forEach((p, i) => {
        if (p.dtype !== "f32") {
          throw new Error(`SGD: parameter '${g.names[i]}' [${p.shape}] is ${p.dtype}, not f32`);
        }
        if (seen.has(p)) throw new Error(`SGD: parameter '${g.names[i]}' appears twice`);
        seen.add(p);
        if (this.momentum !== 0) this.#buf.set(p, keep(zeros([...p.shape])));
      });
    }
  }

  /** Update every parameter that has a gradient (`skip`: parameters to leave alone). */
  step(opts: { skip?: Set<Tensor> } = {}): void {
    if (this.#disposed) throw new Error("SGD.step: the optimiser was disposed");
    checkNumber("lr", this.lr, 0);
    checkNumber("weightDecay", this.weightDecay, 0);
    for (const g of this.groups) {
      g.params.forEach((p, i) => {
        if (!p.grad || opts.skip?.has(p)) return;
        if (p.grad.shape.join() !== p.shape.join()) {
          throw new Error(
            `SGD: gradient [${p.grad.shape}] of '${g.names[i]}' does not match [${p.shape}]`,
          );
        }
        const buf = this.#buf.get(p);
        const first = buf !== undefined && !this.#started.has(p);
        const rows = this.#rows.get(p);
        const rowLen = rows ? p.size / p.shape[0] : 0;
        launch("sgd", code, buf ? "sgd_momentum" : "sgd", {
          buffers: [p, p.grad, buf ?? null, rows ?? p.grad],
          workgroups: grid(p.size),
          params: new Params().u32(p.size, first ? 1 : 0, this.nesterov ? 1 : 0, rowLen).f32(
            this.lr * g.lrScale,
            g.decay ? this.weightDecay : 0,
            this.momentum,
            this.dampening,
          ),
        });
        if (buf) this.#started.add(p);
      });
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

  /**
   * Per-row learning-rate multipliers for `p`: row r (index along the first dimension)
   * is updated with lr * lrScale * scale[r], weight decay and momentum unchanged (each
   * row then follows exactly the update it would get alone with that lr). `null` removes
   * them.
   *
   * @example
   * ```ts
   * opt.setRowLr(w, [1, 1, 0.1, 0.1]); // w [4, D]: the last two rows learn 10x slower
   * ```
   */
  setRowLr(p: Tensor, scale: ArrayLike<number> | null): void {
    this.#owned("setRowLr", p);
    this.#rows.get(p)?.dispose();
    this.#rows.delete(p);
    if (scale === null) return;
    if (p.ndim < 1 || scale.length !== p.shape[0]) {
      throw new Error(
        `SGD.setRowLr: ${scale.length} multipliers for a parameter of shape [${p.shape}] (want ${
          p.shape[0]
        }, one per row)`,
      );
    }
    for (let r = 0; r < scale.length; r++) {
      if (!(scale[r] >= 0) || !Number.isFinite(scale[r])) {
        throw new Error(`SGD.setRowLr: scale[${r}] = ${scale[r]} must be a finite number >= 0`);
      }
    }
    this.#rows.set(p, keep(tensor(Float32Array.from(scale), [scale.length])));
  }

  #owned(op: string, p: Tensor): void {
    if (!this.groups.some((g) => g.params.includes(p))) {
      throw new Error(`SGD.${op}: this tensor is not one of the parameters`);
    }
  }

  /**
   * The momentum buffer of `p`, or null before its first step (PyTorch's `None`) and
   * without momentum.
   */
  momentumBuffer(p: Tensor): Tensor | null {
    this.#owned("momentumBuffer", p);
    return this.#started.has(p) ? this.#buf.get(p) ?? null : null;
  }

  /** Release the momentum buffers (the parameters stay). */
  dispose(): void {
    for (const b of this.#buf.values()) b.dispose();
    for (const b of this.#rows.values()) b.dispose();
    this.#buf.clear();
    this.#rows.clear();
    this.#started.clear();
    this.#disposed = true;
  }
}
