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
 * Pick the kernel shape for `rows` rows of length `L`.
 *
 * Measured on llvmpipe (2 cores, 256-bit SIMD; ms per forward, best of 5 x 10 dispatches):
 * one invocation per row in workgroups of 8 beat or matched the cooperative kernel at
 * every size tried, [4096,64] 3.4 vs 6.3 (coop WG 8) / 29 (coop WG 64), [64,2048] 2.7 vs
 * 1.6 / 2.2, [1,65536] 1.7 vs 1.6 / 1.9, [64,65536] 23 vs 53 / 57, [1,262144] 2.2 vs 7.3 /
 * 6.8: a workgroup runs on one core either way, and barriers cost more than the SIMD
 * lanes they fill. So a software adapter always takes the per-row kernel (workgroups of
 * 8 rows, so that even few rows spread over the cores); a GPU takes the cooperative
 * kernel (64 invocations per row) from rows of 256 on.
 */
export function rowPlan(rows: number, L: number): RowPlan {
  if (runtime().info.kernels === "cpu") return { coop: false, wg: 8 };
  return L >= 256 ? { coop: true, wg: 64 } : { coop: false, wg: 64 };
}

/** @internal Launch one softmax-family kernel over `rows` rows of length `L`. */
export function rowKernel(
  entry: "forward" | "backward",
  op: SoftmaxOp,
  buffers: Tensor[],
  rows: number,
  L: number,
  plan: RowPlan = rowPlan(rows, L),
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
