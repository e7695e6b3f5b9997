/**
 * `deno task eval --checkpoint DIR_OR_FILE [--data …] [--knn] [--linear] [--tsne]
 * [--attention] [--out DIR]`: the standard read-outs of a trained backbone (all of them when
 * none is named), as DINO's evaluation scripts run them (DESIGN.md §6):
 *
 * - `--knn`: weighted k-NN (cosine, exp(s / 0.07)) on the class token, for each k of `--ks`;
 * - `--linear`: the linear probe (SGD, cosine schedule, the learning rate chosen on a
 *   held-out 10% of the training set) and the logistic-regression probe on 1% and 10% of the
 *   labels (`--fractions`), with per-class accuracy and the confusion matrix;
 * - `--tsne`: exact t-SNE of `--tsne-points` test images, with its trustworthiness;
 * - `--attention`: the last block's class-token attention maps of `--attention-images` test
 *   images, per head, with DINO's mass threshold.
 *
 * It prints a table, writes `eval.json` (the numbers, the dataset and the checkpoint used) and
 * one self-contained HTML figure per read-out into `--out`; with `--baselines` the raw pixels
 * are evaluated the same way (k-NN and linear). The loss and health curves are added when the
 * checkpoint's run folder has a `metrics.jsonl`.
 */
import { z } from "npm:zod@4.6.7";
import { dirname } from "node:path";
import { PRETRAINED } from "../eval/pretrained.ts";
import { flagsMain, runMain } from "./flags.ts";
import { dataLayout, loadData } from "./data.ts";
import { checkFits, loadBackbone } from "../eval/backbone.ts";
import { extractFeatures, rawPixelFeatures } from "../eval/features.ts";
import { knnClassify } from "../eval/knn.ts";
import { DEFAULT_PROBE_LRS, linearProbe } from "../eval/linear_probe.ts";
import { semiSupervisedProbe } from "../eval/logistic.ts";
import { tsne } from "../eval/tsne.ts";
import { trustworthiness } from "../eval/trustworthiness.ts";
import { attentionMaps } from "../eval/attention_maps.ts";
import { type Dataset, subset } from "../data/dataset.ts";
import { uint8ToTensor } from "../data/convert.ts";
import { multiCropConfig } from "../augment/multicrop.ts";
import { normalize } from "../augment/ops.ts";
import { Generator } from "../tensor/rng.ts";
import { noGrad } from "../tensor/tape.ts";
import type { Tensor } from "../tensor/tensor.ts";
import { tidy } from "../tensor/scope.ts";
import { init } from "../gpu/device.ts";
import { writeFileAtomic } from "../io/atomic.ts";
import { readMetrics } from "../io/metrics_log.ts";
import {
  attentionGrid,
  confusionFigure,
  imagesFromDataset,
  knnCurve,
  runCurves,
  tsneScatter,
  writeHtml,
} from "../viz/mod.ts";

const READOUTS = ["knn", "linear", "tsne", "attention"] as const;

/**
 * The options of `deno task eval`.
 *
 * @example
 * ```ts
 * EvalOptions.parse({ checkpoint: "runs/mugs" }).ks; // [10, 20, 100, 200]
 * ```
 */
export const EvalOptions = z.strictObject({
  checkpoint: z.string().min(1).default(PRETRAINED).describe(
    "training output folder, its checkpoint/ folder, or a ViT .safetensors file [default: the shipped backbone, weights/vit_micro_28_mugs.safetensors]",
  ),
  data: z.string().min(1).default("embedded").describe(
    '"embedded", "fashion-mnist" (Debian\'s files), an IDX, CIFAR-10 or image folder',
  ),
  out: z.string().min(1).optional().describe(
    "output folder [default: <run folder>/eval, or eval/ next to a weight file]",
  ),
  numHeads: z.number().int().min(1).optional().describe(
    "attention heads of a .safetensors file that does not record them (e.g. 6 for ViT-S/16)",
  ),
  network: z.enum(["teacher", "student"]).optional().describe(
    "network of a training checkpoint [default: the one the run evaluated, usually the teacher]",
  ),
  knn: z.boolean().default(false).describe("weighted k-NN"),
  linear: z.boolean().default(false).describe("linear probe + logistic probe on few labels"),
  tsne: z.boolean().default(false).describe("t-SNE of the test features"),
  attention: z.boolean().default(false).describe("attention maps (no switch: all four)"),
  baselines: z.boolean().default(false).describe("also evaluate raw pixels (k-NN, linear)"),
  ks: z.array(z.number().int().min(1).max(256)).min(1).default([10, 20, 100, 200]).describe(
    "k of the k-NN",
  ),
  knnTemp: z.number().positive().default(0.07).describe("k-NN vote temperature"),
  avgpool: z.boolean().default(false).describe("linear probe: append the mean patch token"),
  nLastBlocks: z.number().int().min(1).default(1).describe(
    "linear probe: class tokens of the last n blocks",
  ),
  linearEpochs: z.number().int().min(1).default(100).describe("linear probe epochs"),
  linearLrs: z.array(z.number().positive()).min(1).default([...DEFAULT_PROBE_LRS]).describe(
    "linear probe learning rates to sweep (for batch 256)",
  ),
  fractions: z.array(z.number().gt(0).max(1)).default([0.01, 0.1]).describe(
    "label fractions of the logistic probe",
  ),
  tsnePoints: z.number().int().min(10).default(2000).describe("test points in the t-SNE"),
  tsneIters: z.number().int().min(1).default(1000).describe("t-SNE iterations"),
  perplexity: z.number().positive().default(30).describe("t-SNE perplexity"),
  attentionImages: z.number().int().min(1).max(64).default(8).describe("images of the maps"),
  threshold: z.number().gt(0).max(1).default(0.6).describe("attention mass the masks keep"),
  batchSize: z.number().int().min(1).default(256).describe("images per forward pass"),
  seed: z.number().int().min(0).default(0).describe("seed of the probes and subsets"),
});

/** The validated options. */
export type EvalOptions = z.infer<typeof EvalOptions>;

function pct(v: number | undefined): string {
  return v === undefined || !Number.isFinite(v) ? "-" : `${v.toFixed(2)}%`;
}

/** `k` of `n` indices, a seeded random choice in increasing order (all when k >= n). */
function sample(n: number, k: number, seed: number): number[] {
  if (k >= n) return Array.from({ length: n }, (_, i) => i);
  return Array.from(new Generator(seed).permutation(n).subarray(0, k)).sort((a, b) => a - b);
}

/** What the read-outs share: the options, data, backbone, features, and the outputs so far. */
interface EvalContext {
  o: EvalOptions;
  train: Dataset;
  test: Dataset;
  vit: Awaited<ReturnType<typeof loadBackbone>>["vit"];
  mean: number[];
  std: number[];
  /** Features of a split: the class token, or the linear probe's (`--avgpool`, `--n-last-blocks`). */
  feat: (ds: Dataset, linear?: boolean) => Promise<Tensor>;
  clsTrain: Tensor;
  clsTest: Tensor;
  /** The raw-pixel baselines' features, made once when first asked for. */
  rawPixels: () => [Tensor, Tensor];
  result: Record<string, unknown>;
  /** Rows of the printed table. */
  table: [string, string][];
  /** Write one HTML figure into the output folder. */
  figure: (name: string, figs: Parameters<typeof writeHtml>[0], title: string) => Promise<void>;
}

/** Run the chosen read-outs; returns the eval.json record (exported for tests and notebooks). */
export async function runEval(
  o: EvalOptions,
  log: (line: string) => void = console.log,
): Promise<Record<string, unknown>> {
  const t0 = performance.now();
  const all = !READOUTS.some((r) => o[r]);
  const want = (r: (typeof READOUTS)[number]) => all || o[r];
  const layout = await dataLayout(o.data); // a bad --data fails before the GPU starts
  await init();
  const bb = await loadBackbone(o.checkpoint, { network: o.network, numHeads: o.numHeads });
  // an image folder is read at the model's image size and channel count
  const { train, test, preset } = await loadData(layout, {
    imageSize: bb.vit.config.imgSize,
    channels: bb.vit.config.inChans === 1 ? 1 : 3,
  });
  checkFits(bb.vit, train, `--checkpoint ${o.checkpoint}`, `--data ${o.data}`);
  const runDir = bb.network ? dirname(dirname(bb.source)) : dirname(o.checkpoint);
  const out = o.out ??
    (o.checkpoint === PRETRAINED
      ? "runs/eval-pretrained" // not inside the shipped weights/ folder
      : bb.network
      ? `${runDir}/eval`
      : `${dirname(o.checkpoint)}/eval`);
  await Deno.mkdir(out, { recursive: true });
  const crops = multiCropConfig("mugs", preset);
  const mean = bb.mean ?? [...crops.mean];
  const std = bb.std ?? [...crops.std];
  const feat = (ds: Dataset, linear = false) =>
    extractFeatures(bb.vit, ds, {
      mean,
      std,
      batchSize: o.batchSize,
      avgPool: linear && o.avgpool,
      nLastBlocks: linear ? o.nLastBlocks : 1,
    });
  const figures: string[] = [];
  let raw: [Tensor, Tensor] | null = null;
  const c: EvalContext = {
    o,
    train,
    test,
    vit: bb.vit,
    mean,
    std,
    feat,
    clsTrain: await feat(train),
    clsTest: await feat(test),
    rawPixels: () => raw ??= [rawPixelFeatures(train), rawPixelFeatures(test)],
    result: {
      dataset: o.data,
      checkpoint: o.checkpoint,
      source: bb.source,
      network: bb.network ?? null,
      epoch: bb.epoch ?? null,
      step: bb.step ?? null,
      train_size: train.n,
      test_size: test.n,
      vit: bb.vit.config,
    },
    table: [],
    figure: async (name, figs, title) => {
      const path = `${out}/${name}.html`;
      await writeHtml(figs, path, { title });
      figures.push(path);
    },
  };
  c.result.feature_dim = c.clsTrain.shape[1];
  if (want("knn")) await knnReadOut(c);
  if (want("linear")) await linearReadOut(c);
  if (want("tsne")) await tsneReadOut(c);
  if (want("attention")) await attentionReadOut(c);
  for (const t of [c.clsTrain, c.clsTest, ...(raw ?? [])]) t.dispose();
  let curves: ReturnType<typeof runCurves> = [];
  try {
    curves = runCurves(await readMetrics(runDir));
  } catch { /* no metrics.jsonl next to the checkpoint: no curves */ }
  if (curves.length) await c.figure("curves", curves, "Training curves");
  const result = c.result;
  result.figures = figures;
  result.seconds = (performance.now() - t0) / 1000;
  await writeFileAtomic(
    `${out}/eval.json`,
    new TextEncoder().encode(JSON.stringify(result, null, 2) + "\n"),
  );
  const w = Math.max(...c.table.map(([k]) => k.length));
  log(`evaluation of ${bb.source}${bb.network ? ` (${bb.network})` : ""} on ${o.data}`);
  for (const [k, v] of c.table) log(`  ${k.padEnd(w)}  ${v}`);
  log(`wrote ${out}/eval.json and ${figures.length} figures`);
  return result;
}

/** Weighted k-NN on the class token for each k (and of the raw pixels with `--baselines`). */
async function knnReadOut(
  { o, train, test, clsTrain, clsTest, rawPixels, result, table, figure }: EvalContext,
) {
  const knn = async (tr: Tensor, te: Tensor) =>
    await knnClassify({
      trainFeatures: tr,
      trainLabels: train.labels,
      testFeatures: te,
      testLabels: test.labels,
      ks: o.ks,
      temperature: o.knnTemp,
    });
  const r = await knn(clsTrain, clsTest);
  result.knn_top1 = Object.fromEntries(r.map((x) => [x.k, x.top1]));
  result.knn_top5 = Object.fromEntries(r.map((x) => [x.k, x.top5]));
  for (const x of r) table.push([`k-NN top-1 (k=${x.k})`, pct(x.top1)]);
  const series: Record<string, Record<number, number>> = {
    model: result.knn_top1 as Record<number, number>,
  };
  if (o.baselines) {
    const b = await knn(...rawPixels());
    series["raw pixels"] = Object.fromEntries(b.map((x) => [x.k, x.top1]));
    result.knn_top1_raw_pixels = series["raw pixels"];
    for (const x of b) table.push([`k-NN top-1 (k=${x.k}), raw pixels`, pct(x.top1)]);
  }
  await figure("knn", knnCurve(series), "Weighted k-NN top-1 against k");
}

/**
 * The linear probe (learning rate chosen on held-out training images), the logistic probe on
 * few labels, per-class accuracy and the confusion matrix (and raw pixels' with `--baselines`).
 */
async function linearReadOut(c: EvalContext) {
  const { o, train, test, clsTrain, clsTest, result, table } = c;
  const pooled = o.avgpool || o.nLastBlocks > 1;
  const linTrain = pooled ? await c.feat(train, true) : clsTrain;
  const linTest = pooled ? await c.feat(test, true) : clsTest;
  const probe = (tr: Tensor, te: Tensor) =>
    linearProbe({
      trainFeatures: tr,
      trainLabels: train.labels,
      testFeatures: te,
      testLabels: test.labels,
      numClasses: train.classes.length,
      epochs: o.linearEpochs,
      lrs: o.linearLrs,
      seed: o.seed,
    });
  const lp = await probe(linTrain, linTest);
  Object.assign(result, {
    linear_top1: lp.top1,
    linear_top5: lp.top5 ?? null,
    linear_lr: lp.lr,
    linear_sweep: lp.sweep,
    linear_per_class: Object.fromEntries(lp.perClass.map((a, i) => [train.classes[i], a])),
    linear_confusion: lp.confusion,
  });
  table.push([`linear probe top-1 (lr ${lp.lr})`, pct(lp.top1)]);
  // no fractions (a caller that wants the linear probe alone): no few-label probe
  const semi = o.fractions.length === 0 ? [] : await semiSupervisedProbe({
    trainFeatures: linTrain,
    trainLabels: train.labels,
    testFeatures: linTest,
    testLabels: test.labels,
    numClasses: train.classes.length,
    fractions: o.fractions,
    seed: o.seed,
  });
  result.semi_top1 = Object.fromEntries(semi.map((s) => [`${s.fraction * 100}%`, s.top1]));
  for (const s of semi) {
    table.push([`logistic probe top-1, ${s.fraction * 100}% labels (${s.labelled})`, pct(s.top1)]);
  }
  if (o.baselines) {
    const b = await probe(...c.rawPixels());
    result.linear_top1_raw_pixels = b.top1;
    table.push([`linear probe top-1, raw pixels (lr ${b.lr})`, pct(b.top1)]);
  }
  if (linTrain !== clsTrain) [linTrain, linTest].forEach((t) => t.dispose());
  await c.figure(
    "confusion",
    confusionFigure(lp.confusion, [...train.classes], { title: "Linear probe: confusion" }),
    "Linear probe confusion matrix",
  );
}

/** Exact t-SNE of a seeded sample of the test features, with its trustworthiness. */
async function tsneReadOut({ o, test, clsTest, result, table, figure }: EvalContext) {
  const idx = sample(test.n, o.tsnePoints, o.seed);
  const pick = noGrad(() => clsTest.indexSelect(idx));
  const x = await pick.toArray();
  const r = await tsne(pick, {
    perplexity: Math.min(o.perplexity, (idx.length - 1) / 3),
    iterations: o.tsneIters,
    seed: o.seed,
  });
  pick.dispose();
  const tw = trustworthiness(x, r.embedding, idx.length, 10);
  const ds = subset(test, idx);
  result.tsne = {
    points: idx.length,
    kl: r.kl,
    trustworthiness_10: tw,
    seconds: (r.timing.affinitiesMs + r.timing.iterationsMs) / 1000,
  };
  table.push([
    `t-SNE of ${idx.length} points: KL, trustworthiness@10`,
    `${r.kl.toFixed(3)}, ${tw.toFixed(3)}`,
  ]);
  await figure(
    "tsne",
    tsneScatter(r.embedding, ds.labels, {
      classNames: [...test.classes],
      images: imagesFromDataset(ds),
      title: `t-SNE of ${idx.length} test images (class token)`,
    }),
    "t-SNE",
  );
}

/** The last block's class-token attention of the first test images, with DINO's masks. */
async function attentionReadOut({ o, test, vit, mean, std, result, table, figure }: EvalContext) {
  const n = Math.min(o.attentionImages, test.n);
  const ds = subset(test, Array.from({ length: n }, (_, i) => i));
  const per = ds.channels * ds.height * ds.width;
  const x = tidy(() =>
    noGrad(() =>
      normalize(
        uint8ToTensor(ds.images.subarray(0, n * per), [n, ds.channels, ds.height, ds.width]),
        mean,
        std,
      )
    )
  ); // the uint8 conversion is released
  const maps = await attentionMaps(vit, x, { threshold: o.threshold });
  x.dispose();
  // the share of the patch grid each head's mask keeps (small: the attention is focused)
  let kept = 0;
  for (const m of maps.masks!) kept += m;
  result.attention = {
    images: n,
    heads: maps.heads,
    grid: [maps.gridH, maps.gridW],
    threshold: o.threshold,
    mask_area: kept / maps.masks!.length,
  };
  table.push([
    `attention: patches holding ${o.threshold * 100}% of the mass`,
    pct((100 * kept) / maps.masks!.length),
  ]);
  await figure(
    "attention",
    attentionGrid(imagesFromDataset(ds), maps, { masks: true }),
    "Last-block class-token attention",
  );
}

/** Run the command line (exported for tests); returns the exit code. */
export const main: (argv: string[]) => Promise<number> = flagsMain(
  EvalOptions,
  "deno task eval [--checkpoint PATH] [--knn] [--linear] [--tsne] [--attention] [options]",
  "Evaluate a trained backbone: k-NN, linear and few-label probes, t-SNE, attention maps.",
  (o) => runEval(o),
);

if (import.meta.main) await runMain("eval", main);
