/**
 * Host image batches for figures, and their PNG data URLs (hover previews in the t-SNE
 * scatter, image panels in the attention grid). PNGs are encoded with `npm:pngjs` (the
 * decoder the data loaders use): 8-bit grayscale for one channel, 8-bit RGB for three.
 */
import { PNG } from "npm:pngjs@7.0.0";
import { Buffer } from "node:buffer";
import type { Tensor } from "../tensor/tensor.ts";
import type { Dataset } from "../data/dataset.ts";

/**
 * `N` images, CHW each, back to back. Values map to 0..255 through `range` (default
 * `[0, 255]` for a Uint8Array, `[0, 1]` otherwise; `"auto"`: each image's own min..max).
 *
 * @example
 * ```ts
 * const batch: ImageBatch = { data: new Uint8Array(2 * 28 * 28), shape: [2, 1, 28, 28] };
 * ```
 */
export interface ImageBatch {
  data: Uint8Array | Float32Array | Float64Array | number[];
  /** [N, C, H, W] with C = 1 (grayscale) or 3 (RGB). */
  shape: [number, number, number, number];
  range?: [number, number] | "auto";
}

/**
 * Check an image batch and return its sizes; `what` names it in errors.
 *
 * @example
 * ```ts
 * const { n, c, h, w } = checkImages(batch, "tsneScatter: images");
 * ```
 */
export function checkImages(
  images: ImageBatch,
  what: string,
): { n: number; c: number; h: number; w: number } {
  if (!images || typeof images !== "object" || !Array.isArray(images.shape)) {
    throw new Error(`${what} must be an image batch { data, shape: [N, C, H, W] }`);
  }
  const s = images.shape;
  if (s.length !== 4 || !s.every((v) => Number.isInteger(v) && v >= 1)) {
    throw new Error(`${what}: shape must be [N, C, H, W] of positive integers, got [${s}]`);
  }
  const [n, c, h, w] = s;
  if (c !== 1 && c !== 3) {
    throw new Error(`${what}: images need 1 or 3 channels, got ${c} (shape [${s}])`);
  }
  if (images.data?.length !== n * c * h * w) {
    throw new Error(
      `${what}: data holds ${images.data?.length} values, shape [${s}] needs ${n * c * h * w}`,
    );
  }
  const r = images.range;
  if (r !== undefined && r !== "auto" && !(Array.isArray(r) && r.length === 2 && r[1] > r[0])) {
    throw new Error(`${what}: range must be "auto" or [lo, hi] with hi > lo, got ${String(r)}`);
  }
  return { n, c, h, w };
}

/**
 * A [N, C, H, W] tensor read back as an image batch (values in [0, 1] by default).
 *
 * @example
 * ```ts
 * const batch = await imagesFromTensor(views.teacher); // f32 in [0, 1]
 * ```
 */
export async function imagesFromTensor(
  t: Tensor,
  range: [number, number] | "auto" = [0, 1],
): Promise<ImageBatch> {
  if (t.ndim !== 4) throw new Error(`imagesFromTensor: expected [N, C, H, W], got [${t.shape}]`);
  const data = await t.toArray();
  const batch: ImageBatch = {
    data: data instanceof Float32Array ? data : Float32Array.from(data),
    shape: [t.shape[0], t.shape[1], t.shape[2], t.shape[3]],
    range,
  };
  checkImages(batch, "imagesFromTensor");
  return batch;
}

/**
 * Images of a dataset (all, or those at `indices`) as an image batch of bytes.
 *
 * @example
 * ```ts
 * const batch = imagesFromDataset(await embedded("test"), [0, 1, 2]);
 * ```
 */
export function imagesFromDataset(ds: Dataset, indices?: ArrayLike<number>): ImageBatch {
  const per = ds.channels * ds.height * ds.width;
  const idx = indices ?? Array.from({ length: ds.n }, (_, i) => i);
  const data = new Uint8Array(idx.length * per);
  for (let k = 0; k < idx.length; k++) {
    const i = idx[k];
    if (!Number.isInteger(i) || i < 0 || i >= ds.n) {
      throw new Error(`imagesFromDataset: index ${i} (at ${k}) is outside 0..${ds.n - 1}`);
    }
    data.set(ds.images.subarray(i * per, (i + 1) * per), k * per);
  }
  return { data, shape: [idx.length, ds.channels, ds.height, ds.width] };
}

/**
 * Image `index` of a batch as 8-bit pixels, interleaved (HWC): 1 byte per pixel for
 * grayscale, 3 for RGB.
 *
 * @example
 * ```ts
 * const { pixels, channels } = imageBytes(batch, 0);
 * ```
 */
export function imageBytes(
  images: ImageBatch,
  index: number,
): { pixels: Uint8Array; channels: number; height: number; width: number } {
  const { n, c, h, w } = checkImages(images, "imageBytes: images");
  if (!Number.isInteger(index) || index < 0 || index >= n) {
    throw new Error(`imageBytes: index ${index} is outside 0..${n - 1}`);
  }
  const per = c * h * w;
  const src = images.data;
  const off = index * per;
  let lo: number, hi: number;
  if (images.range === "auto") {
    lo = Infinity;
    hi = -Infinity;
    for (let i = 0; i < per; i++) {
      const v = src[off + i];
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    }
    if (!(hi > lo)) hi = lo + 1; // a flat image
  } else {
    [lo, hi] = images.range ?? (src instanceof Uint8Array ? [0, 255] : [0, 1]);
  }
  const scale = 255 / (hi - lo);
  const pixels = new Uint8Array(per);
  for (let ch = 0; ch < c; ch++) {
    for (let p = 0; p < h * w; p++) {
      const v = (src[off + ch * h * w + p] - lo) * scale;
      pixels[p * c + ch] = Number.isNaN(v) ? 0 : Math.min(255, Math.max(0, Math.round(v)));
    }
  }
  return { pixels, channels: c, height: h, width: w };
}

/**
 * Image `index` of a batch as a PNG data URL (`data:image/png;base64,…`).
 *
 * @example
 * ```ts
 * const url = pngDataUrl(batch, 0); // use as <img src> or a plotly image trace's source
 * ```
 */
export function pngDataUrl(images: ImageBatch, index: number): string {
  const { pixels, channels, height, width } = imageBytes(images, index);
  const png = new PNG({ width, height });
  png.data = Buffer.from(pixels.buffer, pixels.byteOffset, pixels.byteLength);
  const type = channels === 1 ? 0 : 2; // grayscale, RGB; same input layout: no conversion
  const bytes = PNG.sync.write(png, { colorType: type, inputColorType: type, bitDepth: 8 });
  return `data:image/png;base64,${Buffer.from(bytes).toString("base64")}`;
}
