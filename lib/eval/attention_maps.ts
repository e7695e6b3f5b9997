/**
 * Attention maps of a ViT, as DINO's `visualize_attention.py` draws them: the last block's
 * self-attention, the class token's row per head, its patch part reshaped to the patch
 * grid and upsampled onto the image (nearest, `scale_factor = patch_size`), and optional
 * thresholded masks that keep, per head, the smallest set of patches holding a given share
 * of the class token's patch attention (DINO's `--threshold`, e.g. 0.6).
 *
 * Follows DINO's script with these changes: a whole batch at once (DINO does one image);
 * the class token's attention to itself is returned too (`cls`), so the full row can be
 * checked to sum to one; bilinear upsampling (PyTorch's `interpolate(mode="bilinear",
 * align_corners=False)`) is offered besides nearest; ties in the threshold sort are broken
 * by patch index (PyTorch's sort leaves their order unspecified). The attention runs on
 * the GPU (`ViT.lastAttention`); only the class-token rows come back, and the reshape,
 * upsampling and thresholding run on the host in float64 (they are small).
 */
import type { ViT } from "../nn/vit.ts";
import type { Tensor } from "../tensor/tensor.ts";
import { noGrad } from "../tensor/tape.ts";
import { tidy } from "../tensor/scope.ts";

/**
 * Options of `attentionMaps`.
 *
 * @example
 * ```ts
 * const opts: AttentionMapOptions = { threshold: 0.6, upsample: "nearest", batchSize: 16 };
 * ```
 */
export interface AttentionMapOptions {
  /**
   * Share of each head's class-to-patch attention mass the masks keep, in (0, 1]
   * (DINO's `--threshold`, 0.6 in its examples). No masks when absent.
   */
  threshold?: number;
  /** How the patch-grid maps are brought to the image size. Default "nearest" (DINO's). */
  upsample?: "nearest" | "bilinear";
  /** Images per forward pass (bounds GPU memory). Default 16. */
  batchSize?: number;
}

/**
 * The class token's last-block attention, per image and head, on the host. Layouts are
 * row-major: `patch[((i * heads + h) * gridH + y) * gridW + x]`, and so on.
 *
 * @example
 * ```ts
 * const m: AttentionMaps = await attentionMaps(vit, images, { threshold: 0.6 });
 * const first = m.patch.subarray(0, m.gridH * m.gridW); // image 0, head 0
 * ```
 */
export interface AttentionMaps {
  /** Images. */
  n: number;
  heads: number;
  /** Patch grid (image height / patch size, image width / patch size). */
  gridH: number;
  gridW: number;
  /** Image size. */
  height: number;
  width: number;
  patchSize: number;
  /** The interpolation behind `upsampled`. */
  upsample: "nearest" | "bilinear";
  /** Class token to itself, [n, heads]: with `patch` the full softmax row, summing to 1. */
  cls: Float32Array;
  /** Class token to each patch, [n, heads, gridH, gridW]; sums to `1 - cls` per head. */
  patch: Float32Array;
  /** `patch` upsampled to the image, [n, heads, height, width]. */
  upsampled: Float32Array;
  /** The threshold the masks were made with (absent: no masks). */
  threshold?: number;
  /** 1 for the patches kept by the threshold, [n, heads, gridH, gridW]. */
  masks?: Uint8Array;
  /** `masks` upsampled to the image (nearest), [n, heads, height, width]. */
  masksUpsampled?: Uint8Array;
}

/**
 * Last-block class-token attention maps of `vit` for `images` [B, C, H, W] (already
 * normalised as the model expects; H and W multiples of the patch size). The model runs in
 * eval mode without a tape and is put back in its previous mode.
 *
 * @example
 * ```ts
 * const maps = await attentionMaps(vit, images, { threshold: 0.6 });
 * console.log(maps.heads, maps.gridH, maps.gridW, maps.masks!.length);
 * ```
 */
export async function attentionMaps(
  vit: ViT,
  images: Tensor,
  opts: AttentionMapOptions = {},
): Promise<AttentionMaps> {
  const c = vit.config;
  if (images.ndim !== 4 || images.shape[1] !== c.inChans) {
    throw new Error(
      `attentionMaps: images must be [B, ${c.inChans}, H, W] for this ViT, got [${images.shape}]`,
    );
  }
  if (images.dtype !== "f32") {
    throw new Error(`attentionMaps: images must be f32, got ${images.dtype}`);
  }
  const [n, , height, width] = images.shape;
  const p = c.patchSize;
  if (height % p || width % p) {
    throw new Error(
      `attentionMaps: images of ${height}x${width} are not a multiple of the patch size ${p}`,
    );
  }
  const upsample = opts.upsample ?? "nearest";
  if (upsample !== "nearest" && upsample !== "bilinear") {
    throw new Error(
      `attentionMaps: upsample must be "nearest" or "bilinear", got ${String(opts.upsample)}`,
    );
  }
  const { threshold } = opts;
  if (threshold !== undefined && !(threshold > 0 && threshold <= 1)) {
    throw new Error(`attentionMaps: threshold must be in (0, 1], got ${threshold}`);
  }
  const bs = opts.batchSize ?? 16;
  if (!Number.isInteger(bs) || bs < 1) {
    throw new Error(`attentionMaps: batchSize must be a positive integer, got ${bs}`);
  }
  const heads = c.numHeads;
  const gh = height / p, gw = width / p;
  const L = gh * gw;
  const T = L + 1;

  // the class-token rows [n, heads, T], read back chunk by chunk
  const rows = new Float32Array(n * heads * T);
  const wasTraining = vit.training;
  vit.eval();
  try {
    for (let start = 0; start < n; start += bs) {
      const end = Math.min(n, start + bs);
      const row = noGrad(() =>
        tidy(() => {
          const x = start === 0 && end === n ? images : images.slice(0, start, end);
          const attn = vit.lastAttention(x); // [b, heads, T, T]
          if (attn.shape[2] !== T || attn.shape[3] !== T) {
            throw new Error(
              `attentionMaps: the ViT gave attention [${attn.shape}], expected T=${T}`,
            );
          }
          return attn.slice(2, 0, 1); // [b, heads, 1, T]
        })
      );
      try {
        rows.set(await row.toArray() as Float32Array, start * heads * T);
      } finally {
        row.dispose();
      }
    }
  } finally {
    if (wasTraining) vit.train();
  }

  const cls = new Float32Array(n * heads);
  const patch = new Float32Array(n * heads * L);
  for (let r = 0; r < n * heads; r++) {
    cls[r] = rows[r * T];
    patch.set(rows.subarray(r * T + 1, (r + 1) * T), r * L);
  }
  const up = upsample === "nearest" ? upsampleNearest : upsampleBilinear;
  const upsampled = up(patch, n * heads, gh, gw, p) as Float32Array;
  const out: AttentionMaps = {
    n,
    heads,
    gridH: gh,
    gridW: gw,
    height,
    width,
    patchSize: p,
    upsample,
    cls,
    patch,
    upsampled,
  };
  if (threshold !== undefined) {
    const masks = new Uint8Array(n * heads * L);
    for (let r = 0; r < n * heads; r++) {
      masks.set(thresholdMask(patch.subarray(r * L, (r + 1) * L), threshold), r * L);
    }
    out.threshold = threshold;
    out.masks = masks;
    out.masksUpsampled = upsampleNearest(masks, n * heads, gh, gw, p) as Uint8Array;
  }
  return out;
}

/**
 * DINO's attention threshold on one map: sort the values ascending, normalise them to sum
 * 1, take the cumulative sum and keep the entries whose cumulative sum exceeds
 * `1 - threshold`, i.e. the largest values whose share of the mass reaches `threshold`
 * (the kept mass is >= threshold, and < threshold without the smallest kept entry). Ties
 * are ordered by index. Returns 1 for kept entries, in the input's order; all 0 when the
 * values sum to 0 (DINO's division would give NaN there and keep nothing).
 *
 * @example
 * ```ts
 * thresholdMask([0.1, 0.5, 0.15, 0.25], 0.6); // Uint8Array [0, 1, 0, 1]
 * ```
 */
export function thresholdMask(values: ArrayLike<number>, threshold: number): Uint8Array {
  if (!(threshold > 0 && threshold <= 1)) {
    throw new Error(`thresholdMask: threshold must be in (0, 1], got ${threshold}`);
  }
  const m = values.length;
  const mask = new Uint8Array(m);
  let sum = 0;
  for (let i = 0; i < m; i++) {
    const v = values[i];
    if (!Number.isFinite(v) || v < 0) {
      throw new Error(`thresholdMask: values must be finite and >= 0, got ${v} at index ${i}`);
    }
    sum += v;
  }
  if (!(sum > 0)) return mask;
  const order = Array.from({ length: m }, (_, i) => i).sort((a, b) =>
    values[a] - values[b] || a - b
  );
  let cum = 0;
  for (const i of order) {
    cum += values[i] / sum;
    if (cum > 1 - threshold) mask[i] = 1;
  }
  return mask;
}

/**
 * Nearest upsampling of `count` row-major [gh, gw] maps by an integer `scale` (PyTorch's
 * `interpolate(mode="nearest", scale_factor=scale)`): output pixel (y, x) takes grid cell
 * (floor(y / scale), floor(x / scale)). Returns the same array type as `maps`.
 *
 * @example
 * ```ts
 * upsampleNearest(Float32Array.of(1, 2), 1, 1, 2, 2); // [1, 1, 2, 2, 1, 1, 2, 2]
 * ```
 */
export function upsampleNearest<T extends Float32Array | Uint8Array>(
  maps: T,
  count: number,
  gh: number,
  gw: number,
  scale: number,
): T {
  checkGrid("upsampleNearest", maps.length, count, gh, gw, scale);
  const H = gh * scale, W = gw * scale;
  const out = new (maps.constructor as { new (n: number): T })(count * H * W);
  for (let c = 0; c < count; c++) {
    for (let y = 0; y < H; y++) {
      const src = (c * gh + Math.floor(y / scale)) * gw;
      const dst = (c * H + y) * W;
      for (let x = 0; x < W; x++) out[dst + x] = maps[src + Math.floor(x / scale)];
    }
  }
  return out;
}

/**
 * Bilinear upsampling of `count` row-major [gh, gw] maps by an integer `scale`, as
 * PyTorch's `interpolate(mode="bilinear", align_corners=False, scale_factor=scale)`:
 * source coordinate `max((d + 0.5) / scale - 0.5, 0)`, edge cells repeated. Float64
 * arithmetic, float32 result.
 *
 * @example
 * ```ts
 * upsampleBilinear(Float32Array.of(0, 1), 1, 1, 2, 2); // rows of [0, 0.25, 0.75, 1]
 * ```
 */
export function upsampleBilinear(
  maps: Float32Array,
  count: number,
  gh: number,
  gw: number,
  scale: number,
): Float32Array {
  checkGrid("upsampleBilinear", maps.length, count, gh, gw, scale);
  const H = gh * scale, W = gw * scale;
  const taps = (outLen: number, inLen: number) => {
    const i0 = new Int32Array(outLen), i1 = new Int32Array(outLen), w1 = new Float64Array(outLen);
    for (let d = 0; d < outLen; d++) {
      const s = Math.max((d + 0.5) / scale - 0.5, 0);
      const f = Math.min(Math.floor(s), inLen - 1);
      i0[d] = f;
      i1[d] = Math.min(f + 1, inLen - 1);
      w1[d] = s - f;
    }
    return { i0, i1, w1 };
  };
  const ty = taps(H, gh), tx = taps(W, gw);
  const out = new Float32Array(count * H * W);
  for (let c = 0; c < count; c++) {
    const base = c * gh * gw;
    for (let y = 0; y < H; y++) {
      const r0 = base + ty.i0[y] * gw, r1 = base + ty.i1[y] * gw, wy = ty.w1[y];
      const dst = (c * H + y) * W;
      for (let x = 0; x < W; x++) {
        const a = tx.i0[x], b = tx.i1[x], wx = tx.w1[x];
        const top = maps[r0 + a] * (1 - wx) + maps[r0 + b] * wx;
        const bot = maps[r1 + a] * (1 - wx) + maps[r1 + b] * wx;
        out[dst + x] = top * (1 - wy) + bot * wy;
      }
    }
  }
  return out;
}

function checkGrid(
  what: string,
  length: number,
  count: number,
  gh: number,
  gw: number,
  scale: number,
): void {
  for (const [name, v] of [["count", count], ["gh", gh], ["gw", gw], ["scale", scale]] as const) {
    if (!Number.isInteger(v) || v < 1) {
      throw new Error(`${what}: ${name} must be a positive integer, got ${v}`);
    }
  }
  if (length !== count * gh * gw) {
    throw new Error(
      `${what}: maps hold ${length} values, expected count x gh x gw = ${count * gh * gw}`,
    );
  }
}
