/**
 * Pre-norm transformer block (DINO's `Block`):
 * x = x + drop_path(attn(norm1(x))); x = x + drop_path(mlp(norm2(x))).
 * `DropPath` drops whole residual branches per sample in training (stochastic depth).
 */
import { Module } from "./module.ts";
import { residual } from "../tensor/ops/elementwise.ts";
import { type Tensor, tensor } from "../tensor/tensor.ts";
import { Generator } from "../tensor/rng.ts";
import { LayerNorm } from "./layernorm.ts";
import { Attention } from "./attention.ts";
import { MLP } from "./mlp.ts";

export class DropPath extends Module {
  /**
   * @example
   * ```ts
   * const dp = new DropPath(0.1, new Generator(0));
   * ```
   */
  constructor(readonly p: number, readonly gen: Generator) {
    super();
    if (!(p >= 0 && p < 1)) {
      throw new Error(`DropPath: drop probability must be in [0, 1), got ${p}`);
    }
  }

  /** Per-sample branch scales: 0 with probability p, else 1/(1-p); null when inactive. */
  mask(batch: number): Tensor | null {
    if (!this.training || this.p === 0) return null;
    const keep = 1 - this.p;
    const mask = new Float32Array(batch);
    for (let i = 0; i < batch; i++) mask[i] = this.gen.uniform() < keep ? 1 / keep : 0;
    return tensor(mask, [batch]);
  }

  /** Zero each sample's branch with probability p, scale survivors by 1/(1-p). */
  forward(x: Tensor): Tensor {
    const m = this.mask(x.shape[0]);
    return m ? x.mul(m.reshape([x.shape[0], ...x.shape.slice(1).map(() => 1)])) : x;
  }

  /** `x + drop_path(branch)` in one pass. */
  add(x: Tensor, branch: Tensor): Tensor {
    const m = this.mask(x.shape[0]);
    return m ? residual(x, branch, m) : x.add(branch);
  }
}

/** Block configuration. */
export interface BlockOptions {
  dim: number;
  heads: number;
  mlpRatio?: number;
  qkvBias?: boolean;
  dropPath?: number;
  eps?: number;
  /** Initialisation generator. */
  gen?: Generator;
  /** Stochastic-depth generator (defaults to `gen`). */
  dropGen?: Generator;
}

export class Block extends Module {
  readonly norm1: LayerNorm;
  readonly attn: Attention;
  readonly dropPath: DropPath;
  readonly norm2: LayerNorm;
  readonly mlp: MLP;

  /**
   * @example
   * ```ts
   * const blk = new Block({ dim: 64, heads: 4 });
   * const y = blk.forward(x).out;
   * ```
   */
  constructor(o: BlockOptions) {
    super();
    const gen = o.gen ?? new Generator(0);
    this.norm1 = this.module("norm1", new LayerNorm(o.dim, o.eps ?? 1e-6));
    this.attn = this.module("attn", new Attention(o.dim, o.heads, o.qkvBias ?? true, gen));
    this.dropPath = new DropPath(o.dropPath ?? 0, o.dropGen ?? gen);
    this.norm2 = this.module("norm2", new LayerNorm(o.dim, o.eps ?? 1e-6));
    this.mlp = this.module(
      "mlp",
      new MLP(o.dim, Math.round(o.dim * (o.mlpRatio ?? 4)), o.dim, gen),
    );
  }

  override train(on = true): this {
    super.train(on);
    this.dropPath.train(on);
    return this;
  }

  forward(x: Tensor, returnAttention = false): { out: Tensor; attn?: Tensor } {
    const a = this.attn.forward(this.norm1.forward(x), returnAttention);
    x = this.dropPath.add(x, a.out);
    x = this.dropPath.add(x, this.mlp.forward(this.norm2.forward(x)));
    return { out: x, attn: a.attn };
  }
}
