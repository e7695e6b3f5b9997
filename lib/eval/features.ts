/**
 * Feature extraction for evaluation: a dataset through a ViT in batches, or the raw pixels as
 * a baseline. As DINO's `eval_linear.py`: the class tokens of the last `nLastBlocks` blocks
 * (each through the final norm), concatenated, and with `avgPool` the mean patch token of the
 * last block appended. The default (1 block, no pooling) is the class token that DINO's k-NN
 * uses.
 *
 * GPU memory is bounded by the batch, not by the dataset: images go up a batch at a time, and
 * a result matrix over 64 MiB (`hostRowsThreshold`: the raw pixels of 60 000 Fashion-MNIST
 * images are 188 MB, more than llvmpipe's 128 MiB binding limit) is kept in host memory as
 * `HostRows`, which the k-NN reads block by block.
 */
import type { Dataset } from "../data/dataset.ts";
import type { ViT } from "../nn/vit.ts";
import type { Tensor } from "../tensor/tensor.ts";
import { normalize } from "../augment/ops.ts";
import { noGrad } from "../tensor/tape.ts";
import { keep, tidy } from "../tensor/scope.ts";
import { concat } from "../tensor/ops/shape.ts";
import { uint8ToTensor } from "../data/convert.ts";
import { sync } from "../gpu/device.ts";
import { HostRows, hostRowsThreshold } from "../tensor/host_rows.ts";

/** Options of `extractFeatures`. */
export interface FeatureOptions {
  /** Images per batch [256]. */
  batchSize?: number;
  /** Also append the mean of the last block's patch tokens (DINO's `avgpool` option) [false]. */
  avgPool?: boolean;
  /** Concatenate the class tokens of this many last blocks (DINO's `n_last_blocks`) [1]. */
  nLastBlocks?: number;
  /** Per-channel normalisation applied to images in [0, 1] before the ViT. */
  mean?: number[];
  std?: number[];
}

/**
 * Run every image of `ds` through `vit` (eval mode, no tape) and return features
 * [N, (nLastBlocks + (avgPool ? 1 : 0)) * D]: a GPU tensor, or `HostRows` when the matrix is
 * over `hostRowsThreshold()` bytes (each batch's features are then read back as it is made).
 *
 * @example
 * ```ts
 * const feats = await extractFeatures(vit, await embedded("test"), { mean: [0.286], std: [0.353] });
 * ```
 */
export async function extractFeatures(
  vit: ViT,
  ds: Dataset,
  opts: FeatureOptions = {},
): Promise<Tensor> {
  const c = vit.config;
  if (ds.channels !== c.inChans) {
    throw new Error(
      `extractFeatures: the data has ${ds.channels} channels but the model expects ${c.inChans}`,
    );
  }
  if (ds.height % c.patchSize || ds.width % c.patchSize) {
    throw new Error(
      `extractFeatures: images of ${ds.height}x${ds.width} are not a multiple of the patch size ${c.patchSize}`,
    );
  }
  const bs = opts.batchSize ?? 256;
  const nBlocks = opts.nLastBlocks ?? 1;
  if (!Number.isInteger(nBlocks) || nBlocks < 1 || nBlocks > c.depth) {
    throw new Error(`extractFeatures: nLastBlocks must be in 1..${c.depth}, got ${nBlocks}`);
  }
  const per = ds.channels * ds.height * ds.width;
  const mean = opts.mean ?? new Array(ds.channels).fill(0);
  const std = opts.std ?? new Array(ds.channels).fill(1);
  const width = (nBlocks + (opts.avgPool ? 1 : 0)) * c.embedDim;
  const onHost = ds.n * width * 4 > hostRowsThreshold();
  const host = onHost ? new Float32Array(ds.n * width) : null;
  const wasTraining = vit.training;
  vit.eval();
  const parts: Tensor[] = [];
  try {
    for (let start = 0; start < ds.n; start += bs) {
      const n = Math.min(bs, ds.n - start);
      const bytes = ds.images.subarray(start * per, (start + n) * per);
      parts.push(keep(tidy(() =>
        noGrad(() => {
          const x = uint8ToTensor(bytes, [n, ds.channels, ds.height, ds.width]);
          const layers = vit.intermediateLayers(normalize(x, mean, std), nBlocks);
          const [B, T, D] = layers[0].shape;
          const parts = layers.map((l) => l.slice(1, 0, 1).reshape(B, D));
          if (opts.avgPool) parts.push(layers[layers.length - 1].slice(1, 1, T).mean(1));
          return parts.length === 1 ? parts[0] : concat(parts, 1);
        })
      )));
      if (host) {
        const p = parts.pop()!;
        try {
          host.set(await p.toArray() as Float32Array, start * width);
        } finally {
          p.dispose();
        }
      }
      await sync(); // keep the queue short and surface errors per batch
    }
    if (host) return HostRows.fromFloat32(host, ds.n, width, `features of ${ds.n} images`);
    const all = parts.length === 1 ? parts[0] : noGrad(() => concat(parts, 0));
    if (parts.length > 1) parts.forEach((p) => p.dispose());
    return all;
  } finally {
    if (wasTraining) vit.train();
  }
}

/**
 * The raw pixels of `ds` as features [N, C*H*W] in [0, 1] (the k-NN baseline): a GPU tensor,
 * or, over `hostRowsThreshold()` bytes, `HostRows` over the dataset's bytes (uploaded and
 * widened by blocks when read; nothing is copied).
 *
 * @example
 * ```ts
 * const raw = rawPixelFeatures(await embedded("test"));
 * ```
 */
export function rawPixelFeatures(ds: Dataset): Tensor {
  const per = ds.channels * ds.height * ds.width;
  if (ds.n * per * 4 <= hostRowsThreshold()) return uint8ToTensor(ds.images, [ds.n, per]);
  return new HostRows(
    ds.n,
    per,
    (s, e) => uint8ToTensor(ds.images.subarray(s * per, e * per), [e - s, per]),
    `raw pixels of ${ds.n} images`,
  );
}
