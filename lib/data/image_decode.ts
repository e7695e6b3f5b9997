/**
 * Decode one PNG or JPEG file into a uint8 CHW image with a chosen channel count and,
 * optionally, a fixed size. Used by the decode workers (`decode_worker.ts`) and, with
 * `workers: 0`, on the calling thread.
 *
 * - Decoders: `npm:pngjs` (PNG, any bit depth and colour type, 16-bit scaled to 8) and
 *   `npm:jpeg-js` (baseline and progressive JPEG). The format is detected from the
 *   file's first bytes, not its extension.
 * - Channels: 3 = RGB, 1 = grayscale with the ITU-R 601-2 luma transform exactly as
 *   Pillow's `convert("L")` computes it: `(R*19595 + G*38470 + B*7471 + 0x8000) >> 16`.
 *   Alpha is dropped (not composited), as Pillow's `convert("RGB")` / `convert("L")` do.
 * - Resize (after the channel conversion): Pillow's `Image.resize(size, BILINEAR)`, which
 *   torchvision's `Resize` uses on PIL images: a triangle filter widened by the
 *   downscale factor (antialiased), separable, horizontal pass first, coefficients and
 *   rounding in Pillow's 22-bit fixed point, so results match Pillow byte for byte.
 */
// Full npm: specifiers on purpose: an import map does not apply when this module is
// imported by URL (DESIGN.md section 2).
import { PNG } from "npm:pngjs@7.0.0";
import jpeg from "npm:jpeg-js@0.4.4";
import { Buffer } from "node:buffer";

/**
 * Options of `decodeImage`.
 *
 * @example
 * ```ts
 * const opts: DecodeOptions = { channels: 1, size: [28, 28] };
 * ```
 */
export interface DecodeOptions {
  /** 1 (grayscale) or 3 (RGB); default 3. */
  channels?: 1 | 3;
  /** Resize to `[height, width]` (Pillow bilinear); absent: keep the file's size. */
  size?: [number, number];
  /**
   * With `size`: "stretch" (default) resizes the whole image to `size`, as torchvision's
   * `Resize((h, w))`; "center-crop" first cuts the largest centred region of `size`'s aspect
   * ratio (offset rounded down), so nothing is distorted, as `Resize(s)` + `CenterCrop(s)`.
   */
  fit?: "stretch" | "center-crop";
}

/**
 * A decoded image: `channels x height x width` bytes, CHW.
 *
 * @example
 * ```ts
 * const { data, channels, height, width }: DecodedImage = decodeImage(bytes, "a.png");
 * ```
 */
export interface DecodedImage {
  data: Uint8Array;
  channels: number;
  height: number;
  width: number;
}

/**
 * Check `channels` and `size` options, naming the bad field.
 *
 * @example
 * ```ts
 * checkDecodeOptions({ channels: 1, size: [28, 28] });
 * ```
 */
export function checkDecodeOptions(opts: DecodeOptions, what = "image options"): void {
  if (opts.channels !== undefined && opts.channels !== 1 && opts.channels !== 3) {
    throw new Error(`${what}: channels must be 1 or 3, got ${opts.channels}`);
  }
  if (opts.size !== undefined) {
    const s = opts.size;
    if (
      !Array.isArray(s) || s.length !== 2 || !s.every((d) => Number.isInteger(d) && d >= 1)
    ) {
      throw new Error(
        `${what}: size must be [height, width] of positive integers, got ${JSON.stringify(s)}`,
      );
    }
  }
  if (opts.fit !== undefined && opts.fit !== "stretch" && opts.fit !== "center-crop") {
    throw new Error(`${what}: fit must be "stretch" or "center-crop", got ${String(opts.fit)}`);
  }
}

/**
 * The centred `[top, left, height, width]` region of a `height x width` image with the aspect
 * ratio of `size` (the largest such region; the offset rounded down).
 *
 * @example
 * ```ts
 * centerRegion(40, 60, [28, 28]); // [0, 10, 40, 40]
 * ```
 */
export function centerRegion(
  height: number,
  width: number,
  size: [number, number],
): [number, number, number, number] {
  const [sh, sw] = size;
  let h = height;
  let w = width;
  if (width * sh > height * sw) w = Math.max(1, Math.round((height * sw) / sh));
  else h = Math.max(1, Math.round((width * sh) / sw));
  return [Math.floor((height - h) / 2), Math.floor((width - w) / 2), h, w];
}

function cropChw(
  src: Uint8Array,
  channels: number,
  height: number,
  width: number,
  [top, left, h, w]: [number, number, number, number],
): Uint8Array {
  if (h === height && w === width) return src;
  const out = new Uint8Array(channels * h * w);
  for (let c = 0; c < channels; c++) {
    for (let y = 0; y < h; y++) {
      const from = c * height * width + (top + y) * width + left;
      out.set(src.subarray(from, from + w), (c * h + y) * w);
    }
  }
  return out;
}

/** RGBA pixels, row-major. */
interface Rgba {
  data: Uint8Array;
  width: number;
  height: number;
}

function hex(b: Uint8Array): string {
  return Array.from(b.subarray(0, 8), (x) => x.toString(16).padStart(2, "0")).join(" ");
}

function decodeRgba(bytes: Uint8Array, file: string): Rgba {
  const isPng = bytes.length >= 8 && bytes[0] === 0x89 && bytes[1] === 0x50 && bytes[2] === 0x4e &&
    bytes[3] === 0x47;
  const isJpeg = bytes.length >= 3 && bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff;
  if (isPng) {
    try {
      const png = PNG.sync.read(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
      return {
        data: new Uint8Array(png.data.buffer, png.data.byteOffset, png.data.byteLength),
        width: png.width,
        height: png.height,
      };
    } catch (e) {
      throw new Error(
        `image ${file}: could not decode it as PNG (${(e as Error).message}); the file is ` +
          `corrupt or truncated, expected a valid PNG image`,
      );
    }
  }
  if (isJpeg) {
    try {
      const img = jpeg.decode(bytes, {
        useTArray: true,
        formatAsRGBA: true,
        tolerantDecoding: false,
        maxMemoryUsageInMB: 1024,
      });
      return { data: img.data, width: img.width, height: img.height };
    } catch (e) {
      throw new Error(
        `image ${file}: could not decode it as JPEG (${(e as Error).message}); the file is ` +
          `corrupt or truncated, expected a valid JPEG image`,
      );
    }
  }
  throw new Error(
    `image ${file}: not a PNG or JPEG file (first bytes ${hex(bytes) || "none: empty file"}); ` +
      `expected a PNG (89 50 4e 47 …) or JPEG (ff d8 ff …) image`,
  );
}

/**
 * RGBA pixels (row-major, 4 bytes per pixel) to CHW with 1 channel (Pillow's
 * `convert("L")` luma) or 3 channels (RGB); alpha is dropped.
 *
 * @example
 * ```ts
 * const gray = rgbaToChw(Uint8Array.of(255, 0, 0, 255), 1, 1, 1); // [76]
 * ```
 */
export function rgbaToChw(
  rgba: Uint8Array,
  height: number,
  width: number,
  channels: 1 | 3,
): Uint8Array {
  const hw = height * width;
  if (rgba.length !== hw * 4) {
    throw new Error(`rgbaToChw: ${rgba.length} bytes, expected ${height}*${width}*4 = ${hw * 4}`);
  }
  const out = new Uint8Array(channels * hw);
  if (channels === 1) {
    for (let i = 0; i < hw; i++) {
      const o = 4 * i;
      out[i] = (rgba[o] * 19595 + rgba[o + 1] * 38470 + rgba[o + 2] * 7471 + 0x8000) >>> 16;
    }
  } else {
    for (let i = 0; i < hw; i++) {
      const o = 4 * i;
      out[i] = rgba[o];
      out[hw + i] = rgba[o + 1];
      out[2 * hw + i] = rgba[o + 2];
    }
  }
  return out;
}

const PRECISION_BITS = 32 - 8 - 2;
const ONE = 2 ** PRECISION_BITS;

/** Pillow's precompute_coeffs + normalize_coeffs_8bpc for the bilinear filter. */
function coeffs(inSize: number, outSize: number) {
  const scale = inSize / outSize;
  const filterscale = Math.max(scale, 1);
  const support = 1.0 * filterscale;
  const ksize = Math.ceil(support) * 2 + 1;
  const kk = new Float64Array(outSize * ksize);
  const bounds = new Int32Array(outSize * 2);
  const ss = 1.0 / filterscale;
  for (let xx = 0; xx < outSize; xx++) {
    const center = (xx + 0.5) * scale;
    let xmin = Math.trunc(center - support + 0.5);
    if (xmin < 0) xmin = 0;
    let xmax = Math.trunc(center + support + 0.5);
    if (xmax > inSize) xmax = inSize;
    xmax -= xmin;
    let ww = 0;
    const k = xx * ksize;
    for (let x = 0; x < xmax; x++) {
      const t = Math.abs((x + xmin - center + 0.5) * ss);
      const w = t < 1 ? 1 - t : 0;
      kk[k + x] = w;
      ww += w;
    }
    for (let x = 0; x < xmax; x++) if (ww !== 0) kk[k + x] /= ww;
    bounds[2 * xx] = xmin;
    bounds[2 * xx + 1] = xmax;
  }
  const fixed = new Float64Array(kk.length);
  for (let i = 0; i < kk.length; i++) {
    fixed[i] = kk[i] < 0 ? Math.trunc(-0.5 + kk[i] * ONE) : Math.trunc(0.5 + kk[i] * ONE);
  }
  return { kk: fixed, bounds, ksize };
}

function clip8(v: number): number {
  if (v >= ONE * 256) return 255;
  if (v <= 0) return 0;
  return Math.floor(v / ONE);
}

/**
 * Resize CHW uint8 planes to `outH x outW` exactly as Pillow's `resize(..., BILINEAR)`
 * (antialiased when shrinking).
 *
 * @example
 * ```ts
 * const small = resizeBilinear(new Uint8Array(3 * 64 * 64), 3, 64, 64, 32, 32);
 * ```
 */
export function resizeBilinear(
  src: Uint8Array,
  channels: number,
  height: number,
  width: number,
  outH: number,
  outW: number,
): Uint8Array {
  if (src.length !== channels * height * width) {
    throw new Error(
      `resizeBilinear: ${src.length} bytes, expected ${channels}*${height}*${width}`,
    );
  }
  if (outH === height && outW === width) return src.slice();
  let cur = src;
  let w = width;
  if (outW !== width) {
    const { kk, bounds, ksize } = coeffs(width, outW);
    const tmp = new Uint8Array(channels * height * outW);
    for (let row = 0; row < channels * height; row++) {
      const ib = row * width;
      const ob = row * outW;
      for (let xx = 0; xx < outW; xx++) {
        const xmin = bounds[2 * xx];
        const xmax = bounds[2 * xx + 1];
        const k = xx * ksize;
        let s = ONE / 2;
        for (let x = 0; x < xmax; x++) s += cur[ib + xmin + x] * kk[k + x];
        tmp[ob + xx] = clip8(s);
      }
    }
    cur = tmp;
    w = outW;
  }
  if (outH !== height) {
    const { kk, bounds, ksize } = coeffs(height, outH);
    const tmp = new Uint8Array(channels * outH * w);
    for (let c = 0; c < channels; c++) {
      const ib = c * height * w;
      const ob = c * outH * w;
      for (let yy = 0; yy < outH; yy++) {
        const ymin = bounds[2 * yy];
        const ymax = bounds[2 * yy + 1];
        const k = yy * ksize;
        for (let xx = 0; xx < w; xx++) {
          let s = ONE / 2;
          for (let y = 0; y < ymax; y++) s += cur[ib + (ymin + y) * w + xx] * kk[k + y];
          tmp[ob + yy * w + xx] = clip8(s);
        }
      }
    }
    cur = tmp;
  }
  return cur;
}

/**
 * Decode a PNG or JPEG file's bytes to CHW uint8 with the requested channels and size;
 * `file` names it in errors.
 *
 * @example
 * ```ts
 * const img = decodeImage(await Deno.readFile("cat.png"), "cat.png", { channels: 1, size: [28, 28] });
 * ```
 */
export function decodeImage(
  bytes: Uint8Array,
  file: string,
  opts: DecodeOptions = {},
): DecodedImage {
  checkDecodeOptions(opts);
  const channels = opts.channels ?? 3;
  const rgba = decodeRgba(bytes, file);
  if (!rgba.width || !rgba.height || rgba.data.length < rgba.width * rgba.height * 4) {
    throw new Error(
      `image ${file}: the decoder returned ${rgba.data.length} bytes for ${rgba.width}x${rgba.height} ` +
        `pixels, expected ${rgba.width * rgba.height * 4} (RGBA)`,
    );
  }
  const chw = rgbaToChw(
    rgba.data.subarray(0, rgba.width * rgba.height * 4),
    rgba.height,
    rgba.width,
    channels,
  );
  if (!opts.size) return { data: chw, channels, height: rgba.height, width: rgba.width };
  const [h, w] = opts.size;
  let [src, sh, sw] = [chw, rgba.height, rgba.width];
  if (opts.fit === "center-crop") {
    const r = centerRegion(sh, sw, opts.size);
    src = cropChw(chw, channels, sh, sw, r);
    [sh, sw] = [r[2], r[3]];
  }
  return {
    data: resizeBilinear(src, channels, sh, sw, h, w),
    channels,
    height: h,
    width: w,
  };
}
