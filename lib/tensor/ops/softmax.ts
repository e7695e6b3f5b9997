/**
 * Softmax and log-softmax over the last axis (shaders/softmax.wgsl): fused, numerically
 * stable forward kernels (the row max is subtracted) and fused backward kernels.
 *
 * Two kernel shapes: one invocation per row (no barriers, which llvmpipe makes costly)
 * and one workgroup per row with a shared-memory reduction; `rowPlan` picks one by
 * adapter and row length.
 */
import code from "../../../shaders/softmax.wgsl" with { type: "text" };
import { runtime } from "../../gpu/device.ts";
import { Tensor } from "../tensor.ts";
import { record } from "../tape.ts";
import { grid, launch, Params } from "../launch.ts";
import { checkDevice, checkDType } from "../check.ts";
import { LOOP_BUDGET } from "./reduce.ts";

const OPS = { softmax: 0, logSoftmax: 1 } as const;
/** Which function a softmax-family kernel computes. */
export type SoftmaxOp = keyof typeof OPS;

/** How a row kernel runs: cooperative (one workgroup per row) or one invocation per row. */
export interface RowPlan {
  coop: boolean;
  /** Workgroup size. */
  wg: number;
}

/**
 * Pick the kernel shape for `rows` rows of length `L`, where each invocation makes
 * `passes` passes over its share of the row.
 *
 * Measured on llvmpipe (2 cores, 256-bit SIMD; forward ms, best of 5 runs of 10
 * dispatches; per-row kernel in workgroups of 8 / 64 vs cooperative WG 8 / 64):
 * [4096,64] 5.4 / 3.1 vs 8.3 / 35; [1024,257] 5.8 / 2.9 vs 3.9 / 11; [256,1024]
 * 3.0 / 3.2 vs 3.5 / 3.8; [64,2048] 1.5 / 2.8 vs 1.3 / 1.4; [16,4096] 0.71 / 1.4 vs
 * 0.55 / 0.72; [8,8192] 1.4 / 1.3 vs 0.68 / 0.68; [1,16384] 0.84 / 0.77 vs 0.36 / 0.38.
 * Barriers are costly there, so short rows run one invocation per row; from 1024 on
 * the cooperative kernel wins or ties. The cooperative workgroup is the smallest power
 * of two (at least 8 on a software adapter, 64 on a GPU) that keeps the loops within
 * `LOOP_BUDGET` (llvmpipe's cap on loop iterations per invocation); the per-row kernel
 * stays within it since rows shorter than 1024 take it.
 */
export function rowPlan(op: string, rows: number, L: number, passes = 2): RowPlan {
  const cpu = runtime().info.kernels === "cpu";
  if (L < (cpu ? 1024 : 256)) return { coop: false, wg: !cpu || rows >= 512 ? 64 : 8 };
  let wg = cpu ? 8 : 64;
  while (wg < 256 && Math.ceil(L / wg) * passes + 8 > LOOP_BUDGET) wg *= 2;
  if (Math.ceil(L / wg) * passes + 8 > LOOP_BUDGET) {
    throw new Error(
      `${op}: rows of ${L} elements are too long (at most ${
        Math.floor((LOOP_BUDGET - 8) / passes) * 256
      })`,
    );
  }
  return { coop: true, wg };
}

/** @internal Launch one softmax-family kernel over `rows` rows of length `L`. */
export function rowKernel(
  entry: "forward" | "backward",
  op: SoftmaxOp,
  buffers: Tensor[],
  rows: number,
  L: number,
  plan: RowPlan = rowPlan(op, rows, L),
): void {
  const params = new Params().u32(rows, L, 0, 0);
  const { coop, wg } = plan;
  launch("softmax", code, `${coop ? "wg" : "row"}_${entry}`, {
    buffers,
    workgroups: coop ? grid(rows * wg, wg) : grid(rows, wg),
    params,
    constants: { OP: OPS[op], WG: wg },
  });
}

function rowOp(op: SoftmaxOp, x: Tensor): Tensor {
  checkDevice(op, x);
  checkDType(op, x, "f32");
  if (x.ndim === 0) throw new Error(`${op}: needs at least one dimension, got a scalar`);
  const L = x.shape[x.ndim - 1];
  const rows = x.size / L;
  const y = Tensor.empty(x.shape, "f32", op);
  rowKernel("forward", op, [x, y], rows, L);
  return record(y, op, [x], (g) => {
    const dx = Tensor.empty(x.shape, "f32", `${op} backward`);
    rowKernel("backward", op, [g, y, dx], rows, L);
    return [dx];
  });
}

/**
 * Softmax over the last axis, `exp(x - max) / sum(exp(x - max))`.
 *
 * @example
 * ```ts
 * const p = softmax(logits); // or logits.softmax()
 * ```
 */
export function softmax(x: Tensor): Tensor {
  return rowOp("softmax", x);
}

/**
 * Log-softmax over the last axis, `x - max - log(sum(exp(x - max)))`.
 *
 * @example
 * ```ts
 * const lp = logSoftmax(logits); // or logits.logSoftmax()
 * ```
 */
export function logSoftmax(x: Tensor): Tensor {
  return rowOp("logSoftmax", x);
}
