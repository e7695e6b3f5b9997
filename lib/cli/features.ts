/**
 * `deno task features --checkpoint PATH --data SPEC --out feats.npy`: export a split's
 * features (float32 [N, D] `.npy`) and its labels (int32 [N], next to it as
 * `<out>.labels.npy`), for NumPy, scikit-learn or PyTorch, as DINO's `eval_knn.py
 * --dump_features` does. Features as `extractFeatures` makes them (class token; `--avgpool`
 * and `--n-last-blocks` as DINO's linear evaluation).
 */
import { z } from "npm:zod@4.6.7";
import { flagsMain, runMain } from "./flags.ts";
import { dataLayout, loadData } from "./data.ts";
import { checkFits, loadBackbone } from "../eval/backbone.ts";
import { extractFeatures } from "../eval/features.ts";
import { writeNpy } from "../io/npy.ts";
import { init } from "../gpu/device.ts";
import { multiCropConfig } from "../augment/multicrop.ts";

/**
 * The options of `deno task features`.
 *
 * @example
 * ```ts
 * FeaturesOptions.parse({ checkpoint: "runs/mugs", out: "f.npy" }).split; // "train"
 * ```
 */
export const FeaturesOptions = z.strictObject({
  checkpoint: z.string().min(1).describe(
    "training output folder, its checkpoint/ folder, or a ViT .safetensors file",
  ),
  data: z.string().min(1).default("embedded").describe(
    '"embedded", "fashion-mnist" (Debian\'s files), an IDX, CIFAR-10 or image folder',
  ),
  split: z.enum(["train", "test"]).default("train").describe("which split to export"),
  out: z.string().min(1).regex(/\.npy$/, "must end in .npy").describe("output .npy file"),
  numHeads: z.number().int().min(1).optional().describe(
    "attention heads of a .safetensors file that does not record them (e.g. 6 for ViT-S/16)",
  ),
  network: z.enum(["teacher", "student"]).optional().describe(
    "network of a training checkpoint [default: what the run evaluated, usually the teacher]",
  ),
  avgpool: z.boolean().default(false).describe("append the mean patch token (DINO's avgpool)"),
  nLastBlocks: z.number().int().min(1).default(1).describe(
    "concatenate the class tokens of the last n blocks",
  ),
  batchSize: z.number().int().min(1).default(256).describe("images per forward pass"),
});

/** Run the command line (exported for tests); returns the exit code. */
export const main: (argv: string[]) => Promise<number> = flagsMain(
  FeaturesOptions,
  "deno task features --checkpoint PATH --out FILE.npy [options]",
  "Export the features (and labels) of a dataset split through a trained backbone.",
  async (o) => {
    const layout = await dataLayout(o.data); // a bad --data fails before the GPU starts
    await init();
    const bb = await loadBackbone(o.checkpoint, { network: o.network, numHeads: o.numHeads });
    // an image folder is read at the model's image size and channel count
    const { train, test, preset } = await loadData(layout, {
      imageSize: bb.vit.config.imgSize,
      channels: bb.vit.config.inChans === 1 ? 1 : 3,
    });
    const ds = o.split === "train" ? train : test;
    checkFits(bb.vit, ds, `--checkpoint ${o.checkpoint}`, `--data ${o.data}`);
    const crops = multiCropConfig("mugs", preset);
    const feats = await extractFeatures(bb.vit, ds, {
      batchSize: o.batchSize,
      avgPool: o.avgpool,
      nLastBlocks: o.nLastBlocks,
      mean: bb.mean ?? [...crops.mean],
      std: bb.std ?? [...crops.std],
    });
    const labelsPath = o.out.replace(/\.npy$/, ".labels.npy");
    await writeNpy(o.out, await feats.toArray(), feats.shape);
    await writeNpy(labelsPath, ds.labels, [ds.n]);
    console.log(
      JSON.stringify({
        features: o.out,
        labels: labelsPath,
        shape: feats.shape,
        source: bb.source,
      }),
    );
    feats.dispose();
  },
);

if (import.meta.main) await runMain("features", main);
