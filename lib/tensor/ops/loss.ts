/**
 * Softmax cross-entropy (shaders/loss.wgsl): hard labels (i32 class indices, as
 * PyTorch's `F.cross_entropy`) or soft targets (f32 [N, C], as DINO's loss
 * `-sum(t * log_softmax(x))`), with fused forward and backward kernels.
 */
import code from "../../../shaders/loss.wgsl" with { type: "text" };
import { Tensor } from "../tensor.ts";
import { record } from "../tape.ts";
import { grid, launch, Params } from "../launch.ts";
import { checkDevice, checkDType } from "../check.ts";
import { mean } from "./reduce.ts";
import { rowPlan } from "./softmax.ts";

/** Options of `crossEntropy`. */
export interface CrossEntropyOptions {
  /** `"mean"` (default): the mean over rows, a scalar; `"none"`: the per-row losses [N]. */
  reduction?: "mean" | "none";
}

/**
 * Cross-entropy between `logits` [N, C] and a target: i32 class indices [N] (hard
 * labels; an index outside [0, C) gives a NaN loss, never a silent wrong value) or f32
 * targets [N, C] (soft labels / probabilities: the loss of row n is
 * `-sum_c t[n, c] * log_softmax(logits)[n, c]`, and the target gets a gradient too when
 * it requires one). Reduced by the mean over rows unless `reduction: "none"`.
 *
 * @example
 * ```ts
 * const loss = crossEntropy(logits, labels); // labels: i32 [N]
 * const dino = crossEntropy(student, teacherProbs); // teacherProbs: f32 [N, C]
 * ```
 */
export function crossEntropy(
  logits: Tensor,
  target: Tensor,
  opts: CrossEntropyOptions = {},
): Tensor {
  const op = "crossEntropy";
  checkDevice(op, logits, target);
  checkDType(op, logits, "f32", "logits");
  const reduction = opts.reduction ?? "mean";
  if (reduction !== "mean" && reduction !== "none") {
    throw new Error(`${op}: reduction must be "mean" or "none", got ${JSON.stringify(reduction)}`);
  }
  if (logits.ndim !== 2) {
    throw new Error(`${op}: logits must be [N, C], got [${logits.shape}]`);
  }
  const [N, C] = logits.shape;
  const hardShape = target.ndim === 1 && target.shape[0] === N;
  const softShape = target.shape.join() === logits.shape.join();
  if (!hardShape && !softShape) {
    throw new Error(
      `${op}: logits [${logits.shape}] and target [${target.shape}] do not match ` +
        `(want i32 class indices [${N}] or f32 probabilities [${N},${C}])`,
    );
  }
  if (hardShape) checkDType(op, target, "i32", "a class-index target");
  else checkDType(op, target, "f32", "a probability target");
  const soft = !hardShape;
  const plan = rowPlan(op, C, soft ? 2 : 1);
  const rows = Tensor.empty([N], "f32", op);
  const stat = Tensor.empty([N, 2], "f32", op);
  const sumT = soft ? Tensor.empty([N], "f32", op) : null;
  launch("loss", code, `ce_${soft ? "soft" : "hard"}_${plan.coop ? "wg" : "row"}_forward`, {
    buffers: [logits, target, rows, stat, ...(sumT ? [sumT] : [])],
    workgroups: plan.coop ? grid(N * plan.wg, plan.wg) : grid(N, plan.wg),
    params: new Params().u32(N, C).f32(1).u32(0),
    constants: { WG: plan.wg },
  });
  let out = rows;
  if (reduction === "mean") {
    out = mean(rows);
    rows.dispose();
  }
  const inputs = soft ? [logits, target] : [logits];
  record(out, op, inputs, (g) => {
    const params = new Params().u32(N, C).f32(reduction === "mean" ? 1 / N : 1).u32(0);
    const constants = { MEAN: reduction === "mean" ? 1 : 0, WG: 256 };
    // vec4 kernels when rows are whole vec4s: 4 elements per invocation
    const v = C % 4 === 0 ? 4 : 1;
    const suffix = v === 4 ? "4" : "";
    let dx: Tensor | null = null;
    let dt: Tensor | null = null;
    if (logits.requiresGrad) {
      dx = Tensor.empty(logits.shape, "f32", `${op} backward`);
      launch("loss", code, `ce_${soft ? "soft" : "hard"}_backward${suffix}`, {
        buffers: [g, logits, target, stat, ...(sumT ? [sumT] : []), dx],
        workgroups: grid((N * C) / v, 256),
        params,
        constants: soft ? { ...constants, WHICH: 0 } : constants,
      });
    }
    if (sumT && target.requiresGrad) {
      dt = Tensor.empty(target.shape, "f32", `${op} backward`);
      launch("loss", code, `ce_soft_backward${suffix}`, {
        buffers: [g, logits, target, stat, sumT, dt],
        workgroups: grid((N * C) / v, 256),
        params,
        constants: { ...constants, WHICH: 1 },
      });
    }
    stat.dispose();
    sumT?.dispose();
    return soft ? [dx, dt] : [dx];
  });
  if (!out.requiresGrad) {
    stat.dispose();
    sumT?.dispose();
  }
  return out;
}
