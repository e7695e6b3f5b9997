/**
 * Mugs' three heads (sail-sg/mugs `src/model.py`), as `Module`s whose parameter names match
 * the official checkpoints (below each head's prefix `instance_head.`, `local_group_head.`,
 * `group_head.`):
 *
 * - `InstanceHead` (`Instance_Superivsion_Head`): `projector` = nlayers bias-free Linear
 *   layers with exact GELU between (`projector.0/2/4.weight`), L2-normalised; the student
 *   adds `predictor` (nlayers - 1 bias-free layers, `predictor.0/2.weight`) on the normalised
 *   projection, then L2-normalises again.
 * - `LocalGroupHead` (`Local_Group_Superivsion_Head`): the same structure, fed by the
 *   local-group transformer's output (lib/mugs/local_group_transformer.ts).
 * - `GroupHead` (`Group_Superivsion_Head`, DINO's `DINOHead` with `mlp` renamed `projector`):
 *   Linear layers with biases and GELU, L2 normalisation, then `last_layer`, a
 *   weight-normalised bias-free Linear onto the prototypes (`last_layer.weight_g` [m, 1],
 *   `last_layer.weight_v` [m, bottleneck]).
 *
 * Initialisation follows the official code exactly: `self.apply(_init_weights)` runs before
 * the predictor and the last layer are built, so only the projectors get truncated normal
 * (std 0.02, zero biases); the predictor weights and `last_layer.weight_v` keep PyTorch's
 * default Linear init, U(-1/sqrt(fan_in), 1/sqrt(fan_in)); `weight_g` is filled with 1.
 */
import { copyInto, Module } from "../nn/module.ts";
import { Linear } from "../nn/linear.ts";
import { BatchNorm1d } from "../nn/batchnorm.ts";
import { constant } from "../nn/init.ts";
import { Generator } from "../tensor/rng.ts";
import type { Tensor } from "../tensor/tensor.ts";
import { l2normalize } from "../tensor/ops/norm.ts";
import { linear } from "../tensor/ops/matmul.ts";

/** How a head's Linear weights start. @example `new GroupHead({ inDim: 64, init: "trunc_normal" })` */
export type HeadInit =
  /** As the official code: projector trunc normal 0.02; predictor and `weight_v` PyTorch default. */
  | "official"
  /** Every Linear weight trunc normal 0.02 (DINO's `_init_weights` applied to the whole head). */
  | "trunc_normal";

/**
 * PyTorch's default Linear weight init (kaiming_uniform with a = sqrt(5)): U(-b, b) with
 * b = 1/sqrt(fan_in), written over `w` [out, in].
 *
 * @example
 * ```ts
 * torchDefaultInit(fc.weight, new Generator(0));
 * ```
 */
export function torchDefaultInit(w: Tensor, gen: Generator): void {
  const [out, fanIn] = w.shape;
  const bound = 1 / Math.sqrt(fanIn);
  const data = new Float32Array(out * fanIn);
  for (let i = 0; i < data.length; i++) data[i] = gen.range(-bound, bound);
  copyInto(w, { shape: [out, fanIn], data });
}

/**
 * Options of `ProjectionMLP`.
 *
 * @example
 * ```ts
 * const o: ProjectionMLPOptions = {
 *   nlayers: 3, inDim: 64, hiddenDim: 256, outDim: 128, bias: true,
 *   init: "trunc_normal", gen: new Generator(0),
 * };
 * ```
 */
export interface ProjectionMLPOptions {
  /** Number of Linear layers (>= 1; 0 makes an identity, as an empty `nn.Sequential`). */
  nlayers: number;
  inDim: number;
  hiddenDim: number;
  outDim: number;
  /** Linear biases (Mugs' instance/local-group heads: false; group head and DINO: true). */
  bias: boolean;
  /** Weight init: trunc normal 0.02 (DINO's `_init_weights`) or PyTorch's default. */
  init: "trunc_normal" | "torch_default";
  gen: Generator;
  /** BatchNorm1d after every hidden Linear (`use_bn_in_head`) [false]. */
  bn?: boolean;
}

/**
 * `nn.Sequential(Linear, GELU, Linear, GELU, …, Linear)`: Linear layers are children named by
 * their Sequential index ("0", "2", "4", …; the GELUs at odd indices have no parameters), so
 * names read `projector.0.weight`, `projector.2.weight`, … as in the official checkpoints.
 * With `bn` (the official `use_bn_in_head`) each hidden Linear is followed by a BatchNorm1d,
 * `nn.Sequential(Linear, BatchNorm1d, GELU, …, Linear)`: Linear layers at "0", "3", "6", …
 * and the norms at "1", "4", …. Callers L2-normalise.
 *
 * @example
 * ```ts
 * const mlp = new ProjectionMLP({
 *   nlayers: 2, inDim: 8, hiddenDim: 16, outDim: 4, bias: false, init: "torch_default",
 *   gen: new Generator(0),
 * });
 * ```
 */
export class ProjectionMLP extends Module {
  /** The Linear layers in order. */
  readonly layers: Linear[];
  /** The BatchNorm1d after each hidden Linear (empty without `bn`). */
  readonly norms: BatchNorm1d[];

  /**
   * @example
   * ```ts
   * const mlp = new ProjectionMLP({
   *   nlayers: 3, inDim: 384, hiddenDim: 2048, outDim: 256, bias: false,
   *   init: "trunc_normal", gen: new Generator(0),
   * });
   * const y = mlp.forward(x); // [B, 384] -> [B, 256]
   * ```
   */
  constructor(readonly opts: ProjectionMLPOptions) {
    super();
    const { nlayers, inDim, hiddenDim, outDim, bias, gen } = opts;
    if (!Number.isInteger(nlayers) || nlayers < 0) {
      throw new Error(`ProjectionMLP: nlayers must be an integer >= 0, got ${nlayers}`);
    }
    for (const [k, v] of [["inDim", inDim], ["hiddenDim", hiddenDim], ["outDim", outDim]]) {
      if (!Number.isInteger(v) || (v as number) < 1) {
        throw new Error(`ProjectionMLP: ${k} must be a positive integer, got ${v}`);
      }
    }
    if (nlayers === 0 && inDim !== outDim) {
      throw new Error(`ProjectionMLP: 0 layers needs inDim === outDim, got ${inDim} -> ${outDim}`);
    }
    this.layers = [];
    this.norms = [];
    const stride = opts.bn ? 3 : 2; // Linear, (BatchNorm1d), GELU
    for (let i = 0; i < nlayers; i++) {
      const d1 = i === 0 ? inDim : hiddenDim;
      const d2 = i === nlayers - 1 ? outDim : hiddenDim;
      const fc = new Linear(d1, d2, { bias, std: 0.02, gen });
      if (opts.init === "torch_default") torchDefaultInit(fc.weight, gen);
      this.layers.push(this.module(String(stride * i), fc));
      if (opts.bn && i < nlayers - 1) {
        this.norms.push(this.module(String(stride * i + 1), new BatchNorm1d(d2)));
      }
    }
  }

  /**
   * x [..., inDim] -> [..., outDim]: Linear, then (BatchNorm1d and) GELU after every Linear
   * but the last. With `bn` the input must be rows [N, inDim], as for `nn.BatchNorm1d`.
   */
  forward(x: Tensor): Tensor {
    for (let i = 0; i < this.layers.length; i++) {
      x = this.layers[i].forward(x);
      if (i === this.layers.length - 1) break;
      if (this.norms.length) x = this.norms[i].forward(x);
      x = x.gelu();
    }
    return x;
  }
}

function checkInput(head: string, x: Tensor, inDim: number): void {
  if (x.ndim < 1 || x.shape[x.ndim - 1] !== inDim) {
    throw new Error(`${head}: expected features [..., ${inDim}], got [${x.shape}]`);
  }
}

/**
 * Options of `InstanceHead` / `LocalGroupHead` (official defaults in brackets).
 *
 * @example
 * ```ts
 * const o: InstanceHeadOptions = { inDim: 64, hiddenDim: 256, outDim: 128, predHiddenDim: 512 };
 * ```
 */
export interface InstanceHeadOptions {
  /** Backbone width (the class token / local-group token dimension). */
  inDim: number;
  /** Projector hidden width [2048]. */
  hiddenDim?: number;
  /** Output width of projector and predictor [256]. */
  outDim?: number;
  /** Predictor hidden width [4096 for the student]; 0 builds no predictor (the teacher). */
  predHiddenDim?: number;
  /** Projector depth [3]; the predictor has `nlayers - 1` layers. */
  nlayers?: number;
  /** L2-normalise the projection before the predictor [true] (`norm_before_pred`). */
  normBeforePred?: boolean;
  /**
   * A residual predictor [false]: prediction = normalise(z + predictor(z)) with the predictor's
   * last layer zero at init, so the student starts by predicting its own projection (not a
   * random map of it) and learns the asymmetry from there. Not in the official code: a kit
   * option for short runs (docs/recipes.md).
   */
  residualPred?: boolean;
  /**
   * BatchNorm1d after each hidden projector layer [false] (`use_bn_in_head`; the official
   * code never puts one in the predictor).
   */
  bn?: boolean;
  /** Weight init ["official"]. */
  init?: HeadInit;
  /** Initialisation seed [0] (or give `gen`). */
  seed?: number;
  gen?: Generator;
}

/**
 * Instance-discrimination head: `projector` (3 bias-free Linear layers, GELU between, 2048
 * hidden, 256 out) -> L2 norm; the student adds `predictor` (2 bias-free layers, 4096 hidden)
 * on the normalised projection, then L2 norm. `forward` gives the student's normalised
 * prediction when a predictor exists, else the normalised projection (the teacher's target).
 *
 * @example
 * ```ts
 * const z = new InstanceHead({ inDim: 64, predHiddenDim: 0 }).forward(cls); // [B, 256]
 * ```
 */
export class InstanceHead extends Module {
  readonly projector: ProjectionMLP;
  /** Null for a teacher head (`predHiddenDim` 0). */
  readonly predictor: ProjectionMLP | null;
  readonly inDim: number;
  readonly outDim: number;
  readonly normBeforePred: boolean;
  readonly residualPred: boolean;
  protected readonly headName: string = "InstanceHead";

  /**
   * @example
   * ```ts
   * const student = new InstanceHead({ inDim: 384 });                  // with predictor
   * const teacher = new InstanceHead({ inDim: 384, predHiddenDim: 0 }); // projection only
   * const pred = student.forward(cls); // [B, 256], unit rows
   * ```
   */
  constructor(o: InstanceHeadOptions) {
    super();
    const gen = o.gen ?? new Generator(o.seed ?? 0);
    const nlayers = Math.max(o.nlayers ?? 3, 1); // as the official max(nlayers, 1)
    const hiddenDim = o.hiddenDim ?? 2048;
    const predHiddenDim = o.predHiddenDim ?? 4096;
    const init = o.init ?? "official";
    this.inDim = o.inDim;
    this.outDim = o.outDim ?? 256;
    this.normBeforePred = o.normBeforePred ?? true;
    this.residualPred = o.residualPred ?? false;
    this.projector = this.module(
      "projector",
      new ProjectionMLP({
        nlayers,
        inDim: o.inDim,
        hiddenDim,
        outDim: this.outDim,
        bias: false,
        init: "trunc_normal",
        gen,
        bn: o.bn,
      }),
    );
    this.predictor = predHiddenDim > 0
      ? this.module(
        "predictor",
        new ProjectionMLP({
          nlayers: nlayers - 1,
          inDim: this.outDim,
          hiddenDim: predHiddenDim,
          outDim: this.outDim,
          bias: false,
          init: init === "official" ? "torch_default" : "trunc_normal",
          gen,
        }),
      )
      : null;
    if (this.predictor && this.residualPred) {
      const w = this.predictor.layers[this.predictor.layers.length - 1].weight;
      w.storage!.rt.upload(w.buffer, new Float32Array(w.size)); // the residual starts at 0
    }
  }

  /** The L2-normalised projection [..., outDim] (the teacher's target). */
  project(x: Tensor): Tensor {
    checkInput(this.headName, x, this.inDim);
    return l2normalize(this.projector.forward(x));
  }

  /**
   * The L2-normalised prediction [..., outDim]: projector, (L2 norm), predictor, L2 norm.
   * Throws on a head without a predictor.
   */
  predict(x: Tensor): Tensor {
    if (!this.predictor) {
      throw new Error(`${this.headName}: this head has no predictor (predHiddenDim 0)`);
    }
    checkInput(this.headName, x, this.inDim);
    let feat = this.projector.forward(x);
    if (this.normBeforePred) feat = l2normalize(feat);
    const p = this.predictor.forward(feat);
    return l2normalize(this.residualPred ? feat.add(p) : p);
  }

  /** Normalised prediction for a student head, normalised projection for a teacher head. */
  forward(x: Tensor): Tensor {
    return this.predictor ? this.predict(x) : this.project(x);
  }
}

/**
 * Local-group head: the same structure as `InstanceHead` (official
 * `Local_Group_Superivsion_Head`), applied to the local-group transformer's output token.
 *
 * @example
 * ```ts
 * const head = new LocalGroupHead({ inDim: 384 });
 * const pred = head.forward(lgt.forward(query, neighbours)); // [B, 256]
 * ```
 */
export class LocalGroupHead extends InstanceHead {
  protected override readonly headName: string = "LocalGroupHead";
}

/**
 * Options of `WeightNormLinear`.
 *
 * @example
 * ```ts
 * const o: WeightNormLinearOptions = { frozenNorm: false, gen: new Generator(1) };
 * ```
 */
export interface WeightNormLinearOptions {
  /** Keep the norm `weight_g` fixed (DINO/Mugs `norm_last_layer`) [true]. */
  frozenNorm?: boolean;
  /** Init of `weight_v` ["torch_default", as `nn.Linear`'s own]. */
  init?: "torch_default" | "trunc_normal";
  gen?: Generator;
}

/**
 * `nn.utils.weight_norm(nn.Linear(inDim, outDim, bias=False))` with `weight_g` filled with 1:
 * parameters `weight_g` [out, 1] and `weight_v` [out, in]; the effective weight is
 * `g * v / ||v||` per row (row norm over the input axis, PyTorch's dim=0). It is built from
 * taped ops (row L2 normalisation of v, times g), so gradients reach v (and g) automatically.
 * With `frozenNorm`, `weight_g` is registered as a buffer instead of a parameter: it stays in
 * `stateDict()` under the same name (checkpoints load either way) but is not returned by
 * `parameters()`, so no optimiser (or weight decay) ever touches it.
 *
 * @example
 * ```ts
 * const w = new WeightNormLinear(4, 3, { frozenNorm: false }).weight(); // [3, 4], rows of norm g
 * ```
 */
export class WeightNormLinear extends Module {
  readonly weightG: Tensor;
  readonly weightV: Tensor;

  /**
   * @example
   * ```ts
   * const last = new WeightNormLinear(256, 65536); // frozen g = 1
   * const logits = last.forward(z); // z [B, 256] -> [B, 65536]
   * ```
   */
  constructor(
    readonly inDim: number,
    readonly outDim: number,
    readonly opts: WeightNormLinearOptions = {},
  ) {
    super();
    const gen = opts.gen ?? new Generator(0);
    const g = constant([outDim, 1], 1);
    this.weightG = opts.frozenNorm ?? true ? this.buffer("weight_g", g) : this.param("weight_g", g);
    const fc = new Linear(inDim, outDim, { bias: false, std: 0.02, gen });
    if ((opts.init ?? "torch_default") === "torch_default") torchDefaultInit(fc.weight, gen);
    this.weightV = this.param("weight_v", fc.weight);
  }

  /** Whether `weight_g` is fixed (a buffer). */
  get frozenNorm(): boolean {
    return !this.weightG.requiresGrad;
  }

  /** The effective weight `g * v / ||v||_row`, [out, in] (on the tape). */
  weight(): Tensor {
    return l2normalize(this.weightV).mul(this.weightG);
  }

  /** x [..., in] -> [..., out] = x W^T with W = `weight()`. */
  forward(x: Tensor): Tensor {
    if (x.ndim < 1 || x.shape[x.ndim - 1] !== this.inDim) {
      throw new Error(
        `WeightNormLinear(${this.inDim}, ${this.outDim}): expected [..., ${this.inDim}], got [${x.shape}]`,
      );
    }
    const w = this.weight();
    const lead = x.shape.slice(0, -1);
    const x2 = x.ndim === 2 ? x : x.reshape(-1, this.inDim);
    const y = linear(x2, w, null);
    return x.ndim === 2 ? y : y.reshape([...lead, this.outDim]);
  }
}

/**
 * Options of `GroupHead` (official defaults in brackets).
 *
 * @example
 * ```ts
 * const o: GroupHeadOptions = { inDim: 64, hiddenDim: 256, bottleneckDim: 128, outDim: 4096 };
 * ```
 */
export interface GroupHeadOptions {
  /** Backbone width. */
  inDim: number;
  /** Number of prototypes m [65536]. */
  outDim?: number;
  /** Projector hidden width [2048]. */
  hiddenDim?: number;
  /** Projector output / last-layer input width [256]. */
  bottleneckDim?: number;
  /** Projector depth [3]. */
  nlayers?: number;
  /** Fix `last_layer.weight_g` at 1 [true] (`norm_last_layer`). */
  normLastLayer?: boolean;
  /** BatchNorm1d after each hidden projector layer [false] (`use_bn_in_head`). */
  bn?: boolean;
  /** Weight init ["official"]. */
  init?: HeadInit;
  seed?: number;
  gen?: Generator;
}

/**
 * Group-discrimination head (DINO's head): `projector` (Linear layers with biases, GELU
 * between; a single layer is the bare Linear `projector.weight`/`projector.bias` as in the
 * official code) -> L2 norm -> `last_layer` (`WeightNormLinear` onto m prototypes).
 * `forward` returns the prototype logits [..., m].
 *
 * @example
 * ```ts
 * const logits = new GroupHead({ inDim: 64, outDim: 1024 }).forward(cls); // [B, 1024]
 * ```
 */
export class GroupHead extends Module {
  readonly projector: ProjectionMLP | Linear;
  readonly lastLayer: WeightNormLinear;
  readonly inDim: number;
  readonly outDim: number;
  readonly bottleneckDim: number;

  /**
   * @example
   * ```ts
   * const head = new GroupHead({ inDim: 384, outDim: 4096, normLastLayer: true });
   * const logits = head.forward(cls); // [B, 4096]
   * ```
   */
  constructor(o: GroupHeadOptions) {
    super();
    const gen = o.gen ?? new Generator(o.seed ?? 0);
    const nlayers = Math.max(o.nlayers ?? 3, 1);
    const init = o.init ?? "official";
    this.inDim = o.inDim;
    this.outDim = o.outDim ?? 65536;
    this.bottleneckDim = o.bottleneckDim ?? 256;
    this.projector = this.module(
      "projector",
      nlayers === 1
        ? new Linear(o.inDim, this.bottleneckDim, { bias: true, std: 0.02, gen })
        : new ProjectionMLP({
          nlayers,
          inDim: o.inDim,
          hiddenDim: o.hiddenDim ?? 2048,
          outDim: this.bottleneckDim,
          bias: true,
          init: "trunc_normal",
          gen,
          bn: o.bn,
        }),
    );
    this.lastLayer = this.module(
      "last_layer",
      new WeightNormLinear(this.bottleneckDim, this.outDim, {
        frozenNorm: o.normLastLayer ?? true,
        init: init === "official" ? "torch_default" : "trunc_normal",
        gen,
      }),
    );
  }

  /** The L2-normalised bottleneck features [..., bottleneckDim]. */
  features(x: Tensor): Tensor {
    checkInput("GroupHead", x, this.inDim);
    return l2normalize(this.projector.forward(x));
  }

  /** Prototype logits [..., outDim]. */
  forward(x: Tensor): Tensor {
    return this.lastLayer.forward(this.features(x));
  }
}
