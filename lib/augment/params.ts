/**
 * Per-sample random parameters of the augmentations, drawn on the host from a seeded
 * `Generator` so that a batch is reproducible and a test can fix them.
 *
 * The sampling follows torchvision where torchvision defines it:
 * - `RandomResizedCrop.get_params`: area fraction uniform in `scale`, aspect ratio
 *   log-uniform in `ratio`, `w = round(sqrt(area * r))`, `h = round(sqrt(area / r))` with
 *   Python's round-half-to-even, 10 attempts, then the central-crop fallback;
 * - `RandomHorizontalFlip`, `RandomGrayscale`: one uniform draw `< p`;
 * - `ColorJitter.get_params`: a random permutation of (brightness, contrast, saturation,
 *   hue), then each factor uniform in its range (`x` becomes `[max(0, 1 - x), 1 + x]`, hue
 *   `h` becomes `[-h, h]`), inside `RandomApply(p)`;
 * - `RandomErasing.get_params`: area fraction uniform in `scale`, ratio log-uniform,
 *   `h = round(sqrt(area * r))`, `w = round(sqrt(area / r))`, kept when `h < H and w < W`,
 *   10 attempts, else no erasing.
 * DINO's `GaussianBlur(p)` (sigma uniform in [0.1, 2.0]) and `Solarization(p)` draw one
 * uniform each. Sampled floats are rounded to float32 (as torch samples them), so the values
 * the GPU sees are exactly the values a reference sees.
 * The random stream is this kit's Generator, not PyTorch's: the distributions match
 * torchvision, the individual numbers do not.
 */
import type { Generator } from "../tensor/rng.ts";
import type { RAStep } from "./randaugment.ts";
import { checkNumber, checkProb, checkRange, fail } from "./validate.ts";

/**
 * A crop or erase box in pixels: rows `top .. top + height - 1`, columns likewise.
 *
 * @example
 * ```ts
 * const box: CropBox = { top: 0, left: 4, height: 20, width: 16 };
 * ```
 */
export interface CropBox {
  top: number;
  left: number;
  height: number;
  width: number;
}

/**
 * Colour jitter parameters of one image, as `ColorJitter.get_params` returns them.
 *
 * @example
 * ```ts
 * const j: JitterParams = { order: [1, 0, 3, 2], brightness: 1.1, contrast: 0.9, saturation: null, hue: 0.02 };
 * ```
 */
export interface JitterParams {
  /** Order of application: 0 brightness, 1 contrast, 2 saturation, 3 hue (torchvision's fn_idx). */
  order: number[];
  /** Factors; `null` when that jitter is disabled (torchvision's `None`). */
  brightness: number | null;
  contrast: number | null;
  saturation: number | null;
  hue: number | null;
}

/**
 * Colour jitter settings in torchvision's form: a number `x` or an explicit `[min, max]`.
 *
 * @example
 * ```ts
 * const dino: JitterConfig = { brightness: 0.4, contrast: 0.4, saturation: 0.2, hue: 0.1, p: 0.8 };
 * ```
 */
export interface JitterConfig {
  brightness?: number | [number, number];
  contrast?: number | [number, number];
  saturation?: number | [number, number];
  hue?: number | [number, number];
  /** Probability of applying the jitter (`RandomApply`). */
  p?: number;
}

/**
 * Python 3's `round()`: to the nearest integer, ties to even.
 *
 * @example
 * ```ts
 * pyRound(2.5); // 2
 * pyRound(3.5); // 4
 * ```
 */
export function pyRound(x: number): number {
  const f = Math.floor(x);
  const d = x - f;
  if (d > 0.5) return f + 1;
  if (d < 0.5) return f;
  return f % 2 === 0 ? f : f + 1;
}

const f32 = Math.fround;

/**
 * `RandomResizedCrop.get_params`: a crop box of an `height` x `width` image.
 *
 * @example
 * ```ts
 * const box = sampleResizedCrop(new Generator(0), 28, 28, [0.25, 1], [3 / 4, 4 / 3]);
 * ```
 */
export function sampleResizedCrop(
  g: Generator,
  height: number,
  width: number,
  scale: [number, number] = [0.08, 1],
  ratio: [number, number] = [3 / 4, 4 / 3],
): CropBox {
  checkRange("sampleResizedCrop", "scale", scale, 0, Infinity, true);
  checkRange("sampleResizedCrop", "ratio", ratio, 0, Infinity, true);
  const area = height * width;
  const lr0 = Math.log(ratio[0]);
  const lr1 = Math.log(ratio[1]);
  for (let k = 0; k < 10; k++) {
    const target = area * f32(g.range(scale[0], scale[1]));
    const ar = f32(Math.exp(f32(g.range(lr0, lr1))));
    const w = pyRound(Math.sqrt(target * ar));
    const h = pyRound(Math.sqrt(target / ar));
    if (w > 0 && w <= width && h > 0 && h <= height) {
      const top = g.int(height - h + 1);
      const left = g.int(width - w + 1);
      return { top, left, height: h, width: w };
    }
  }
  // fallback to a central crop
  const inRatio = width / height;
  let w: number;
  let h: number;
  if (inRatio < Math.min(ratio[0], ratio[1])) {
    w = width;
    h = pyRound(w / Math.min(ratio[0], ratio[1]));
  } else if (inRatio > Math.max(ratio[0], ratio[1])) {
    h = height;
    w = pyRound(h * Math.max(ratio[0], ratio[1]));
  } else {
    w = width;
    h = height;
  }
  return {
    top: Math.floor((height - h) / 2),
    left: Math.floor((width - w) / 2),
    height: h,
    width: w,
  };
}

/**
 * A coin with probability `p` (torchvision's `torch.rand(1) < p`).
 *
 * @example
 * ```ts
 * const flip = sampleCoin(new Generator(0), 0.5);
 * ```
 */
export function sampleCoin(g: Generator, p: number): boolean {
  return g.uniform() < p;
}

function factorRange(field: string, v: number | [number, number] | undefined, hue: boolean) {
  if (v === undefined) return null;
  let r: [number, number];
  if (typeof v === "number") {
    checkNumber("ColorJitter", field, v, 0);
    r = hue ? [-v, v] : [Math.max(0, 1 - v), 1 + v];
  } else {
    r = checkRange("ColorJitter", field, v, hue ? -0.5 : 0, hue ? 0.5 : Infinity);
  }
  if (hue && (r[0] < -0.5 || r[1] > 0.5)) {
    fail("ColorJitter", field, `must lie in [-0.5, 0.5], got [${r}]`);
  }
  // torchvision drops a jitter whose range is the identity
  if (hue ? r[0] === 0 && r[1] === 0 : r[0] === 1 && r[1] === 1) return null;
  return r;
}

/**
 * `RandomApply([ColorJitter(...)], p)`: `null` when not applied, else the permutation and
 * the factors.
 *
 * @example
 * ```ts
 * const j = sampleColorJitter(new Generator(0), { brightness: 0.4, contrast: 0.4, saturation: 0.2, hue: 0.1, p: 0.8 });
 * ```
 */
export function sampleColorJitter(g: Generator, cfg: JitterConfig): JitterParams | null {
  return jitterSampler(cfg)(g);
}

/**
 * A colour-jitter sampler with the configuration checked once (what `sampleColorJitter`
 * does per call, for hot loops).
 *
 * @example
 * ```ts
 * const draw = jitterSampler({ brightness: 0.4, p: 0.8 });
 * const j = draw(new Generator(0));
 * ```
 */
export function jitterSampler(cfg: JitterConfig): (g: Generator) => JitterParams | null {
  const p = checkProb("ColorJitter", "p", cfg.p ?? 1);
  const ranges = [
    factorRange("brightness", cfg.brightness, false),
    factorRange("contrast", cfg.contrast, false),
    factorRange("saturation", cfg.saturation, false),
    factorRange("hue", cfg.hue, true),
  ];
  const draw = (g: Generator, r: [number, number] | null) => (r ? f32(g.range(r[0], r[1])) : null);
  return (g) => {
    if (!(g.uniform() < p)) return null;
    const order = Array.from(g.permutation(4));
    return {
      order,
      brightness: draw(g, ranges[0]),
      contrast: draw(g, ranges[1]),
      saturation: draw(g, ranges[2]),
      hue: draw(g, ranges[3]),
    };
  };
}

/**
 * DINO's `GaussianBlur(p, radius_min, radius_max)`: the sigma, or 0 when not applied.
 *
 * @example
 * ```ts
 * const sigma = sampleBlurSigma(new Generator(0), 0.5, [0.1, 2.0]);
 * ```
 */
export function sampleBlurSigma(g: Generator, p: number, sigma: [number, number]): number {
  checkProb("GaussianBlur", "p", p);
  checkRange("GaussianBlur", "sigma", sigma, 0, Infinity, true);
  if (!(g.uniform() < p)) return 0;
  return f32(g.range(sigma[0], sigma[1]));
}

/**
 * How the blur kernel size follows sigma: `"3sigma"` or a fixed odd kernel size.
 *
 * @example
 * ```ts
 * const k: BlurKernel = 23;
 * ```
 */
export type BlurKernel = "3sigma" | number;

/**
 * Largest radius the `"3sigma"` rule uses: torchvision's `GaussianBlur(23)` (radius 11).
 *
 * @example
 * ```ts
 * blurRadius(9, 224) === MAX_BLUR_RADIUS; // true
 * ```
 */
export const MAX_BLUR_RADIUS = 11;

/**
 * The blur radius for `sigma` on an image side of `size` pixels. `"3sigma"` (default):
 * `min(ceil(3 sigma), 11)`; a number: a fixed odd kernel size `k` (radius `(k - 1) / 2`, e.g.
 * 23 as torchvision's `GaussianBlur(23)` and SwAV's cv2 blur). Either way capped at
 * `size - 1` so reflect padding stays inside the image (torch's rule). 0 for sigma 0.
 *
 * DINO blurs with PIL's `GaussianBlur(radius=sigma)`, an extended-box approximation of a
 * Gaussian of standard deviation sigma; this kit uses a true sampled Gaussian (torchvision's
 * kernel), whose mass beyond 3 sigma is 0.27%.
 *
 * @example
 * ```ts
 * blurRadius(2.0, 224); // 6
 * blurRadius(1.0, 28, 23); // 11
 * ```
 */
export function blurRadius(sigma: number, size: number, kernel: BlurKernel = "3sigma"): number {
  if (!(sigma > 0)) return 0;
  let r: number;
  if (kernel === "3sigma") r = Math.min(Math.ceil(3 * sigma), MAX_BLUR_RADIUS);
  else {
    if (!Number.isInteger(kernel) || kernel < 1 || kernel % 2 !== 1) {
      fail("GaussianBlur", "kernel", `must be "3sigma" or an odd positive integer, got ${kernel}`);
    }
    r = (kernel - 1) / 2;
  }
  return Math.max(0, Math.min(r, size - 1));
}

/**
 * 1 / sum of the unnormalised Gaussian weights exp(-k^2 / (2 sigma^2)), k = -r..r: the
 * normaliser of torchvision's `_get_gaussian_kernel1d`.
 *
 * @example
 * ```ts
 * const inv = gaussianInvNorm(1.5, 5);
 * ```
 */
export function gaussianInvNorm(sigma: number, radius: number): number {
  if (radius === 0) return 1;
  let s = 0;
  for (let k = -radius; k <= radius; k++) s += Math.exp(-0.5 * (k / sigma) ** 2);
  return 1 / s;
}

/**
 * Random erasing settings (torchvision `RandomErasing` defaults; timm's in the Mugs preset).
 *
 * @example
 * ```ts
 * const timm: ErasingConfig = { p: 0.25, scale: [0.02, 1 / 3], ratio: [0.3, 1 / 0.3], value: "pixel" };
 * ```
 */
export interface ErasingConfig {
  /** Probability of erasing. */
  p: number;
  /** Range of the erased area fraction. Default [0.02, 0.33]. */
  scale?: [number, number];
  /** Range of the aspect ratio, log-uniform. Default [0.3, 3.3]. */
  ratio?: [number, number];
  /** Fill: a constant (default 0) or `"pixel"`: per-pixel standard normal noise (timm mode). */
  value?: number | "pixel";
}

/**
 * `RandomErasing.get_params` behind its coin: the erased box, or `null`.
 *
 * @example
 * ```ts
 * const box = sampleErasing(new Generator(0), 28, 28, { p: 0.25 });
 * ```
 */
export function sampleErasing(
  g: Generator,
  height: number,
  width: number,
  cfg: ErasingConfig,
): CropBox | null {
  const p = checkProb("RandomErasing", "p", cfg.p);
  const scale = checkRange("RandomErasing", "scale", cfg.scale ?? [0.02, 0.33], 0, 1, true);
  const ratio = checkRange("RandomErasing", "ratio", cfg.ratio ?? [0.3, 3.3], 0, Infinity, true);
  if (!(g.uniform() < p)) return null;
  const area = height * width;
  const lr0 = Math.log(ratio[0]);
  const lr1 = Math.log(ratio[1]);
  for (let k = 0; k < 10; k++) {
    const target = area * f32(g.range(scale[0], scale[1]));
    const ar = f32(Math.exp(f32(g.range(lr0, lr1))));
    const h = pyRound(Math.sqrt(target * ar));
    const w = pyRound(Math.sqrt(target / ar));
    if (!(h < height && w < width)) continue;
    const top = g.int(height - h + 1);
    const left = g.int(width - w + 1);
    return { top, left, height: h, width: w };
  }
  return null;
}

/**
 * A 32-bit seed for noise made on the GPU (erasing in `"pixel"` mode, MSCN noise): the noise
 * is a counter-based hash of (seed, element index), so it is reproducible and a reference can
 * recompute it (see `noiseAt`).
 *
 * @example
 * ```ts
 * const seed = sampleSeed(new Generator(0));
 * ```
 */
export function sampleSeed(g: Generator): number {
  return g.nextU32();
}

function hash32(x: number): number {
  x = (x ^ (x >>> 16)) >>> 0;
  x = Math.imul(x, 0x7feb352d) >>> 0;
  x = (x ^ (x >>> 15)) >>> 0;
  x = Math.imul(x, 0x846ca68b) >>> 0;
  return (x ^ (x >>> 16)) >>> 0;
}

/**
 * The standard normal value the GPU kernels use at element `index` for `seed` (lowbias32
 * hash, Box-Muller), in float64.
 *
 * @example
 * ```ts
 * const z = noiseAt(1234, 0);
 * ```
 */
export function noiseAt(seed: number, index: number): number {
  const s = hash32(seed >>> 0);
  const a = hash32((s + hash32((2 * index) >>> 0)) >>> 0);
  const b = hash32((s + hash32((2 * index + 1) >>> 0)) >>> 0);
  const u1 = ((a >>> 8) + 1) / 16777216;
  const u2 = (b >>> 8) / 16777216;
  return Math.sqrt(-2 * Math.log(u1)) * Math.cos(2 * Math.PI * u2);
}

/**
 * Everything that makes one view of one image: what `renderViews` (GPU) and `refView`
 * (reference) apply, and what `MultiCrop` returns as "the parameters used".
 *
 * Weak views (DINO's recipe): crop, then flip, jitter, grayscale, blur, solarize. Strong views
 * (Mugs' `strong_transforms`): flip and RandAugment on the full image first, then the crop;
 * both end with random erasing and normalisation.
 *
 * @example
 * ```ts
 * const v: ViewParams = { ...plainView(0, { top: 0, left: 0, height: 28, width: 28 }), flip: true };
 * ```
 */
export interface ViewParams {
  /** Index of the source image in the batch. */
  src: number;
  /** Crop box in source pixels. */
  crop: CropBox;
  /** Horizontal flip: after the crop (weak views) or before RandAugment (strong views). */
  flip: boolean;
  /** Colour jitter, or null when not applied. */
  jitter: JitterParams | null;
  grayscale: boolean;
  /** Gaussian blur sigma; 0 = no blur. */
  blurSigma: number;
  solarize: boolean;
  /** Random erasing box in view pixels, or null. */
  erase: CropBox | null;
  /** Seed of the noise in `"pixel"` erasing. */
  seed: number;
  /** Strong (RandAugment) view. */
  strong: boolean;
  /** The RandAugment ops applied (strong views), in order. */
  randAugment: RAStep[] | null;
}

/**
 * How a set of views of one size is rendered (shared by the GPU path and the references).
 *
 * @example
 * ```ts
 * const o: RenderOptions = { size: 28, interpolation: "bicubic", mean: [0.286], std: [0.353] };
 * ```
 */
export interface RenderOptions {
  /** Output size: a side or [height, width]. */
  size: number | [number, number];
  /** Resampling of the resized crop (default bicubic, as DINO and Mugs). */
  interpolation?: "bilinear" | "bicubic";
  /** Blur kernel rule (default `"3sigma"`, see `blurRadius`). */
  blurKernel?: BlurKernel;
  /** Solarization threshold on [0, 1] values (default 0.5). */
  solarizeThreshold?: number;
  /** Random erasing fill (default 0) and whether it happens before normalisation. */
  erase?: { value?: number | "pixel"; beforeNormalize?: boolean };
  /** Per-channel normalisation (applied when both are given). */
  mean?: number[];
  std?: number[];
  /** Fill colour of RandAugment's affine ops per channel (default 0.5). */
  fill?: number[];
}

/**
 * A view that does nothing but crop (a starting point for hand-made parameters).
 *
 * @example
 * ```ts
 * const v = { ...plainView(0, { top: 0, left: 0, height: 28, width: 28 }), flip: true };
 * ```
 */
export function plainView(src: number, crop: CropBox): ViewParams {
  return {
    src,
    crop,
    flip: false,
    jitter: null,
    grayscale: false,
    blurSigma: 0,
    solarize: false,
    erase: null,
    seed: 0,
    strong: false,
    randAugment: null,
  };
}
