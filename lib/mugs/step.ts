/**
 * One Mugs training step, as the official `train_one_epoch` runs it:
 *
 *   views  = multi-crop(images)                       2 teacher globals, 2 + n student views
 *   t      = teacher(teacher views)                   no tape
 *   s      = student(student globals, student locals)
 *   loss   = w_i * instance(s, t, queue_i) + w_l * local-group(s, t, queue_l)
 *          + w_g * group(s, t)                        weight-0 branches are skipped
 *   backward; cancel the prototype layer's gradient in epoch 0; AdamW (clip per parameter)
 *   teacher = EMA(student); queues <- teacher targets (view 0, then view 1);
 *   teacher memory <- teacher's first-view patch mean; student memory <- the student's, for
 *   weakly augmented images only (each entry with its image's dataset index, when given).
 *
 * Asked for (`StepBatch.probeNeighbours`), the step also returns the memory rows each
 * local-group query retrieved and the memories' dataset indices at search time, so the caller
 * can measure neighbour purity (lib/memory/purity.ts) after the step; the step itself never
 * reads labels.
 *
 * A branch whose weight is 0 is not computed at all: no head, no neighbour search, no queue
 * or memory write (and no teacher forward when no branch needs the teacher). With
 * `groupLoss: "swav"` the group branch is SwAV's swapped prediction: Sinkhorn codes of the
 * student's own two global views (no teacher, no centre; SwAV's optional queue is not used).
 * With `instanceLoss: "ntxent"` the instance branch is SimCLR's NT-Xent between the student's
 * own two global views (in-batch negatives, no teacher, no queue).
 */
import { MugsNet, type MugsOutputs } from "./model.ts";
import { AdamW, paramGroups } from "../optim/adamw.ts";
import { emaUpdate } from "../optim/ema.ts";
import { cancelGradients } from "../optim/clip.ts";
import { FifoQueue } from "../memory/queue.ts";
import { LocalGroupMemory } from "../memory/local_group.ts";
import { instanceLoss, type NegativesMode } from "../losses/instance.ts";
import { localGroupLoss } from "../losses/local_group.ts";
import { GroupLoss } from "../losses/group.ts";
import { swavLoss } from "../losses/swav.ts";
import { ntXentLoss } from "../losses/ntxent.ts";
import type { PairingMode } from "../losses/pairing.ts";
import { weightedTotal } from "../losses/total.ts";
import { MultiCrop, type MultiCropConfig } from "../augment/multicrop.ts";
import type { ViTConfig } from "../nn/vit.ts";
import type { MugsHeadConfig } from "./model.ts";
import type { Tensor } from "../tensor/tensor.ts";
import { noGrad } from "../tensor/tape.ts";
import { runtime } from "../gpu/device.ts";

/** Loss weights (1, 1, 1 for Mugs; a 0 removes that branch). */
export interface LossWeights {
  instance: number;
  localGroup: number;
  group: number;
}

/** Hyper-parameters of the step that schedules do not set. */
export interface StepConfig {
  weights: LossWeights;
  queueSize: number;
  memorySize: number;
  /** InfoNCE temperature (0.2). */
  temperature: number;
  /** Per-parameter gradient clipping (3.0). */
  clip: number;
  /** Epochs during which the prototype layer's gradient is cancelled (1). */
  freezeLastLayer: number;
  /** Group loss: `"dino"` (centred, sharpened teacher; default) or `"swav"` (Sinkhorn codes). */
  groupLoss?: "dino" | "swav";
  /** Multi-crop pair averaging of all three losses (`"mugs"` by default). */
  pairing?: PairingMode;
  /** Student temperature of the group loss (0.1; SwAV's prediction temperature too). */
  studentTemp?: number;
  /** EMA momentum of the teacher centre (0.9). */
  centerMomentum?: number;
  /** Instance loss: `"infonce"` (Mugs, default) or `"ntxent"` (SimCLR, no teacher). */
  instanceLoss?: "infonce" | "ntxent";
  /** InfoNCE negatives of both contrastive losses: the queue (Mugs) or queue and batch. */
  negatives?: NegativesMode;
}

/** Values set per iteration by the schedules. */
export interface StepSchedule {
  epoch: number;
  lr: number;
  weightDecay: number;
  momentum: number;
  /**
   * Multiplier of the local-group and group weights this step (1 when absent): their warm-up.
   * The branches still run at 0 (their queues and memories fill); only their loss is left out.
   */
  groupScale?: number;
}

/**
 * What the step knows of its batch besides the pixels.
 *
 * @example
 * ```ts
 * const b: StepBatch = { indices: view.indices, probeNeighbours: lastBatches };
 * ```
 */
export interface StepBatch {
  /** Dataset index of each image; kept beside its memory entries (unknown, -1, when absent). */
  indices?: ArrayLike<number>;
  /** Return the neighbours each memory gave (`StepLosses.neighbours`), for neighbour purity. */
  probeNeighbours?: boolean;
}

/**
 * The neighbours one memory gave in a step: the rows each query retrieved and, per memory
 * row, the dataset index of its image at search time (before the step's own writes).
 *
 * @example
 * ```ts
 * const p: NeighbourProbe = losses.neighbours!.teacher!;
 * const purity = await readPurity(p.rows, p.sources, queryImages, labels);
 * ```
 */
export interface NeighbourProbe {
  /** i32 [V*B, k]: query r is view floor(r / B) of image r % B. */
  rows: Tensor;
  /** [memory size] dataset indices (-1 = unknown). */
  sources: Int32Array;
}

/** The losses of one step (scalar tensors; read them back only when logging). */
export interface StepLosses {
  total: Tensor;
  instance?: Tensor;
  localGroup?: Tensor;
  group?: Tensor;
  /** With `StepBatch.probeNeighbours` and the local-group branch on: what each memory gave. */
  neighbours?: { teacher: NeighbourProbe; student: NeighbourProbe };
}

/**
 * The phases of a step, in order (`MugsState.phases` yields each name once its GPU work is
 * recorded).
 *
 * @example
 * ```ts
 * STEP_PHASES[1]; // "teacher_forward"
 * ```
 */
export const STEP_PHASES = [
  "views",
  "teacher_forward",
  "student_forward",
  "losses",
  "backward",
  "optimizer",
  "ema_queues",
] as const;

/** One phase of a step. */
export type StepPhase = (typeof STEP_PHASES)[number];

/**
 * What `MugsState.create` builds a training state from.
 *
 * @example
 * ```ts
 * const o: MugsSetup = { vit, heads, crops, step, teacherTemp: 0.04, seed: 0, lr: 5e-4, weightDecay: 0.04, patchEmbedLrScale: 0.2 };
 * ```
 */
export interface MugsSetup {
  vit: ViTConfig;
  heads: MugsHeadConfig;
  crops: MultiCropConfig;
  step: StepConfig;
  /** The group loss's teacher temperature, or its schedule by epoch. */
  teacherTemp: number | ((epoch: number) => number);
  seed: number;
  /** AdamW's initial lr and weight decay (the schedules set them per step). */
  lr: number;
  weightDecay: number;
  /** lr multiplier of the patch embedding (DINO's parameter groups). */
  patchEmbedLrScale: number;
}

/** Student, teacher, optimiser, queues, memories and the group loss's centre: the training state. */
export class MugsState {
  /**
   * Build the whole state: the student, the teacher as its copy, AdamW with DINO's parameter
   * groups, the multi-crop views, the queues and memories.
   *
   * @example
   * ```ts
   * const state = MugsState.create({ vit, heads, crops, step, teacherTemp: 0.04, seed: 0, lr: 5e-4, weightDecay: 0.04, patchEmbedLrScale: 0.2 });
   * ```
   */
  static create(o: MugsSetup): MugsState {
    const student = new MugsNet(o.vit, o.heads, true, o.seed);
    const teacher = new MugsNet(o.vit, o.heads, false, o.seed);
    teacher.loadStateDict(student.stateDict(), { strict: false }); // teacher starts as the student
    const groups = paramGroups(student.namedParameters(), {
      patchEmbedLrScale: o.patchEmbedLrScale,
    });
    const opt = new AdamW(groups, { lr: o.lr, weightDecay: o.weightDecay });
    const crops = new MultiCrop(o.crops);
    return new MugsState(student, teacher, opt, crops, o.step, o.teacherTemp, o.seed);
  }

  readonly instanceQueue: FifoQueue;
  readonly localGroupQueue: FifoQueue;
  readonly teacherMemory: LocalGroupMemory;
  readonly studentMemory: LocalGroupMemory;
  readonly groupLoss: GroupLoss;

  /**
   * @example
   * ```ts
   * const state = new MugsState(student, teacher, opt, crops, cfg, teacherTemp, 0);
   * ```
   */
  constructor(
    readonly student: MugsNet,
    readonly teacher: MugsNet,
    readonly optimizer: AdamW,
    readonly crops: MultiCrop,
    readonly cfg: StepConfig,
    teacherTemp: number | ((epoch: number) => number),
    seed: number,
  ) {
    const out = student.heads.out;
    const D = student.backbone.config.embedDim;
    const nViews = 2 + crops.config.local.count;
    this.instanceQueue = new FifoQueue(cfg.queueSize, out, { init: "random", seed: seed + 101 });
    this.localGroupQueue = new FifoQueue(cfg.queueSize, out, { init: "random", seed: seed + 102 });
    this.teacherMemory = new LocalGroupMemory(cfg.memorySize, D, {
      init: "random",
      seed: seed + 103,
    });
    this.studentMemory = new LocalGroupMemory(cfg.memorySize, D, {
      init: "random",
      seed: seed + 104,
    });
    this.groupLoss = new GroupLoss(student.heads.prototypes, {
      studentViews: nViews,
      teacherTemp,
      pairing: cfg.pairing,
      studentTemp: cfg.studentTemp,
      centerMomentum: cfg.centerMomentum,
    });
    teacher.eval();
    // the official teacher is never put in eval mode: with `heads.bn` its projectors'
    // BatchNorm normalises with each batch's statistics, as the student's does
    for (const h of [teacher.instanceHead, teacher.localGroupHead, teacher.groupHead]) h.train();
    for (const p of teacher.parameters()) p.requiresGrad = false;
  }

  /**
   * One step on a batch of images [B, C, H, W] in [0, 1] (run it inside `tidy`).
   * `seed` drives the views of this step; `batch` gives the images' dataset indices.
   *
   * @example
   * ```ts
   * const losses = tidy(() => state.step(images, seed, { epoch, lr, weightDecay, momentum }));
   * ```
   */
  step(images: Tensor, seed: number, s: StepSchedule, batch: StepBatch = {}): StepLosses {
    const it = this.phases(images, seed, s, batch);
    for (;;) {
      const r = it.next();
      if (r.done) return r.value;
    }
  }

  /**
   * The step as a generator: it yields each phase's name (`STEP_PHASES`) once that phase's
   * GPU work is recorded, so a profiler can sync there; `step` runs it straight through.
   *
   * @example
   * ```ts
   * const it = state.phases(images, seed, sched);
   * for (let r = it.next(); !r.done; r = it.next()) await sync(); // r.value: the phase
   * ```
   */
  *phases(
    images: Tensor,
    seed: number,
    s: StepSchedule,
    batch: StepBatch = {},
  ): Generator<StepPhase, StepLosses> {
    const B = images.shape[0];
    if (batch.indices !== undefined && batch.indices.length !== B) {
      throw new Error(
        `MugsState.step: ${batch.indices.length} dataset indices for a batch of ${B} images`,
      );
    }
    const w = this.cfg.weights;
    const swav = this.cfg.groupLoss === "swav";
    const need = { instance: w.instance > 0, localGroup: w.localGroup > 0, group: w.group > 0 };
    const ntxent = this.cfg.instanceLoss === "ntxent";
    const teacherNeed = { ...need, instance: need.instance && !ntxent, group: need.group && !swav };
    const probe = need.localGroup && batch.probeNeighbours === true;
    // the memories' sources before this step writes to them: what the searches saw
    const sources = probe
      ? { teacher: this.teacherMemory.sources, student: this.studentMemory.sources }
      : null;
    runtime().flush(); // a step starts a submission: its dispatches repeat, bind groups cached
    const views = this.crops.apply(images, seed);
    yield "views";
    let t: MugsOutputs | null = null;
    if (teacherNeed.instance || teacherNeed.localGroup || teacherNeed.group) {
      t = noGrad(() =>
        this.teacher.forward([views.teacher], this.teacherMemory, B, teacherNeed, {
          neighbourRows: probe,
        })
      );
    }
    yield "teacher_forward";
    const nLocal = views.local ? views.local.shape[0] / B : 0;
    const groups = views.local ? [views.studentGlobal, views.local] : [views.studentGlobal];
    const st = this.student.forward(groups, this.studentMemory, B, need, {
      neighbourRows: probe,
    });
    yield "student_forward";
    const opts = {
      studentViews: 2 + nLocal,
      temperature: this.cfg.temperature,
      pairing: this.cfg.pairing,
      negatives: this.cfg.negatives,
    };
    const { total, losses } = weightedTotal([
      {
        name: "instance",
        weight: w.instance,
        compute: () =>
          ntxent
            ? ntXentLoss(st.instance!.slice(0, 0, 2 * B), { temperature: this.cfg.temperature })
            : instanceLoss(st.instance!, t!.instance!, this.instanceQueue.tensor, opts),
      },
      {
        name: "localGroup",
        weight: w.localGroup * (s.groupScale ?? 1),
        compute: () =>
          localGroupLoss(st.localGroup!, t!.localGroup!, this.localGroupQueue.tensor, opts),
      },
      {
        name: "group",
        weight: w.group * (s.groupScale ?? 1),
        compute: () =>
          swav
            ? swavLoss(st.group!, {
              views: 2 + nLocal,
              pairing: this.cfg.pairing ?? "mugs",
              temperature: this.cfg.studentTemp ?? 0.1,
            })
            : this.groupLoss.forward(st.group!, t!.group!, s.epoch),
      },
    ]);
    yield "losses";
    total.backward();
    yield "backward";
    if (s.epoch < this.cfg.freezeLastLayer) {
      cancelGradients(this.student.namedParameters(), "last_layer");
    }
    this.optimizer.lr = s.lr;
    this.optimizer.weightDecay = s.weightDecay;
    this.optimizer.step({ clip: this.cfg.clip });
    this.optimizer.zeroGrad();
    yield "optimizer";
    noGrad(() => {
      emaUpdate(this.teacher, this.student, s.momentum);
      for (let v = 0; v < 2; v++) {
        if (t?.instance) this.instanceQueue.enqueue(t.instance.slice(0, v * B, (v + 1) * B));
        if (t?.localGroup) {
          this.localGroupQueue.enqueue(t.localGroup.slice(0, v * B, (v + 1) * B));
        }
      }
      if (need.localGroup) {
        this.teacherMemory.enqueue(t!.memoryEntry!, undefined, batch.indices);
        this.studentMemory.enqueue(
          st.memoryEntry!,
          Array.from(views.weakFlag, (f) => f === 1),
          batch.indices,
        );
      }
    });
    views.dispose();
    yield "ema_queues";
    return {
      total,
      instance: losses.instance,
      localGroup: losses.localGroup,
      group: losses.group,
      neighbours: sources
        ? {
          teacher: { rows: t!.neighbourRows!, sources: sources.teacher },
          student: { rows: st.neighbourRows!, sources: sources.student },
        }
        : undefined,
    };
  }
}
