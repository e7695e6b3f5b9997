/**
 * Plain TypeScript float64 references of every augmentation, one image at a time. They define
 * what the GPU kernels compute (tests compare the two on fixed parameters) and are the
 * per-image CPU loop of the benchmark. Semantics are torchvision's tensor functional on float
 * images (see shaders/augment.wgsl), PIL's for the RandAugment geometry (see
 * shaders/augment_ra.wgsl). Coordinates and scales of the resampling are rounded to float32
 * as PyTorch (and the GPU) compute them; everything else is float64.
 */
import type { CropBox, JitterParams, RenderOptions, ViewParams } from "./params.ts";
import { blurRadius, gaussianInvNorm, noiseAt } from "./params.ts";
import { raAffine, raKernelOp, type RAStep } from "./randaugment.ts";
import type { MaskParams } from "./mscn.ts";

/**
 * One image, channels first, float64: element (c, y, x) at `(c * h + y) * w + x`.
 *
 * @example
 * ```ts
 * const img: Image = makeImage(1, 28, 28);
 * ```
 */
export interface Image {
  c: number;
  h: number;
  w: number;
  data: Float64Array;
}

/**
 * A blank (or wrapped) image.
 *
 * @example
 * ```ts
 * const img = makeImage(3, 28, 28);
 * ```
 */
export function makeImage(c: number, h: number, w: number, data?: ArrayLike<number>): Image {
  const d = new Float64Array(c * h * w);
  if (data) {
    if (data.length !== d.length) {
      throw new Error(`makeImage: ${data.length} values do not fill [${c}, ${h}, ${w}]`);
    }
    d.set(data);
  }
  return { c, h, w, data: d };
}

/**
 * Image `b` of a flat [B, C, H, W] batch.
 *
 * @example
 * ```ts
 * const img = imageAt(batch, 0, 1, 28, 28);
 * ```
 */
export function imageAt(
  batch: ArrayLike<number>,
  b: number,
  c: number,
  h: number,
  w: number,
): Image {
  const n = c * h * w;
  const d = new Float64Array(n);
  for (let i = 0; i < n; i++) d[i] = batch[b * n + i];
  return { c, h, w, data: d };
}

const f32 = Math.fround;
const clamp01 = (x: number) => (x < 0 ? 0 : x > 1 ? 1 : x);
const A = -0.75;
const cc1 = (x: number) => ((A + 2) * x - (A + 3)) * x * x + 1;
const cc2 = (x: number) => ((A * x - 5 * A) * x + 8 * A) * x - 4 * A;

/**
 * torchvision `resized_crop` on a float tensor (antialias off), optionally flipped after:
 * `F.interpolate(crop, size, mode, align_corners=False)` in the crop's coordinates.
 *
 * @example
 * ```ts
 * const v = refResizedCrop(img, { top: 2, left: 3, height: 20, width: 17 }, [24, 24], "bicubic");
 * ```
 */
export function refResizedCrop(
  img: Image,
  box: CropBox,
  size: [number, number],
  interpolation: "bilinear" | "bicubic",
  flip = false,
): Image {
  const [oh, ow] = size;
  const out = makeImage(img.c, oh, ow);
  const sh = f32(box.height / oh);
  const sw = f32(box.width / ow);
  const at = (c: number, y: number, x: number) =>
    img.data[(c * img.h + box.top + y) * img.w + box.left + x];
  if (interpolation === "bicubic") {
    const taps = (o: number, scale: number, n: number) => {
      const src = f32(f32((o + 0.5) * scale) - 0.5);
      const i0 = Math.min(Math.floor(src), n - 1);
      const t = Math.min(Math.max(f32(src - i0), 0), 1);
      const idx = [-1, 0, 1, 2].map((d) => Math.min(Math.max(i0 + d, 0), n - 1));
      return { idx, w: [cc2(t + 1), cc1(t), cc1(1 - t), cc2(2 - t)] };
    };
    for (let y = 0; y < oh; y++) {
      const ty = taps(y, sh, box.height);
      for (let x = 0; x < ow; x++) {
        const tx = taps(flip ? ow - 1 - x : x, sw, box.width);
        for (let c = 0; c < img.c; c++) {
          let acc = 0;
          for (let j = 0; j < 4; j++) {
            let r = 0;
            for (let i = 0; i < 4; i++) r += at(c, ty.idx[j], tx.idx[i]) * tx.w[i];
            acc += r * ty.w[j];
          }
          out.data[(c * oh + y) * ow + x] = acc;
        }
      }
    }
  } else {
    const taps = (o: number, scale: number, n: number) => {
      const src = Math.max(f32(f32((o + 0.5) * scale) - 0.5), 0);
      const i0 = Math.floor(src);
      return { i0, i1: i0 < n - 1 ? i0 + 1 : i0, l: f32(src - i0) };
    };
    for (let y = 0; y < oh; y++) {
      const ty = taps(y, sh, box.height);
      for (let x = 0; x < ow; x++) {
        const tx = taps(flip ? ow - 1 - x : x, sw, box.width);
        for (let c = 0; c < img.c; c++) {
          const top = (1 - tx.l) * at(c, ty.i0, tx.i0) + tx.l * at(c, ty.i0, tx.i1);
          const bot = (1 - tx.l) * at(c, ty.i1, tx.i0) + tx.l * at(c, ty.i1, tx.i1);
          out.data[(c * oh + y) * ow + x] = (1 - ty.l) * top + ty.l * bot;
        }
      }
    }
  }
  return out;
}

/**
 * `hflip`.
 *
 * @example
 * ```ts
 * const m = refFlip(img);
 * ```
 */
export function refFlip(img: Image): Image {
  const out = makeImage(img.c, img.h, img.w);
  for (let c = 0; c < img.c; c++) {
    for (let y = 0; y < img.h; y++) {
      for (let x = 0; x < img.w; x++) {
        out.data[(c * img.h + y) * img.w + x] = img.data[(c * img.h + y) * img.w + img.w - 1 - x];
      }
    }
  }
  return out;
}

function grayOf(img: Image, i: number, plane: number): number {
  if (img.c === 1) return img.data[i];
  return 0.2989 * img.data[i] + 0.587 * img.data[i + plane] + 0.114 * img.data[i + 2 * plane];
}

function blendWith(img: Image, other: (i: number, c: number) => number, ratio: number): Image {
  const plane = img.h * img.w;
  const out = makeImage(img.c, img.h, img.w);
  for (let c = 0; c < img.c; c++) {
    for (let i = 0; i < plane; i++) {
      const k = c * plane + i;
      out.data[k] = clamp01(ratio * img.data[k] + (1 - ratio) * other(i, c));
    }
  }
  return out;
}

/**
 * `adjust_brightness`: blend with black, clamped.
 *
 * @example
 * ```ts
 * const b = refBrightness(img, 1.2);
 * ```
 */
export function refBrightness(img: Image, f: number): Image {
  return blendWith(img, () => 0, f);
}

/**
 * `adjust_contrast`: blend with the mean of the grayscale image (the image mean on 1 channel).
 *
 * @example
 * ```ts
 * const c = refContrast(img, 0.8);
 * ```
 */
export function refContrast(img: Image, f: number): Image {
  const plane = img.h * img.w;
  let s = 0;
  for (let i = 0; i < plane; i++) s += grayOf(img, i, plane);
  const mean = s / plane;
  return blendWith(img, () => mean, f);
}

/**
 * `adjust_saturation`: blend with the grayscale image (identity on 1 channel).
 *
 * @example
 * ```ts
 * const s = refSaturation(img, 1.1);
 * ```
 */
export function refSaturation(img: Image, f: number): Image {
  if (img.c === 1) return makeImage(1, img.h, img.w, img.data);
  const plane = img.h * img.w;
  return blendWith(img, (i) => grayOf(img, i, plane), f);
}

/**
 * `adjust_hue` through torchvision's `_rgb2hsv` / `_hsv2rgb` (identity on 1 channel).
 *
 * @example
 * ```ts
 * const h = refHue(img, 0.05);
 * ```
 */
export function refHue(img: Image, hf: number): Image {
  if (img.c === 1) return makeImage(1, img.h, img.w, img.data);
  const plane = img.h * img.w;
  const out = makeImage(img.c, img.h, img.w);
  for (let i = 0; i < plane; i++) {
    const r = img.data[i];
    const g = img.data[i + plane];
    const b = img.data[i + 2 * plane];
    const maxc = Math.max(r, g, b);
    const minc = Math.min(r, g, b);
    const eqc = maxc === minc;
    const cr = maxc - minc;
    const s = cr / (eqc ? 1 : maxc);
    const crd = eqc ? 1 : cr;
    const rc = (maxc - r) / crd;
    const gc = (maxc - g) / crd;
    const bc = (maxc - b) / crd;
    let h = maxc === r ? bc - gc : maxc === g ? 2 + rc - bc : 4 + gc - rc;
    const h6 = h / 6 + 1;
    h = h6 - Math.trunc(h6);
    h = h + hf;
    h = h - Math.floor(h);
    const v = maxc;
    const i6 = Math.floor(h * 6);
    const fr = h * 6 - i6;
    const k = ((i6 % 6) + 6) % 6;
    const p = clamp01(v * (1 - s));
    const q = clamp01(v * (1 - s * fr));
    const t = clamp01(v * (1 - s * (1 - fr)));
    const rgb = [[v, t, p], [q, v, p], [p, v, t], [p, q, v], [t, p, v], [v, p, q]][k];
    out.data[i] = rgb[0];
    out.data[i + plane] = rgb[1];
    out.data[i + 2 * plane] = rgb[2];
  }
  return out;
}

/**
 * `ColorJitter` with fixed parameters: the ops in `order`, skipping disabled ones.
 *
 * @example
 * ```ts
 * const j = refColorJitter(img, { order: [2, 0, 3, 1], brightness: 1.1, contrast: 0.9, saturation: 1.2, hue: -0.05 });
 * ```
 */
export function refColorJitter(img: Image, jp: JitterParams): Image {
  let out = img;
  for (const op of jp.order) {
    if (op === 0 && jp.brightness !== null) out = refBrightness(out, f32(jp.brightness));
    else if (op === 1 && jp.contrast !== null) out = refContrast(out, f32(jp.contrast));
    else if (op === 2 && jp.saturation !== null) out = refSaturation(out, f32(jp.saturation));
    else if (op === 3 && jp.hue !== null) out = refHue(out, f32(jp.hue));
  }
  return out === img ? makeImage(img.c, img.h, img.w, img.data) : out;
}

/**
 * `rgb_to_grayscale(img, num_output_channels=C)` (identity on 1 channel).
 *
 * @example
 * ```ts
 * const g = refGrayscale(img);
 * ```
 */
export function refGrayscale(img: Image): Image {
  const out = makeImage(img.c, img.h, img.w, img.data);
  if (img.c === 1) return out;
  const plane = img.h * img.w;
  for (let i = 0; i < plane; i++) {
    const l = grayOf(img, i, plane);
    out.data[i] = l;
    out.data[i + plane] = l;
    out.data[i + 2 * plane] = l;
  }
  return out;
}

/**
 * Gaussian blur with torchvision's normalised kernel of radius `radius` and reflect padding
 * (`radius < min(h, w)`); radius 0 is the identity.
 *
 * @example
 * ```ts
 * const b = refGaussianBlur(img, 1.5, 5);
 * ```
 */
export function refGaussianBlur(img: Image, sigma: number, radius: number): Image {
  if (radius === 0) return makeImage(img.c, img.h, img.w, img.data);
  const inv = gaussianInvNorm(sigma, radius);
  const w: number[] = [];
  for (let k = -radius; k <= radius; k++) w.push(Math.exp(-0.5 * (k / sigma) ** 2) * inv);
  const refl = (i: number, n: number) => (i < 0 ? -i : i >= n ? 2 * n - 2 - i : i);
  const tmp = makeImage(img.c, img.h, img.w);
  const out = makeImage(img.c, img.h, img.w);
  for (let c = 0; c < img.c; c++) {
    for (let y = 0; y < img.h; y++) {
      for (let x = 0; x < img.w; x++) {
        let s = 0;
        for (let k = -radius; k <= radius; k++) {
          s += w[k + radius] * img.data[(c * img.h + y) * img.w + refl(x + k, img.w)];
        }
        tmp.data[(c * img.h + y) * img.w + x] = s;
      }
    }
    for (let y = 0; y < img.h; y++) {
      for (let x = 0; x < img.w; x++) {
        let s = 0;
        for (let k = -radius; k <= radius; k++) {
          s += w[k + radius] * tmp.data[(c * img.h + refl(y + k, img.h)) * img.w + x];
        }
        out.data[(c * img.h + y) * img.w + x] = s;
      }
    }
  }
  return out;
}

/**
 * `solarize(img, threshold)`: values `>= threshold` become `1 - x`.
 *
 * @example
 * ```ts
 * const s = refSolarize(img, 0.5);
 * ```
 */
export function refSolarize(img: Image, threshold: number): Image {
  const out = makeImage(img.c, img.h, img.w, img.data);
  for (let i = 0; i < out.data.length; i++) {
    if (out.data[i] >= threshold) out.data[i] = 1 - out.data[i];
  }
  return out;
}

/**
 * `erase`: the box takes `value`, or (`"pixel"`) the hashed normal noise of `seed` at each
 * element (`noiseAt(seed, (c * h + y) * w + x)`).
 *
 * @example
 * ```ts
 * const e = refErase(img, { top: 1, left: 2, height: 5, width: 4 }, 0);
 * ```
 */
export function refErase(img: Image, box: CropBox, value: number | "pixel", seed = 0): Image {
  const out = makeImage(img.c, img.h, img.w, img.data);
  for (let c = 0; c < img.c; c++) {
    for (let y = box.top; y < box.top + box.height; y++) {
      for (let x = box.left; x < box.left + box.width; x++) {
        const i = (c * img.h + y) * img.w + x;
        out.data[i] = value === "pixel" ? noiseAt(seed, i) : value;
      }
    }
  }
  return out;
}

/**
 * `normalize`: `(x - mean[c]) / std[c]`.
 *
 * @example
 * ```ts
 * const n = refNormalize(img, [0.5], [0.25]);
 * ```
 */
export function refNormalize(img: Image, mean: number[], std: number[]): Image {
  const out = makeImage(img.c, img.h, img.w);
  const plane = img.h * img.w;
  for (let c = 0; c < img.c; c++) {
    for (let i = 0; i < plane; i++) {
      out.data[c * plane + i] = (img.data[c * plane + i] - f32(mean[c])) / f32(std[c]);
    }
  }
  return out;
}

// ---- RandAugment (PIL geometry, float values)

function quant(x: number): number {
  const v = f32(clamp01(x) * 255);
  const fl = Math.floor(v);
  const d = v - fl;
  return d > 0.5 ? fl + 1 : d < 0.5 ? fl : fl % 2 === 0 ? fl : fl + 1;
}

function pilSample(
  img: Image,
  c: number,
  xin: number,
  yin: number,
  interp: "bilinear" | "bicubic",
  fill: number,
): number {
  const { h, w } = img;
  if (xin < 0 || xin >= w || yin < 0 || yin >= h) return fill;
  const xs = xin - 0.5;
  const ys = yin - 0.5;
  const fx = Math.floor(xs);
  const fy = Math.floor(ys);
  const dx = xs - fx;
  const dy = ys - fy;
  const at = (y: number, x: number) =>
    img.data[(c * h + Math.min(Math.max(y, 0), h - 1)) * w + Math.min(Math.max(x, 0), w - 1)];
  if (interp === "bilinear") {
    const v1 = at(fy, fx) + (at(fy, fx + 1) - at(fy, fx)) * dx;
    const v2 = at(fy + 1, fx) + (at(fy + 1, fx + 1) - at(fy + 1, fx)) * dx;
    return v1 + (v2 - v1) * dy;
  }
  const cub = (v1: number, v2: number, v3: number, v4: number, d: number) => {
    const p2 = -v1 + v3;
    const p3 = 2 * (v1 - v2) + v3 - v4;
    const p4 = -v1 + v2 - v3 + v4;
    return v2 + d * (p2 + d * (p3 + d * p4));
  };
  const row = (y: number) => cub(at(y, fx - 1), at(y, fx), at(y, fx + 1), at(y, fx + 2), dx);
  return clamp01(cub(row(fy - 1), row(fy), row(fy + 1), row(fy + 2), dy));
}

/**
 * One RandAugment op (see shaders/augment_ra.wgsl for the float semantics), with `fill` the
 * per-channel colour of the area an affine op uncovers. Ops that produce 8-bit levels
 * (equalize, posterize) return them as float32 values k / 255, as a float32 image holds them,
 * so a threshold op after them sees what the GPU sees.
 *
 * @example
 * ```ts
 * const r = refRandAugmentStep(img, { op: "Rotate", magnitude: 9, arg: 27, interpolation: "bilinear" }, [0.5]);
 * ```
 */
export function refRandAugmentStep(img: Image, step: RAStep, fill: number[]): Image {
  const { c: C, h, w } = img;
  const plane = h * w;
  const out = makeImage(C, h, w, img.data);
  const { code, arg } = raKernelOp(step);
  const d = img.data;
  switch (code) {
    case 0:
      return out;
    case 1: // autocontrast
      for (let c = 0; c < C; c++) {
        let mn = Infinity;
        let mx = -Infinity;
        for (let i = 0; i < plane; i++) {
          mn = Math.min(mn, d[c * plane + i]);
          mx = Math.max(mx, d[c * plane + i]);
        }
        let scale = 1 / (mx - mn);
        if (mx === mn) {
          mn = 0;
          scale = 1;
        }
        for (let i = 0; i < plane; i++) {
          out.data[c * plane + i] = clamp01((d[c * plane + i] - mn) * scale);
        }
      }
      return out;
    case 2: // equalize (PIL)
      for (let c = 0; c < C; c++) {
        const hist = new Array(256).fill(0);
        for (let i = 0; i < plane; i++) hist[quant(d[c * plane + i])]++;
        const nz = hist.filter((v) => v > 0);
        if (nz.length <= 1) continue;
        const step = Math.floor((nz.reduce((a, b) => a + b, 0) - nz[nz.length - 1]) / 255);
        if (step === 0) continue;
        const lut: number[] = [];
        let n = Math.floor(step / 2);
        for (let i = 0; i < 256; i++) {
          lut.push(Math.min(Math.floor(n / step), 255));
          n += hist[i];
        }
        for (let i = 0; i < plane; i++) {
          out.data[c * plane + i] = f32(lut[quant(d[c * plane + i])] / 255);
        }
      }
      return out;
    case 3:
      for (let i = 0; i < d.length; i++) out.data[i] = 1 - d[i];
      return out;
    case 4: { // affine
      const m = raAffine(step, h, w)!.map(f32);
      for (let y = 0; y < h; y++) {
        for (let x = 0; x < w; x++) {
          const xo = x + 0.5;
          const yo = y + 0.5;
          const xin = m[0] * xo + m[1] * yo + m[2];
          const yin = m[3] * xo + m[4] * yo + m[5];
          for (let c = 0; c < C; c++) {
            out.data[c * plane + y * w + x] = pilSample(
              img,
              c,
              xin,
              yin,
              step.interpolation,
              f32(fill[c]),
            );
          }
        }
      }
      return out;
    }
    case 5: { // posterize
      const mask = (0xff << (8 - arg)) & 0xff;
      for (let i = 0; i < d.length; i++) out.data[i] = f32((quant(d[i]) & mask) / 255);
      return out;
    }
    case 6: {
      const t = f32(arg);
      for (let i = 0; i < d.length; i++) out.data[i] = d[i] >= t ? 1 - d[i] : d[i];
      return out;
    }
    case 7: {
      const t = f32(128 / 255);
      const add = f32(arg);
      for (let i = 0; i < d.length; i++) out.data[i] = d[i] < t ? Math.min(1, d[i] + add) : d[i];
      return out;
    }
    case 8:
      return refSaturation(img, f32(arg));
    case 9:
      return refContrast(img, f32(arg));
    case 10:
      return refBrightness(img, f32(arg));
    case 11: { // sharpness (torchvision adjust_sharpness)
      if (h <= 2 || w <= 2) return out;
      const f = f32(arg);
      for (let c = 0; c < C; c++) {
        for (let y = 0; y < h; y++) {
          for (let x = 0; x < w; x++) {
            const i = c * plane + y * w + x;
            let deg = d[i];
            if (y > 0 && x > 0 && y < h - 1 && x < w - 1) {
              let s = 4 * d[i];
              for (let dy = -1; dy <= 1; dy++) {
                for (let dx = -1; dx <= 1; dx++) s += d[i + dy * w + dx];
              }
              deg = s / 13;
            }
            out.data[i] = clamp01(f * d[i] + (1 - f) * deg);
          }
        }
      }
      return out;
    }
  }
  throw new Error(`refRandAugmentStep: unknown op ${step.op}`);
}

/**
 * A whole view, as `renderViews` makes it: weak views crop, flip, jitter, grayscale, blur,
 * solarize; strong views flip and RandAugment the full image, then crop; both then erase and
 * normalise.
 *
 * @example
 * ```ts
 * const v = refView(img, view, { size: [28, 28], interpolation: "bicubic" });
 * ```
 */
export function refView(img: Image, v: ViewParams, o: RenderOptions): Image {
  const size: [number, number] = typeof o.size === "number" ? [o.size, o.size] : o.size;
  const interp = o.interpolation ?? "bicubic";
  let x: Image;
  if (v.strong) {
    let s = v.flip ? refFlip(img) : img;
    for (const st of v.randAugment ?? []) {
      s = refRandAugmentStep(s, st, o.fill ?? new Array(img.c).fill(0.5));
    }
    x = refResizedCrop(s, v.crop, size, interp, false);
  } else {
    x = refResizedCrop(img, v.crop, size, interp, v.flip);
  }
  if (v.jitter) x = refColorJitter(x, v.jitter);
  if (v.grayscale) x = refGrayscale(x);
  const r = blurRadius(v.blurSigma, Math.min(size[0], size[1]), o.blurKernel ?? "3sigma");
  if (r > 0) x = refGaussianBlur(x, v.blurSigma, r);
  if (v.solarize) x = refSolarize(x, f32(o.solarizeThreshold ?? 0.5));
  const value = o.erase?.value ?? 0;
  const first = o.erase?.beforeNormalize ?? false;
  const ev = value === "pixel" ? "pixel" : f32(value);
  if (v.erase && first) x = refErase(x, v.erase, ev, v.seed);
  if (o.mean && o.std) x = refNormalize(x, o.mean, o.std);
  if (v.erase && !first) x = refErase(x, v.erase, ev, v.seed);
  return x;
}

/**
 * MSCN masking of a finished view: optional high-pass (image minus its Gaussian blur), then
 * the grid or focal mask per channel, filled with 0 or `noiseStd` x hashed normal noise.
 *
 * @example
 * ```ts
 * const m = refMscn(view, maskParams);
 * ```
 */
export function refMscn(img: Image, mp: MaskParams): Image {
  const out = makeImage(img.c, img.h, img.w, img.data);
  if (mp.highPass) {
    const r = blurRadius(mp.highPassSigma, Math.min(img.h, img.w));
    const b = refGaussianBlur(img, mp.highPassSigma, r);
    for (let i = 0; i < out.data.length; i++) out.data[i] = img.data[i] - b.data[i];
  }
  for (let c = 0; c < img.c; c++) {
    for (let y = 0; y < img.h; y++) {
      for (let xx = 0; xx < img.w; xx++) {
        let m = false;
        if (mp.kind === "grid") {
          const cell = Math.floor(y / mp.cellSize) * mp.cellsPerRow + Math.floor(xx / mp.cellSize);
          m = mp.grid![c][cell] === 1;
        } else if (mp.kind === "focal") {
          const b = mp.focal![c];
          m = !(y >= b.top && y < b.top + b.height && xx >= b.left && xx < b.left + b.width);
        }
        if (!m) continue;
        const i = (c * img.h + y) * img.w + xx;
        out.data[i] = mp.noise ? mp.noiseStd * noiseAt(mp.seed, i) : 0;
      }
    }
  }
  return out;
}
