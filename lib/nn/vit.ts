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
import { z } from "npm:zod@4.6.7";

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
   * `metadata` adds string fields (e.g. the input normalisation `mean`/`std` as JSON arrays,
   * which `loadBackbone` reads back).
   *
   * @example
   * ```ts
   * await vit.save("out/vit.safetensors", { mean: "[0.286]", std: "[0.353]" });
   * ```
   */
  async save(path: string, metadata: Record<string, string> = {}): Promise<void> {
    await saveModule(this, path, {
      ...metadata,
      config: JSON.stringify(this.config),
      model: "vit",
    });
  }

  /**
   * Build a ViT from a safetensors file (path or URL): the tensors give its shape, and
   * `__metadata__.config` (validated; the kit's names or the official/timm constructor names
   * `img_size`, `patch_size`, `in_chans`, `embed_dim`, `depth`, `num_heads`, `mlp_ratio`,
   * `qkv_bias`) its head count. A file without a head count (a plain PyTorch export) needs
   * `options.numHeads`: it is refused, not guessed. `options` override the file's values.
   *
   * @example
   * ```ts
   * const vit = await ViT.load("dino_deitsmall16.safetensors", { numHeads: 6 });
   * ```
   */
  static async load(pathOrUrl: string | URL, options: Partial<ViTConfig> = {}): Promise<ViT> {
    return ViT.fromFile(await readSafetensors(pathOrUrl), String(pathOrUrl), options);
  }

  /**
   * `ViT.load` on a file already read (`readSafetensors`), for callers that also want its
   * `__metadata__`; `source` names the file in errors.
   *
   * @example
   * ```ts
   * const file = await readSafetensors("vit.safetensors");
   * const vit = ViT.fromFile(file, "vit.safetensors"); // file.metadata is still at hand
   * ```
   */
  static fromFile(file: SafeFile, source: string, options: Partial<ViTConfig> = {}): ViT {
    const vit = new ViT(configFromFile(file, source, options));
    // a classification head (timm `head.*`) is not part of the backbone; anything else must match
    const tensors = new Map([...file.tensors].filter(([name]) => !name.startsWith("head.")));
    vit.loadStateDict(tensors, { source });
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

/** A positive integer. */
const posInt = z.number().int().positive();

/** `__metadata__.config` with the kit's names (what `ViT.save` writes); each field optional. */
const KitConfig = z.strictObject({
  imgSize: posInt,
  patchSize: posInt,
  inChans: posInt,
  embedDim: posInt,
  depth: posInt,
  numHeads: posInt,
  mlpRatio: z.number().positive(),
  qkvBias: z.boolean(),
  dropPathRate: z.number().min(0).max(1),
  eps: z.number().positive(),
}).partial();

/**
 * `__metadata__.config` with the constructor names of the official DINO/Mugs
 * `VisionTransformer` and timm (`img_size`, `patch_size`, `in_chans`, `embed_dim`, `depth`,
 * `num_heads`, `mlp_ratio`, `qkv_bias`); fields that do not change the backbone's features
 * (`num_classes`, dropout rates, `global_pool`, names) are accepted and ignored.
 */
const OfficialConfig = z.strictObject({
  img_size: z.union([posInt, z.tuple([posInt, posInt])]),
  patch_size: posInt,
  in_chans: posInt,
  embed_dim: posInt,
  depth: posInt,
  num_heads: posInt,
  mlp_ratio: z.number().positive(),
  qkv_bias: z.boolean(),
  drop_path_rate: z.number().min(0).max(1),
  eps: z.number().positive(),
  // ignored: the classifier, dropout and pooling do not change the backbone's features
  num_classes: z.number().int().min(0),
  drop_rate: z.number().min(0).max(1),
  attn_drop_rate: z.number().min(0).max(1),
  global_pool: z.string(),
  architecture: z.string(),
  model: z.string(),
}).partial();

/**
 * A safetensors file's `__metadata__` as `ViT.load` reads it: strings, `config` (when present)
 * a JSON object of ViT hyper-parameters in the kit's or the official names.
 */
const WeightMetadata = z.record(z.string(), z.string()).and(
  z.object({ config: z.string().optional() }),
);

function zodMessage(e: z.ZodError, where: string): string {
  return e.issues.map((i) => {
    const path = i.path.length ? `.${i.path.join(".")}` : "";
    return `${where}${path}: ${i.message}`;
  }).join("; ");
}

/**
 * The configuration in a weight file's `__metadata__.config`, mapped to the kit's names; `{}`
 * without one. Both the kit's names (`embedDim`, `numHeads`, …) and the official/timm
 * constructor names (`embed_dim`, `num_heads`, …) are read; a mix, an unknown field or a bad
 * value is an error naming it.
 *
 * @example
 * ```ts
 * const c = metadataConfig({ config: '{"embed_dim": 64, "num_heads": 4}' }, "vit.safetensors");
 * c.numHeads; // 4
 * ```
 */
export function metadataConfig(
  metadata: Record<string, string>,
  source: string,
): Partial<ViTConfig> {
  const meta = WeightMetadata.safeParse(metadata);
  if (!meta.success) throw new Error(`${source}: ${zodMessage(meta.error, "__metadata__")}`);
  const text = meta.data.config;
  if (text === undefined) return {};
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new Error(`${source}: __metadata__.config is not valid JSON (${(e as Error).message})`);
  }
  if (raw === null || typeof raw !== "object" || Array.isArray(raw)) {
    throw new Error(
      `${source}: __metadata__.config must be a JSON object, got ${text.slice(0, 80)}`,
    );
  }
  // `depth` and `eps` are spelled the same in both sets
  const keys = Object.keys(raw);
  const kitOnly = keys.filter((k) => k in KitConfig.shape && !(k in OfficialConfig.shape));
  const officialOnly = keys.filter((k) => k in OfficialConfig.shape && !(k in KitConfig.shape));
  const official = officialOnly.length > 0;
  if (official && kitOnly.length) {
    throw new Error(
      `${source}: __metadata__.config mixes the kit's names (${kitOnly.join(", ")}) with ` +
        `the official ones (${officialOnly.join(", ")}); use one set`,
    );
  }
  if (!official) {
    const r = KitConfig.safeParse(raw);
    if (!r.success) {
      throw new Error(
        `${source}: ${zodMessage(r.error, "__metadata__.config")} (the kit's names are ${
          Object.keys(KitConfig.shape).join(", ")
        }; the official ones ${Object.keys(OfficialConfig.shape).slice(0, 10).join(", ")})`,
      );
    }
    return r.data;
  }
  const r = OfficialConfig.safeParse(raw);
  if (!r.success) {
    throw new Error(
      `${source}: ${zodMessage(r.error, "__metadata__.config")} (the official names are ${
        Object.keys(OfficialConfig.shape).join(", ")
      })`,
    );
  }
  const o = r.data;
  let imgSize: number | undefined;
  if (Array.isArray(o.img_size)) {
    if (o.img_size[0] !== o.img_size[1]) {
      throw new Error(
        `${source}: __metadata__.config.img_size [${o.img_size}] is not square; the kit's ViT takes square images`,
      );
    }
    imgSize = o.img_size[0];
  } else imgSize = o.img_size;
  const out: Partial<ViTConfig> = {
    imgSize,
    patchSize: o.patch_size,
    inChans: o.in_chans,
    embedDim: o.embed_dim,
    depth: o.depth,
    numHeads: o.num_heads,
    mlpRatio: o.mlp_ratio,
    qkvBias: o.qkv_bias,
    dropPathRate: o.drop_path_rate,
    eps: o.eps,
  };
  return Object.fromEntries(Object.entries(out).filter(([, v]) => v !== undefined));
}

/** What the tensors of a DINO/Mugs/timm ViT file say about its configuration (no heads). */
function configFromShapes(file: SafeFile, source: string): Omit<ViTConfig, "numHeads"> {
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
  return {
    ...DEFAULTS,
    imgSize: grid * p,
    patchSize: p,
    inChans: C,
    embedDim: D,
    depth,
    mlpRatio: hidden / D,
    qkvBias: file.tensors.has("blocks.0.attn.qkv.bias"),
  };
}

/**
 * The ViT configuration of a weight file: the tensors' shapes give the patch size, channels,
 * width, depth, grid, MLP ratio and qkv bias; `__metadata__.config` (kit or official names)
 * must agree with them and gives the head count; `overrides` (e.g. `{ numHeads: 6 }`) win. The
 * head count cannot be read off the tensors (qkv is [3D, D] for any count), so without it in
 * the file or in `overrides` this refuses, saying how to pass it, rather than guess.
 *
 * @example
 * ```ts
 * const cfg = configFromFile(await readSafetensors("dino_deitsmall16.safetensors"), "dino", { numHeads: 6 });
 * ```
 */
export function configFromFile(
  file: SafeFile,
  source: string,
  overrides: Partial<ViTConfig> = {},
): ViTConfig {
  const meta = metadataConfig(file.metadata, source);
  const shapes = configFromShapes(file, source);
  const fromShapes: (keyof Omit<ViTConfig, "numHeads">)[] = [
    "patchSize",
    "inChans",
    "embedDim",
    "depth",
    "mlpRatio",
    "qkvBias",
  ];
  for (const k of fromShapes) {
    // fc1 has int(dim * mlp_ratio) rows (PyTorch), so a ratio agrees when it gives that width
    const same = k === "mlpRatio"
      ? Math.trunc(shapes.embedDim * (meta.mlpRatio ?? 0) + 1e-9) ===
        Math.round(shapes.embedDim * shapes.mlpRatio)
      : meta[k] === shapes[k];
    if (meta[k] !== undefined && !same) {
      throw new Error(
        `${source}: __metadata__.config says ${k} ${meta[k]} but the tensors have ${shapes[k]}`,
      );
    }
  }
  // the stored grid is the training size; a different img_size in the metadata cannot load
  if (meta.imgSize !== undefined && meta.imgSize !== shapes.imgSize) {
    throw new Error(
      `${source}: __metadata__.config says imgSize ${meta.imgSize} but pos_embed holds a ` +
        `${shapes.imgSize / shapes.patchSize}x${
          shapes.imgSize / shapes.patchSize
        } grid of ${shapes.patchSize}-px patches (${shapes.imgSize} px)`,
    );
  }
  const numHeads = overrides.numHeads ?? meta.numHeads;
  if (numHeads === undefined) {
    throw new Error(
      `${source}: the attention head count is not in the file (no num_heads / numHeads in ` +
        `__metadata__.config) and cannot be read off the tensors (qkv is [3D, D] for any ` +
        `count), so it is not guessed; pass it: ViT.load(path, { numHeads: N }) (` +
        `deno task eval / features: --num-heads N). DINO/Mugs and timm use 3 heads for ` +
        `ViT-T, 6 for ViT-S, 12 for ViT-B (width ${shapes.embedDim} here)`,
    );
  }
  const cfg: ViTConfig = { ...shapes, ...meta, mlpRatio: shapes.mlpRatio, ...overrides, numHeads };
  if (!Number.isInteger(numHeads) || numHeads < 1 || cfg.embedDim % numHeads) {
    throw new Error(
      `${source}: numHeads ${numHeads} does not divide the width ${cfg.embedDim}`,
    );
  }
  return cfg;
}
