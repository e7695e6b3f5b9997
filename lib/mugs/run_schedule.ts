/**
 * A run's schedules, per iteration as in DINO's `main_dino.py`: the learning rate (linearly
 * scaled by batch / 256, warm-up then cosine), weight decay and teacher momentum (cosine), the
 * teacher temperature (per epoch), and the local-group and group weights' linear warm-up.
 */
import { cosineSchedule } from "../optim/schedule.ts";
import { teacherTempSchedule } from "../losses/group.ts";
import type { StepSchedule } from "./step.ts";

/** The fields of a run's configuration the schedules read. */
export interface RunScheduleConfig {
  epochs: number;
  batchSize: number;
  /** Base learning rate for a batch of 256. */
  lr: number;
  minLr: number;
  warmupEpochs: number;
  weightDecay: number;
  weightDecayEnd: number;
  momentumTeacher: number;
  /** 1 when absent, as DINO. */
  momentumTeacherEnd?: number;
  /** 0 or absent: no warm-up of the local-group and group weights. */
  groupWarmupEpochs?: number;
  teacherTemp: number;
  warmupTeacherTemp: number;
  warmupTeacherTempEpochs: number;
}

/** The schedules of one run. */
export interface RunSchedule {
  /** What step `step` (0-based, counted over the run) of epoch `epoch` trains with. */
  at(step: number, epoch: number): Required<StepSchedule>;
  /** The teacher temperature of an epoch (as `teacherTempSchedule`). */
  teacherTemp: (epoch: number) => number;
}

/**
 * The schedules of a run of `cfg.epochs` epochs of `perEpoch` steps.
 *
 * @example
 * ```ts
 * const s = runSchedule(cfg, 46);
 * s.at(0, 0).lr; // 0: the warm-up starts from 0
 * ```
 */
export function runSchedule(cfg: RunScheduleConfig, perEpoch: number): RunSchedule {
  const cosine = { epochs: cfg.epochs, itersPerEpoch: perEpoch };
  const lr = cosineSchedule({
    ...cosine,
    base: (cfg.lr * cfg.batchSize) / 256,
    final: cfg.minLr,
    warmupEpochs: cfg.warmupEpochs,
  });
  const wd = cosineSchedule({ ...cosine, base: cfg.weightDecay, final: cfg.weightDecayEnd });
  const mom = cosineSchedule({
    ...cosine,
    base: cfg.momentumTeacher,
    final: cfg.momentumTeacherEnd ?? 1,
  });
  // the local-group and group weights' linear warm-up (1 throughout when there is none)
  const rampSteps = (cfg.groupWarmupEpochs ?? 0) * perEpoch;
  return {
    at: (step, epoch) => ({
      epoch,
      lr: lr[step],
      weightDecay: wd[step],
      momentum: mom[step],
      groupScale: rampSteps > 0 ? Math.min(1, step / rampSteps) : 1,
    }),
    teacherTemp: teacherTempSchedule({
      warmupTemp: cfg.warmupTeacherTemp,
      temp: cfg.teacherTemp,
      warmupEpochs: cfg.warmupTeacherTempEpochs,
    }),
  };
}
