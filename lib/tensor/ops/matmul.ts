/**
 * Batched matrix multiply with optional transposes (shaders/matmul.wgsl).
 *
 * `a` is [..., M, K] (or [..., K, M] with `transA`), `b` is [..., K, N] (or [..., N, K]
 * with `transB`). Leading (batch) dims must match, or one operand has none (it is then
 * shared by every batch element). The adapter decides the kernel: register-blocked on a
 * software adapter, shared-memory tiled on a GPU.
 */
import code from "../../../shaders/matmul.wgsl" with { type: "text" };
import { runtime } from "../../gpu/device.ts";
import { Tensor } from "../tensor.ts";
import { record } from "../tape.ts";
import { grid, launch, Params, uniformWindow, WINDOW_FLOATS } from "../launch.ts";
import { checkDevice, checkDType } from "../check.ts";
import { sumTo } from "./reduce.ts";
import { add } from "./elementwise.ts";
import { noGrad } from "../tape.ts";

/** Transpose flags for `matmul`. */
export interface MatmulOptions {
  /** Use A transposed (a is stored [..., K, M]). */
  transA?: boolean;
  /** Use B transposed (b is stored [..., N, K]). */
  transB?: boolean;
}

interface Geometry {
  M: number;
  N: number;
  K: number;
  batchShape: number[];
  batch: number;
  aBatched: boolean;
  bBatched: boolean;
}

function geometry(a: readonly number[], b: readonly number[], ta: boolean, tb: boolean): Geometry {
  const name = `matmul(${ta ? "A^T" : "A"}, ${tb ? "B^T" : "B"})`;
  if (a.length < 2 || b.length < 2) {
    throw new Error(`${name}: operands need at least 2 dims, got [${a}] and [${b}]`);
  }
  const [M, Ka] = ta ? [a[a.length - 1], a[a.length - 2]] : [a[a.length - 2], a[a.length - 1]];
  const [Kb, N] = tb ? [b[b.length - 1], b[b.length - 2]] : [b[b.length - 2], b[b.length - 1]];
  if (Ka !== Kb) {
    throw new Error(`${name}: inner dimensions differ: [${a}] and [${b}] (${Ka} vs ${Kb})`);
  }
  const ba = a.slice(0, -2);
  const bb = b.slice(0, -2);
  const na = ba.reduce((x, y) => x * y, 1);
  const nb = bb.reduce((x, y) => x * y, 1);
  let batchShape: number[];
  if (ba.length && bb.length && ba.join() !== bb.join() && na !== 1 && nb !== 1) {
    throw new Error(`${name}: batch dims [${ba}] and [${bb}] differ (shapes [${a}] and [${b}])`);
  }
  if (na >= nb) batchShape = [...ba];
  else batchShape = [...bb];
  const batch = Math.max(na, nb);
  return { M, N, K: Ka, batchShape, batch, aBatched: na > 1, bBatched: nb > 1 };
}

function mmRaw(a: Tensor, b: Tensor, ta: boolean, tb: boolean, g: Geometry): Tensor {
  const out = Tensor.empty([...g.batchShape, g.M, g.N], "f32", "matmul");
  const { M, N, K } = g;
  // B shared by all batch elements and A untransposed: one 2-D product over batch*M rows
  if (g.batch > 1 && !g.bBatched && !ta) {
    dispatch(a, b, out, g.batch * M, N, K, 1, 0, 0, 0, ta, tb);
    return out;
  }
  if (g.batch > 65535) throw new Error(`matmul: batch ${g.batch} exceeds 65535`);
  dispatch(
    a,
    b,
    out,
    M,
    N,
    K,
    g.batch,
    g.aBatched ? M * K : 0,
    g.bBatched ? K * N : 0,
    M * N,
    ta,
    tb,
  );
  return out;
}

/** Floats in one packed 64 KiB tile (one uniform window). */
const TILE = WINDOW_FLOATS;

/**
 * Software-adapter path for one 2-D product: pack A and B into k-major 64 KiB tiles, then
 * one `mm_ubo` dispatch per (row block, column block, pair of k blocks), the tiles bound as
 * uniform buffers. `bias` (length N) is added in the epilogue when given.
 */
function packedMatmul(
  a: Tensor,
  b: Tensor,
  c: Tensor,
  M: number,
  N: number,
  K: number,
  ta: boolean,
  tb: boolean,
  bias?: Tensor,
) {
  // block sizes: MC*KC and NC*KC fit a tile; MC a multiple of 16, NC of 64, KC of 4
  const m16 = Math.ceil(M / 16) * 16;
  const n64 = Math.ceil(N / 64) * 64;
  let KC = Math.min(Math.ceil(K / 4) * 4, Math.floor(TILE / Math.min(Math.max(m16, n64), 128)));
  KC = Math.max(4, Math.floor(KC / 4) * 4);
  const cap = Math.floor(TILE / KC);
  const MC = Math.min(Math.floor(cap / 16) * 16, m16);
  const NC = Math.min(Math.floor(cap / 64) * 64, n64);
  const mt = Math.ceil(M / MC);
  const nt = Math.ceil(N / NC);
  const kt = Math.ceil(K / KC);
  const pa = Tensor.empty([mt * kt * TILE], "f32", "matmul pack");
  const pb = Tensor.empty([nt * kt * TILE], "f32", "matmul pack");
  // A is logical [M, K], stored transposed when ta; B is logical [N, K] (B^T), stored [K, N] unless tb
  pack(a, pa, M, K, MC, KC, mt, kt, ta);
  pack(b, pb, N, K, NC, KC, nt, kt, !tb);
  const constants = { KC, MC, NC, BIAS: bias ? 1 : 0 };
  const win = uniformWindow;
  for (let i = 0; i < mt; i++) {
    for (let j = 0; j < nt; j++) {
      for (let k = 0; k < kt; k += 4) {
        const blocks = Math.min(4, kt - k);
        // unused windows still need valid bindings: repeat the last real block
        const kk = [0, 1, 2, 3].map((d) => k + Math.min(d, blocks - 1));
        launch("matmul", code, "mm_ubo", {
          buffers: [
            win(pa, i * kt + kk[0]),
            win(pb, j * kt + kk[0]),
            win(pa, i * kt + kk[1]),
            win(pb, j * kt + kk[1]),
            win(pa, i * kt + kk[2]),
            win(pb, j * kt + kk[2]),
            win(pa, i * kt + kk[3]),
            win(pb, j * kt + kk[3]),
            c,
            bias ?? pa, // binding 10 must be bound even when unused
          ],
          workgroups: [NC / 64, MC / 8],
          params: new Params().u32(M, N, i * MC, j * NC, k === 0 ? 1 : 0, blocks),
          constants,
        });
      }
    }
  }
  pa.dispose();
  pb.dispose();
}

/** Whether a 2-D product is large enough for the packed software path to pay. */
function usePacked(M: number, N: number, K: number): boolean {
  return M >= 16 && N >= 16 && M * N * K >= 1 << 18;
}

/** Re-lay a logical [R, Kd] matrix (stored [Kd, R] when `tx`) into k-major tiles. */
function pack(
  x: Tensor,
  out: Tensor,
  R: number,
  Kd: number,
  RC: number,
  KC: number,
  rt: number,
  kt: number,
  tx: boolean,
) {
  const n = rt * kt * KC;
  launch("matmul", code, "pack", {
    buffers: [x, out],
    workgroups: grid(n, 64),
    params: new Params().u32(n, R, Kd, RC, KC, rt, kt, 0),
    constants: { TX: tx ? 1 : 0 },
  });
}

function dispatch(
  a: Tensor,
  b: Tensor,
  c: Tensor,
  M: number,
  N: number,
  K: number,
  batch: number,
  sa: number,
  sb: number,
  sc: number,
  ta: boolean,
  tb: boolean,
) {
  const reg = runtime().info.kernels === "cpu";
  if (reg && batch === 1 && usePacked(M, N, K)) {
    packedMatmul(a, b, c, M, N, K, ta, tb);
    return;
  }
  // A GPU with few output tiles and a long K (weight gradients): split K over workgroups
  // into partial products, then sum them (split-K), so the whole GPU has work.
  const tiles = Math.ceil(M / 64) * Math.ceil(N / 64) * batch;
  if (!reg && !runtime().info.isFallback && batch === 1 && tiles < 64 && K >= 1024) {
    const span = Math.ceil(K / Math.min(64, Math.ceil(K / 512)) / 16) * 16;
    const S = Math.ceil(K / span);
    const parts = Tensor.empty([S, M, N], "f32", "matmul split-K");
    launch("matmul", code, "mm_tiled", {
      buffers: [a, b, parts],
      workgroups: [Math.ceil(N / 64), Math.ceil(M / 64), S],
      params: new Params().u32(M, N, K, 1, 0, 0, M * N).f32(1).u32(0, K),
      constants: { TA: ta ? 1 : 0, TB: tb ? 1 : 0, SPLIT: span },
    });
    const sum = sumTo(parts, [1, M, N]);
    runtime().copy(sum.buffer, 0, c.buffer, 0, M * N * 4);
    sum.dispose();
    parts.dispose();
    return;
  }
  // On a software adapter one invocation may loop at most ~65k times, so long K is split
  // into chunks that accumulate into C (a real GPU takes K in one dispatch).
  const fallback = runtime().info.isFallback;
  const chunk = fallback ? 1024 : K;
  for (let k0 = 0; k0 < K; k0 += chunk) {
    const k1 = Math.min(K, k0 + chunk);
    const params = new Params().u32(M, N, K, batch, sa, sb, sc).f32(1).u32(k0, k1);
    const constants = { TA: ta ? 1 : 0, TB: tb ? 1 : 0, ACC: k0 > 0 ? 1 : 0 };
    launch("matmul", code, reg ? "mm_reg" : "mm_tiled", {
      buffers: [a, b, c],
      workgroups: [Math.ceil(N / 64), Math.ceil(M / 64), batch],
      params,
      constants,
    });
  }
}

/** Product without the tape; used by other ops' backward passes. */
export function matmulRaw(a: Tensor, b: Tensor, ta = false, tb = false): Tensor {
  return mmRaw(a, b, ta, tb, geometry(a.shape, b.shape, ta, tb));
}

/**
 * `op(a) @ op(b)`, batched, with optional transposes.
 *
 * @example
 * ```ts
 * const y = matmul(x, w, { transB: true }); // x @ w^T, PyTorch's Linear layout
 * ```
 */
export function matmul(a: Tensor, b: Tensor, opts: MatmulOptions = {}): Tensor {
  const ta = opts.transA ?? false;
  const tb = opts.transB ?? false;
  checkDevice("matmul", a, b);
  checkDType("matmul", a, "f32", "A");
  checkDType("matmul", b, "f32", "B");
  const g = geometry(a.shape, b.shape, ta, tb);
  const out = mmRaw(a, b, ta, tb, g);
  return record(out, "matmul", [a, b], (dc) => {
    let da: Tensor | null = null;
    let db: Tensor | null = null;
    if (a.requiresGrad) {
      da = ta ? matmulRaw(b, dc, tb, true) : matmulRaw(dc, b, false, !tb);
      if (da.shape.join() !== a.shape.join()) {
        const r = sumTo(da, a.shape);
        da.dispose();
        da = r;
      }
    }
    if (b.requiresGrad) {
      if (!g.bBatched && g.batch > 1) {
        // shared B: fold the batch into the rows, one 2-D product
        const a2 = ta ? null : a.reshape([g.batch * g.M, g.K]);
        const d2 = dc.reshape([g.batch * g.M, g.N]);
        if (a2) {
          db = tb ? matmulRaw(d2, a2, true, false) : matmulRaw(a2, d2, true, false);
          a2.dispose();
        } else {
          const full = tb ? matmulRaw(dc, a, true, true) : matmulRaw(a, dc, false, false);
          db = sumTo(full, b.shape);
          full.dispose();
        }
        d2.dispose();
      } else {
        db = tb ? matmulRaw(dc, a, true, ta) : matmulRaw(a, dc, !ta, false);
      }
      if (db.shape.join() !== b.shape.join()) {
        const r = sumTo(db, b.shape);
        db.dispose();
        db = r;
      }
    }
    return [da, db];
  });
}

/**
 * A fused linear layer on rows: `x @ w^T + b` with PyTorch's `[out, in]` weight layout
 * (x [R, in], w [out, in], b [out]). On a software adapter the bias is added in the
 * matmul's epilogue instead of a separate pass over the output.
 *
 * @example
 * ```ts
 * const y = linear(x, fc.weight, fc.bias); // [R, out]
 * ```
 */
export function linear(x: Tensor, w: Tensor, b?: Tensor | null): Tensor {
  checkDevice("linear", x, w, ...(b ? [b] : []));
  if (x.ndim !== 2 || w.ndim !== 2 || x.shape[1] !== w.shape[1]) {
    throw new Error(
      `linear: input [${x.shape}] and weight [${w.shape}] do not match (want [R, in] and [out, in])`,
    );
  }
  const [R, I] = x.shape;
  const O = w.shape[0];
  if (b && (b.ndim !== 1 || b.shape[0] !== O)) {
    throw new Error(`linear: bias [${b.shape}] does not match weight [${w.shape}] (want [${O}])`);
  }
  const fused = b && runtime().info.kernels === "cpu" && usePacked(R, O, I);
  let out: Tensor;
  if (fused) {
    out = Tensor.empty([R, O], "f32", "linear");
    packedMatmul(x, w, out, R, O, I, false, true, b);
  } else {
    const y = matmulRaw(x, w, false, true);
    if (!b) out = y;
    else {
      out = noGrad(() => add(y, b));
      y.dispose();
    }
  }
  const inputs = b ? [x, w, b] : [x, w];
  return record(out, "linear", inputs, (g) => [
    x.requiresGrad ? matmulRaw(g, w, false, false) : null, // dx = g W
    w.requiresGrad ? matmulRaw(g, x, true, false) : null, // dW = g^T x
    b && b.requiresGrad ? sumTo(g, [O]) : null, // db = sum over rows
  ]);
}
