/**
 * Normalisations over the last axis (shaders/norm.wgsl): LayerNorm with optional affine
 * weight and bias, and L2 normalisation. Fused forward kernels save per-row statistics
 * (mean and 1/std, or the norm) for fused backward kernels; LayerNorm's weight and bias
 * gradients are column sums done by one invocation per column (and row chunk), no atomics.
 */
import code from "../../../shaders/norm.wgsl" with { type: "text" };
import { Tensor } from "../tensor.ts";
import { record } from "../tape.ts";
import { grid, launch, Params } from "../launch.ts";
import { checkDevice, checkDType } from "../check.ts";
import { sumTo } from "./reduce.ts";
import { type RowPlan, rowPlan } from "./softmax.ts";

/** Rows summed by one invocation of the weight/bias gradient kernel. */
const PARAM_CHUNK = 1024;

/** Launch a row kernel (`<prefix>_row_<entry>` or `<prefix>_wg_<entry>`) over [rows, L]. */
function rows(
  entry: string,
  buffers: Tensor[],
  shape: { rows: number; L: number },
  plan: RowPlan,
  eps: number,
  constants: Record<string, number> = {},
): void {
  const [prefix, pass] = entry.split(":");
  launch("norm", code, `${prefix}_${plan.coop ? "wg" : "row"}_${pass}`, {
    buffers,
    workgroups: plan.coop ? grid(shape.rows * plan.wg, plan.wg) : grid(shape.rows, plan.wg),
    params: new Params().u32(shape.rows, shape.L).f32(eps).u32(0),
    constants: { ...constants, WG: plan.wg },
  });
}

function lastDim(op: string, x: Tensor): { rows: number; L: number } {
  checkDevice(op, x);
  checkDType(op, x, "f32");
  if (x.ndim === 0) throw new Error(`${op}: needs at least one dimension, got a scalar`);
  const L = x.shape[x.ndim - 1];
  return { rows: x.size / L, L };
}

function checkEps(op: string, eps: number, positive: boolean): void {
  if (!Number.isFinite(eps) || eps < 0 || (positive && eps === 0)) {
    throw new Error(`${op}: eps must be a finite number ${positive ? "> 0" : ">= 0"}, got ${eps}`);
  }
}

/**
 * Layer normalisation over the last axis (PyTorch semantics: biased variance, `eps`
 * inside the square root), then `* weight + bias` when given (each of shape [L]).
 *
 * @example
 * ```ts
 * const y = layerNorm(x, gamma, beta, 1e-6); // x [B, T, D], gamma and beta [D]
 * ```
 */
export function layerNorm(
  x: Tensor,
  weight?: Tensor | null,
  bias?: Tensor | null,
  eps = 1e-5,
): Tensor {
  const op = "layerNorm";
  const sh = lastDim(op, x);
  for (const [what, t] of [["weight", weight], ["bias", bias]] as const) {
    if (!t) continue;
    checkDevice(op, t);
    checkDType(op, t, "f32", what);
    if (t.ndim !== 1 || t.shape[0] !== sh.L) {
      throw new Error(
        `${op}: ${what} [${t.shape}] does not match the last dimension of x [${x.shape}] (want [${sh.L}])`,
      );
    }
  }
  checkEps(op, eps, false);
  const plan = rowPlan(op, sh.L, 3);
  const constants = { HAS_W: weight ? 1 : 0, HAS_B: bias ? 1 : 0 };
  const y = Tensor.empty(x.shape, "f32", op);
  const mean = Tensor.empty([sh.rows], "f32", op);
  const rstd = Tensor.empty([sh.rows], "f32", op);
  rows("ln:forward", [x, weight ?? x, bias ?? x, y, mean, rstd], sh, plan, eps, constants);
  const inputs = [x, ...(weight ? [weight] : []), ...(bias ? [bias] : [])];
  record(y, op, inputs, (g) => {
    let dx: Tensor | null = null;
    if (x.requiresGrad) {
      dx = Tensor.empty(x.shape, "f32", `${op} backward`);
      const bplan = rowPlan(op, sh.L, 2);
      rows("ln:backward", [g, x, weight ?? x, mean, rstd, dx], sh, bplan, eps, constants);
    }
    let dw: Tensor | null = null;
    let db: Tensor | null = null;
    if (weight?.requiresGrad || bias?.requiresGrad) {
      const chunk = Math.min(sh.rows, PARAM_CHUNK);
      const nChunks = Math.ceil(sh.rows / chunk);
      const pw = Tensor.empty([nChunks, sh.L], "f32", `${op} backward`);
      const pb = Tensor.empty([nChunks, sh.L], "f32", `${op} backward`);
      launch("norm", code, "ln_param_backward", {
        buffers: [g, x, mean, rstd, pw, pb],
        workgroups: grid(nChunks * sh.L, 64),
        params: new Params().u32(sh.rows, sh.L).f32(eps).u32(chunk),
      });
      const fold = (part: Tensor, want: boolean | undefined): Tensor | null => {
        if (!want) {
          part.dispose();
          return null;
        }
        if (nChunks === 1) {
          const r = part.reshape([sh.L]);
          part.dispose();
          return r;
        }
        const r = sumTo(part, [sh.L]);
        part.dispose();
        return r;
      };
      dw = fold(pw, weight?.requiresGrad);
      db = fold(pb, bias?.requiresGrad);
    }
    mean.dispose();
    rstd.dispose();
    return [dx, ...(weight ? [dw] : []), ...(bias ? [db] : [])];
  });
  if (!y.requiresGrad) {
    mean.dispose();
    rstd.dispose();
  }
  return y;
}

/**
 * L2-normalise over the last axis: `x / max(||x||_2, eps)`, as
 * `torch.nn.functional.normalize(x, dim=-1)`.
 *
 * @example
 * ```ts
 * const z = l2normalize(features); // or features.l2normalize()
 * ```
 */
export function l2normalize(x: Tensor, eps = 1e-12): Tensor {
  const op = "l2normalize";
  const sh = lastDim(op, x);
  checkEps(op, eps, true);
  const y = Tensor.empty(x.shape, "f32", op);
  const norm = Tensor.empty([sh.rows], "f32", op);
  rows("l2:forward", [x, y, norm], sh, rowPlan(op, sh.L, 2), eps);
  record(y, op, [x], (g) => {
    const dx = Tensor.empty(x.shape, "f32", `${op} backward`);
    rows("l2:backward", [g, x, norm, dx], sh, rowPlan(op, sh.L, 2), eps);
    norm.dispose();
    return [dx];
  });
  if (!y.requiresGrad) norm.dispose();
  return y;
}
