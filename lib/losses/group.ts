/**
 * Group discrimination (Mugs' `ClusteringLoss`, DINO's `DINOLoss`): cross-entropy
 * between the sharpened, centred teacher distribution over `m` prototypes and the
 * student's distribution.
 *
 * - Teacher probabilities `softmax((t - center) / T_t)`, no gradient; `T_t` is 0.04 or a
 *   function of the epoch (`teacherTempSchedule`: `np.linspace(warmup, T_t, W)` for the
 *   first W epochs, then `T_t`, as both official codes).
 * - Student log-probabilities `log_softmax(s / T_s)`, `T_s` 0.1.
 * - Pairs: teacher view t with every student view v != t; each pair's term is
 *   `mean_b sum_c -p_t * log p_s`. DINO averages all pairs (`total_loss /= n_loss_terms`);
 *   official Mugs (`src/loss.py`) averages large-crop (student index < 2) and small-crop
 *   terms separately and returns `0.5 * (large + small)`. `pairing: "mugs"` (default)
 *   or `"dino"`.
 * - Centre: after the loss, `center = m * center + (1 - m) * mean_rows(t)` over all
 *   teacher rows (both views), no gradient, momentum 0.9 (DINO: sum / (rows * world);
 *   Mugs: mean then all-reduce / world: the same on one process).
 *
 * The loss is linear in the teacher probabilities, so the pair sum is folded into one
 * target per student row, `R_v = sum_t w[t][v] p_t / B`, and computed by one fused soft
 * cross-entropy over all student rows (the gradient `softmax(x) * sum(R) - R` is exact
 * for these unnormalised targets).
 */
import { type Tensor, tensor, zeros } from "../tensor/tensor.ts";
import { noGrad } from "../tensor/tape.ts";
import { keep, tidy } from "../tensor/scope.ts";
import { crossEntropy } from "../tensor/ops/loss.ts";
import { type PairingMode, pairWeights } from "./pairing.ts";

/**
 * A linear teacher-temperature warm-up.
 *
 * @example
 * ```ts
 * const o: TeacherTempScheduleOptions = { warmupTemp: 0.04, temp: 0.07, warmupEpochs: 30 };
 * ```
 */
export interface TeacherTempScheduleOptions {
  /** Temperature at epoch 0 (official `warmup_teacher_temp`, 0.04). */
  warmupTemp: number;
  /** Temperature from epoch `warmupEpochs - 1` on (official `teacher_temp`, 0.04). */
  temp: number;
  /** Warm-up epochs (official `warmup_teacher_temp_epochs`: Mugs 0, DINO 0 by default). */
  warmupEpochs: number;
}

/**
 * The teacher temperature per epoch, as the official `teacher_temp_schedule`:
 * `np.linspace(warmupTemp, temp, warmupEpochs)` for epochs below `warmupEpochs` (so the
 * last warm-up epoch already reaches `temp`, and one warm-up epoch gives `warmupTemp`),
 * then `temp`. Fractional epochs are floored (the official code indexes by epoch).
 *
 * @example
 * ```ts
 * const tt = teacherTempSchedule({ warmupTemp: 0.04, temp: 0.07, warmupEpochs: 4 });
 * tt(0); // 0.04
 * tt(3); // 0.07
 * ```
 */
export function teacherTempSchedule(o: TeacherTempScheduleOptions): (epoch: number) => number {
  for (const [k, v] of [["warmupTemp", o.warmupTemp], ["temp", o.temp]] as const) {
    if (!Number.isFinite(v) || v <= 0) {
      throw new Error(`teacherTempSchedule: ${k} must be a finite number > 0, got ${v}`);
    }
  }
  const W = o.warmupEpochs;
  if (!Number.isInteger(W) || W < 0) {
    throw new Error(`teacherTempSchedule: warmupEpochs must be an integer >= 0, got ${W}`);
  }
  return (epoch: number) => {
    if (!Number.isFinite(epoch) || epoch < 0) {
      throw new Error(`teacherTempSchedule: epoch must be a finite number >= 0, got ${epoch}`);
    }
    const e = Math.floor(epoch);
    if (e >= W) return o.temp;
    if (W === 1) return o.warmupTemp;
    // numpy's linspace: start + i * step, with the last point exactly `stop`
    return e === W - 1 ? o.temp : o.warmupTemp + e * ((o.temp - o.warmupTemp) / (W - 1));
  };
}

/**
 * Options of `GroupLoss`.
 *
 * @example
 * ```ts
 * const o: GroupLossOptions = { studentViews: 12, teacherTemp: 0.04, pairing: "dino" };
 * ```
 */
export interface GroupLossOptions {
  /** Student views stacked in the student logits (2 global + local crops). */
  studentViews: number;
  /** Teacher views (default 2). */
  teacherViews?: number;
  /** Student views with index below this are large crops (default 2). */
  globalViews?: number;
  /** Pair averaging (default `"mugs"`; `"dino"` for DINO's plain mean). */
  pairing?: PairingMode;
  /** Student temperature (default 0.1). */
  studentTemp?: number;
  /** Teacher temperature, or a function of the epoch (default 0.04). */
  teacherTemp?: number | ((epoch: number) => number);
  /** Centre EMA momentum (default 0.9). */
  centerMomentum?: number;
}

/**
 * Options of one `GroupLoss.forward` call.
 *
 * @example
 * ```ts
 * group.forward(s, t, epoch, { updateCenter: false } satisfies GroupForwardOptions);
 * ```
 */
export interface GroupForwardOptions {
  /** Update the centre with this batch's teacher logits (default true). */
  updateCenter?: boolean;
}

function positive(loss: string, what: string, v: number): void {
  if (!Number.isFinite(v) || v <= 0) {
    throw new Error(`${loss}: ${what} must be a finite number > 0, got ${v}`);
  }
}

/**
 * The group loss (DINO-style self-distillation over `dim` prototypes) with its centre
 * state [1, dim].
 *
 * @example
 * ```ts
 * const group = new GroupLoss(4096, { studentViews: 2 + nLocal });
 * const loss = group.forward(studentLogits, teacherLogits, epoch); // updates the centre
 * ```
 */
export class GroupLoss {
  /** Number of prototypes `m`. */
  readonly dim: number;
  /** The resolved options (defaults filled in). */
  readonly opts: Readonly<Required<Omit<GroupLossOptions, "teacherTemp">>> & {
    teacherTemp: number | ((epoch: number) => number);
  };
  #center: Tensor;

  constructor(dim: number, opts: GroupLossOptions) {
    if (!Number.isInteger(dim) || dim < 1) {
      throw new Error(`GroupLoss: dim must be an integer >= 1, got ${dim}`);
    }
    this.dim = dim;
    this.opts = {
      studentViews: opts.studentViews,
      teacherViews: opts.teacherViews ?? 2,
      globalViews: opts.globalViews ?? 2,
      pairing: opts.pairing ?? "mugs",
      studentTemp: opts.studentTemp ?? 0.1,
      teacherTemp: opts.teacherTemp ?? 0.04,
      centerMomentum: opts.centerMomentum ?? 0.9,
    };
    positive("GroupLoss", "studentTemp", this.opts.studentTemp);
    if (typeof this.opts.teacherTemp === "number") {
      positive("GroupLoss", "teacherTemp", this.opts.teacherTemp);
    }
    const m = this.opts.centerMomentum;
    if (!Number.isFinite(m) || m < 0 || m > 1) {
      throw new Error(`GroupLoss: centerMomentum must be in [0, 1], got ${m}`);
    }
    this.#pairing(); // validates the view counts
    this.#center = keep(zeros([1, dim]));
  }

  /**
   * The teacher temperature at `epoch`.
   *
   * @example
   * ```ts
   * const t = group.teacherTemp(3);
   * ```
   */
  teacherTemp(epoch: number): number {
    const tt = this.opts.teacherTemp;
    const t = typeof tt === "number" ? tt : tt(epoch);
    positive("GroupLoss", `teacher temperature at epoch ${epoch}`, t);
    return t;
  }

  /**
   * The centre state [1, dim] (the live tensor: copy it to keep a snapshot).
   *
   * @example
   * ```ts
   * const c = await group.center.toArray();
   * ```
   */
  get center(): Tensor {
    return this.#center;
  }

  /**
   * Replace the centre (from a checkpoint): a tensor of `dim` values or host values.
   *
   * @example
   * ```ts
   * group.setCenter(savedCenter); // Float32Array of dim values, or a [1, dim] tensor
   * ```
   */
  setCenter(values: Tensor | Float32Array | number[]): void {
    const n = values instanceof Array || values instanceof Float32Array
      ? values.length
      : values.size;
    if (n !== this.dim) {
      throw new Error(`GroupLoss.setCenter: want ${this.dim} values ([1, ${this.dim}]), got ${n}`);
    }
    const next = noGrad(() =>
      values instanceof Array || values instanceof Float32Array
        ? tensor(Float32Array.from(values), [1, this.dim])
        : values.detach().reshape([1, this.dim]).mul(1)
    );
    this.#center.dispose();
    this.#center = keep(next);
  }

  #pairing() {
    const o = this.opts;
    return pairWeights({
      teacherViews: o.teacherViews,
      studentViews: o.studentViews,
      globalViews: o.globalViews,
      mode: o.pairing,
    });
  }

  #check(student: Tensor, teacher: Tensor): number {
    const { studentViews: vs, teacherViews: vt } = this.opts;
    const B = teacher.shape[0] / vt;
    if (
      student.ndim !== 2 || teacher.ndim !== 2 || student.shape[1] !== this.dim ||
      teacher.shape[1] !== this.dim || !Number.isInteger(B) || student.shape[0] !== vs * B
    ) {
      throw new Error(
        `GroupLoss: want student logits [${vs}*B, ${this.dim}] and teacher logits ` +
          `[${vt}*B, ${this.dim}], got [${student.shape}] and [${teacher.shape}]`,
      );
    }
    return B;
  }

  /**
   * Teacher probabilities `softmax((teacher - center) / T_t(epoch))`, no gradient.
   *
   * @example
   * ```ts
   * const p = group.teacherProbs(teacherLogits, epoch); // [V_t*B, dim]
   * ```
   */
  teacherProbs(teacher: Tensor, epoch = 0): Tensor {
    if (teacher.ndim !== 2 || teacher.shape[1] !== this.dim) {
      throw new Error(
        `GroupLoss: want teacher logits [V_t*B, ${this.dim}], got [${teacher.shape}]`,
      );
    }
    const t = this.teacherTemp(epoch);
    return noGrad(() => tidy(() => teacher.detach().sub(this.#center).mul(1 / t).softmax()));
  }

  /**
   * The loss for student logits [V_s*B, dim] and teacher logits [V_t*B, dim] (views
   * stacked view-major), then (by default) the centre update.
   *
   * @example
   * ```ts
   * const loss = group.forward(studentLogits, teacherLogits, epoch);
   * ```
   */
  forward(student: Tensor, teacher: Tensor, epoch = 0, o: GroupForwardOptions = {}): Tensor {
    const B = this.#check(student, teacher);
    const { studentViews: vs, teacherViews: vt } = this.opts;
    const { weights } = this.#pairing();
    const p = this.teacherProbs(teacher, epoch);
    // R[v] = sum_t w[t][v] p_t / B: one target row per student row
    const target = noGrad(() =>
      tidy(() => {
        const wT = new Float32Array(vs * vt);
        for (let v = 0; v < vs; v++) {
          for (let t = 0; t < vt; t++) wT[v * vt + t] = weights[t][v] / B;
        }
        const w = tensor(wT, [vs, vt]);
        return w.matmul(p.reshape([vt, B * this.dim])).reshape([vs * B, this.dim]);
      })
    );
    p.dispose();
    const loss = crossEntropy(student.mul(1 / this.opts.studentTemp), target, { reduction: "none" })
      .sum();
    if (o.updateCenter ?? true) this.updateCenter(teacher);
    return loss;
  }

  /**
   * `center = m * center + (1 - m) * mean over rows of teacher` (no gradient).
   *
   * @example
   * ```ts
   * group.updateCenter(teacherLogits);
   * ```
   */
  updateCenter(teacher: Tensor): void {
    if (teacher.ndim !== 2 || teacher.shape[1] !== this.dim) {
      throw new Error(`GroupLoss: want teacher logits [N, ${this.dim}], got [${teacher.shape}]`);
    }
    const m = this.opts.centerMomentum;
    const next = noGrad(() =>
      tidy(() => this.#center.mul(m).add(teacher.detach().mean(0, true).mul(1 - m)))
    );
    this.#center.dispose();
    this.#center = keep(next);
  }

  /**
   * Release the centre.
   *
   * @example
   * ```ts
   * group.dispose();
   * ```
   */
  dispose(): void {
    this.#center.dispose();
  }
}
