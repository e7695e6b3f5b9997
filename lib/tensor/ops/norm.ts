/**
 * Normalisations over the last axis (shaders/norm.wgsl): LayerNorm with optional affine
 * weight and bias, and L2 normalisation. Fused forward kernels save per-row statistics
 * (mean and 1/std, or the norm) for fused backward kernels; LayerNorm's weight and bias
 * gradients are column sums done by one invocation per column (and row chunk), no atomics.
 * On a software adapter, rows whose length is a multiple of 4 (up to 512) take vec4
 * kernels that read the weight and bias from a uniform block: rows up to 256 are read once
 * into a private array and the passes run over that copy, and one backward pass makes dx
 * and the weight/bias partials; longer rows are streamed, the forward taking mean and
 * variance in one pass with Welford's update (two passes over the row, not three).
 */
import code from "../../../shaders/norm.wgsl" with { type: "text" };
import { Tensor } from "../tensor.ts";
import { record } from "../tape.ts";
import { grid, launch, LOOP_BUDGET, Params } from "../launch.ts";
import { runtime } from "../../gpu/device.ts";
import { checkDevice, checkDType } from "../check.ts";
import { sumTo } from "./reduce.ts";
import { type RowPlan, rowPlan } from "./softmax.ts";

/** Rows summed by one invocation of the weight/bias gradient kernel. */
const PARAM_CHUNK = 1024;
/** Floats of the uniform weight/bias block of the vec4 kernels: weight at 0, bias at half. */
const WB_FLOATS = 1024;
/** Longest row the vec4 kernels take (weight and bias each fill half the block). */
const VEC4_MAX_L = WB_FLOATS / 2;
/** Longest row the vec4 kernels copy into a private array (ROW_SLOTS vec4 in norm.wgsl). */
const VEC4_ROW_L = 256;
/** Invocations the vec4 weight/bias gradient kernel aims for (row chunks x column quads). */
const PARAM4_INVOCATIONS = 128;
/**
 * Rows per invocation of the fused dx + weight/bias gradient kernel: its loops run at most
 * ROWS_PER_CHUNK * (2 * 64 + 2) + 3 * 64 iterations, far under LOOP_BUDGET.
 */
const ROWS_PER_CHUNK = 16;

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
  if (runtime().info.kernels === "cpu" && sh.L % 4 === 0 && sh.L <= VEC4_MAX_L) {
    return layerNorm4(x, weight ?? null, bias ?? null, eps, sh);
  }
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
      dw = fold(pw, weight?.requiresGrad, sh.L);
      db = fold(pb, bias?.requiresGrad, sh.L);
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

/** Sum column partials [nChunks, L] over chunks into [L] (disposing them), or drop them. */
function fold(part: Tensor, want: boolean | undefined, L: number): Tensor | null {
  if (!want) {
    part.dispose();
    return null;
  }
  const r = part.shape[0] === 1 ? part.reshape([L]) : sumTo(part, [L]);
  part.dispose();
  return r;
}

/** The software adapter's LayerNorm: vec4 row kernels, weight and bias in a uniform block. */
function layerNorm4(
  x: Tensor,
  weight: Tensor | null,
  bias: Tensor | null,
  eps: number,
  sh: { rows: number; L: number },
): Tensor {
  const op = "layerNorm";
  // rows up to VEC4_ROW_L run from a private copy (one read of x, one of g and x); the loop
  // bound L / 4 is a pipeline constant there
  const reg = sh.L <= VEC4_ROW_L;
  const kind = reg ? "ln4r" : "ln4";
  const constants = {
    HAS_W: weight ? 1 : 0,
    HAS_B: bias ? 1 : 0,
    WG: 8,
    ...(reg ? { L4C: sh.L / 4 } : {}),
  };
  // the weight/bias block: buffer copies, no kernel
  const wb = Tensor.empty([WB_FLOATS], "f32", op);
  const rt = runtime();
  if (weight) rt.copy(weight.buffer, 0, wb.buffer, 0, sh.L * 4);
  if (bias) rt.copy(bias.buffer, 0, wb.buffer, WB_FLOATS * 2, sh.L * 4);
  const wbu = { buffer: wb.buffer, offset: 0, size: WB_FLOATS * 4 };
  const y = Tensor.empty(x.shape, "f32", op);
  const st = Tensor.empty([2 * sh.rows], "f32", op); // mean, then rstd
  const params = new Params().u32(sh.rows, sh.L).f32(eps).u32(0);
  launch("norm", code, `${kind}_forward`, {
    buffers: [x, wbu, y, st],
    workgroups: grid(sh.rows, 8),
    params,
    constants,
  });
  const inputs = [x, ...(weight ? [weight] : []), ...(bias ? [bias] : [])];
  const done = () => {
    wb.dispose();
    st.dispose();
  };
  record(y, op, inputs, (g) => {
    const wantX = x.requiresGrad;
    const wantP = Boolean(weight?.requiresGrad || bias?.requiresGrad);
    const dx = wantX ? Tensor.empty(x.shape, "f32", `${op} backward`) : null;
    let part: Tensor | null = null; // weight and bias gradient partials [nChunks, 2L]
    if (wantX && wantP && reg) {
      // one pass: dx and the partials of ROWS_PER_CHUNK rows per invocation
      const nChunks = Math.ceil(sh.rows / ROWS_PER_CHUNK);
      part = Tensor.empty([nChunks, 2 * sh.L], "f32", `${op} backward`);
      launch("norm", code, "ln4r_backward_param", {
        buffers: [g, x, wbu, st, dx!, part],
        workgroups: grid(nChunks, 8),
        params: new Params().u32(sh.rows, sh.L).f32(eps).u32(ROWS_PER_CHUNK),
        constants,
      });
    } else {
      if (dx) {
        launch("norm", code, `${kind}_backward`, {
          buffers: [g, x, wbu, st, dx],
          workgroups: grid(sh.rows, 8),
          params,
          constants,
        });
      }
      if (wantP) {
        const L4 = sh.L / 4;
        // enough row chunks to occupy the adapter's threads, each under the loop budget
        let nChunks = Math.min(sh.rows, Math.ceil(PARAM4_INVOCATIONS / L4));
        nChunks = Math.max(nChunks, Math.ceil(sh.rows / (LOOP_BUDGET - 100)));
        const chunk = Math.ceil(sh.rows / nChunks);
        nChunks = Math.ceil(sh.rows / chunk);
        part = Tensor.empty([nChunks, 2 * sh.L], "f32", `${op} backward`);
        launch("norm", code, "ln4_param", {
          buffers: [g, x, st, part],
          workgroups: grid(nChunks * L4, 8),
          params: new Params().u32(sh.rows, sh.L).f32(eps).u32(chunk),
          constants: { WG: 8 },
        });
      }
    }
    let dw: Tensor | null = null;
    let db: Tensor | null = null;
    if (part) {
      const both = part.shape[0] === 1 ? part : sumTo(part, [2 * sh.L]); // [dweight, dbias]
      // split by buffer copies
      const half = (i: number) => {
        const t = Tensor.empty([sh.L], "f32", `${op} backward`);
        rt.copy(both.buffer, i * sh.L * 4, t.buffer, 0, sh.L * 4);
        return t;
      };
      dw = weight?.requiresGrad ? half(0) : null;
      db = bias?.requiresGrad ? half(1) : null;
      if (both !== part) both.dispose();
      part.dispose();
    }
    done();
    return [dx, ...(weight ? [dw] : []), ...(bias ? [db] : [])];
  });
  if (!y.requiresGrad) done();
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
