/**
 * Mugs' local-group transformer (the official `relation_blocks` of sail-sg/mugs
 * `src/vision_transformer.py`): the query token and its k memory neighbours form a sequence
 * [B, 1 + k, D] that goes through ViT `Block`s (one in the official code, two in the paper),
 * and the first output token, through the backbone's final norm, is the local-group feature.
 *
 * As in the official code there is no position embedding and no learned token: the sequence
 * is exactly [query, neighbour_1, …, neighbour_k], so token 0's output does not depend on the
 * neighbours' order. The blocks are initialised like the backbone's (trunc normal 0.02, zero
 * biases, LayerNorm 1/0, eps 1e-6, qkv bias). Parameter names are `relation_blocks.N.*`; in
 * an official checkpoint they live inside the backbone (`backbone.relation_blocks.N.*`).
 * The final norm is the backbone's own `LayerNorm`, held by reference and not registered here,
 * so its parameters are neither duplicated nor listed twice.
 */
import { Module, ModuleList } from "../nn/module.ts";
import { Block } from "../nn/block.ts";
import type { LayerNorm } from "../nn/layernorm.ts";
import { Generator } from "../tensor/rng.ts";
import type { Tensor } from "../tensor/tensor.ts";
import { concat } from "../tensor/ops/shape.ts";

/**
 * Options of `LocalGroupTransformer` (official values in brackets).
 *
 * @example
 * ```ts
 * const o: LocalGroupTransformerOptions = { dim: 64, heads: 4, depth: 2 };
 * ```
 */
export interface LocalGroupTransformerOptions {
  /** Token width D (the backbone's embedDim). */
  dim: number;
  /** Attention heads (the backbone's). */
  heads: number;
  /** Number of blocks [1 in the official code; the paper says 2]. */
  depth?: number;
  /** MLP ratio [4]. */
  mlpRatio?: number;
  /** qkv bias [true]. */
  qkvBias?: boolean;
  /** LayerNorm eps inside the blocks [1e-6]. */
  eps?: number;
  /**
   * Stochastic-depth rate per block [0]: a number for all blocks or one per block. The
   * official code gives relation block i the backbone's rate of block i (0 for the first).
   */
  dropPath?: number | number[];
  seed?: number;
  gen?: Generator;
  /** Stochastic-depth generator (defaults to `gen`). */
  dropGen?: Generator;
}

/**
 * The local-group transformer: `forward(query [B, D], neighbours [B, k, D]) -> [B, D]`.
 *
 * @example
 * ```ts
 * const feat = new LocalGroupTransformer({ dim: 64, heads: 4 }, vit.norm).forward(q, nb);
 * ```
 */
export class LocalGroupTransformer extends Module {
  readonly blocks: ModuleList<Block>;
  readonly dim: number;

  /**
   * @example
   * ```ts
   * const lgt = new LocalGroupTransformer({ dim: 64, heads: 4 }, vit.norm);
   * const feat = lgt.forward(query, neighbours); // [B, 64], [B, 8, 64] -> [B, 64]
   * ```
   */
  constructor(o: LocalGroupTransformerOptions, readonly norm: LayerNorm) {
    super();
    const depth = o.depth ?? 1;
    if (!Number.isInteger(depth) || depth < 1) {
      throw new Error(`LocalGroupTransformer: depth must be an integer >= 1, got ${depth}`);
    }
    if (norm.dim !== o.dim) {
      throw new Error(
        `LocalGroupTransformer: the final norm has width ${norm.dim}, the blocks ${o.dim}`,
      );
    }
    const rates = Array.isArray(o.dropPath)
      ? o.dropPath
      : new Array<number>(depth).fill(o.dropPath ?? 0);
    if (rates.length !== depth) {
      throw new Error(
        `LocalGroupTransformer: ${rates.length} drop-path rates for ${depth} blocks`,
      );
    }
    const gen = o.gen ?? new Generator(o.seed ?? 0);
    this.dim = o.dim;
    const blocks: Block[] = [];
    for (let i = 0; i < depth; i++) {
      blocks.push(
        new Block({
          dim: o.dim,
          heads: o.heads,
          mlpRatio: o.mlpRatio ?? 4,
          qkvBias: o.qkvBias ?? true,
          eps: o.eps ?? 1e-6,
          dropPath: rates[i],
          gen,
          dropGen: o.dropGen,
        }),
      );
    }
    this.blocks = this.module("relation_blocks", new ModuleList(blocks));
  }

  /**
   * Run the blocks on a whole token sequence [B, T, D] and return the first output token
   * after the final norm, [B, D] (the official path when no memory is given: the view's own
   * tokens go through the relation blocks).
   */
  forwardTokens(tokens: Tensor): Tensor {
    return this.#run(tokens, false).out;
  }

  #run(tokens: Tensor, withAttention: boolean): { out: Tensor; attention: Tensor[] } {
    if (tokens.ndim !== 3 || tokens.shape[2] !== this.dim || tokens.shape[1] < 1) {
      throw new Error(
        `LocalGroupTransformer: expected tokens [B, T, ${this.dim}], got [${tokens.shape}]`,
      );
    }
    let x = tokens;
    const attention: Tensor[] = [];
    for (const blk of this.blocks.items) {
      const r = blk.forward(x, withAttention);
      x = r.out;
      if (r.attn) {
        const [B, H, T] = r.attn.shape;
        attention.push(r.attn.slice(2, 0, 1).reshape(B, H, T)); // token 0's row
      }
    }
    const [B, , D] = x.shape;
    return { out: this.norm.forward(x.slice(1, 0, 1).reshape(B, D)), attention };
  }

  /**
   * `forward`, plus what token 0 (the query) attends to in each block: one [B, heads, 1 + k]
   * tensor per block, over [query, neighbour_1, …, neighbour_k] (each row sums to 1).
   *
   * @example
   * ```ts
   * const { out, attention } = lgt.forwardWithAttention(query, neighbours);
   * attention[0].shape; // [B, heads, 1 + k]
   * ```
   */
  forwardWithAttention(query: Tensor, neighbours: Tensor): { out: Tensor; attention: Tensor[] } {
    return this.#run(this.#sequence(query, neighbours), true);
  }

  /**
   * The local-group feature: [query; neighbours] -> blocks -> token 0 -> final norm.
   * `query` [B, D] (official: the mean of the view's last-block tokens), `neighbours`
   * [B, k, D] (the memory's top-k entries for that query).
   */
  forward(query: Tensor, neighbours: Tensor): Tensor {
    return this.forwardTokens(this.#sequence(query, neighbours));
  }

  /** [query; neighbours] as one sequence [B, 1 + k, D], checking the shapes. */
  #sequence(query: Tensor, neighbours: Tensor): Tensor {
    const D = this.dim;
    if (query.ndim !== 2 || query.shape[1] !== D) {
      throw new Error(`LocalGroupTransformer: expected query [B, ${D}], got [${query.shape}]`);
    }
    const B = query.shape[0];
    if (neighbours.ndim !== 3 || neighbours.shape[0] !== B || neighbours.shape[2] !== D) {
      throw new Error(
        `LocalGroupTransformer: expected neighbours [${B}, k, ${D}] for query [${query.shape}], got [${neighbours.shape}]`,
      );
    }
    return concat([query.reshape(B, 1, D), neighbours], 1);
  }
}
