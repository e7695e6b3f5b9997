/**
 * `deno task train`: train the chosen preset (Mugs by default) on the embedded Fashion-MNIST
 * subset or on `--data`, print progress, write `metrics.jsonl`, checkpoints and `curves.html`
 * (losses, k-NN, collapse signals, neighbour purity) into `--out`, and end with one JSON line:
 * the weighted k-NN top-1 on the held-out split next to the raw-pixel and untrained-network
 * baselines, images/s and seconds.
 *
 * Every option is validated (lib/mugs/config.ts) before any GPU work starts.
 */
import { parseTrainArgs } from "./args.ts";
import type { TrainConfig } from "../mugs/config.ts";
import { init } from "../gpu/device.ts";
import type { Dataset } from "../data/dataset.ts";
import { loadData } from "./data.ts";
import { runMain } from "./flags.ts";
import { vitConfig } from "../nn/vit.ts";
import { type DataPreset, multiCropConfig } from "../augment/multicrop.ts";
import { type TrainerConfig, trainMugs, type TrainResult } from "../mugs/trainer.ts";
import { MetricsLog, readMetrics } from "../io/metrics_log.ts";
import { runCurves, writeHtml } from "../viz/mod.ts";

/** Map the validated run configuration onto the trainer's. */
export function trainerConfig(c: TrainConfig, data: Dataset, preset: DataPreset): TrainerConfig {
  const vit = vitConfig(c.vit, { inChans: data.channels, dropPathRate: c.dropPath });
  if (data.height !== data.width || data.height % vit.patchSize) {
    throw new Error(
      `--data: images are ${data.height}x${data.width}; the ViT '${c.vit}' needs square images divisible by its patch ${vit.patchSize}`,
    );
  }
  vit.imgSize = data.height;
  const crops = multiCropConfig(c.views, preset);
  return {
    epochs: c.epochs,
    batchSize: c.batchSize,
    epochImages: c.epochImages,
    seed: c.seed,
    lr: c.lr,
    minLr: c.minLr,
    warmupEpochs: c.warmupEpochs,
    weightDecay: c.weightDecay,
    weightDecayEnd: c.weightDecayEnd,
    groupWarmupEpochs: c.groupWarmupEpochs,
    momentumTeacher: c.momentumTeacher,
    momentumTeacherEnd: c.momentumTeacherEnd,
    teacherTemp: c.teacherTemp,
    warmupTeacherTemp: c.warmupTeacherTemp,
    warmupTeacherTempEpochs: c.warmupTeacherTempEpochs,
    patchEmbedLrScale: c.patchEmbedLrScale,
    vit,
    heads: { ...c.heads },
    crops: { ...crops, strongProb: c.strongProb, local: { ...crops.local, count: c.localCrops } },
    step: {
      weights: { ...c.weights },
      queueSize: c.queueSize,
      memorySize: c.memorySize,
      temperature: c.infoNceTemp,
      clip: c.clipGrad,
      freezeLastLayer: c.freezeLastLayer,
      groupLoss: c.groupLoss,
      pairing: c.pairing,
      studentTemp: c.studentTemp,
      centerMomentum: c.centerMomentum,
      negatives: c.negatives,
      instanceLoss: c.instanceLoss,
    },
    out: c.out,
    resume: c.resume,
    data: c.data,
    logEvery: 4,
    knnBank: c.knnBank,
    knnK: c.knnK,
    knnTemp: c.knnTemp,
    mean: [...crops.mean],
    std: [...crops.std],
  };
}

/**
 * What `runTraining` gives back: the trainer's result and the data it trained on.
 *
 * @example
 * ```ts
 * const { result, train } = await runTraining(config, { log: console.log });
 * ```
 */
export interface TrainingRun {
  result: TrainResult;
  train: Dataset;
  test: Dataset;
}

/**
 * Train one validated configuration as `deno task train` does: load `--data`, validate, start
 * the GPU, train, and write `metrics.jsonl`, the checkpoints and `curves.html` into `c.out`
 * (so a script that trains several configurations gets each run's files as the command would
 * write them). `log` receives the progress lines.
 *
 * @example
 * ```ts
 * const { result } = await runTraining(resolveConfig({ epochs: 1, out: "runs/a" }), { log: () => {} });
 * ```
 */
export async function runTraining(
  c: TrainConfig,
  o: { log: (line: string) => void; signal?: AbortSignal },
): Promise<TrainingRun> {
  // image folders are resized to the ViT's image size; the other layouts keep theirs
  const { train, test, preset } = await loadData(c.data, { imageSize: vitConfig(c.vit).imgSize });
  const cfg = trainerConfig(c, train, preset); // all validation before the GPU starts
  const info = await init();
  o.log(
    `adapter: ${info.adapter}${
      info.isFallback ? " (software)" : ""
    }; preset ${c.preset}; data ${c.data}`,
  );
  const log = await MetricsLog.open(c.out, { append: c.resume });
  try {
    const result = await trainMugs(cfg, train, test, o.log, {
      signal: o.signal,
      onRecord: (rec) => void log.record(rec), // "baseline": the read-outs before training
    });
    await log.close();
    const curves = runCurves(await readMetrics(c.out));
    if (curves.length) {
      await writeHtml(curves, `${c.out}/curves.html`, { title: `Training curves: ${c.out}` });
    }
    return { result, train, test };
  } finally {
    await log.close();
  }
}

/** Run the command line (exported for tests). */
export async function main(argv: string[]): Promise<number> {
  const args = await parseTrainArgs(argv);
  if (args.help) {
    console.log(args.text);
    return 0;
  }
  const tty = Deno.stdout.isTerminal();
  const enc = new TextEncoder();
  // Ctrl-C: the first stops after the current step and writes a checkpoint; a second quits now
  const stop = new AbortController();
  const onSigint = () => {
    if (stop.signal.aborted) Deno.exit(130);
    stop.abort();
    console.error("\ntrain: interrupted; saving a checkpoint after this step (Ctrl-C again quits)");
  };
  Deno.addSignalListener("SIGINT", onSigint);
  try {
    const { result: r } = await runTraining(args.config, {
      signal: stop.signal,
      log: (line) => {
        if (tty && line.startsWith("epoch ") && line.includes(" step ")) {
          Deno.stdout.writeSync(enc.encode(`\r${line}\u001b[K`));
        } else {
          if (tty) Deno.stdout.writeSync(enc.encode("\n"));
          console.log(line);
        }
      },
    });
    console.log(JSON.stringify(r));
    return r.interrupted ? 130 : 0;
  } finally {
    Deno.removeSignalListener("SIGINT", onSigint);
  }
}

if (import.meta.main) await runMain("train", main);
