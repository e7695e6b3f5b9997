/**
 * Multi-crop views for teacher/student self-supervised training, batched on the GPU.
 *
 * `MultiCrop` turns a batch [B, C, H, W] (values in [0, 1], C = 1 or 3) into 2 global teacher
 * views, 2 global student views and `n` local student views, each view-major ([2B, C, G, G]:
 * rows v x B + b). Presets reproduce the reference recipes:
 *
 * - `mugs` (Mugs, `src/multicropdataset.py` `DataAugmentation`): the teacher's two global views
 *   are DINO's weak views (first: blur p 1.0; second: blur p 0.1, solarize p 0.2). The
 *   student's global pair is drawn afresh, independently of the teacher's crops: with
 *   probability 0.5 per image both are strong (`strong_transforms`: flip, RandAugment
 *   `rand-m9-mstd0.5-inc1` on the full image, random resized crop, random erasing p 0.25 in
 *   timm's "pixel" mode), else both weak (new draws of the first and second global recipes).
 *   Each local view is strong with probability 0.5, else weak (blur p 0.5). Teacher views are
 *   always weak. Global (0.25, 1) at 224 px, 10 locals (0.05, 0.25) at 96 px, bicubic.
 *   Like the reference with its default `use_prefetcher=True`, erasing happens before the
 *   normalisation. Only with Mugs' `vanilla_weak_augmentation` are the student's global views
 *   copies of the teacher's; that is the `dino` layout.
 * - `dino` (DINO's `DataAugmentationDINO`, main_dino.py defaults): weak views only; the student
 *   sees the teacher's two global crops themselves (DINO feeds all crops to the student and
 *   the first two to the teacher); global (0.4, 1), 8 locals (0.05, 0.4).
 * - `swav` (SwAV's `MultiCropDataset`, ImageNet recipe): 2 x 224 (0.14, 1) + 6 x 96
 *   (0.05, 0.14), bilinear, jitter (0.8, 0.8, 0.8, 0.2) p 0.8, grayscale p 0.2, Gaussian blur
 *   p 0.5 with a 23-tap kernel on every crop, no solarization, std (0.228, 0.224, 0.225). The
 *   two global crops serve as teacher and student views (as in `dino`).
 * - `mscn` (MSCN masking, see lib/augment/mscn.ts): the `dino` views with MSCN masks on the
 *   student views, so each masked student global view pairs with the unmasked teacher view of
 *   the same crop.
 *
 * Data presets: `imagenet` (224 / 96), `fashion-mnist` (28 / 12, 1 channel, mean 0.2860, std
 * 0.3530) and `cifar10` (32 / 16). The small presets scale the blur sigma range by
 * globalSize / 224, so a blur is the same fraction of the image as at 224 px.
 *
 * All randomness is drawn on the host from one `Generator` (`sample`), so views are
 * reproducible and `multiCropReference` (the per-image float64 loop) can recompute them.
 */
import type { Tensor } from "../tensor/tensor.ts";
import { Tensor as T } from "../tensor/tensor.ts";
import { Generator } from "../tensor/rng.ts";
import { runtime } from "../gpu/device.ts";
import {
  type BlurKernel,
  type ErasingConfig,
  type JitterConfig,
  type JitterParams,
  jitterSampler,
  pyRound,
  type RenderOptions,
  sampleBlurSigma,
  sampleCoin,
  sampleErasing,
  sampleResizedCrop,
  type ViewParams,
} from "./params.ts";
import { type Interpolation, renderViews } from "./ops.ts";
import { type RandAugmentConfig, randAugmentSampler, type RAStep } from "./randaugment.ts";
import { type MaskParams, type MscnConfig, mscnMask, noMask, sampleMscn } from "./mscn.ts";
import { type Image, imageAt, refMscn, refView } from "./reference.ts";
import { checkImages, checkInt, checkOneOf, fail } from "./validate.ts";
import { validateMultiCrop } from "./config_schema.ts";

/**
 * Blur and solarization probabilities of one kind of weak view.
 *
 * @example
 * ```ts
 * const second: ViewKindProbs = { blur: 0.1, solarize: 0.2 };
 * ```
 */
export interface ViewKindProbs {
  blur: number;
  solarize: number;
}

/**
 * The weak (DINO-style) augmentation.
 *
 * @example
 * ```ts
 * const weak: WeakConfig = multiCropConfig("dino").weak;
 * ```
 */
export interface WeakConfig {
  flip: number;
  jitter: JitterConfig;
  grayscale: number;
  blurSigma: [number, number];
  blurKernel: BlurKernel;
  solarizeThreshold: number;
  /** Per view kind: first global view, second global view, local views. */
  global1: ViewKindProbs;
  global2: ViewKindProbs;
  local: ViewKindProbs;
}

/**
 * The strong (Mugs) augmentation.
 *
 * @example
 * ```ts
 * const strong: StrongConfig = { ...multiCropConfig("mugs").strong, flip: 0 };
 * ```
 */
export interface StrongConfig {
  flip: number;
  randAugment: RandAugmentConfig;
  erasing: ErasingConfig;
  /** Erase before the normalisation (Mugs with its GPU prefetcher) or after (torchvision). */
  eraseBeforeNormalize: boolean;
}

/**
 * A crop size, scale and aspect-ratio range.
 *
 * @example
 * ```ts
 * const g: CropConfig = { size: 224, scale: [0.25, 1], ratio: [3 / 4, 4 / 3] };
 * ```
 */
export interface CropConfig {
  size: number;
  scale: [number, number];
  ratio: [number, number];
}

/**
 * Everything `MultiCrop` needs; presets fill it in (see `multiCropConfig`).
 *
 * @example
 * ```ts
 * const cfg: MultiCropConfig = { ...multiCropConfig("mugs", "cifar10"), strongProb: 0.3 };
 * ```
 */
export interface MultiCropConfig {
  /** The preset it came from, for logs. */
  name: string;
  global: CropConfig;
  local: CropConfig & { count: number };
  interpolation: Interpolation;
  /** "independent": the student's global views are drawn afresh (Mugs); "shared": they are the teacher's crops (DINO). */
  studentGlobals: "independent" | "shared";
  /** Probability that a student view is strong (per image for the global pair, per local view). */
  strongProb: number;
  weak: WeakConfig;
  strong: StrongConfig;
  mean: number[];
  std: number[];
  /** RandAugment fill colour per channel; default round(255 mean) / 255 (Mugs' img_mean). */
  fill?: number[];
  /** MSCN masks on the student views (all of them, or the global ones only); null = none. */
  mscn: (MscnConfig & { views: "global" | "all" }) | null;
}

/**
 * Preset names.
 *
 * @example
 * ```ts
 * MULTICROP_PRESETS.includes("swav"); // true
 * ```
 */
export const MULTICROP_PRESETS = ["mugs", "dino", "swav", "mscn", "simclr"] as const;
/**
 * A preset name.
 *
 * @example
 * ```ts
 * const name: MultiCropPreset = "mugs";
 * ```
 */
export type MultiCropPreset = typeof MULTICROP_PRESETS[number];
/**
 * Data presets: image sizes and normalisation.
 *
 * @example
 * ```ts
 * DATA_PRESETS.includes("cifar10"); // true
 * ```
 */
export const DATA_PRESETS = ["imagenet", "fashion-mnist", "cifar10"] as const;
/**
 * A data preset name.
 *
 * @example
 * ```ts
 * const data: DataPreset = "fashion-mnist";
 * ```
 */
export type DataPreset = typeof DATA_PRESETS[number];

const IMAGENET_MEAN = [0.485, 0.456, 0.406];
const IMAGENET_STD = [0.229, 0.224, 0.225];

const DATA: Record<DataPreset, { global: number; local: number; mean: number[]; std: number[] }> = {
  "imagenet": { global: 224, local: 96, mean: IMAGENET_MEAN, std: IMAGENET_STD },
  "fashion-mnist": { global: 28, local: 12, mean: [0.2860], std: [0.3530] },
  "cifar10": {
    global: 32,
    local: 16,
    mean: [0.4914, 0.4822, 0.4465],
    std: [0.2470, 0.2435, 0.2616],
  },
};

const RATIO: [number, number] = [3 / 4, 4 / 3];

function dinoWeak(sigmaScale: number): WeakConfig {
  return {
    flip: 0.5,
    jitter: { brightness: 0.4, contrast: 0.4, saturation: 0.2, hue: 0.1, p: 0.8 },
    grayscale: 0.2,
    blurSigma: [0.1 * sigmaScale, 2.0 * sigmaScale],
    blurKernel: "3sigma",
    solarizeThreshold: 0.5,
    global1: { blur: 1.0, solarize: 0 },
    global2: { blur: 0.1, solarize: 0.2 },
    local: { blur: 0.5, solarize: 0 },
  };
}

function mugsStrong(): StrongConfig {
  return {
    flip: 0.5,
    randAugment: { magnitude: 9, magnitudeStd: 0.5, numOps: 2, prob: 0.5, replace: false },
    erasing: { p: 0.25, scale: [0.02, 1 / 3], ratio: [0.3, 1 / 0.3], value: "pixel" },
    eraseBeforeNormalize: true,
  };
}

/**
 * The configuration of a preset for a data preset.
 *
 * @example
 * ```ts
 * const cfg = multiCropConfig("mugs", "fashion-mnist");
 * ```
 */
export function multiCropConfig(preset: string, data: string = "imagenet"): MultiCropConfig {
  const name = checkOneOf("MultiCrop", "preset", preset, MULTICROP_PRESETS);
  const d = DATA[checkOneOf("MultiCrop", "data", data, DATA_PRESETS)];
  const sigmaScale = d.global / 224;
  const base: MultiCropConfig = {
    name: `${name}/${data}`,
    global: { size: d.global, scale: [0.25, 1], ratio: [...RATIO] },
    local: { size: d.local, scale: [0.05, 0.25], ratio: [...RATIO], count: 10 },
    interpolation: "bicubic",
    studentGlobals: "independent",
    strongProb: 0.5,
    weak: dinoWeak(sigmaScale),
    strong: mugsStrong(),
    mean: [...d.mean],
    std: [...d.std],
    mscn: null,
  };
  if (name === "mugs") return base;
  const dino: MultiCropConfig = {
    ...base,
    global: { ...base.global, scale: [0.4, 1] },
    local: { ...base.local, scale: [0.05, 0.4], count: 8 },
    studentGlobals: "shared",
    strongProb: 0,
  };
  if (name === "dino") return dino;
  if (name === "mscn") return { ...dino, mscn: { views: "all" } };
  if (name === "simclr") {
    // SimCLR's views as the kit's small runs use them: random resized crop (0.35, 1), flip,
    // brightness and contrast jitter 0.4 (p 0.8); no grey, blur, solarisation or local crops
    return {
      ...dino,
      global: { ...base.global, scale: [0.35, 1] },
      local: { ...base.local, count: 0 },
      weak: {
        ...dinoWeak(sigmaScale),
        jitter: { brightness: 0.4, contrast: 0.4, saturation: 0, hue: 0, p: 0.8 },
        grayscale: 0,
        global1: { blur: 0, solarize: 0 },
        global2: { blur: 0, solarize: 0 },
        local: { blur: 0, solarize: 0 },
      },
    };
  }
  // swav
  return {
    ...dino,
    global: { ...base.global, scale: [0.14, 1] },
    local: { ...base.local, scale: [0.05, 0.14], count: 6 },
    interpolation: "bilinear",
    weak: {
      ...dinoWeak(sigmaScale),
      jitter: { brightness: 0.8, contrast: 0.8, saturation: 0.8, hue: 0.2, p: 0.8 },
      blurKernel: 23,
      global1: { blur: 0.5, solarize: 0 },
      global2: { blur: 0.5, solarize: 0 },
      local: { blur: 0.5, solarize: 0 },
    },
    std: data === "imagenet" ? [0.228, 0.224, 0.225] : [...d.std],
  };
}

const W = "MultiCrop";

// the configuration's schema (zod, like every configuration of the kit)
export { MultiCropConfigSchema, validateMultiCrop } from "./config_schema.ts";

/**
 * The sampled parameters of one batch of multi-crop views.
 *
 * @example
 * ```ts
 * const p: MultiCropParams = mc.sample(new Generator(0), 8, 1, 28, 28);
 * ```
 */
export interface MultiCropParams {
  batch: number;
  channels: number;
  height: number;
  width: number;
  /** View-major parameters: entry v x B + b is view v of image b. */
  teacher: ViewParams[];
  studentGlobal: ViewParams[];
  local: ViewParams[];
  /** MSCN masks of the student views (null when the preset has none). */
  studentGlobalMasks: MaskParams[] | null;
  localMasks: MaskParams[] | null;
}

/**
 * The views of one batch, with their flags and the parameters used.
 *
 * @example
 * ```ts
 * const v: MultiCropViews = mc.apply(images, 0);
 * const strongLocal = v.strong.local; // Int32Array [n x B]
 * v.dispose();
 * ```
 */
export interface MultiCropViews {
  /** [2B, C, G, G]: the two global teacher views (always weak). */
  teacher: Tensor;
  /** [2B, C, G, G]: the two global student views. */
  studentGlobal: Tensor;
  /** [nB, C, L, L]: the local student views (null when n = 0). */
  local: Tensor | null;
  /** Per view, 1 = strongly augmented (view-major, as the tensors). */
  strong: { teacher: Int32Array; studentGlobal: Int32Array; local: Int32Array };
  /** Per image, 1 when the student's global pair is weak (Mugs' `weak_flag`). */
  weakFlag: Int32Array;
  /** Per view, 1 = MSCN-masked (all 0 without MSCN). */
  masked: { studentGlobal: Int32Array; local: Int32Array };
  params: MultiCropParams;
  /** Release the view tensors. */
  dispose(): void;
}

/**
 * The multi-crop augmentation.
 *
 * @example
 * ```ts
 * const mc = MultiCrop.preset("mugs", "fashion-mnist");
 * const views = mc.apply(images, 0); // views.teacher: [2B, 1, 28, 28]
 * ```
 */
export class MultiCrop {
  readonly config: MultiCropConfig;
  #jitter: (g: Generator) => JitterParams | null;
  #ra = new Map<number, (g: Generator) => RAStep[]>();

  /**
   * @example
   * ```ts
   * const mc = new MultiCrop({ ...multiCropConfig("mugs", "cifar10"), strongProb: 0.3 });
   * ```
   */
  constructor(config: MultiCropConfig) {
    this.config = validateMultiCrop(config);
    this.#jitter = jitterSampler(this.config.weak.jitter);
  }

  /**
   * A preset (`mugs`, `dino`, `swav`, `mscn`) for a data preset (`imagenet`, `fashion-mnist`,
   * `cifar10`).
   *
   * @example
   * ```ts
   * const mc = MultiCrop.preset("mugs", "fashion-mnist");
   * ```
   */
  static preset(name: string, data: string = "imagenet"): MultiCrop {
    return new MultiCrop(multiCropConfig(name, data));
  }

  /** RandAugment fill colour: the configured one, else round(255 mean) / 255. */
  get fill(): number[] {
    return this.config.fill ?? this.config.mean.map((m) => Math.min(255, pyRound(255 * m)) / 255);
  }

  /** Render options of the global or local views. */
  renderOptions(which: "global" | "local"): RenderOptions {
    const c = this.config;
    return {
      size: which === "global" ? c.global.size : c.local.size,
      interpolation: c.interpolation,
      blurKernel: c.weak.blurKernel,
      solarizeThreshold: c.weak.solarizeThreshold,
      erase: { value: c.strong.erasing.value ?? 0, beforeNormalize: c.strong.eraseBeforeNormalize },
      mean: c.mean,
      std: c.std,
      fill: this.fill,
    };
  }

  /**
   * Draw every view's parameters for a batch of `batch` images of `channels` x `height` x
   * `width` (no GPU work).
   *
   * @example
   * ```ts
   * const params = MultiCrop.preset("mugs", "fashion-mnist").sample(new Generator(0), 256, 1, 28, 28);
   * ```
   */
  sample(
    g: Generator,
    batch: number,
    channels: number,
    height: number,
    width: number,
  ): MultiCropParams {
    const c = this.config;
    checkImages(`${W}.sample`, [batch, channels, height, width]);
    checkInt(W, "batch", batch, 1);
    if (c.mean.length !== channels) {
      fail(W, "mean", `has ${c.mean.length} entries but the images have ${channels} channel(s)`);
    }
    const weak = (b: number, kind: "global1" | "global2" | "local"): ViewParams => {
      const crop = kind === "local" ? c.local : c.global;
      const box = sampleResizedCrop(g, height, width, crop.scale, crop.ratio);
      const flip = sampleCoin(g, c.weak.flip);
      const jitter = this.#jitter(g);
      const grayscale = sampleCoin(g, c.weak.grayscale);
      const blurSigma = sampleBlurSigma(g, c.weak[kind].blur, c.weak.blurSigma);
      const solarize = sampleCoin(g, c.weak[kind].solarize);
      return {
        src: b,
        crop: box,
        flip,
        jitter,
        grayscale,
        blurSigma,
        solarize,
        erase: null,
        seed: 0,
        strong: false,
        randAugment: null,
      };
    };
    let ra = this.#ra.get(channels);
    if (!ra) {
      ra = randAugmentSampler(c.strong.randAugment, channels);
      this.#ra.set(channels, ra);
    }
    const drawRA = ra;
    const strong = (b: number, local: boolean): ViewParams => {
      const crop = local ? c.local : c.global;
      const flip = sampleCoin(g, c.strong.flip);
      const randAugment = drawRA(g);
      const box = sampleResizedCrop(g, height, width, crop.scale, crop.ratio);
      const erase = sampleErasing(g, crop.size, crop.size, c.strong.erasing);
      const seed = erase && c.strong.erasing.value === "pixel" ? g.nextU32() : 0;
      return {
        src: b,
        crop: box,
        flip,
        jitter: null,
        grayscale: false,
        blurSigma: 0,
        solarize: false,
        erase,
        seed,
        strong: true,
        randAugment,
      };
    };
    const n = c.local.count;
    const teacher: ViewParams[] = new Array(2 * batch);
    const studentGlobal: ViewParams[] = new Array(2 * batch);
    const local: ViewParams[] = new Array(n * batch);
    for (let b = 0; b < batch; b++) {
      teacher[b] = weak(b, "global1");
      teacher[batch + b] = weak(b, "global2");
      if (c.studentGlobals === "shared") {
        studentGlobal[b] = teacher[b];
        studentGlobal[batch + b] = teacher[batch + b];
      } else if (c.strongProb > 0 && g.uniform() < c.strongProb) {
        studentGlobal[b] = strong(b, false);
        studentGlobal[batch + b] = strong(b, false);
      } else {
        studentGlobal[b] = weak(b, "global1");
        studentGlobal[batch + b] = weak(b, "global2");
      }
      for (let j = 0; j < n; j++) {
        local[j * batch + b] = c.strongProb > 0 && g.uniform() < c.strongProb
          ? strong(b, true)
          : weak(b, "local");
      }
    }
    let studentGlobalMasks: MaskParams[] | null = null;
    let localMasks: MaskParams[] | null = null;
    if (c.mscn) {
      const { views, ...cfg } = c.mscn;
      studentGlobalMasks = studentGlobal.map(() => sampleMscn(g, cfg, channels, c.global.size));
      localMasks = local.map(() =>
        views === "all" ? sampleMscn(g, cfg, channels, c.local.size) : noMask()
      );
    }
    return {
      batch,
      channels,
      height,
      width,
      teacher,
      studentGlobal,
      local,
      studentGlobalMasks,
      localMasks,
    };
  }

  /**
   * Make the views of `x` [B, C, H, W] for sampled parameters (GPU work only; no readback).
   *
   * @example
   * ```ts
   * const views = mc.render(images, mc.sample(new Generator(1), 256, 1, 28, 28));
   * ```
   */
  render(x: Tensor, params: MultiCropParams): MultiCropViews {
    const c = this.config;
    const [b, ch, h, w] = checkImages(`${W}.render`, x.shape);
    if (b !== params.batch || ch !== params.channels || h !== params.height || w !== params.width) {
      fail(
        W,
        "params",
        `were sampled for [${params.batch}, ${params.channels}, ${params.height}, ${params.width}], ` +
          `not for images [${x.shape}]`,
      );
    }
    const gOpts = this.renderOptions("global");
    let teacher: Tensor;
    let studentGlobal: Tensor;
    if (c.studentGlobals === "shared") {
      teacher = renderViews(x, params.teacher, gOpts);
      studentGlobal = teacher.detach();
    } else {
      const all = renderViews(x, [...params.teacher, ...params.studentGlobal], gOpts);
      [teacher, studentGlobal] = splitRows(all, 2 * b);
      all.dispose();
    }
    if (params.studentGlobalMasks) {
      const m = mscnMask(studentGlobal, params.studentGlobalMasks);
      studentGlobal.dispose();
      studentGlobal = m;
    }
    let local: Tensor | null = null;
    if (params.local.length) {
      local = renderViews(x, params.local, this.renderOptions("local"));
      if (params.localMasks && params.localMasks.some((m) => m.kind !== "none" || m.highPass)) {
        const m = mscnMask(local, params.localMasks);
        local.dispose();
        local = m;
      }
    }
    const flags = (vs: ViewParams[]) => Int32Array.from(vs, (v) => (v.strong ? 1 : 0));
    const maskFlags = (ms: MaskParams[] | null, n: number) =>
      ms
        ? Int32Array.from(ms, (m) => (m.kind !== "none" || m.highPass ? 1 : 0))
        : new Int32Array(n);
    const strongGlobal = flags(params.studentGlobal);
    const out: MultiCropViews = {
      teacher,
      studentGlobal,
      local,
      strong: {
        teacher: flags(params.teacher),
        studentGlobal: strongGlobal,
        local: flags(params.local),
      },
      weakFlag: Int32Array.from({ length: b }, (_, i) => (strongGlobal[i] ? 0 : 1)),
      masked: {
        studentGlobal: maskFlags(params.studentGlobalMasks, 2 * b),
        local: maskFlags(params.localMasks, params.local.length),
      },
      params,
      dispose() {
        out.teacher.dispose();
        out.studentGlobal.dispose();
        out.local?.dispose();
      },
    };
    return out;
  }

  /**
   * Sample and render in one call; `seed` is a number (a fresh generator) or a generator.
   *
   * @example
   * ```ts
   * const views = MultiCrop.preset("mugs", "fashion-mnist").apply(images, 0);
   * ```
   */
  apply(x: Tensor, seed: number | Generator): MultiCropViews {
    const g = seed instanceof Generator ? seed : new Generator(seed);
    const [b, ch, h, w] = checkImages(`${W}.apply`, x.shape);
    return this.render(x, this.sample(g, b, ch, h, w));
  }
}

/** Copy rows [0, first) and [first, N) of `t` into two new tensors. */
function splitRows(t: Tensor, first: number): [Tensor, Tensor] {
  const rest = t.shape.slice(1);
  const per = t.size / t.shape[0];
  const a = T.empty([first, ...rest], "f32", "multicrop");
  const b = T.empty([t.shape[0] - first, ...rest], "f32", "multicrop");
  const rt = runtime();
  rt.copy(t.buffer, 0, a.buffer, 0, first * per * 4);
  rt.copy(t.buffer, first * per * 4, b.buffer, 0, (t.shape[0] - first) * per * 4);
  return [a, b];
}

/**
 * Flat float64 views, as `MultiCrop.render` lays them out.
 *
 * @example
 * ```ts
 * const { teacher, local } = multiCropReference(mc, host, params);
 * ```
 */
export interface ReferenceViews {
  teacher: Float64Array;
  studentGlobal: Float64Array;
  local: Float64Array;
}

/**
 * The same views made by a plain per-image float64 loop over the references (the CPU
 * baseline of the benchmark, and what the tests compare `render` with).
 *
 * @example
 * ```ts
 * const ref = multiCropReference(mc, hostImages, params);
 * ```
 */
export function multiCropReference(
  mc: MultiCrop,
  images: ArrayLike<number>,
  params: MultiCropParams,
): ReferenceViews {
  const { batch: B, channels: C, height: H, width: Wd } = params;
  const src: Image[] = Array.from({ length: B }, (_, b) => imageAt(images, b, C, H, Wd));
  const run = (views: ViewParams[], masks: MaskParams[] | null, which: "global" | "local") => {
    const o = mc.renderOptions(which);
    const s = which === "global" ? mc.config.global.size : mc.config.local.size;
    const out = new Float64Array(views.length * C * s * s);
    const cache = new Map<ViewParams, Image>();
    views.forEach((v, i) => {
      let img = cache.get(v) ?? refView(src[v.src], v, o);
      cache.set(v, img);
      if (masks) img = refMscn(img, masks[i]);
      out.set(img.data, i * C * s * s);
    });
    return out;
  };
  return {
    teacher: run(params.teacher, null, "global"),
    studentGlobal: run(params.studentGlobal, params.studentGlobalMasks, "global"),
    local: run(params.local, params.localMasks, "local"),
  };
}
