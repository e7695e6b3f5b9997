/**
 * The Mugs training loop: schedules (DINO's cosine with warm-up, per iteration, for the
 * learning rate, weight decay and teacher momentum), the step, progress and metrics, k-NN
 * read-outs per epoch, atomic checkpoints each epoch and on interrupt (an aborted `signal`:
 * the run saves where it stands, mid-epoch, and `resume` continues from there), and a stop on
 * a NaN or infinite loss that names the step and the last good checkpoint.
 *
 * The k-NN read-out uses the teacher's backbone, as Mugs and DINO evaluate; SwAV and SimCLR have no
 * teacher, so when no loss uses the teacher the student's backbone is evaluated.
 *
 * Neighbour purity (with the local-group branch on): over the last `purityBatches` batches of
 * each epoch, the share of the k neighbours each memory returns whose image has the query
 * image's label (every view's query counts); the epoch record carries
 * `neighbour_purity_teacher`, `neighbour_purity_student` and `neighbour_purity_chance` (the
 * purity of neighbours drawn at random from the training labels). The labels are read for
 * this alone; the step never sees them.
 */
import type { Dataset } from "../data/dataset.ts";
import { Loader } from "../data/loader.ts";
import type { MultiCropConfig } from "../augment/multicrop.ts";
import type { ViTConfig } from "../nn/vit.ts";
import { type MugsHeadConfig, MugsNet } from "./model.ts";
import { MugsState, type StepConfig, type StepLosses, type StepSchedule } from "./step.ts";
import { restoreTrainingState, saveTrainingState } from "./resume.ts";
import { type RunSchedule, runSchedule } from "./run_schedule.ts";
import { tidy } from "../tensor/scope.ts";
import type { Tensor } from "../tensor/tensor.ts";
import type { HealthSignals } from "./health.ts";
import { evaluateNet, rawPixelKnn, type ReadOut, studentFields } from "./readout.ts";
import { sync } from "../gpu/device.ts";
import {
  addPurity,
  emptyPurity,
  type Purity,
  purityChance,
  purityValue,
  queryImages,
  readPurity,
} from "../memory/purity.ts";

/** Batches at the end of each epoch whose neighbours are read out for neighbour purity. */
export const PURITY_BATCHES = 4;

/** Everything a run needs, already validated. */
export interface TrainerConfig {
  epochs: number;
  batchSize: number;
  /** Images per epoch: the first ones of each epoch's seeded permutation (all when 0 or absent). */
  epochImages?: number;
  seed: number;
  /** Base learning rate for a batch of 256 (scaled linearly by batchSize / 256). */
  lr: number;
  minLr: number;
  warmupEpochs: number;
  weightDecay: number;
  weightDecayEnd: number;
  /** Epochs over which the local-group and group weights rise linearly from 0 (0 or absent: none). */
  groupWarmupEpochs?: number;
  momentumTeacher: number;
  /** Teacher momentum at the end of the cosine schedule (1 when absent, as DINO). */
  momentumTeacherEnd?: number;
  teacherTemp: number;
  warmupTeacherTemp: number;
  warmupTeacherTempEpochs: number;
  patchEmbedLrScale: number;
  vit: ViTConfig;
  heads: MugsHeadConfig;
  crops: MultiCropConfig;
  step: StepConfig;
  /** Output folder (metrics.jsonl, checkpoint/). */
  out: string;
  resume: boolean;
  /** Read the losses back every this many steps (a GPU sync). */
  logEvery: number;
  /** Training images in every epoch's k-NN bank (the first ones; 0 or absent: all). */
  knnBank?: number;
  /** Neighbours and temperature of the weighted k-NN read-out (20, 0.07). */
  knnK?: number;
  knnTemp?: number;
  /** Normalisation of the evaluation inputs (the crops' mean/std). */
  mean: number[];
  std: number[];
  /** Batches at the end of each epoch read out for neighbour purity (`PURITY_BATCHES`; 0: none). */
  purityBatches?: number;
  /**
   * The `--data` spec the run trained on, recorded in the checkpoint so that a read-out
   * (`deno task neighbours`) finds the images the memories' dataset indices refer to.
   */
  data?: string;
}

/** The numbers a run ends with. */
export interface TrainResult {
  knn_top1: number;
  knn_top1_raw_pixels: number;
  knn_top1_untrained: number;
  images_per_s: number;
  seconds: number;
  epochs: number;
  steps: number;
  checkpoint: string;
  /** True when the run stopped early on its signal (the checkpoint holds where it stopped). */
  interrupted: boolean;
}

/** Hooks of a run. */
export interface TrainHooks {
  /** Per-step and per-epoch records (`kind: "step" | "epoch"`), e.g. for metrics.jsonl. */
  onRecord?: (record: Record<string, unknown>) => void;
  /** Abort it (Ctrl-C) to stop after the current step and save a checkpoint there. */
  signal?: AbortSignal;
}

/** What the loop's parts share: the run's set-up and its progress. */
interface Run {
  cfg: TrainerConfig;
  state: MugsState;
  data: Dataset;
  loader: Loader;
  perEpoch: number;
  schedule: RunSchedule;
  log: (line: string) => void;
  onRecord: (record: Record<string, unknown>) => void;
  signal?: AbortSignal;
  ckpt: string;
  /** The network read out: the teacher when a loss uses it, else the student. */
  evalNet: MugsNet;
  /** k-NN of a network on the given banks (the first n training images each). */
  readOut: (net: MugsNet, epoch: number, banks: number[]) => Promise<ReadOut>;
  /** The fixed bank of every epoch, and every bank of the last epoch. */
  bankN: number;
  banks: number[];
  k: number;
  /** The epoch's batches from which neighbour purity is read (none without the branch). */
  purityFrom: number;
  probing: boolean;
  chance: number;
  untrained: ReadOut;
  /** What the checkpoint records so that an evaluation rebuilds the backbones from it. */
  config: Record<string, unknown>;
  // progress
  step: number;
  images: number;
  /** Training time of the steps only, not of the read-outs between epochs. */
  trainMs: number;
  lastGood: string;
}

/** Steps per epoch: the epoch's images (all, or `epochImages`) in whole batches. */
function stepsPerEpoch(cfg: TrainerConfig, data: Dataset): number {
  const images = Math.min(cfg.epochImages || data.n, data.n);
  const perEpoch = Math.floor(images / cfg.batchSize);
  if (perEpoch < 1) {
    throw new Error(`batch size ${cfg.batchSize} is larger than the ${images} images of an epoch`);
  }
  return perEpoch;
}

const healthLine = (h: HealthSignals) =>
  (h.teacherEntropy !== undefined
    ? `prototype entropy ${h.teacherEntropy.toFixed(3)} of ${h.teacherEntropyMax?.toFixed(3)}, `
    : "") +
  `feature std ${h.featureStd?.toFixed(4)}, effective rank ${h.effectiveRank?.toFixed(1)}`;

/**
 * Train on `data`, evaluating weighted 20-NN top-1 on `heldOut` with the teacher's class
 * token. `log` receives progress lines; `hooks.onRecord` the baseline, step and epoch records.
 *
 * @example
 * ```ts
 * const result = await trainMugs(cfg, await embedded("train"), await embedded("test"), console.log);
 * ```
 */
export async function trainMugs(
  cfg: TrainerConfig,
  data: Dataset,
  heldOut: Dataset,
  log: (line: string) => void,
  hooks: TrainHooks = {},
): Promise<TrainResult> {
  const t0 = performance.now();
  const run = await setUp(cfg, data, heldOut, log, hooks);
  const rawTop1 = await baselines(run, heldOut);
  const { epoch0, done0 } = await resumePoint(run);
  let top1 = run.untrained.top1.get(data.n)!;
  let interrupted = false;
  run.loader.setState({ seed: cfg.seed, epoch: epoch0, position: done0 * cfg.batchSize });
  for (let epoch = epoch0; epoch < cfg.epochs && !interrupted; epoch++) {
    const r = await trainEpoch(run, epoch, epoch === epoch0 ? done0 : 0);
    if (r.interrupted) {
      interrupted = true;
      break;
    }
    top1 = await endEpoch(run, epoch, r.purity);
    if (run.signal?.aborted && epoch < cfg.epochs - 1) {
      log(`interrupted after epoch ${epoch}: checkpoint ${run.ckpt}; --resume continues`);
      interrupted = true;
    }
  }
  return {
    knn_top1: top1,
    knn_top1_raw_pixels: rawTop1,
    knn_top1_untrained: run.untrained.top1.get(data.n)!,
    // 0 when no step ran (a finished run resumed), as before: never 0 / 0
    images_per_s: run.trainMs > 0 ? run.images / (run.trainMs / 1000) : 0,
    seconds: (performance.now() - t0) / 1000,
    epochs: cfg.epochs,
    steps: run.step,
    checkpoint: run.ckpt,
    interrupted,
  };
}

/** The state, loader, schedules and read-outs of a run, and the untrained network's read-out. */
async function setUp(
  cfg: TrainerConfig,
  data: Dataset,
  heldOut: Dataset,
  log: (line: string) => void,
  hooks: TrainHooks,
): Promise<Run> {
  const perEpoch = stepsPerEpoch(cfg, data);
  const schedule = runSchedule(cfg, perEpoch);
  const state = MugsState.create({ ...cfg, teacherTemp: schedule.teacherTemp });
  const { student, teacher } = state;
  const loader = new Loader(data, {
    batchSize: cfg.batchSize,
    seed: cfg.seed,
    shuffle: true,
    dropLast: true,
  });
  // the teacher is read out when a loss uses it (Mugs, DINO, MoCo), else the student (SwAV,
  // SimCLR)
  const w = cfg.step.weights;
  const usesTeacher = (w.instance > 0 && cfg.step.instanceLoss !== "ntxent") ||
    w.localGroup > 0 || (w.group > 0 && cfg.step.groupLoss !== "swav");
  const evalNet = usesTeacher ? teacher : student;
  // Read-outs, measured the same way for the trained networks and the baselines (raw pixels,
  // the untrained network): weighted k-NN of the class token on the held-out split, and the
  // collapse signals (the prototype distribution, centred at the teacher temperature, and the
  // spread and effective rank of the normalised features). Every epoch uses one fixed bank (the
  // first `knnBank` training images), so the curve compares; after the last epoch the teacher
  // is also read out on the whole training set when the bank is smaller. The student is read
  // out next to the teacher, so a lagging teacher shows.
  const readOut = (net: MugsNet, epoch: number, banks: number[]) =>
    evaluateNet(net, data, heldOut, {
      mean: cfg.mean,
      std: cfg.std,
      banks,
      k: cfg.knnK ?? 20,
      temperature: cfg.knnTemp ?? 0.07,
      center: net === teacher ? state.groupLoss.center : undefined,
      teacherTemperature: net === teacher ? schedule.teacherTemp(Math.max(epoch, 0)) : undefined,
    });
  const bankN = Math.min(cfg.knnBank || data.n, data.n);
  const banks = [...new Set([bankN, data.n])];
  // neighbour purity over the last batches of each epoch (the local-group branch only)
  const purityFrom = perEpoch -
    Math.min(perEpoch, Math.max(0, cfg.purityBatches ?? PURITY_BATCHES));
  return {
    cfg,
    state,
    data,
    loader,
    perEpoch,
    schedule,
    log,
    onRecord: hooks.onRecord ?? (() => {}),
    signal: hooks.signal,
    ckpt: `${cfg.out}/checkpoint`,
    evalNet,
    readOut,
    bankN,
    banks,
    k: cfg.knnK ?? 20,
    purityFrom,
    probing: w.localGroup > 0 && purityFrom < perEpoch,
    chance: purityChance(data.labels),
    untrained: await readOut(evalNet, -1, banks), // teacher = student before training
    config: {
      vit: { ...cfg.vit },
      heads: { ...cfg.heads },
      mean: cfg.mean,
      std: cfg.std,
      evalNetwork: evalNet === student ? "student" : "teacher",
      // what the memories' dataset indices refer to
      ...(cfg.data === undefined ? {} : { data: cfg.data }),
      trainImages: data.n,
    },
    step: 0,
    images: 0,
    trainMs: 0,
    lastGood: "none",
  };
}

/** The baselines' line and records (raw pixels, the untrained network); returns raw pixels'. */
async function baselines(run: Run, heldOut: Dataset): Promise<number> {
  const { cfg, data, untrained, bankN, k } = run;
  const rawTop1 = await rawPixelKnn(data, heldOut, k, cfg.knnTemp ?? 0.07);
  run.log(
    `k-NN (k=${k}) top-1 before training: raw pixels ${rawTop1.toFixed(2)}%, untrained ${
      untrained.top1.get(data.n)!.toFixed(2)
    }%` + (bankN < data.n ? ` (bank of ${bankN}: ${untrained.top1.get(bankN)!.toFixed(2)}%)` : "") +
      `; untrained ${healthLine(untrained.health)}`,
  );
  // one baseline record per k-NN bank, matched to the epoch records by knn_train_images
  for (const [b, t1] of untrained.top1) {
    run.onRecord({ kind: "baseline", knn_top1: t1, knn_train_images: b, ...untrained.health });
  }
  run.onRecord({ kind: "baseline", knn_top1_raw_pixels: rawTop1, knn_train_images: data.n });
  return rawTop1;
}

/** Where the run starts: epoch and step restored with `resume`, steps of that epoch done. */
async function resumePoint(run: Run): Promise<{ epoch0: number; done0: number }> {
  let epoch0 = 0;
  if (run.cfg.resume) {
    const meta = await restoreTrainingState(run.ckpt, run.state);
    epoch0 = meta.epoch;
    run.step = meta.step;
    run.lastGood = run.ckpt;
    run.log(`resumed from ${run.ckpt} at epoch ${epoch0}, step ${run.step}`);
  }
  // a checkpoint written on interrupt is mid-epoch: skip the steps of that epoch already done
  const done0 = run.step - epoch0 * run.perEpoch;
  if (!(done0 >= 0 && done0 <= run.perEpoch)) {
    throw new Error(
      `${run.ckpt}: step ${run.step} of epoch ${epoch0} does not fit ${run.perEpoch} steps per ` +
        `epoch (batch size or epoch images differ from the run that wrote it)`,
    );
  }
  return { epoch0, done0 };
}

const save = (run: Run, epoch: number) =>
  saveTrainingState(run.ckpt, run.state, { epoch, step: run.step, config: run.config });

/**
 * Steps `first..perEpoch` of an epoch; neighbour purity of its last batches. On an aborted
 * signal it saves the checkpoint mid-epoch and reports `interrupted`.
 */
async function trainEpoch(
  run: Run,
  epoch: number,
  first: number,
): Promise<{ purity: { teacher: Purity; student: Purity }; interrupted: boolean }> {
  const { cfg, perEpoch } = run;
  const tEpoch = performance.now();
  // the probed batches' neighbour rows, read back once the epoch's work is done (no GPU wait
  // inside the loop)
  const probes: { m: "teacher" | "student"; rows: Tensor; sources: Int32Array; q: Int32Array }[] =
    [];
  for (let i = first; i < perEpoch; i++) {
    const view = await run.loader.next();
    const s = run.schedule.at(run.step, epoch);
    // tidy keeps the returned losses (read back below when logging) and frees the rest
    const batch = { indices: view.indices, probeNeighbours: run.probing && i >= run.purityFrom };
    const l: StepLosses = tidy(() =>
      run.state.step(view.images, cfg.seed * 1_000_003 + run.step, s, batch)
    );
    view.images.dispose();
    view.labels.dispose();
    if (l.neighbours) {
      for (const m of ["teacher", "student"] as const) {
        const { rows, sources } = l.neighbours[m];
        probes.push({ m, rows, sources, q: queryImages(view.indices, rows.shape[0]) });
      }
    }
    run.step++;
    run.images += cfg.batchSize;
    if (run.step % cfg.logEvery === 0 || i === perEpoch - 1) {
      await logStep(run, l, s, run.trainMs + performance.now() - tEpoch);
    }
    for (const t of [l.total, l.instance, l.localGroup, l.group]) t?.dispose();
    if (run.signal?.aborted && i < perEpoch - 1) {
      await sync();
      run.trainMs += performance.now() - tEpoch;
      await save(run, epoch);
      run.lastGood = run.ckpt;
      run.log(
        `interrupted at step ${run.step} (epoch ${epoch}): checkpoint ${run.ckpt}; --resume continues`,
      );
      for (const p of probes) p.rows.dispose();
      return { purity: { teacher: emptyPurity(), student: emptyPurity() }, interrupted: true };
    }
  }
  run.loader.setState({ seed: cfg.seed, epoch: epoch + 1, position: 0 }); // skip the unused tail
  await sync();
  run.trainMs += performance.now() - tEpoch;
  // every probe's copy queued, then mapped together: one GPU wait, summed in probe order
  const read = await Promise.all(
    probes.map(({ rows, sources, q }) => readPurity(rows, sources, q, run.data.labels)),
  );
  const purity = { teacher: emptyPurity(), student: emptyPurity() };
  probes.forEach(({ m, rows }, i) => {
    purity[m] = addPurity(purity[m], read[i]);
    rows.dispose();
  });
  return { purity, interrupted: false };
}

/**
 * Read the losses back (a GPU sync), stop on a non-finite one naming the step and the last good
 * checkpoint, and log the progress line and step record. `ms`: training time so far.
 */
async function logStep(run: Run, l: StepLosses, s: Required<StepSchedule>, ms: number) {
  const { cfg, step } = run;
  // One GPU wait for the four scalars: the copies are queued together, then mapped together.
  const [total, instance, local_group, group] = await Promise.all(
    [l.total, l.instance, l.localGroup, l.group].map((t) => t ? t.item() : null),
  );
  const vals = { total: total!, instance, local_group, group };
  if (!Number.isFinite(vals.total)) {
    throw new Error(
      `the loss became ${vals.total} at step ${step} (epoch ${s.epoch}); last good checkpoint: ${run.lastGood}`,
    );
  }
  const rate = run.images / (ms / 1000);
  const left = (cfg.epochs * run.perEpoch - step) * cfg.batchSize / rate;
  const f = (v: number | null) => v?.toFixed(3) ?? "-";
  run.log(
    `epoch ${s.epoch} step ${step}/${cfg.epochs * run.perEpoch} loss ${vals.total.toFixed(4)} ` +
      `(inst ${f(vals.instance)}, lg ${f(vals.local_group)}, group ${f(vals.group)}) ` +
      `${rate.toFixed(1)} img/s, ETA ${left.toFixed(0)} s`,
  );
  run.onRecord({
    kind: "step",
    epoch: s.epoch,
    step,
    loss: vals.total,
    ...vals,
    lr: s.lr,
    wd: s.weightDecay,
    momentum: s.momentum,
    group_scale: s.groupScale,
    teacher_temp: run.schedule.teacherTemp(s.epoch),
  });
}

/**
 * The end of an epoch: read out the teacher and student (every bank after the last epoch),
 * save the checkpoint, log and record. Returns the top-1 reported as the run's (the largest
 * bank's after the last epoch).
 */
async function endEpoch(
  run: Run,
  epoch: number,
  purity: { teacher: Purity; student: Purity },
): Promise<number> {
  const { cfg, data, bankN, k, evalNet, state } = run;
  const last = epoch === cfg.epochs - 1;
  const t = await run.readOut(evalNet, epoch, last ? run.banks : [bankN]);
  const st = evalNet === state.teacher
    ? await run.readOut(state.student, epoch, [bankN])
    : undefined;
  const top1 = t.top1.get(last ? data.n : bankN)!;
  await save(run, epoch + 1);
  run.lastGood = run.ckpt;
  const bankTop1 = t.top1.get(bankN)!;
  const stTop1 = st?.top1.get(bankN);
  run.log(
    `epoch ${epoch}: k-NN (k=${k}) top-1 ${bankTop1.toFixed(2)}%` +
      (stTop1 !== undefined ? ` (student ${stTop1.toFixed(2)}%)` : "") +
      ` on a bank of ${bankN} training images (untrained ${
        run.untrained.top1.get(bankN)!.toFixed(2)
      }%)` +
      (last && bankN < data.n ? `; ${top1.toFixed(2)}% with all ${data.n}` : "") +
      `, checkpoint ${run.ckpt}`,
  );
  const purityFields = purity.teacher.total > 0
    ? {
      neighbour_purity_teacher: purityValue(purity.teacher),
      neighbour_purity_student: purityValue(purity.student),
      neighbour_purity_chance: run.chance,
    }
    : {};
  run.onRecord({
    kind: "epoch",
    epoch,
    step: run.step,
    knn_top1: bankTop1,
    knn_train_images: bankN,
    ...t.health,
    ...(st ? studentFields(stTop1!, st.health) : {}),
    ...(last && bankN < data.n ? { knn_top1_all_images: top1 } : {}),
    ...purityFields,
  });
  run.log(
    `epoch ${epoch}: ${healthLine(t.health)}` + (st ? `; student ${healthLine(st.health)}` : ""),
  );
  if (purityFields.neighbour_purity_teacher !== undefined) {
    run.log(
      `epoch ${epoch}: neighbour purity teacher ${
        purityFields.neighbour_purity_teacher.toFixed(3)
      }, student ${purityFields.neighbour_purity_student.toFixed(3)} (chance ${
        run.chance.toFixed(3)
      }; the last ${run.perEpoch - run.purityFrom} batches)`,
    );
  }
  return top1;
}
