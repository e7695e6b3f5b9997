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
 * Pick the kernel shape for rows of length `L`, where each invocation makes
 * `passes` passes over its share of the row.
 *
 * Measured on llvmpipe (2 cores, 256-bit SIMD; softmax forward/backward in µs per
 * dispatch, best of 5 runs of 10; per-row kernel in workgroups of 64 / 8, cooperative
 * kernel with WG 8 / 64):
 *
 * | [rows, L]  | row, WG 64  | row, WG 8   | coop, WG 8  | coop, WG 64   |
 * | ---------- | ----------- | ----------- | ----------- | ------------- |
 * | [4096,64]  | 2449 / 3542 | 2321 / 3617 | 4577 / 5481 | 16639 / 15291 |
 * | [1024,257] | 2304 / 6106 | 2194 / 3536 | 3041 / 5003 | 6460 / 7674   |
 * | [256,1024] | 3149 / 5739 | 3040 / 5002 | 2945 / 4121 | 3314 / 5373   |
 * | [64,2048]  | 2727 / 4416 | 1330 / 2016 | 1239 / 1896 | 1445 / 2066   |
 * | [16,4096]  | 1487 / 2211 | 725 / 1121  | 663 / 988   | 621 / 1125    |
 * | [8,8192]   | 1454 / 2251 | 1524 / 2189 | 747 / 1033  | 872 / 1164    |
 * | [1,16384]  | 914 / 769   | 926 / 660   | 296 / 491   | 402 / 609     |
 * | [1,65536]  | (over the loop cap) |     | 1644 / 2614 | 1704 / 2820   |
 *
 * Barriers are costly there, so rows shorter than 1024 run one invocation per row (in
 * workgroups of 8, which spread few rows over the cores); from 1024 on the cooperative
 * kernel ties or wins.
 *
 * On an H100 (same kernels, µs per dispatch, best of 5 runs of 200; row WG 8 vs coop
 * WG 64 / 256): [16384,64] 56 / 72 vs 38 / 41 and 59 / 76; [4096,256] 131 / 137 vs
 * 30 / 29 and 37 / 39; [1024,1024] 280 / 256 vs 26 / 50 and 44 / 52; [256,4096]
 * 1055 / 1022 vs 47 / 47 and 34 / 45; [64,65536] 17875 / 17783 vs 526 / 1007 and
 * 158 / 281. So a GPU takes the cooperative kernel from rows of 64 on, with WG 256
 * from 4096 on.
 *
 * The cooperative workgroup grows (up to 256) until the loops fit in `LOOP_BUDGET`
 * (llvmpipe's cap on loop iterations per invocation); rows beyond that are refused.
 *
 * @example
 * ```ts
 * const { coop, wg } = rowPlan("layerNorm", 768, 3); // three passes over each row
 * ```
 */
export function rowPlan(op: string, L: number, passes = 2): RowPlan {
  const cpu = runtime().info.kernels === "cpu";
  if (L < (cpu ? 1024 : 64)) return { coop: false, wg: cpu ? 8 : 64 };
  let wg = cpu ? 8 : L >= 4096 ? 256 : 64;
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

/**
 * @internal Launch one softmax-family kernel over `rows` rows of length `L` (tests force
 * a kernel shape with `plan`).
 *
 * @example
 * ```ts
 * rowKernel("forward", "softmax", [x, y], rows, L, { coop: true, wg: 64 });
 * ```
 */
export function rowKernel(
  entry: "forward" | "backward",
  op: SoftmaxOp,
  buffers: Tensor[],
  rows: number,
  L: number,
  plan: RowPlan = rowPlan(op, L),
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
