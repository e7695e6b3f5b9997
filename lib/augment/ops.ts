/**
 * Batched GPU augmentations (shaders/augment.wgsl) on image tensors [B, C, H, W] in [0, 1],
 * C = 1 or 3, with per-image parameters (drawn by lib/augment/params.ts or given by hand).
 *
 * `renderViews` is the fused pipeline that `MultiCrop` uses: one crop dispatch per source
 * (weak views from the batch, strong views from the RandAugment output), one statistics and
 * one in-place colour dispatch, the blur's row pass, and a `finish` dispatch doing the
 * column blur, solarization, erasing and normalisation in registers. The single-transform
 * functions (`resizedCrop`, `colorJitter`, ...) run the same kernels with the other steps off.
 * None of these ops records a gradient.
 */
import body from "../../shaders/augment.wgsl" with { type: "text" };
import common from "../../shaders/augment_common.wgsl" with { type: "text" };

const code = common + body;
import { runtime } from "../gpu/device.ts";
import { Tensor } from "../tensor/tensor.ts";
import { grid, launch, Params } from "../tensor/launch.ts";
import { LOOP_BUDGET } from "../tensor/ops/reduce.ts";
import { checkDevice, checkDType } from "../tensor/check.ts";
import {
  type BlurKernel,
  blurRadius,
  type CropBox,
  gaussianInvNorm,
  type JitterParams,
  plainView,
  type RenderOptions,
  type ViewParams,
} from "./params.ts";
import { packLayer, planRandAugment, runRandAugment } from "./randaugment.ts";
import { Arena } from "./arena.ts";
import { checkImages, checkList, checkNumber, checkOneOf, fail } from "./validate.ts";

/**
 * Resampling of the resized crop.
 *
 * @example
 * ```ts
 * const mode: Interpolation = "bicubic";
 * ```
 */
export type Interpolation = "bilinear" | "bicubic";

const WORDS = 24;
const F_FLIP = 1;
const F_JITTER = 2;
const F_GRAY = 4;
const F_SOLAR = 8;
const F_ERASE = 16;
const F_NOISE = 32;
const WG = 64;

/**
 * Pixels per invocation: whole rows (up to 1024) on a CPU adapter, where every storage access
 * costs and per-row work (the view record, the crop's first window) is then paid once per
 * row; 1 on a GPU. Worst loop count per invocation: 1024 x 23 blur taps, within LOOP_BUDGET.
 *
 * @example
 * ```ts
 * const chunk = rowChunk(28); // 28 on llvmpipe, 1 on a GPU
 * ```
 */
export function rowChunk(width: number): number {
  return runtime().info.kernels === "cpu" ? Math.min(width, 1024) : 1;
}

function isInt(v: unknown): v is number {
  return typeof v === "number" && Number.isInteger(v);
}

function checkBox(where: string, field: string, b: CropBox, h: number, w: number): void {
  if (
    !b || !isInt(b.top) || !isInt(b.left) || !isInt(b.height) || !isInt(b.width) ||
    b.height < 1 || b.width < 1 || b.top < 0 || b.left < 0 || b.top + b.height > h ||
    b.left + b.width > w
  ) {
    fail(
      where,
      field,
      `must be an integer box inside the ${h}x${w} image with height, width >= 1, got ${
        JSON.stringify(b)
      }`,
    );
  }
}

function checkJitter(where: string, field: string, j: JitterParams): void {
  if (
    !Array.isArray(j.order) || j.order.length !== 4 ||
    [...j.order].sort().join() !== "0,1,2,3"
  ) {
    fail(where, `${field}.order`, `must be a permutation of [0, 1, 2, 3], got ${j.order}`);
  }
  for (const k of ["brightness", "contrast", "saturation"] as const) {
    if (j[k] !== null) checkNumber(where, `${field}.${k}`, j[k], 0);
  }
  if (j.hue !== null) checkNumber(where, `${field}.hue`, j.hue, -0.5, 0.5);
}

/** Options resolved to what the kernels need. */
interface Resolved {
  size: [number, number];
  interpolation: Interpolation;
  blurKernel: BlurKernel;
  solarizeThreshold: number;
  eraseValue: number | "pixel";
  eraseFirst: boolean;
  mean: number[] | null;
  std: number[] | null;
  fill: number[];
}

function resolve(where: string, o: RenderOptions, c: number): Resolved {
  const sz = typeof o.size === "number" ? [o.size, o.size] : o.size;
  if (!Array.isArray(sz) || sz.length !== 2 || !sz.every((d) => isInt(d) && d >= 1)) {
    fail(
      where,
      "size",
      `must be a positive integer or [height, width], got ${JSON.stringify(o.size)}`,
    );
  }
  const interpolation = checkOneOf(where, "interpolation", o.interpolation ?? "bicubic", [
    "bilinear",
    "bicubic",
  ]);
  const solarizeThreshold = checkNumber(where, "solarizeThreshold", o.solarizeThreshold ?? 0.5);
  const ev = o.erase?.value ?? 0;
  if (ev !== "pixel") checkNumber(where, "erase.value", ev);
  if ((o.mean === undefined) !== (o.std === undefined)) {
    fail(where, o.mean === undefined ? "mean" : "std", "must be given together with the other");
  }
  const mean = o.mean ? checkList(where, "mean", o.mean, c) : null;
  const std = o.std ? checkList(where, "std", o.std, c, 1e-12) : null;
  const fill = o.fill ? checkList(where, "fill", o.fill, c) : new Array(c).fill(0.5);
  const blurKernel = o.blurKernel ?? "3sigma";
  blurRadius(1, 2, blurKernel); // validates
  return {
    size: [sz[0], sz[1]],
    interpolation,
    blurKernel,
    solarizeThreshold,
    eraseValue: ev,
    eraseFirst: o.erase?.beforeNormalize ?? false,
    mean,
    std,
    fill,
  };
}

function checkViews(
  where: string,
  name: string,
  views: readonly ViewParams[],
  b: number,
  h: number,
  w: number,
  o: Resolved,
): void {
  if (!Array.isArray(views) || views.length === 0) {
    fail(where, name, "must be a non-empty array of view parameters");
  }
  views.forEach((v, i) => {
    const f = `${name}[${i}]`;
    if (!isInt(v.src) || v.src < 0 || v.src >= b) {
      fail(where, `${f}.src`, `must be an image index in [0, ${b - 1}], got ${v.src}`);
    }
    checkBox(where, `${f}.crop`, v.crop, h, w);
    if (v.jitter) checkJitter(where, `${f}.jitter`, v.jitter);
    checkNumber(where, `${f}.blurSigma`, v.blurSigma, 0);
    if (v.erase) checkBox(where, `${f}.erase`, v.erase, o.size[0], o.size[1]);
    if (v.strong && v.randAugment && !Array.isArray(v.randAugment)) {
      fail(where, `${f}.randAugment`, "must be an array of RandAugment steps or null");
    }
  });
}

/** Pack view records (24 words each, see the `View` struct in shaders/augment.wgsl). */
function packViews(
  views: readonly ViewParams[],
  o: Resolved,
  srcOf: (v: ViewParams, i: number) => number,
): Uint32Array {
  const u = new Uint32Array(views.length * WORDS);
  const f = new Float32Array(u.buffer);
  const s = new Int32Array(u.buffer);
  const side = Math.min(o.size[0], o.size[1]);
  views.forEach((v, n) => {
    const b = n * WORDS;
    let flags = 0;
    if (v.flip && !v.strong) flags |= F_FLIP;
    if (v.jitter) flags |= F_JITTER;
    if (v.grayscale) flags |= F_GRAY;
    if (v.solarize) flags |= F_SOLAR;
    if (v.erase) flags |= F_ERASE | (o.eraseValue === "pixel" ? F_NOISE : 0);
    u[b] = srcOf(v, n);
    u[b + 1] = flags;
    s[b + 2] = v.crop.top;
    s[b + 3] = v.crop.left;
    s[b + 4] = v.crop.height;
    s[b + 5] = v.crop.width;
    let order = 0xffff;
    if (v.jitter) {
      const j = v.jitter;
      const present = [j.brightness, j.contrast, j.saturation, j.hue].map((x) => x !== null);
      order = 0;
      for (let k = 0; k < 4; k++) {
        const op = j.order[k];
        order |= (present[op] ? op : 15) << (4 * k);
      }
      f[b + 8] = j.brightness ?? 1;
      f[b + 9] = j.contrast ?? 1;
      f[b + 10] = j.saturation ?? 1;
      f[b + 11] = j.hue ?? 0;
    }
    u[b + 6] = order;
    const r = blurRadius(v.blurSigma, side, o.blurKernel);
    u[b + 7] = r;
    f[b + 12] = r > 0 ? v.blurSigma : 1;
    f[b + 13] = gaussianInvNorm(v.blurSigma, r);
    f[b + 14] = o.solarizeThreshold;
    f[b + 15] = o.eraseValue === "pixel" ? 0 : o.eraseValue;
    if (v.erase) {
      s[b + 16] = v.erase.top;
      s[b + 17] = v.erase.left;
      s[b + 18] = v.erase.height;
      s[b + 19] = v.erase.width;
    }
    u[b + 20] = v.seed >>> 0;
  });
  return u;
}

function params(
  n: number,
  inH: number,
  inW: number,
  outH: number,
  outW: number,
  chunk: number,
  runs: number,
  parts = 0,
  rowsPer = 0,
  flags = 0,
  mean: number[] | null = null,
  std: number[] | null = null,
): Params {
  const m = [0, 0, 0, 0];
  const s = [1, 1, 1, 1];
  mean?.forEach((v, i) => (m[i] = v));
  std?.forEach((v, i) => (s[i] = v));
  return new Params().u32(n, inH, inW, outH, outW, chunk, runs, parts, rowsPer, flags, 0, 0)
    .f32(...m, ...s);
}

/** Geometry of one rendering pass over N images of outH x outW. */
interface Pass {
  c: number;
  h: number;
  w: number;
  count: number;
  chunk: number;
  runs: number;
}

function pass(c: number, h: number, w: number, count: number): Pass {
  const chunk = rowChunk(w);
  return { c, h, w, count, chunk, runs: Math.ceil(w / chunk) };
}

/** A parameter buffer: a tensor used as raw storage or a window of an uploaded `Arena`. */
type Records = Tensor | GPUBufferBinding;

function dispatchCrop(
  src: Tensor,
  viewsT: Records,
  listB: Records,
  count: number,
  out: Tensor,
  p: Pass,
  interp: Interpolation,
): void {
  const [, , inH, inW] = src.shape;
  // whole rows per invocation on a CPU adapter: the kernel's sliding window of source columns
  // then saves most loads. Loop iterations per invocation: CH x chunk.
  const { chunk, runs } = p;
  if (p.c * (chunk + 8) > LOOP_BUDGET) {
    throw new Error(`resized crop: ${inW} -> ${p.w} pixels per row exceeds the loop budget`);
  }
  const n = count * p.h * runs;
  launch("augment", code, "crop", {
    buffers: [src, viewsT, listB, out],
    workgroups: grid(n, WG),
    params: params(n, inH, inW, p.h, p.w, chunk, runs),
    constants: { WG, CH: p.c, INTERP: interp === "bicubic" ? 1 : 0 },
  });
}

/** Rows per partial sum of the contrast statistics (an invocation visits rowsPer x W pixels). */
function statsRows(w: number): number {
  if (w > 8192) {
    throw new Error(`augment: images wider than 8192 pixels are not supported (got ${w})`);
  }
  return Math.max(1, Math.min(8, Math.floor(8192 / w)));
}

/** In place: colour jitter (with the contrast statistics when needed) and grayscale. */
function dispatchColor(img: Tensor, viewsT: Records, views: readonly ViewParams[], p: Pass): void {
  if (!views.some((v) => v.jitter || (v.grayscale && p.c === 3))) return;
  const rowsPer = statsRows(p.w);
  const parts = Math.ceil(p.h / rowsPer);
  const needMean = views.some((v) => v.jitter && v.jitter.contrast !== null);
  const partials = Tensor.empty([needMean ? p.count * parts : 4], "f32", "augment stats");
  if (needMean) {
    const n = p.count * parts;
    launch("augment", code, "color_stats", {
      buffers: [img, viewsT, partials],
      workgroups: grid(n, WG),
      params: params(n, p.h, p.w, p.h, p.w, p.chunk, p.runs, parts, rowsPer),
      constants: { WG, CH: p.c },
    });
  }
  const n = p.count * p.h * p.runs;
  launch("augment", code, "color", {
    buffers: [partials, viewsT, img],
    workgroups: grid(n, WG),
    params: params(n, p.h, p.w, p.h, p.w, p.chunk, p.runs, parts, rowsPer),
    constants: { WG, CH: p.c },
  });
  partials.dispose();
}

/** Blur rows (when any view blurs), then the finish pass into a new tensor. */
function dispatchFinish(
  img: Tensor,
  viewsT: Records,
  views: readonly ViewParams[],
  p: Pass,
  o: Resolved,
): Tensor {
  const side = Math.min(p.h, p.w);
  const blurs = views.some((v) => blurRadius(v.blurSigma, side, o.blurKernel) > 0);
  const n = p.count * p.h * p.runs;
  let tmp: Tensor | null = null;
  if (blurs) {
    tmp = Tensor.empty(img.shape, "f32", "augment blur");
    launch("augment", code, "blur_rows", {
      buffers: [img, viewsT, tmp],
      workgroups: grid(n, WG),
      params: params(n, p.h, p.w, p.h, p.w, p.chunk, p.runs),
      constants: { WG, CH: p.c },
    });
  }
  const out = Tensor.empty(img.shape, "f32", "augment");
  const flags = (o.mean ? 1 : 0) | (o.eraseFirst ? 2 : 0);
  launch("augment", code, "finish", {
    buffers: [img, viewsT, out, tmp ?? img],
    workgroups: grid(n, WG),
    params: params(n, p.h, p.w, p.h, p.w, p.chunk, p.runs, 0, 0, flags, o.mean, o.std),
    constants: { WG, CH: p.c },
  });
  tmp?.dispose();
  return out;
}

function checkInput(where: string, x: Tensor): [number, number, number, number] {
  checkDevice(where, x);
  checkDType(where, x, "f32");
  return checkImages(where, x.shape);
}

/**
 * The fused view pipeline: for each view, the (weak) crop, flip, colour jitter, grayscale,
 * blur, solarization, or the (strong) flip + RandAugment on the full image and the crop; then
 * erasing and normalisation. Returns [views.length, C, height, width].
 *
 * @example
 * ```ts
 * const out = renderViews(images, [plainView(0, { top: 0, left: 0, height: 28, width: 28 })], { size: 24 });
 * ```
 */
export function renderViews(
  x: Tensor,
  views: readonly ViewParams[],
  opts: RenderOptions,
): Tensor {
  return render("renderViews", "views", x, views, opts);
}

function render(
  where: string,
  name: string,
  x: Tensor,
  views: readonly ViewParams[],
  opts: RenderOptions,
): Tensor {
  const [b, c, h, w] = checkInput(where, x);
  const o = resolve(where, opts, c);
  checkViews(where, name, views, b, h, w, o);
  // strong views: RandAugment on the full images, only for the ops there are and only where
  // the crop reads; a strong view without ops is cropped from x directly (its flip, which
  // comes first, is the mirrored box and a flipped output:
  // crop(flip(img), box) = flip(crop(img, mirror(box))))
  const strongIdx = views.map((_, i) => i).filter((i) => views[i].strong);
  const plan = strongIdx.length
    ? planRandAugment(
      strongIdx.map((i) => ({
        src: views[i].src,
        flip: views[i].flip,
        steps: views[i].randAugment ?? [],
      })),
      h,
      w,
      strongIdx.map((i) => views[i].crop),
    )
    : { layers: [], place: [] };
  const layerOf = new Map<number, { layer: number; index: number }>();
  strongIdx.forEach((i, k) => layerOf.set(i, plan.place[k]));
  const recs = views.map((v, i) => {
    const pl = layerOf.get(i);
    if (!pl || pl.layer > 0) return v;
    if (!v.flip) return { ...v, strong: false };
    return { ...v, strong: false, crop: { ...v.crop, left: w - v.crop.left - v.crop.width } };
  });
  // every record of this rendering goes up in one write
  const arena = new Arena();
  const stepSecs = plan.layers.map((entries) => arena.add(packLayer(entries, h, w)));
  const viewSec = arena.add(
    packViews(recs, o, (v, i) => {
      const pl = layerOf.get(i);
      return pl && pl.layer > 0 ? pl.index : v.src;
    }),
  );
  const lists: number[][] = [[], ...plan.layers.map(() => [])];
  views.forEach((_, i) => lists[layerOf.get(i)?.layer ?? 0].push(i));
  const listSecs = lists.map((l) => arena.add(Uint32Array.from(l)));
  arena.upload();
  const layers = runRandAugment(x, plan.layers, o.fill, stepSecs.map((k) => arena.binding(k)));
  const viewsT = arena.binding(viewSec);
  const p = pass(c, o.size[0], o.size[1], views.length);
  const img = Tensor.empty([views.length, c, p.h, p.w], "f32", "augment crop");
  lists.forEach((list, L) => {
    if (!list.length) return;
    const src = L === 0 ? x : layers[L - 1];
    dispatchCrop(src, viewsT, arena.binding(listSecs[L]), list.length, img, p, o.interpolation);
  });
  layers.forEach((t) => t.dispose());
  dispatchColor(img, viewsT, views, p);
  const out = dispatchFinish(img, viewsT, views, p, o);
  img.dispose();
  arena.dispose();
  return out;
}

/**
 * A crop of source image `src` (default: the crop's own index), optionally flipped after.
 *
 * @example
 * ```ts
 * const spec: CropSpec = { src: 0, box: { top: 2, left: 2, height: 20, width: 20 }, flip: true };
 * ```
 */
export interface CropSpec {
  src?: number;
  box: CropBox;
  flip?: boolean;
}

/**
 * torchvision `resized_crop` per image (antialias off; bilinear by default as torchvision's
 * `RandomResizedCrop`), with an optional horizontal flip of the result.
 *
 * @example
 * ```ts
 * const v = resizedCrop(images, [{ box: { top: 0, left: 2, height: 20, width: 24 } }], 16, "bicubic");
 * ```
 */
export function resizedCrop(
  x: Tensor,
  crops: readonly CropSpec[],
  size: number | [number, number],
  interpolation: Interpolation = "bilinear",
): Tensor {
  const where = "resizedCrop";
  const [b, , h, w] = checkInput(where, x);
  if (!Array.isArray(crops)) fail(where, "crops", "must be an array");
  crops.forEach((cs, i) => {
    const src = cs.src ?? i;
    if (!isInt(src) || src < 0 || src >= b) {
      fail(where, `crops[${i}].src`, `must be an image index in [0, ${b - 1}], got ${src}`);
    }
    checkBox(where, `crops[${i}].box`, cs.box, h, w);
  });
  const views = crops.map((cs, i) => ({
    ...plainView(cs.src ?? i, cs.box),
    flip: cs.flip ?? false,
  }));
  return render(where, "crops", x, views, { size, interpolation });
}

function fullViews(where: string, x: Tensor, n: number, field: string): ViewParams[] {
  const [b, , h, w] = checkInput(where, x);
  if (n !== b) fail(where, field, `must have one entry per image (${b}), got ${n}`);
  return Array.from(
    { length: b },
    (_, i) => plainView(i, { top: 0, left: 0, height: h, width: w }),
  );
}

/** Run a whole-image op through the fused pipeline (identity crop, exact). */
function wholeImage(
  where: string,
  name: string,
  x: Tensor,
  views: ViewParams[],
  extra: Partial<RenderOptions> = {},
): Tensor {
  const [, , h, w] = x.shape;
  return render(where, name, x, views, { size: [h, w], interpolation: "bilinear", ...extra });
}

/**
 * Horizontal flip of the images whose flag is set.
 *
 * @example
 * ```ts
 * const y = horizontalFlip(images, [true, false]);
 * ```
 */
export function horizontalFlip(x: Tensor, flags: readonly boolean[]): Tensor {
  const views = fullViews("horizontalFlip", x, flags.length, "flags");
  views.forEach((v, i) => (v.flip = Boolean(flags[i])));
  return wholeImage("horizontalFlip", "flags", x, views);
}

/**
 * `ColorJitter` with fixed per-image parameters (`null`: unchanged), in each image's order.
 *
 * @example
 * ```ts
 * const y = colorJitter(images, [{ order: [0, 1, 2, 3], brightness: 1.2, contrast: null, saturation: null, hue: 0.1 }]);
 * ```
 */
export function colorJitter(x: Tensor, params: readonly (JitterParams | null)[]): Tensor {
  const views = fullViews("colorJitter", x, params.length, "params");
  views.forEach((v, i) => (v.jitter = params[i]));
  return wholeImage("colorJitter", "params", x, views);
}

/**
 * `rgb_to_grayscale` (kept at C channels) on the images whose flag is set; identity on 1 channel.
 *
 * @example
 * ```ts
 * const y = grayscale(images, [true, true]);
 * ```
 */
export function grayscale(x: Tensor, flags: readonly boolean[]): Tensor {
  const views = fullViews("grayscale", x, flags.length, "flags");
  views.forEach((v, i) => (v.grayscale = Boolean(flags[i])));
  return wholeImage("grayscale", "flags", x, views);
}

/**
 * Separable Gaussian blur with reflect padding, one sigma per image (0 = none); the radius
 * follows `kernel` (see `blurRadius`).
 *
 * @example
 * ```ts
 * const y = gaussianBlur(images, [1.0, 0]);
 * ```
 */
export function gaussianBlur(
  x: Tensor,
  sigmas: readonly number[],
  kernel: BlurKernel = "3sigma",
): Tensor {
  const views = fullViews("gaussianBlur", x, sigmas.length, "sigmas");
  views.forEach((v, i) => (v.blurSigma = sigmas[i]));
  return wholeImage("gaussianBlur", "sigmas", x, views, { blurKernel: kernel });
}

/**
 * `solarize(img, threshold)` on the images whose flag is set.
 *
 * @example
 * ```ts
 * const y = solarize(images, [true, false], 0.5);
 * ```
 */
export function solarize(x: Tensor, flags: readonly boolean[], threshold = 0.5): Tensor {
  const views = fullViews("solarize", x, flags.length, "flags");
  views.forEach((v, i) => (v.solarize = Boolean(flags[i])));
  return wholeImage("solarize", "flags", x, views, { solarizeThreshold: threshold });
}

/**
 * `erase` per image (`null`: unchanged) with a constant or `"pixel"` noise (hashed from
 * `seeds[i]`, see `noiseAt`).
 *
 * @example
 * ```ts
 * const y = randomErase(images, [{ top: 2, left: 3, height: 5, width: 6 }, null], 0);
 * ```
 */
export function randomErase(
  x: Tensor,
  boxes: readonly (CropBox | null)[],
  value: number | "pixel" = 0,
  seeds?: readonly number[],
): Tensor {
  const views = fullViews("randomErase", x, boxes.length, "boxes");
  views.forEach((v, i) => {
    v.erase = boxes[i];
    v.seed = seeds?.[i] ?? 0;
  });
  return wholeImage("randomErase", "boxes", x, views, { erase: { value } });
}

/**
 * `Normalize(mean, std)`: `(x - mean[c]) / std[c]`.
 *
 * @example
 * ```ts
 * const y = normalize(images, [0.2860], [0.3530]);
 * ```
 */
export function normalize(x: Tensor, mean: readonly number[], std: readonly number[]): Tensor {
  const [b] = checkInput("normalize", x);
  return wholeImage("normalize", "images", x, fullViews("normalize", x, b, "images"), {
    mean: [...mean],
    std: [...std],
  });
}
