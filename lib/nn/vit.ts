/**
 * Vision Transformer as in DINO/Mugs `vision_transformer.py`: strided patch embedding,
 * class token, learned position embedding (bicubically resized for other crop sizes, with
 * DINO's scale factor (n + 0.1) / N), pre-norm blocks with stochastic depth, final norm.
 * Parameter names and layouts follow the reference (`patch_embed.proj.weight` [D, C, p, p],
 * `blocks.N.attn.qkv.weight` [3D, D], …) so weights move both ways.
 */
import { Module, ModuleList } from "./module.ts";
import { Block } from "./block.ts";
import { LayerNorm } from "./layernorm.ts";
import { truncNormal, uniform } from "./init.ts";
import { Generator } from "../tensor/rng.ts";
import type { Tensor } from "../tensor/tensor.ts";
import { expand } from "../tensor/ops/elementwise.ts";
import { concat, permute } from "../tensor/ops/shape.ts";
import { patchify } from "../tensor/ops/patches.ts";
import { bicubicResize } from "../tensor/ops/resize.ts";
import { readSafetensors, type SafeFile } from "../io/safetensors.ts";
import { saveModule } from "../io/weights.ts";

/** ViT hyper-parameters (timm/DINO names in camelCase). */
export interface ViTConfig {
  imgSize: number;
  patchSize: number;
  inChans: number;
  embedDim: number;
  depth: number;
  numHeads: number;
  mlpRatio: number;
  qkvBias: boolean;
  dropPathRate: number;
  /** LayerNorm epsilon (1e-6 in DINO/Mugs). */
  eps: number;
}

/** What `ViT.forward` returns. */
export interface ViTOutput {
  /** Class token after the final norm, [B, D]. */
  cls: Tensor;
  /** Patch tokens after the final norm, [B, L, D]. */
  patch: Tensor;
  /** Mean of the patch tokens, [B, D] (Mugs' local-group memory entries). */
  mean: Tensor;
}

/** The convolution of the patch embedding, kept as PyTorch's Conv2d weight [D, C, p, p]. */
class PatchProj extends Module {
  readonly weight: Tensor;
  readonly bias: Tensor;

  constructor(readonly c: number, readonly d: number, readonly p: number, gen: Generator) {
    super();
    // PyTorch's default Conv2d init (DINO keeps it): U(-1/sqrt(fan_in), 1/sqrt(fan_in))
    const bound = 1 / Math.sqrt(c * p * p);
    this.weight = this.param("weight", uniform([d, c, p, p], bound, gen));
    this.bias = this.param("bias", uniform([d], bound, gen));
  }
}

/** Conv2d(C, D, kernel=p, stride=p) as patch extraction + one matmul: [B, C, H, W] -> [B, L, D]. */
export class PatchEmbed extends Module {
  readonly proj: PatchProj;

  constructor(readonly patchSize: number, inChans: number, embedDim: number, gen: Generator) {
    super();
    this.proj = this.module("proj", new PatchProj(inChans, embedDim, patchSize, gen));
  }

  forward(x: Tensor): Tensor {
    const { c, d, p } = this.proj;
    if (x.ndim !== 4 || x.shape[1] !== c) {
      throw new Error(`PatchEmbed: expected images [B, ${c}, H, W], got [${x.shape}]`);
    }
    const cols = patchify(x, p); // [B, L, C*p*p], inner order (c, ph, pw)
    const w = this.proj.weight.reshape(d, c * p * p);
    return cols.matmul(w, { transB: true }).add(this.proj.bias);
  }
}

const DEFAULTS: Omit<ViTConfig, "imgSize" | "patchSize" | "embedDim" | "depth" | "numHeads"> = {
  inChans: 3,
  mlpRatio: 4,
  qkvBias: true,
  dropPathRate: 0,
  eps: 1e-6,
};

/** Named configurations: the ImageNet shapes and small-image presets. */
export const VIT_PRESETS: Record<
  string,
  Omit<ViTConfig, "dropPathRate" | "inChans"> & { inChans?: number }
> = {
  // ImageNet shapes (DINO/Mugs): patch 16, 224 px
  vit_tiny: { ...DEFAULTS, imgSize: 224, patchSize: 16, embedDim: 192, depth: 12, numHeads: 3 },
  vit_small: { ...DEFAULTS, imgSize: 224, patchSize: 16, embedDim: 384, depth: 12, numHeads: 6 },
  vit_base: { ...DEFAULTS, imgSize: 224, patchSize: 16, embedDim: 768, depth: 12, numHeads: 12 },
  // 28 px (Fashion-MNIST, 1 channel): patch 4 gives a 7x7 grid, 50 tokens
  vit_micro_28: {
    ...DEFAULTS,
    imgSize: 28,
    patchSize: 4,
    inChans: 1,
    embedDim: 64,
    depth: 4,
    numHeads: 4,
  },
  vit_mini_28: {
    ...DEFAULTS,
    imgSize: 28,
    patchSize: 4,
    inChans: 1,
    embedDim: 192,
    depth: 6,
    numHeads: 3,
  },
  // 32 px (CIFAR-10, 3 channels): patch 4 gives an 8x8 grid, 65 tokens
  vit_micro_32: {
    ...DEFAULTS,
    imgSize: 32,
    patchSize: 4,
    inChans: 3,
    embedDim: 64,
    depth: 4,
    numHeads: 4,
  },
  vit_mini_32: {
    ...DEFAULTS,
    imgSize: 32,
    patchSize: 4,
    inChans: 3,
    embedDim: 192,
    depth: 6,
    numHeads: 3,
  },
};

/** A full config from a preset name plus overrides. */
export function vitConfig(preset: string, overrides: Partial<ViTConfig> = {}): ViTConfig {
  const base = VIT_PRESETS[preset];
  if (!base) {
    throw new Error(
      `unknown ViT preset '${preset}' (known: ${Object.keys(VIT_PRESETS).join(", ")})`,
    );
  }
  return { inChans: 3, dropPathRate: 0, ...base, ...overrides } as ViTConfig;
}

export class ViT extends Module {
  readonly config: ViTConfig;
  readonly patchEmbed: PatchEmbed;
  readonly clsToken: Tensor;
  readonly posEmbed: Tensor;
  readonly blocks: ModuleList<Block>;
  readonly norm: LayerNorm;
  /** Drives stochastic depth; its state is part of a checkpoint. */
  readonly gen: Generator;

  /**
   * @example
   * ```ts
   * const vit = new ViT(vitConfig("vit_micro_28"), 0);
   * const { cls, patch, mean } = vit.forward(images); // images [B, 1, 28, 28]
   * ```
   */
  constructor(config: ViTConfig, seed = 0) {
    super();
    const c = (this.config = { ...config });
    if (c.imgSize % c.patchSize) {
      throw new Error(`ViT: imgSize ${c.imgSize} is not a multiple of patch ${c.patchSize}`);
    }
    const g = new Generator(seed);
    this.gen = new Generator(seed + 1);
    const n = c.imgSize / c.patchSize;
    this.patchEmbed = this.module(
      "patch_embed",
      new PatchEmbed(c.patchSize, c.inChans, c.embedDim, g),
    );
    this.clsToken = this.param("cls_token", truncNormal([1, 1, c.embedDim], 0.02, g));
    this.posEmbed = this.param("pos_embed", truncNormal([1, n * n + 1, c.embedDim], 0.02, g));
    const blocks: Block[] = [];
    for (let i = 0; i < c.depth; i++) {
      const dpr = c.depth > 1 ? (c.dropPathRate * i) / (c.depth - 1) : 0; // linearly increasing
      blocks.push(
        new Block({
          dim: c.embedDim,
          heads: c.numHeads,
          mlpRatio: c.mlpRatio,
          qkvBias: c.qkvBias,
          dropPath: dpr,
          eps: c.eps,
          gen: g,
          dropGen: this.gen,
        }),
      );
    }
    this.blocks = this.module("blocks", new ModuleList(blocks));
    this.norm = this.module("norm", new LayerNorm(c.embedDim, c.eps));
  }

  /**
   * Write the weights as safetensors (atomically: temp file + rename), with the
   * configuration in `__metadata__.config` so `ViT.load` can rebuild the model from the file.
   *
   * @example
   * ```ts
   * await vit.save("out/vit.safetensors");
   * ```
   */
  async save(path: string): Promise<void> {
    await saveModule(this, path, { config: JSON.stringify(this.config), model: "vit" });
  }

  /**
   * Build a ViT from a safetensors file alone (path or URL). Files written by this kit carry
   * their configuration; for DINO/Mugs/timm files the shapes are read off the tensors
   * (patch size, channels, width, depth, grid) and the head count defaults to width / 64
   * (true of ViT-T/S/B), or give it in `overrides`.
   *
   * @example
   * ```ts
   * const vit = await ViT.load("https://example.org/dino_deitsmall16.safetensors");
   * ```
   */
  static async load(pathOrUrl: string | URL, overrides: Partial<ViTConfig> = {}): Promise<ViT> {
    const file = await readSafetensors(pathOrUrl);
    const vit = new ViT({
      ...configFromFile(file, String(pathOrUrl), overrides.numHeads),
      ...overrides,
    });
    // a classification head (timm `head.*`) is not part of the backbone; anything else must match
    const tensors = new Map([...file.tensors].filter(([name]) => !name.startsWith("head.")));
    vit.loadStateDict(tensors, { source: String(pathOrUrl) });
    return vit;
  }

  /** Position embedding for an hp x wp patch grid (DINO's `interpolate_pos_encoding`). */
  posEncoding(hp: number, wp: number): Tensor {
    const N = this.posEmbed.shape[1] - 1;
    const n = Math.round(Math.sqrt(N));
    if (hp * wp === N && hp === wp) return this.posEmbed;
    const D = this.config.embedDim;
    const clsPos = this.posEmbed.slice(1, 0, 1); // [1, 1, D]
    const grid = permute(this.posEmbed.slice(1, 1).reshape(1, n, n, D), [0, 3, 1, 2]); // [1, D, n, n]
    const resized = bicubicResize(grid, { scaleFactor: [(hp + 0.1) / n, (wp + 0.1) / n] }); // [1, D, hp, wp]
    if (resized.shape[2] !== hp || resized.shape[3] !== wp) {
      throw new Error(`posEncoding: resize gave [${resized.shape}], expected a ${hp}x${wp} grid`);
    }
    const patchPos = permute(resized, [0, 2, 3, 1]).reshape(1, hp * wp, D);
    return concat([clsPos, patchPos], 1);
  }

  /** Patch tokens + class token + position embedding: [B, 1 + L, D]. */
  prepareTokens(images: Tensor): Tensor {
    const [B, , H, W] = images.shape;
    const p = this.config.patchSize;
    if (H % p || W % p) {
      throw new Error(`ViT: image size ${H}x${W} is not a multiple of the patch size ${p}`);
    }
    const x = this.patchEmbed.forward(images); // [B, L, D]
    const cls = expand(this.clsToken, [B, 1, this.config.embedDim]);
    return concat([cls, x], 1).add(this.posEncoding(H / p, W / p));
  }

  /** Class token, patch tokens and their mean, after the final norm. */
  forward(images: Tensor): ViTOutput {
    return this.encode(images);
  }

  /**
   * As `forward`, plus the last block's tokens before the final norm (`pre`, [B, 1 + L, D]):
   * Mugs queries its local-group memory with their mean.
   */
  encode(images: Tensor): ViTOutput & { pre: Tensor } {
    let pre = this.prepareTokens(images);
    for (const blk of this.blocks.items) pre = blk.forward(pre).out;
    const x = this.norm.forward(pre);
    const [B, T, D] = x.shape;
    const cls = x.slice(1, 0, 1).reshape(B, D);
    const patch = x.slice(1, 1, T);
    return { cls, patch, mean: patch.mean(1), pre };
  }

  /**
   * The outputs of the last `n` blocks, each through the final norm, [B, 1 + L, D] each
   * (DINO's `get_intermediate_layers`, which its linear evaluation reads).
   *
   * @example
   * ```ts
   * const [b3, b4] = vit.intermediateLayers(images, 2); // the last two blocks
   * ```
   */
  intermediateLayers(images: Tensor, n = 1): Tensor[] {
    const blocks = this.blocks.items;
    if (!Number.isInteger(n) || n < 1 || n > blocks.length) {
      throw new Error(`intermediateLayers: n must be in 1..${blocks.length}, got ${n}`);
    }
    let x = this.prepareTokens(images);
    const out: Tensor[] = [];
    for (let i = 0; i < blocks.length; i++) {
      x = blocks[i].forward(x).out;
      if (i >= blocks.length - n) out.push(this.norm.forward(x));
    }
    return out;
  }

  /** The last block's attention per head, [B, heads, 1 + L, 1 + L] (row 0: the class token's). */
  lastAttention(images: Tensor): Tensor {
    let x = this.prepareTokens(images);
    const blocks = this.blocks.items;
    for (let i = 0; i < blocks.length - 1; i++) x = blocks[i].forward(x).out;
    return blocks[blocks.length - 1].forward(x, true).attn!;
  }
}

/** The ViT configuration stored in (or implied by) a weight file. */
export function configFromFile(file: SafeFile, source: string, numHeads?: number): ViTConfig {
  if (file.metadata.config) {
    try {
      return { ...DEFAULTS, ...JSON.parse(file.metadata.config) } as ViTConfig;
    } catch (e) {
      throw new Error(`${source}: __metadata__.config is not valid JSON (${(e as Error).message})`);
    }
  }
  const need = (name: string) => {
    const t = file.tensors.get(name);
    if (!t) throw new Error(`${source}: no tensor '${name}', so this is not a ViT weight file`);
    return t.shape;
  };
  const [D, C, p] = need("patch_embed.proj.weight");
  const [, n1] = need("pos_embed");
  const grid = Math.round(Math.sqrt(n1 - 1));
  if (grid * grid !== n1 - 1) {
    throw new Error(`${source}: pos_embed has ${n1 - 1} patch positions, not a square grid`);
  }
  let depth = 0;
  while (file.tensors.has(`blocks.${depth}.attn.qkv.weight`)) depth++;
  if (depth === 0) {
    throw new Error(`${source}: no 'blocks.0.attn.qkv.weight', so this is not a ViT weight file`);
  }
  const hidden = need("blocks.0.mlp.fc1.weight")[0];
  if (numHeads === undefined && D % 64) {
    throw new Error(`${source}: width ${D} is not a multiple of 64; give numHeads explicitly`);
  }
  return {
    ...DEFAULTS,
    imgSize: grid * p,
    patchSize: p,
    inChans: C,
    embedDim: D,
    depth,
    numHeads: numHeads ?? D / 64,
    mlpRatio: hidden / D,
    qkvBias: file.tensors.has("blocks.0.attn.qkv.bias"),
  };
}
