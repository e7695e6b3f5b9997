/**
 * The backbone an evaluation reads: from a training checkpoint (a folder written by `deno task
 * train`, or its `checkpoint.json`), the teacher's ViT by default, as DINO's and Mugs'
 * evaluation scripts take the teacher (`--checkpoint_key teacher`); or a ViT weight file
 * (`.safetensors`, DINO/timm names), as `ViT.load` reads it.
 *
 * A training checkpoint records the ViT configuration and the input normalisation in its
 * sidecar (`config.vit`, `config.mean`, `config.std`); a weight file carries its configuration
 * in `__metadata__` (or it is read from the shapes), and its normalisation when `__metadata__`
 * has `mean` and `std` (JSON arrays, as `ViT.save(path, { mean, std })` writes them).
 */
import { z } from "npm:zod@4.6.7";
import { loadCheckpoint, type LoadedCheckpoint } from "../io/checkpoint.ts";
import { readSafetensors } from "../io/safetensors.ts";
import { ViT, type ViTConfig } from "../nn/vit.ts";
import type { Dataset } from "../data/dataset.ts";

/** Which network of a training checkpoint. */
export type Network = "teacher" | "student";

/** A loaded backbone and what came with it. */
export interface LoadedBackbone {
  vit: ViT;
  /** Where it came from (the file read). */
  source: string;
  /** Input normalisation recorded with it (absent for a bare weight file). */
  mean?: number[];
  std?: number[];
  /** The network taken from a training checkpoint (absent for a weight file). */
  network?: Network;
  /** Epochs and steps of the training checkpoint. */
  epoch?: number;
  step?: number;
}

/**
 * Load a backbone from a training checkpoint folder / `checkpoint.json`, or a ViT weight file.
 * `network` picks the teacher (default, or what the run evaluated, e.g. the student for SwAV)
 * or the student of a checkpoint; `numHeads` is the head count of a weight file that does not
 * record it (`ViT.load` refuses to guess it).
 *
 * @example
 * ```ts
 * const { vit, mean, std } = await loadBackbone("runs/mugs/checkpoint");
 * ```
 */
export async function loadBackbone(
  path: string,
  opts: { network?: Network; numHeads?: number } = {},
): Promise<LoadedBackbone> {
  if (/^https?:\/\//.test(path) && path.endsWith(".safetensors")) {
    return await loadWeightFile(path, opts.numHeads); // a weight file by URL
  }
  let stat: Deno.FileInfo;
  try {
    stat = await Deno.stat(path);
  } catch {
    throw new Error(
      `--checkpoint ${path}: no such file or folder (give a training output folder, its checkpoint/ folder, or a .safetensors file)`,
    );
  }
  if (stat.isFile && path.endsWith(".safetensors") && !path.endsWith("checkpoint.safetensors")) {
    return await loadWeightFile(path, opts.numHeads);
  }
  // a run's output folder holds checkpoint/; accept either
  let dir = path;
  if (stat.isDirectory) {
    try {
      if ((await Deno.stat(`${path}/checkpoint`)).isDirectory) dir = `${path}/checkpoint`;
    } catch { /* path is the checkpoint folder itself */ }
  }
  return backboneFromCheckpoint(await loadCheckpoint(dir, { fallback: true }), opts.network);
}

/**
 * The backbone of a training checkpoint already loaded (`loadCheckpoint`): `network` (default:
 * what the run evaluated, usually the teacher), rebuilt from the sidecar's `config.vit`.
 *
 * @example
 * ```ts
 * const { vit } = backboneFromCheckpoint(await loadCheckpoint("runs/mugs/checkpoint"), "student");
 * ```
 */
export function backboneFromCheckpoint(ck: LoadedCheckpoint, net?: Network): LoadedBackbone {
  const cfg = ck.meta.config as
    | { vit?: ViTConfig; mean?: number[]; std?: number[]; evalNetwork?: Network }
    | undefined;
  if (!cfg?.vit) {
    throw new Error(
      `${ck.info.json}: the sidecar has no config.vit, so the backbone cannot be rebuilt (was it written by deno task train?)`,
    );
  }
  const network = net ?? cfg.evalNetwork ?? "teacher";
  const prefix = `${network}.backbone.`;
  const tensors = new Map(
    [...ck.tensors].filter(([n]) => n.startsWith(prefix)).map((
      [n, t],
    ) => [n.slice(prefix.length), t]),
  );
  if (!tensors.size) {
    throw new Error(`${ck.info.safetensors}: no '${prefix}*' tensors in this checkpoint`);
  }
  const vit = new ViT(cfg.vit, 0);
  vit.loadStateDict(tensors, { source: ck.info.safetensors });
  return {
    vit,
    source: ck.info.safetensors,
    mean: cfg.mean,
    std: cfg.std,
    network,
    epoch: ck.meta.epoch,
    step: ck.meta.step,
  };
}

const Normalisation = z.array(z.number().finite()).min(1);

/** A ViT weight file, with the input normalisation its `__metadata__` records (`mean`, `std`). */
async function loadWeightFile(path: string, numHeads?: number): Promise<LoadedBackbone> {
  const file = await readSafetensors(path); // read once: the weights and their metadata
  const vit = ViT.fromFile(file, path, numHeads === undefined ? {} : { numHeads });
  const meta = file.metadata;
  const norm: { mean?: number[]; std?: number[] } = {};
  for (const k of ["mean", "std"] as const) {
    if (meta[k] === undefined) continue;
    let v: unknown;
    try {
      v = JSON.parse(meta[k]);
    } catch {
      v = meta[k];
    }
    const r = Normalisation.safeParse(v);
    if (!r.success || r.data.length !== vit.config.inChans) {
      throw new Error(
        `${path}: __metadata__.${k} must be a JSON array of ${vit.config.inChans} numbers (one per channel), got ${
          meta[k]
        }`,
      );
    }
    norm[k] = r.data;
  }
  return { vit, source: path, ...norm };
}

/**
 * Check that `data` fits the backbone: same channel count, sides divisible by the patch size
 * (the position embedding is interpolated to any such size). The error names both sides.
 *
 * @example
 * ```ts
 * checkFits(vit, test, "runs/mugs/checkpoint", "--data embedded");
 * ```
 */
export function checkFits(vit: ViT, data: Dataset, model: string, dataName: string): void {
  const c = vit.config;
  if (data.channels !== c.inChans) {
    throw new Error(
      `${model} expects ${c.inChans}-channel images, but ${dataName} has ${data.channels}-channel images`,
    );
  }
  if (data.height % c.patchSize || data.width % c.patchSize) {
    throw new Error(
      `${model} has patch size ${c.patchSize} (trained on ${c.imgSize}x${c.imgSize}), but ${dataName} has ${data.height}x${data.width} images, not a multiple of it`,
    );
  }
}
