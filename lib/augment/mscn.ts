/**
 * Masking views after Masked Siamese ConvNets (MSCN; Jing, Zhu and LeCun 2022,
 * arXiv 2206.07700). The paper's Sections 3-4 build a masking recipe that works with ConvNet
 * siamese networks out of these pieces, each here with its own probability:
 * - random grid masking: the view is cut into a grid of square cells and a fraction of the
 *   cells is masked;
 * - focal masking (taken from MSN): a random square is kept and everything else masked;
 * - channel-independent masks: each colour channel draws its own mask;
 * - a high-pass filter applied before masking (the image minus its Gaussian blur), so that
 *   the mask edges are no longer the only sharp edges in the input;
 * - noise instead of zeros in the masked area.
 *
 * Defaults (`MSCN_DEFAULTS`) are this kit's choices for those pieces: mask every selected
 * view, grid or focal with equal odds, a 7 x 7 grid (32-pixel cells at 224 px) with 30% of the
 * cells masked, a focal square keeping 20-50% of the area, channel-independent masks, the
 * high-pass filter and noise filling each with probability 0.5, noise std 1 (in normalised
 * units), high-pass sigma = side / 56. The paper's text could not be consulted while this was
 * written, so the numbers are not the paper's verified values; every one is configurable.
 * Masks are applied to finished (normalised) views on the GPU (shaders/augment_mask.wgsl).
 */
import body from "../../shaders/augment_mask.wgsl" with { type: "text" };
import common from "../../shaders/augment_common.wgsl" with { type: "text" };

const code = common + body;
import { runtime } from "../gpu/device.ts";
import { Tensor } from "../tensor/tensor.ts";
import { grid, launch, Params } from "../tensor/launch.ts";
import type { Generator } from "../tensor/rng.ts";
import { checkDevice, checkDType } from "../tensor/check.ts";
import { rowChunk } from "./ops.ts";
import { blurRadius, type CropBox, gaussianInvNorm, pyRound } from "./params.ts";
import { checkImages, checkInt, checkNumber, checkProb, checkRange, fail } from "./validate.ts";

/**
 * MSCN masking settings.
 *
 * @example
 * ```ts
 * const cfg: MscnConfig = { gridRatio: 0.5, noiseProb: 1 };
 * ```
 */
export interface MscnConfig {
  /** Probability that a view is masked at all. */
  prob?: number;
  /** Probability of a grid mask (else a focal mask) for a masked view. */
  gridProb?: number;
  /** Grid cells per side (the cell side is ceil(size / gridCells) pixels). */
  gridCells?: number;
  /** Fraction of the grid cells masked. */
  gridRatio?: number;
  /** Range of the kept focal square's area fraction. */
  focalScale?: [number, number];
  /** Probability of channel-independent masks (3-channel views). */
  channelProb?: number;
  /** Probability of the high-pass filter before masking. */
  highPassProb?: number;
  /** High-pass blur sigma in pixels, or "auto" = side / 56. */
  highPassSigma?: number | "auto";
  /** Probability of noise (instead of zeros) in the masked area. */
  noiseProb?: number;
  /** Standard deviation of that noise. */
  noiseStd?: number;
}

/**
 * The kit's MSCN defaults (see the module comment).
 *
 * @example
 * ```ts
 * const ratio = MSCN_DEFAULTS.gridRatio; // 0.3
 * ```
 */
export const MSCN_DEFAULTS: Required<MscnConfig> = {
  prob: 1,
  gridProb: 0.5,
  gridCells: 7,
  gridRatio: 0.3,
  focalScale: [0.2, 0.5],
  channelProb: 0.5,
  highPassProb: 0.5,
  highPassSigma: "auto",
  noiseProb: 0.5,
  noiseStd: 1,
};

/**
 * The mask of one view.
 *
 * @example
 * ```ts
 * const m: MaskParams = sampleMscn(new Generator(0), {}, 3, 32);
 * ```
 */
export interface MaskParams {
  kind: "none" | "grid" | "focal";
  highPass: boolean;
  highPassSigma: number;
  noise: boolean;
  noiseStd: number;
  channelIndependent: boolean;
  /** Grid geometry: cell side in pixels and cells per row (= per column). */
  cellSize: number;
  cellsPerRow: number;
  /** Per channel, one flag per cell (row-major), 1 = masked; null unless kind is "grid". */
  grid: Uint8Array[] | null;
  /** Per channel, the kept square; null unless kind is "focal". */
  focal: CropBox[] | null;
  /** Seed of the noise (see `noiseAt`). */
  seed: number;
}

/**
 * Check an MSCN configuration; returns it with the defaults filled in.
 *
 * @example
 * ```ts
 * const cfg = resolveMscn({ gridRatio: 0.5 });
 * ```
 */
export function resolveMscn(cfg: MscnConfig): Required<MscnConfig> {
  const w = "MSCN";
  const r = { ...MSCN_DEFAULTS, ...cfg };
  checkProb(w, "prob", r.prob);
  checkProb(w, "gridProb", r.gridProb);
  checkInt(w, "gridCells", r.gridCells, 1, 64);
  checkProb(w, "gridRatio", r.gridRatio);
  checkRange(w, "focalScale", r.focalScale, 0, 1, true);
  checkProb(w, "channelProb", r.channelProb);
  checkProb(w, "highPassProb", r.highPassProb);
  if (r.highPassSigma !== "auto") checkNumber(w, "highPassSigma", r.highPassSigma, 1e-6);
  checkProb(w, "noiseProb", r.noiseProb);
  checkNumber(w, "noiseStd", r.noiseStd, 0);
  return r;
}

/**
 * A view left unmasked.
 *
 * @example
 * ```ts
 * const m = noMask();
 * ```
 */
export function noMask(): MaskParams {
  return {
    kind: "none",
    highPass: false,
    highPassSigma: 1,
    noise: false,
    noiseStd: 0,
    channelIndependent: false,
    cellSize: 1,
    cellsPerRow: 1,
    grid: null,
    focal: null,
    seed: 0,
  };
}

/**
 * The mask of one `size` x `size` view of `channels` channels.
 *
 * @example
 * ```ts
 * const m = sampleMscn(new Generator(0), {}, 3, 28);
 * ```
 */
export function sampleMscn(
  g: Generator,
  cfg: MscnConfig,
  channels: number,
  size: number,
): MaskParams {
  const r = resolveMscn(cfg);
  const m = noMask();
  const cellSize = Math.ceil(size / r.gridCells);
  m.cellSize = cellSize;
  m.cellsPerRow = Math.ceil(size / cellSize);
  if (!(g.uniform() < r.prob)) return m;
  m.kind = g.uniform() < r.gridProb ? "grid" : "focal";
  m.channelIndependent = channels === 3 && g.uniform() < r.channelProb;
  m.highPass = g.uniform() < r.highPassProb;
  m.highPassSigma = Math.fround(
    r.highPassSigma === "auto" ? Math.max(0.5, size / 56) : r.highPassSigma,
  );
  m.noise = g.uniform() < r.noiseProb;
  m.noiseStd = Math.fround(r.noiseStd);
  m.seed = g.nextU32();
  const draws = m.channelIndependent ? channels : 1;
  if (m.kind === "grid") {
    const cells = m.cellsPerRow * m.cellsPerRow;
    const k = pyRound(r.gridRatio * cells);
    const one: Uint8Array[] = [];
    for (let c = 0; c < draws; c++) {
      const flags = new Uint8Array(cells);
      const perm = g.permutation(cells);
      for (let i = 0; i < k; i++) flags[perm[i]] = 1;
      one.push(flags);
    }
    m.grid = Array.from({ length: channels }, (_, c) => one[Math.min(c, draws - 1)]);
  } else {
    const one: CropBox[] = [];
    for (let c = 0; c < draws; c++) {
      const frac = g.range(r.focalScale[0], r.focalScale[1]);
      const side = Math.min(size, Math.max(1, pyRound(Math.sqrt(frac) * size)));
      const top = g.int(size - side + 1);
      const left = g.int(size - side + 1);
      one.push({ top, left, height: side, width: side });
    }
    m.focal = Array.from({ length: channels }, (_, c) => one[Math.min(c, draws - 1)]);
  }
  return m;
}

const MASK_WORDS = 20;
const WG = 64;

/**
 * Apply MSCN masks to views [N, C, H, W] (one `MaskParams` per view); returns a new tensor.
 *
 * @example
 * ```ts
 * const masked = mscnMask(views, masks);
 * ```
 */
export function mscnMask(x: Tensor, masks: readonly MaskParams[]): Tensor {
  const where = "mscnMask";
  checkDevice(where, x);
  checkDType(where, x, "f32");
  const [n, c, h, w] = checkImages(where, x.shape);
  if (!Array.isArray(masks) || masks.length !== n) {
    fail(where, "masks", `must have one entry per view (${n}), got ${masks?.length}`);
  }
  const geo = masks.find((m) => m?.kind === "grid");
  const cell = geo ? geo.cellSize : Math.max(h, w);
  const gw = geo ? geo.cellsPerRow : 1;
  if (
    !Number.isInteger(cell) || cell < 1 || gw !== Math.ceil(w / cell) || gw !== Math.ceil(h / cell)
  ) {
    fail(
      where,
      "masks[].cellSize",
      `must tile the ${h}x${w} views (cellsPerRow = ceil(side / cellSize))`,
    );
  }
  const cells = gw * gw;
  const words = Math.ceil(cells / 32);
  const rec = new Uint32Array(n * MASK_WORDS);
  const f = new Float32Array(rec.buffer);
  const s = new Int32Array(rec.buffer);
  const bits = new Uint32Array(Math.max(4, n * c * words));
  const side = Math.min(h, w);
  masks.forEach((m, i) => {
    const b = i * MASK_WORDS;
    const field = `masks[${i}]`;
    rec[b] = m.kind === "grid" ? 1 : m.kind === "focal" ? 2 : 0;
    rec[b + 1] = (m.highPass ? 1 : 0) | (m.noise ? 2 : 0);
    const r = m.highPass ? blurRadius(m.highPassSigma, side) : 0;
    if (m.highPass) checkNumber(where, `${field}.highPassSigma`, m.highPassSigma, 1e-6);
    rec[b + 2] = r;
    rec[b + 3] = m.seed >>> 0;
    f[b + 4] = m.highPass ? m.highPassSigma : 1;
    f[b + 5] = gaussianInvNorm(m.highPassSigma, r);
    f[b + 6] = m.noiseStd;
    if (m.kind === "grid") {
      if (m.cellSize !== cell || m.cellsPerRow !== gw || !m.grid || m.grid.length !== c) {
        fail(
          where,
          `${field}.grid`,
          `must hold ${c} channel masks of ${cells} cells (cell ${cell})`,
        );
      }
      for (let ch = 0; ch < c; ch++) {
        const g = m.grid[ch];
        if (g.length !== cells) fail(where, `${field}.grid[${ch}]`, `must have ${cells} cells`);
        for (let j = 0; j < cells; j++) {
          if (g[j]) bits[(i * c + ch) * words + (j >> 5)] |= 1 << (j & 31);
        }
      }
    } else if (m.kind === "focal") {
      if (!m.focal || m.focal.length !== c) {
        fail(where, `${field}.focal`, `must hold ${c} boxes (one per channel)`);
      }
      for (let ch = 0; ch < c; ch++) {
        const bx = m.focal[ch];
        if (bx.height !== bx.width) fail(where, `${field}.focal[${ch}]`, "must be a square");
        s[b + 8 + 4 * ch] = bx.top;
        s[b + 9 + 4 * ch] = bx.left;
        s[b + 10 + 4 * ch] = bx.height;
      }
    }
  });
  const rt = runtime();
  const recT = Tensor.empty([rec.length], "i32", "mscn masks");
  rt.upload(recT.buffer, rec);
  const bitsT = Tensor.empty([bits.length], "i32", "mscn grid");
  rt.upload(bitsT.buffer, bits);
  const chunk = rowChunk(w);
  const runs = Math.ceil(w / chunk);
  const inv = n * h * runs;
  const p = new Params().u32(inv, h, w, chunk, runs, cell, gw, words);
  let blurred = x;
  if (masks.some((m) => m.highPass)) {
    blurred = Tensor.empty(x.shape, "f32", "mscn blur");
    launch("augment_mask", code, "mask_rows", {
      buffers: [x, recT, blurred],
      workgroups: grid(inv, WG),
      params: p,
      constants: { WG, CH: c },
    });
  }
  const out = Tensor.empty(x.shape, "f32", "mscn");
  launch("augment_mask", code, "mask_apply", {
    buffers: [x, recT, blurred, bitsT, out],
    workgroups: grid(inv, WG),
    params: p,
    constants: { WG, CH: c },
  });
  if (blurred !== x) blurred.dispose();
  recT.dispose();
  bitsT.dispose();
  return out;
}
