/**
 * RandAugment as Mugs uses it for its strong views (`src/RandAugment.py`, adapted from timm,
 * config string `rand-m9-mstd0.5-inc1`): per image, `numOps` (2) distinct ops drawn uniformly
 * from the list (`np.random.choice(..., replace=False)`), each applied with probability 0.5,
 * with magnitude drawn from N(9, 0.5) and clipped to [0, 10], mapped to the op's argument by
 * timm's level functions with `_LEVEL_DENOM = 10`:
 *
 * | op | argument at magnitude m |
 * | --- | --- |
 * | Rotate | (m / 10) x 30 degrees, random sign |
 * | ShearX, ShearY | (m / 10) x 0.3, random sign |
 * | TranslateXRel, TranslateYRel | (m / 10) x 0.45 of the width / height, random sign |
 * | PosterizeIncreasing | 4 - int((m / 10) x 4) bits (Posterize: int((m / 10) x 4)) |
 * | SolarizeIncreasing | threshold 256 - int((m / 10) x 256) (Solarize: int((m / 10) x 256)) |
 * | SolarizeAdd | add int((m / 10) x 110) below 128 |
 * | ColorIncreasing, ContrastIncreasing, BrightnessIncreasing, SharpnessIncreasing | factor 1 +- (m / 10) x 0.9 |
 * | Color, Contrast, Brightness, Sharpness | factor (m / 10) x 1.8 + 0.1 |
 * | AutoContrast, Equalize, Invert, Identity | none |
 *
 * Geometric ops pick bilinear or bicubic at random per call and fill the uncovered area with
 * the mean colour (Mugs: `img_mean`, i.e. round(255 x normalisation mean)). The default op list
 * is Mugs' (`_RAND_INCREASING_TRANSFORMS`); on 1-channel images ColorIncreasing/Color are
 * dropped (they are the identity on grayscale). Values stay float in [0, 1]; ops defined on
 * 8-bit levels (posterize, equalize) quantise with round(x x 255). All ops run on the GPU
 * (shaders/augment_ra.wgsl), `refRandAugmentStep` is the float64 reference.
 */
import code from "../../shaders/augment_ra.wgsl" with { type: "text" };
import { runtime } from "../gpu/device.ts";
import { Tensor } from "../tensor/tensor.ts";
import { grid, launch, Params } from "../tensor/launch.ts";
import { LOOP_BUDGET } from "../tensor/ops/reduce.ts";
import type { Generator } from "../tensor/rng.ts";
import { checkDevice, checkDType } from "../tensor/check.ts";
import { rowChunk } from "./ops.ts";
import type { CropBox } from "./params.ts";
import {
  checkImages,
  checkInt,
  checkList,
  checkNumber,
  checkOneOf,
  checkProb,
  fail,
} from "./validate.ts";

/**
 * RandAugment op names (timm's).
 *
 * @example
 * ```ts
 * RA_OPS.includes("Equalize"); // true
 * ```
 */
export const RA_OPS = [
  "Identity",
  "AutoContrast",
  "Equalize",
  "Invert",
  "Rotate",
  "Posterize",
  "PosterizeIncreasing",
  "PosterizeOriginal",
  "Solarize",
  "SolarizeIncreasing",
  "SolarizeAdd",
  "Color",
  "ColorIncreasing",
  "Contrast",
  "ContrastIncreasing",
  "Brightness",
  "BrightnessIncreasing",
  "Sharpness",
  "SharpnessIncreasing",
  "ShearX",
  "ShearY",
  "TranslateXRel",
  "TranslateYRel",
] as const;

/**
 * One RandAugment op name.
 *
 * @example
 * ```ts
 * const op: RAOpName = "ShearX";
 * ```
 */
export type RAOpName = typeof RA_OPS[number];

/**
 * Mugs' op list for `rand-m9-mstd0.5-inc1` (timm's `_RAND_INCREASING_TRANSFORMS`).
 *
 * @example
 * ```ts
 * MUGS_RA_OPS.length; // 15
 * ```
 */
export const MUGS_RA_OPS: readonly RAOpName[] = [
  "AutoContrast",
  "Equalize",
  "Invert",
  "Rotate",
  "PosterizeIncreasing",
  "SolarizeIncreasing",
  "SolarizeAdd",
  "ColorIncreasing",
  "ContrastIncreasing",
  "BrightnessIncreasing",
  "SharpnessIncreasing",
  "ShearX",
  "ShearY",
  "TranslateXRel",
  "TranslateYRel",
];

/**
 * One applied op: its name, the magnitude used and the argument it gave.
 *
 * @example
 * ```ts
 * const step: RAStep = { op: "Rotate", magnitude: 9, arg: 27, interpolation: "bicubic" };
 * ```
 */
export interface RAStep {
  op: RAOpName;
  /** Magnitude after the noise and the clip to [0, magnitudeMax]. */
  magnitude: number;
  /** The level function's result (degrees, factor, bits, 8-bit threshold, shear, fraction). */
  arg: number;
  /** Resampling of geometric ops. */
  interpolation: "bilinear" | "bicubic";
}

/**
 * RandAugment settings; defaults reproduce Mugs' `rand-m9-mstd0.5-inc1`.
 *
 * @example
 * ```ts
 * const timm: RandAugmentConfig = { magnitudeStd: 0, replace: true };
 * ```
 */
export interface RandAugmentConfig {
  /** Ops to choose from (default `MUGS_RA_OPS`, minus the colour ops on 1 channel). */
  ops?: readonly RAOpName[];
  /** Ops per image (default 2). */
  numOps?: number;
  /** Magnitude (default 9). */
  magnitude?: number;
  /** Std of the per-call magnitude noise (default 0.5; 0 = fixed magnitude). */
  magnitudeStd?: number;
  /** Upper clip of the magnitude (default 10, timm's `_LEVEL_DENOM`). */
  magnitudeMax?: number;
  /** Probability that a chosen op is applied (default 0.5). */
  prob?: number;
  /** Choose ops with replacement (timm's default) instead of without (Mugs'). Default false. */
  replace?: boolean;
  /** Translate range as a fraction of the image side (default 0.45). */
  translatePct?: number;
  /** Resampling of geometric ops (default "random": bilinear or bicubic per call). */
  interpolation?: "random" | "bilinear" | "bicubic";
}

const COLOR_OPS: readonly RAOpName[] = ["Color", "ColorIncreasing"];
const GEOMETRIC: readonly RAOpName[] = [
  "Rotate",
  "ShearX",
  "ShearY",
  "TranslateXRel",
  "TranslateYRel",
];

/**
 * The op list for images of `channels` channels: the configured ops, without the colour
 * (saturation) ops on one channel, where they are the identity.
 *
 * @example
 * ```ts
 * raOpsFor({}, 1).includes("ColorIncreasing"); // false
 * ```
 */
export function raOpsFor(cfg: RandAugmentConfig, channels: number): RAOpName[] {
  const ops = [...(cfg.ops ?? MUGS_RA_OPS)];
  ops.forEach((op, i) => checkOneOf("RandAugment", `ops[${i}]`, op, RA_OPS));
  const out = channels === 1 ? ops.filter((o) => !COLOR_OPS.includes(o)) : ops;
  if (!out.length) fail("RandAugment", "ops", `leaves no op for ${channels}-channel images`);
  return out;
}

/**
 * Check a RandAugment configuration; returns it with defaults filled in.
 *
 * @example
 * ```ts
 * const cfg = resolveRandAugment({ magnitude: 9 });
 * ```
 */
export function resolveRandAugment(cfg: RandAugmentConfig): Required<RandAugmentConfig> {
  const w = "RandAugment";
  const r = {
    ops: cfg.ops ?? MUGS_RA_OPS,
    numOps: checkInt(w, "numOps", cfg.numOps ?? 2, 0, 16),
    magnitude: checkNumber(w, "magnitude", cfg.magnitude ?? 9, 0),
    magnitudeStd: checkNumber(w, "magnitudeStd", cfg.magnitudeStd ?? 0.5, 0),
    magnitudeMax: checkNumber(w, "magnitudeMax", cfg.magnitudeMax ?? 10, 0),
    prob: checkProb(w, "prob", cfg.prob ?? 0.5),
    replace: cfg.replace ?? false,
    translatePct: checkNumber(w, "translatePct", cfg.translatePct ?? 0.45, 0, 1),
    interpolation: checkOneOf(w, "interpolation", cfg.interpolation ?? "random", [
      "random",
      "bilinear",
      "bicubic",
    ]),
  };
  raOpsFor(r, 3);
  if (!r.replace && r.numOps > r.ops.length) {
    fail(
      w,
      "numOps",
      `${r.numOps} exceeds the ${r.ops.length} ops to choose from without replacement`,
    );
  }
  return r;
}

function negate(g: Generator, v: number): number {
  return g.uniform() > 0.5 ? -v : v; // timm's _randomly_negate
}

function levelToArg(op: RAOpName, m: number, g: Generator, pct: number): number {
  const l = m / 10;
  switch (op) {
    case "Rotate":
      return negate(g, l * 30);
    case "Posterize":
      return Math.trunc(l * 4);
    case "PosterizeIncreasing":
      return 4 - Math.trunc(l * 4);
    case "PosterizeOriginal":
      return Math.trunc(l * 4) + 4;
    case "Solarize":
      return Math.trunc(l * 256);
    case "SolarizeIncreasing":
      return 256 - Math.trunc(l * 256);
    case "SolarizeAdd":
      return Math.trunc(l * 110);
    case "Color":
    case "Contrast":
    case "Brightness":
    case "Sharpness":
      return l * 1.8 + 0.1;
    case "ColorIncreasing":
    case "ContrastIncreasing":
    case "BrightnessIncreasing":
    case "SharpnessIncreasing":
      return Math.max(0.1, 1 + negate(g, l * 0.9));
    case "ShearX":
    case "ShearY":
      return negate(g, l * 0.3);
    case "TranslateXRel":
    case "TranslateYRel":
      return negate(g, l * pct);
    default:
      return 0;
  }
}

/**
 * The ops RandAugment applies to one image of `channels` channels, in order (skipped ops are
 * left out).
 *
 * @example
 * ```ts
 * const steps = sampleRandAugment(new Generator(0), {}, 3);
 * ```
 */
export function sampleRandAugment(
  g: Generator,
  cfg: RandAugmentConfig,
  channels: number,
): RAStep[] {
  return randAugmentSampler(cfg, channels)(g);
}

/**
 * A RandAugment sampler with the configuration checked once (what `sampleRandAugment` does
 * per call, for hot loops).
 *
 * @example
 * ```ts
 * const draw = randAugmentSampler({ magnitude: 9 }, 1);
 * const steps = draw(new Generator(0));
 * ```
 */
export function randAugmentSampler(
  cfg: RandAugmentConfig,
  channels: number,
): (g: Generator) => RAStep[] {
  const r = resolveRandAugment(cfg);
  const ops = raOpsFor(r, channels);
  const k = Math.min(r.numOps, r.replace ? r.numOps : ops.length);
  return (g) => {
    const chosen: RAOpName[] = [];
    if (r.replace) {
      for (let i = 0; i < k; i++) chosen.push(ops[g.int(ops.length)]);
    } else {
      const pool = [...ops];
      for (let i = 0; i < k; i++) {
        const j = i + g.int(pool.length - i);
        [pool[i], pool[j]] = [pool[j], pool[i]];
        chosen.push(pool[i]);
      }
    }
    const steps: RAStep[] = [];
    for (const op of chosen) {
      if (r.prob < 1 && g.uniform() > r.prob) continue;
      let m = r.magnitude;
      if (r.magnitudeStd > 0) m = m + r.magnitudeStd * g.normal();
      m = Math.min(r.magnitudeMax, Math.max(0, m));
      const arg = levelToArg(op, m, g, r.translatePct);
      let interpolation: "bilinear" | "bicubic" = "bilinear";
      if (GEOMETRIC.includes(op)) {
        interpolation = r.interpolation === "random"
          ? (g.uniform() < 0.5 ? "bilinear" : "bicubic")
          : r.interpolation;
      }
      steps.push({ op, magnitude: Math.fround(m), arg: Math.fround(arg), interpolation });
    }
    return steps;
  };
}

/**
 * PIL's affine data (a, b, c, d, e, f) of a geometric step on an `h` x `w` image: output pixel
 * centre (x, y) samples the input at (a x + b y + c, d x + e y + f); null for other ops.
 * Rotate turns counter-clockwise about (w / 2, h / 2) as `Image.rotate`; shears are about the
 * origin and translations move by arg x side pixels, as timm's `shear_x`, `translate_x_rel`.
 *
 * @example
 * ```ts
 * raAffine({ op: "ShearX", magnitude: 9, arg: 0.27, interpolation: "bilinear" }, 28, 28); // [1, 0.27, 0, 0, 1, 0]
 * ```
 */
export function raAffine(step: RAStep, h: number, w: number): number[] | null {
  const a = step.arg;
  switch (step.op) {
    case "ShearX":
      return [1, a, 0, 0, 1, 0];
    case "ShearY":
      return [1, 0, 0, a, 1, 0];
    case "TranslateXRel":
      return [1, 0, a * w, 0, 1, 0];
    case "TranslateYRel":
      return [1, 0, 0, 0, 1, a * h];
    case "Rotate": {
      const ang = -a * Math.PI / 180;
      const r15 = (v: number) => Math.round(v * 1e15) / 1e15;
      const m = [
        r15(Math.cos(ang)),
        r15(Math.sin(ang)),
        0,
        r15(-Math.sin(ang)),
        r15(Math.cos(ang)),
        0,
      ];
      const cx = w / 2;
      const cy = h / 2;
      m[2] = m[0] * -cx + m[1] * -cy + cx;
      m[5] = m[3] * -cx + m[4] * -cy + cy;
      return m;
    }
    default:
      return null;
  }
}

/**
 * The kernel op code of a step and its argument in kernel units (see shaders/augment_ra.wgsl).
 *
 * @example
 * ```ts
 * raKernelOp({ op: "SolarizeIncreasing", magnitude: 9, arg: 26, interpolation: "bilinear" }); // { code: 6, arg: 26 / 255 }
 * ```
 */
export function raKernelOp(step: RAStep): { code: number; arg: number } {
  const a = step.arg;
  switch (step.op) {
    case "Identity":
      return { code: 0, arg: 0 };
    case "AutoContrast":
      return { code: 1, arg: 0 };
    case "Equalize":
      return { code: 2, arg: 0 };
    case "Invert":
      return { code: 3, arg: 0 };
    case "Rotate":
    case "ShearX":
    case "ShearY":
    case "TranslateXRel":
    case "TranslateYRel":
      return { code: 4, arg: 0 };
    case "Posterize":
    case "PosterizeIncreasing":
    case "PosterizeOriginal":
      return a >= 8 ? { code: 0, arg: 0 } : { code: 5, arg: Math.max(0, Math.trunc(a)) };
    case "Solarize":
    case "SolarizeIncreasing":
      return { code: 6, arg: a / 255 };
    case "SolarizeAdd":
      return { code: 7, arg: a / 255 };
    case "Color":
    case "ColorIncreasing":
      return { code: 8, arg: a };
    case "Contrast":
    case "ContrastIncreasing":
      return { code: 9, arg: a };
    case "Brightness":
    case "BrightnessIncreasing":
      return { code: 10, arg: a };
    case "Sharpness":
    case "SharpnessIncreasing":
      return { code: 11, arg: a };
  }
  throw new Error(`RandAugment: unknown op "${step.op}" (known: ${RA_OPS.join(", ")})`);
}

/**
 * One image for `randAugmentImages`: the source index, a flip first, the ops in order.
 *
 * @example
 * ```ts
 * const item: RandAugmentItem = { src: 0, flip: true, steps: sampleRandAugment(g, {}, 3) };
 * ```
 */
export interface RandAugmentItem {
  src: number;
  flip: boolean;
  steps: readonly RAStep[];
}

const STEP_WORDS = 16;
const WG = 64;

/** Output rows y0 .. y1 - 1 and columns x0 .. x1 - 1. */
type Region = [number, number, number, number];

/**
 * One image of one layer: where its input is, a flip (first layer only), its op or null, and
 * the output region to compute (default: all of it).
 *
 * @example
 * ```ts
 * const e: LayerEntry = { src: 0, flip: false, step: null };
 * ```
 */
export interface LayerEntry {
  src: number;
  flip: boolean;
  step: RAStep | null;
  region?: Region;
}

/**
 * The input region a step reads to make output `r` of an h x w image: the same pixels for
 * pointwise ops, one more pixel around for sharpness, the inverse-mapped box plus the taps for
 * affine ops, the whole image for ops that need image statistics.
 */
function inputRegion(step: RAStep, r: Region, h: number, w: number): Region {
  const [y0, y1, x0, x1] = r;
  if (y0 >= y1 || x0 >= x1) return r;
  const { code: op } = raKernelOp(step);
  if (op === 1 || op === 2 || op === 9) return [0, h, 0, w];
  if (op === 11) {
    return [Math.max(0, y0 - 1), Math.min(h, y1 + 1), Math.max(0, x0 - 1), Math.min(w, x1 + 1)];
  }
  if (op !== 4) return r;
  const m = raAffine(step, h, w)!;
  const xs: number[] = [];
  const ys: number[] = [];
  for (
    const [px, py] of [[x0 + 0.5, y0 + 0.5], [x1 - 0.5, y0 + 0.5], [x0 + 0.5, y1 - 0.5], [
      x1 - 0.5,
      y1 - 0.5,
    ]]
  ) {
    xs.push(m[0] * px + m[1] * py + m[2]);
    ys.push(m[3] * px + m[4] * py + m[5]);
  }
  // bilinear reads floor(s - 0.5) .. +1, bicubic one more each side; one pixel of margin
  // absorbs float32 rounding
  const pad = step.interpolation === "bicubic" ? 3 : 2;
  const lo = (v: number[]) => Math.floor(Math.min(...v) - 0.5) - pad;
  const hi = (v: number[]) => Math.floor(Math.max(...v) - 0.5) + pad + 1;
  const ry0 = Math.max(0, lo(ys));
  const ry1 = Math.min(h, hi(ys));
  const rx0 = Math.max(0, lo(xs));
  const rx1 = Math.min(w, hi(xs));
  return ry0 < ry1 && rx0 < rx1 ? [ry0, ry1, rx0, rx1] : [0, 0, 0, 0];
}

/**
 * The 16-word Step records of one layer (see shaders/augment_ra.wgsl).
 *
 * @example
 * ```ts
 * const words = packLayer([{ src: 0, flip: false, step: null }], 28, 28);
 * ```
 */
export function packLayer(entries: readonly LayerEntry[], h: number, w: number): Uint32Array {
  const u = new Uint32Array(entries.length * STEP_WORDS);
  const f = new Float32Array(u.buffer);
  entries.forEach((e, k) => {
    const b = k * STEP_WORDS;
    u[b] = e.src;
    u[b + 1] = e.flip ? 1 : 0;
    if (!e.step) return; // identity: a copy (flipped if asked)
    const { code: op, arg } = raKernelOp(e.step);
    u[b + 2] = op;
    u[b + 3] = e.step.interpolation === "bicubic" ? 1 : 0;
    const m = raAffine(e.step, h, w);
    if (m) { for (let j = 0; j < 6; j++) f[b + 4 + j] = m[j]; }
    f[b + 10] = arg;
  });
  entries.forEach((e, k) => {
    const [y0, y1, x0, x1] = e.region ?? [0, h, 0, w];
    u.set([y0, y1, x0, x1], k * STEP_WORDS + 12);
  });
  return u;
}

/**
 * One layer: entry k reads `cur` and writes image k of a new [entries, C, H, W] tensor. The
 * packed steps are `steps` (a window of an uploaded arena) or uploaded here.
 */
function runLayer(
  cur: Tensor,
  entries: readonly LayerEntry[],
  fill: number[],
  steps?: GPUBufferBinding,
): Tensor {
  const [, c, h, w] = cur.shape;
  const S = entries.length;
  const rt = runtime();
  let stepsT: Tensor | null = null;
  if (!steps) {
    stepsT = Tensor.empty([S * STEP_WORDS], "i32", "randaugment steps");
    rt.upload(stepsT.buffer, packLayer(entries, h, w));
  }
  const stepsB = steps ?? stepsT!;
  const codes = entries.map((e) => (e.step ? raKernelOp(e.step).code : 0));
  const needStats = codes.some((k) => k === 1 || k === 2 || k === 9);
  const needLut = codes.includes(2);
  const stats = Tensor.empty([needStats ? S * c * 4 : 4], "f32", "randaugment stats");
  const lut = Tensor.empty([needLut ? S * c * 256 : 4], "f32", "randaugment lut");
  const chunk = rowChunk(w);
  const runs = Math.ceil(w / chunk);
  const n = S * h * runs;
  const fv = [0, 0, 0, 0];
  fill.forEach((v, i) => (fv[i] = v));
  if (needStats) {
    launch("augment_ra", code, "ra_stats", {
      buffers: [cur, stepsB, stats, lut],
      workgroups: grid(S * c, 1),
      params: new Params().u32(S * c, h, w, S, chunk, runs, 0, 0).f32(...fv),
      constants: { CH: c },
    });
  }
  const out = Tensor.empty([S, c, h, w], "f32", "randaugment");
  launch("augment_ra", code, "ra_apply", {
    buffers: [cur, stepsB, stats, lut, out],
    workgroups: grid(n, WG),
    params: new Params().u32(n, h, w, S, chunk, runs, 0, 0).f32(...fv),
    constants: { WG, CH: c },
  });
  stepsT?.dispose();
  stats.dispose();
  lut.dispose();
  return out;
}

/**
 * Check `randAugmentImages` inputs; returns the fill colour.
 *
 * @example
 * ```ts
 * const fill = checkItems("myOp", images, items);
 * ```
 */
export function checkItems(
  where: string,
  x: Tensor,
  items: readonly RandAugmentItem[],
  fill?: number[],
): number[] {
  checkDevice(where, x);
  checkDType(where, x, "f32");
  const [b, c, h, w] = checkImages(where, x.shape);
  if (!Array.isArray(items) || !items.length) fail(where, "items", "must be a non-empty array");
  const f = checkList(where, "fill", fill ?? new Array(c).fill(0.5), c);
  items.forEach((it, i) => {
    if (!Number.isInteger(it.src) || it.src < 0 || it.src >= b) {
      fail(where, `items[${i}].src`, `must be an image index in [0, ${b - 1}], got ${it.src}`);
    }
    it.steps.forEach((st: RAStep, j: number) => {
      checkOneOf(where, `items[${i}].steps[${j}].op`, st.op, RA_OPS);
      checkNumber(where, `items[${i}].steps[${j}].arg`, st.arg);
    });
  });
  if (Math.ceil((h * w) / 64) + 2 * 256 + 100 > LOOP_BUDGET) {
    throw new Error(`${where}: images of ${h}x${w} exceed the per-invocation loop budget`);
  }
  return f;
}

/**
 * RandAugment on whole images: for item k, image `src` of `x`, flipped if asked, then its
 * steps in order. Returns [items.length, C, H, W]. `fill`: the colour (per channel) that
 * geometric ops leave behind (default 0.5).
 *
 * @example
 * ```ts
 * const out = randAugmentImages(images, [{ src: 0, flip: false, steps: sampleRandAugment(g, {}, 1) }]);
 * ```
 */
export function randAugmentImages(
  x: Tensor,
  items: readonly RandAugmentItem[],
  opts: { fill?: number[] } = {},
): Tensor {
  const fill = checkItems("randAugmentImages", x, items, opts.fill);
  const layers = Math.max(1, ...items.map((it) => it.steps.length));
  let cur = x;
  for (let L = 0; L < layers; L++) {
    const out = runLayer(
      cur,
      items.map((it, k) => ({
        src: L === 0 ? it.src : k,
        flip: L === 0 && it.flip,
        step: it.steps[L] ?? null,
      })),
      fill,
    );
    if (cur !== x) cur.dispose();
    cur = out;
  }
  return cur;
}

/**
 * Where `randAugmentLayers` left each item: after `layer` ops, image `index` of that layer.
 *
 * @example
 * ```ts
 * const { layer, index } = randAugmentLayers(images, items).place[0];
 * ```
 */
export interface LayerPlace {
  layer: number;
  index: number;
}

/**
 * Plan `randAugmentLayers` without running it: each layer's entries (layer L holds the items
 * with more than L ops; with `need[k]`, a box of item k's final image, each layer computes only
 * the region its successor reads) and where each item ends.
 *
 * @example
 * ```ts
 * const plan = planRandAugment(items, 28, 28, crops);
 * ```
 */
export function planRandAugment(
  items: readonly RandAugmentItem[],
  h: number,
  w: number,
  need?: readonly (CropBox | null)[],
): { layers: LayerEntry[][]; place: LayerPlace[] } {
  // regions[k][L]: what layer L (0-based) of item k must compute, from the last layer back
  const regions = items.map((it, k) => {
    const box = need?.[k];
    let r: Region = box
      ? [box.top, box.top + box.height, box.left, box.left + box.width]
      : [0, h, 0, w];
    const out: Region[] = new Array(it.steps.length);
    for (let L = it.steps.length - 1; L >= 0; L--) {
      out[L] = r;
      r = inputRegion(it.steps[L], r, h, w);
    }
    return out;
  });
  const place: LayerPlace[] = items.map(() => ({ layer: 0, index: -1 }));
  const layers: LayerEntry[][] = [];
  const pos = items.map((it) => it.src);
  for (let L = 0;; L++) {
    const list = items.map((_, k) => k).filter((k) => items[k].steps.length > L);
    if (!list.length) break;
    layers.push(list.map((k) => ({
      src: pos[k],
      flip: L === 0 && items[k].flip,
      step: items[k].steps[L],
      region: regions[k][L],
    })));
    list.forEach((k, j) => {
      pos[k] = j;
      place[k] = { layer: L + 1, index: j };
    });
  }
  return { layers, place };
}

/**
 * Run planned layers: layer L reads `x` (L = 0) or the previous layer's output. `steps[L]`,
 * when given, holds layer L's packed records (`packLayer`) already uploaded.
 *
 * @example
 * ```ts
 * const outs = runRandAugment(images, plan.layers, fill);
 * ```
 */
export function runRandAugment(
  x: Tensor,
  layers: readonly LayerEntry[][],
  fill: number[],
  steps?: readonly GPUBufferBinding[],
): Tensor[] {
  const outs: Tensor[] = [];
  let cur = x;
  layers.forEach((entries, L) => {
    cur = runLayer(cur, entries, fill, steps?.[L]);
    outs.push(cur);
  });
  return outs;
}

/**
 * RandAugment that only runs the ops there are, where they are needed: layer L holds just the
 * items with more than L ops, so skipped ops cost nothing, and when `need[k]` (a box of the
 * final image, e.g. the crop that follows) is given, each layer computes only the region its
 * successor reads (regions outside are left unwritten). Item k ends in
 * `layers[place[k].layer - 1]` at `place[k].index`; items without ops (layer 0) were not
 * touched (their flip is not applied).
 *
 * @example
 * ```ts
 * const { layers, place } = randAugmentLayers(images, items);
 * ```
 */
export function randAugmentLayers(
  x: Tensor,
  items: readonly RandAugmentItem[],
  opts: { fill?: number[] } = {},
  need?: readonly (CropBox | null)[],
): { layers: Tensor[]; place: LayerPlace[] } {
  const fill = checkItems("randAugmentLayers", x, items, opts.fill);
  const [, , h, w] = x.shape;
  const plan = planRandAugment(items, h, w, need);
  return { layers: runRandAugment(x, plan.layers, fill), place: plan.place };
}
