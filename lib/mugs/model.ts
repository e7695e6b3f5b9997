/**
 * The Mugs network (student or teacher): a ViT backbone, the local-group transformer and
 * the three heads, applied to the multi-crop views as the official `Mugs_Wrapper` does.
 *
 *   cls  -> instance head                              (instance discrimination)
 *   mean of the last block's tokens (pre-norm) -> top-k neighbours from the local-group
 *        memory -> local-group transformer -> norm -> local-group head (local-group discr.)
 *   cls  -> group head (prototype logits)              (group discrimination)
 *
 * The memory is filled with the mean of the normed patch tokens of the first global view.
 */
import { Module } from "../nn/module.ts";
import { ViT, type ViTConfig } from "../nn/vit.ts";
import { GroupHead, InstanceHead, LocalGroupHead } from "./heads.ts";
import { LocalGroupTransformer } from "./local_group_transformer.ts";
import type { LocalGroupMemory } from "../memory/local_group.ts";
import type { Tensor } from "../tensor/tensor.ts";
import { concat } from "../tensor/ops/shape.ts";

/** Sizes of the Mugs heads and memories. */
export interface MugsHeadConfig {
  /** Projector hidden width (2048 officially). */
  hidden: number;
  /** Instance / local-group output width (256 officially). */
  out: number;
  /** Student predictor hidden width (4096 officially). */
  predHidden: number;
  /** Group-head bottleneck width (256 officially). */
  bottleneck: number;
  /** Number of prototypes m (65 536 officially). */
  prototypes: number;
  /** Neighbours from the local-group memory (8 officially). */
  k: number;
  /** Blocks of the local-group transformer (1 in the official code). */
  relationDepth: number;
  /** Fix the prototype norms (`norm_last_layer`). */
  normLastLayer: boolean;
  /** Residual predictors, zero at init (a kit option; absent: the official predictor). */
  residualPred?: boolean;
  /** BatchNorm1d in the three projectors (`use_bn_in_head`; absent: none, the official default). */
  bn?: boolean;
}

/** What the network gives for a list of views (rows view-major: view 0's batch first). */
export interface MugsOutputs {
  /** Instance features [V*B, out] (student: predictions; teacher: targets). */
  instance?: Tensor;
  /** Local-group features [V*B, out]. */
  localGroup?: Tensor;
  /** Prototype logits [V*B, m]. */
  group?: Tensor;
  /** Mean normed patch token of the first view, [B, D] (the memory entry; with localGroup). */
  memoryEntry?: Tensor;
  /**
   * The memory rows each view's query retrieved, i32 [V*B, k] (view-major like the features;
   * only when `forward` is asked for them, with localGroup): for neighbour purity.
   */
  neighbourRows?: Tensor;
}

/** Which branches `MugsNet.forward` computes (all by default). */
export interface MugsBranches {
  instance: boolean;
  localGroup: boolean;
  group: boolean;
}

const ALL_BRANCHES: MugsBranches = { instance: true, localGroup: true, group: true };

export class MugsNet extends Module {
  readonly backbone: ViT;
  readonly relation: LocalGroupTransformer;
  readonly instanceHead: InstanceHead;
  readonly localGroupHead: LocalGroupHead;
  readonly groupHead: GroupHead;

  /**
   * @example
   * ```ts
   * const student = new MugsNet(vitConfig("vit_micro_28"), heads, true, 0);
   * const teacher = new MugsNet(vitConfig("vit_micro_28"), heads, false, 0);
   * ```
   */
  constructor(vit: ViTConfig, readonly heads: MugsHeadConfig, readonly student: boolean, seed = 0) {
    super();
    const D = vit.embedDim;
    this.backbone = this.module("backbone", new ViT(vit, seed));
    this.relation = this.module(
      "relation",
      new LocalGroupTransformer(
        { dim: D, heads: vit.numHeads, depth: heads.relationDepth, seed: seed + 11 },
        this.backbone.norm,
      ),
    );
    const pred = student ? heads.predHidden : 0;
    this.instanceHead = this.module(
      "instance_head",
      new InstanceHead({
        inDim: D,
        hiddenDim: heads.hidden,
        outDim: heads.out,
        predHiddenDim: pred,
        residualPred: heads.residualPred,
        bn: heads.bn,
        seed: seed + 21,
      }),
    );
    this.localGroupHead = this.module(
      "local_group_head",
      new LocalGroupHead({
        inDim: D,
        hiddenDim: heads.hidden,
        outDim: heads.out,
        predHiddenDim: pred,
        residualPred: heads.residualPred,
        bn: heads.bn,
        seed: seed + 31,
      }),
    );
    this.groupHead = this.module(
      "group_head",
      new GroupHead({
        inDim: D,
        outDim: heads.prototypes,
        hiddenDim: heads.hidden,
        bottleneckDim: heads.bottleneck,
        normLastLayer: heads.normLastLayer,
        bn: heads.bn,
        seed: seed + 41,
      }),
    );
  }

  /**
   * Run the views (groups of equal crop size, each [B, C, S, S]) through the backbone and the
   * heads; `memory` supplies the local-group neighbours (searched with each view's pre-norm
   * token mean, as the official code does); `batch` is the number of images per view. Only
   * the branches in `need` are computed (the others are left undefined). With
   * `neighbourRows`, the memory rows each query retrieved come back too.
   *
   * @example
   * ```ts
   * const out = student.forward([globals, locals], memory, B); // out.instance: [V*B, out]
   * ```
   */
  forward(
    groups: Tensor[],
    memory: LocalGroupMemory,
    batch: number,
    need: MugsBranches = ALL_BRANCHES,
    opts: { neighbourRows?: boolean } = {},
  ): MugsOutputs {
    const cls: Tensor[] = [];
    const lg: Tensor[] = [];
    const rows: Tensor[] = [];
    let memoryEntry: Tensor | undefined;
    for (const images of groups) {
      const out = this.backbone.encode(images);
      cls.push(out.cls);
      if (!need.localGroup) continue;
      memoryEntry ??= out.mean.slice(0, 0, batch);
      const query = out.pre.mean(1); // [V*B, D]
      const { features, indices } = memory.neighbours(query.detach(), this.heads.k);
      if (opts.neighbourRows) rows.push(indices);
      lg.push(this.relation.forward(query, features));
    }
    const c = cls.length === 1 ? cls[0] : concat(cls, 0);
    const l = !need.localGroup ? undefined : lg.length === 1 ? lg[0] : concat(lg, 0);
    return {
      instance: need.instance ? this.instanceHead.forward(c) : undefined,
      localGroup: l && this.localGroupHead.forward(l),
      group: need.group ? this.groupHead.forward(c) : undefined,
      memoryEntry,
      neighbourRows: rows.length === 0 ? undefined : rows.length === 1 ? rows[0] : concat(rows, 0),
    };
  }
}
