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
import { MugsState, type StepConfig, type StepLosses } from "./step.ts";
import { restoreTrainingState, saveTrainingState } from "./resume.ts";
import { cosineSchedule } from "../optim/schedule.ts";
import { teacherTempSchedule } from "../losses/group.ts";
import { tidy } from "../tensor/scope.ts";
import type { HealthSignals } from "./health.ts";
import { evaluateNet, rawPixelKnn, studentFields } from "./readout.ts";
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

/**
 * Train on `data`, evaluating weighted 20-NN top-1 on `heldOut` with the teacher's class
 * token. `log` receives progress lines; `onEpoch` the per-epoch record.
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
  const onRecord = hooks.onRecord ?? (() => {});
  const t0 = performance.now();
  const tempSchedule = teacherTempSchedule({
    warmupTemp: cfg.warmupTeacherTemp,
    temp: cfg.teacherTemp,
    warmupEpochs: cfg.warmupTeacherTempEpochs,
  });
  const state = MugsState.create({ ...cfg, teacherTemp: tempSchedule });
  const { student, teacher } = state;
  const loader = new Loader(data, {
    batchSize: cfg.batchSize,
    seed: cfg.seed,
    shuffle: true,
    dropLast: true,
  });
  const perEpoch = Math.floor(Math.min(cfg.epochImages || data.n, data.n) / cfg.batchSize);
  if (perEpoch < 1) {
    throw new Error(
      `batch size ${cfg.batchSize} is larger than the ${
        Math.min(cfg.epochImages || data.n, data.n)
      } images of an epoch`,
    );
  }
  const lr = cosineSchedule({
    base: (cfg.lr * cfg.batchSize) / 256,
    final: cfg.minLr,
    epochs: cfg.epochs,
    itersPerEpoch: perEpoch,
    warmupEpochs: cfg.warmupEpochs,
  });
  const wd = cosineSchedule({
    base: cfg.weightDecay,
    final: cfg.weightDecayEnd,
    epochs: cfg.epochs,
    itersPerEpoch: perEpoch,
  });
  const mom = cosineSchedule({
    base: cfg.momentumTeacher,
    final: cfg.momentumTeacherEnd ?? 1,
    epochs: cfg.epochs,
    itersPerEpoch: perEpoch,
  });
  // the local-group and group weights' linear warm-up (1 throughout when there is none)
  const rampSteps = (cfg.groupWarmupEpochs ?? 0) * perEpoch;
  const groupRamp = (step: number) => rampSteps > 0 ? Math.min(1, step / rampSteps) : 1;
  const ckpt = `${cfg.out}/checkpoint`;
  // the teacher is read out when a loss uses it (Mugs, DINO, MoCo), else the student (SwAV,
  // SimCLR)
  const w = cfg.step.weights;
  const usesTeacher = (w.instance > 0 && cfg.step.instanceLoss !== "ntxent") ||
    w.localGroup > 0 || (w.group > 0 && cfg.step.groupLoss !== "swav");
  const evalNet = usesTeacher ? teacher : student;
  // what an evaluation needs to rebuild the backbones from the checkpoint alone
  const config = {
    vit: { ...cfg.vit },
    heads: { ...cfg.heads },
    mean: cfg.mean,
    std: cfg.std,
    evalNetwork: evalNet === student ? "student" : "teacher",
    // what the memories' dataset indices refer to
    ...(cfg.data === undefined ? {} : { data: cfg.data }),
    trainImages: data.n,
  };
  const save = (epoch: number, step: number) =>
    saveTrainingState(ckpt, state, { epoch, step, config });
  const evalOpts = { mean: cfg.mean, std: cfg.std };

  // Read-outs, measured the same way for the trained networks and the baselines (raw pixels,
  // the untrained network): weighted k-NN of the class token on the held-out split, and the
  // collapse signals (the prototype distribution, centred at the teacher temperature, and the
  // spread and effective rank of the normalised features). Every epoch uses one fixed bank (the
  // first `knnBank` training images), so the curve compares; after the last epoch the teacher
  // is also read out on the whole training set when the bank is smaller. The student is read
  // out next to the teacher, so a lagging teacher shows.
  const bankN = Math.min(cfg.knnBank || data.n, data.n);
  const k = cfg.knnK ?? 20;
  const readOut = (net: MugsNet, epoch: number, banks: number[]) =>
    evaluateNet(net, data, heldOut, {
      ...evalOpts,
      banks,
      k,
      temperature: cfg.knnTemp ?? 0.07,
      center: net === teacher ? state.groupLoss.center : undefined,
      teacherTemperature: net === teacher ? tempSchedule(Math.max(epoch, 0)) : undefined,
    });
  const healthLine = (h: HealthSignals) =>
    (h.teacherEntropy !== undefined
      ? `prototype entropy ${h.teacherEntropy.toFixed(3)} of ${h.teacherEntropyMax?.toFixed(3)}, `
      : "") +
    `feature std ${h.featureStd?.toFixed(4)}, effective rank ${h.effectiveRank?.toFixed(1)}`;
  const rawTop1 = await rawPixelKnn(data, heldOut, k, cfg.knnTemp ?? 0.07);
  const banks = [...new Set([bankN, data.n])];
  const untrained = await readOut(evalNet, -1, banks); // teacher = student before training
  const untrainedTop1 = untrained.top1.get(data.n)!;
  log(
    `k-NN (k=${k}) top-1 before training: raw pixels ${rawTop1.toFixed(2)}%, untrained ${
      untrainedTop1.toFixed(2)
    }%` + (bankN < data.n ? ` (bank of ${bankN}: ${untrained.top1.get(bankN)!.toFixed(2)}%)` : "") +
      `; untrained ${healthLine(untrained.health)}`,
  );
  // one baseline record per k-NN bank, matched to the epoch records by knn_train_images
  for (const [b, t1] of untrained.top1) {
    onRecord({ kind: "baseline", knn_top1: t1, knn_train_images: b, ...untrained.health });
  }
  onRecord({ kind: "baseline", knn_top1_raw_pixels: rawTop1, knn_train_images: data.n });

  let epoch0 = 0;
  let step = 0;
  let lastGood = "none";
  if (cfg.resume) {
    const meta = await restoreTrainingState(ckpt, state);
    epoch0 = meta.epoch;
    step = meta.step;
    lastGood = ckpt;
    log(`resumed from ${ckpt} at epoch ${epoch0}, step ${step}`);
  }
  // a checkpoint written on interrupt is mid-epoch: skip the steps of that epoch already done
  const done0 = step - epoch0 * perEpoch;
  if (!(done0 >= 0 && done0 <= perEpoch)) {
    throw new Error(
      `${ckpt}: step ${step} of epoch ${epoch0} does not fit ${perEpoch} steps per epoch ` +
        `(batch size or epoch images differ from the run that wrote it)`,
    );
  }
  // every epoch: teacher and student on the fixed bank; after the last, all training images too
  const epochReadOut = async (epoch: number, last: boolean) => {
    const t = await readOut(evalNet, epoch, last ? banks : [bankN]);
    const st = evalNet === teacher ? await readOut(student, epoch, [bankN]) : undefined;
    return { teacher: t, student: st, top1: t.top1.get(last ? data.n : bankN)! };
  };
  // neighbour purity over the last batches of each epoch (the local-group branch only)
  const purityFrom = perEpoch -
    Math.min(perEpoch, Math.max(0, cfg.purityBatches ?? PURITY_BATCHES));
  const probing = w.localGroup > 0 && purityFrom < perEpoch;
  const chance = purityChance(data.labels);
  let purity: { teacher: Purity; student: Purity } = {
    teacher: emptyPurity(),
    student: emptyPurity(),
  };
  let top1 = untrainedTop1;
  let images = 0;
  let interrupted = false;
  // training throughput counts the steps only, not the evaluations between epochs
  let trainMs = 0;
  let tEpoch = 0;
  loader.setState({ seed: cfg.seed, epoch: epoch0, position: done0 * cfg.batchSize });
  for (let epoch = epoch0; epoch < cfg.epochs && !interrupted; epoch++) {
    tEpoch = performance.now();
    purity = { teacher: emptyPurity(), student: emptyPurity() };
    for (let i = epoch === epoch0 ? done0 : 0; i < perEpoch; i++) {
      const view = await loader.next();
      const s = {
        epoch,
        lr: lr[step],
        weightDecay: wd[step],
        momentum: mom[step],
        groupScale: groupRamp(step),
      };
      // tidy keeps the returned losses (read back below when logging) and frees the rest
      const batch = { indices: view.indices, probeNeighbours: probing && i >= purityFrom };
      const l: StepLosses = tidy(() =>
        state.step(view.images, cfg.seed * 1_000_003 + step, s, batch)
      );
      view.images.dispose();
      view.labels.dispose();
      if (l.neighbours) {
        for (const m of ["teacher", "student"] as const) {
          const { rows, sources } = l.neighbours[m];
          const q = queryImages(view.indices, rows.shape[0]);
          purity[m] = addPurity(purity[m], await readPurity(rows, sources, q, data.labels));
          rows.dispose();
        }
      }
      step++;
      images += cfg.batchSize;
      if (step % cfg.logEvery === 0 || i === perEpoch - 1) {
        const vals = {
          total: await l.total.item(),
          instance: l.instance ? await l.instance.item() : null,
          local_group: l.localGroup ? await l.localGroup.item() : null,
          group: l.group ? await l.group.item() : null,
        };
        if (!Number.isFinite(vals.total)) {
          throw new Error(
            `the loss became ${vals.total} at step ${step} (epoch ${epoch}); last good checkpoint: ${lastGood}`,
          );
        }
        const secs = (trainMs + performance.now() - tEpoch) / 1000;
        const rate = images / secs;
        const left = (cfg.epochs * perEpoch - step) * cfg.batchSize / rate;
        log(
          `epoch ${epoch} step ${step}/${cfg.epochs * perEpoch} loss ${vals.total.toFixed(4)} ` +
            `(inst ${vals.instance?.toFixed(3) ?? "-"}, lg ${
              vals.local_group?.toFixed(3) ?? "-"
            }, ` +
            `group ${vals.group?.toFixed(3) ?? "-"}) ${rate.toFixed(1)} img/s, ETA ${
              left.toFixed(0)
            } s`,
        );
        onRecord({
          kind: "step",
          epoch,
          step,
          loss: vals.total,
          ...vals,
          lr: s.lr,
          wd: s.weightDecay,
          momentum: s.momentum,
          group_scale: s.groupScale,
          teacher_temp: tempSchedule(epoch),
        });
      }
      for (const t of [l.total, l.instance, l.localGroup, l.group]) t?.dispose();
      if (hooks.signal?.aborted && i < perEpoch - 1) {
        await sync();
        trainMs += performance.now() - tEpoch;
        await save(epoch, step);
        lastGood = ckpt;
        log(`interrupted at step ${step} (epoch ${epoch}): checkpoint ${ckpt}; --resume continues`);
        interrupted = true;
        break;
      }
    }
    if (interrupted) break;
    loader.setState({ seed: cfg.seed, epoch: epoch + 1, position: 0 }); // skip the unused tail
    await sync();
    trainMs += performance.now() - tEpoch;
    const last = epoch === cfg.epochs - 1;
    const rec = await epochReadOut(epoch, last);
    top1 = rec.top1;
    await save(epoch + 1, step);
    lastGood = ckpt;
    const bankTop1 = rec.teacher.top1.get(bankN)!;
    const stTop1 = rec.student?.top1.get(bankN);
    log(
      `epoch ${epoch}: k-NN (k=${k}) top-1 ${bankTop1.toFixed(2)}%` +
        (stTop1 !== undefined ? ` (student ${stTop1.toFixed(2)}%)` : "") +
        ` on a bank of ${bankN} training images (untrained ${
          untrained.top1.get(bankN)!.toFixed(2)
        }%)` +
        (last && bankN < data.n ? `; ${top1.toFixed(2)}% with all ${data.n}` : "") +
        `, checkpoint ${ckpt}`,
    );
    const purityFields = purity.teacher.total > 0
      ? {
        neighbour_purity_teacher: purityValue(purity.teacher),
        neighbour_purity_student: purityValue(purity.student),
        neighbour_purity_chance: chance,
      }
      : {};
    onRecord({
      kind: "epoch",
      epoch,
      step,
      knn_top1: bankTop1,
      knn_train_images: bankN,
      ...rec.teacher.health,
      ...(rec.student ? studentFields(stTop1!, rec.student.health) : {}),
      ...(last && bankN < data.n ? { knn_top1_all_images: top1 } : {}),
      ...purityFields,
    });
    log(
      `epoch ${epoch}: ${healthLine(rec.teacher.health)}` +
        (rec.student ? `; student ${healthLine(rec.student.health)}` : ""),
    );
    if (purityFields.neighbour_purity_teacher !== undefined) {
      log(
        `epoch ${epoch}: neighbour purity teacher ${
          purityFields.neighbour_purity_teacher.toFixed(3)
        }, student ${purityFields.neighbour_purity_student.toFixed(3)} (chance ${
          chance.toFixed(3)
        }; the last ${perEpoch - purityFrom} batches)`,
      );
    }
    if (hooks.signal?.aborted && epoch < cfg.epochs - 1) {
      log(`interrupted after epoch ${epoch}: checkpoint ${ckpt}; --resume continues`);
      interrupted = true;
    }
  }
  const seconds = (performance.now() - t0) / 1000;
  return {
    knn_top1: top1,
    knn_top1_raw_pixels: rawTop1,
    knn_top1_untrained: untrainedTop1,
    // 0 when no step ran (a finished run resumed), as before: never 0 / 0
    images_per_s: trainMs > 0 ? images / (trainMs / 1000) : 0,
    seconds,
    epochs: cfg.epochs,
    steps: step,
    checkpoint: ckpt,
    interrupted,
  };
}
