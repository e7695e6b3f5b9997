/**
 * Batched matrix multiply with optional transposes (shaders/matmul.wgsl), PyTorch's
 * `matmul`, `F.linear` and (fused) timm's `Mlp`.
 *
 * `a` is [..., M, K] (or [..., K, M] with `transA`), `b` is [..., K, N] (or [..., N, K]
 * with `transB`). Leading (batch) dims must match, or one operand has none (it is then
 * shared by every batch element). The adapter decides the kernel: register-blocked on a
 * software adapter, shared-memory tiled on a GPU. A software adapter's large 2-D products
 * read their operands through 64 KiB uniform windows, in place where the stored layout
 * allows (a planner picks block sizes and which operands to pack), and fuse work into the
 * product's epilogue: a Linear's bias, the GELU of `mlp` (and its derivative in the
 * backward), and a Linear's bias gradient (out of the weight gradient's product).
 */
import code from "../../../shaders/matmul.wgsl" with { type: "text" };
import { runtime } from "../../gpu/device.ts";
import { Tensor } from "../tensor.ts";
import { gradEnabled, noGrad, record } from "../tape.ts";
import { grid, launch, Params, uniformWindow, WINDOW_FLOATS } from "../launch.ts";
import { checkDevice, checkDType } from "../check.ts";
import { sumTo } from "./reduce.ts";
import { add, gelu } from "./elementwise.ts";

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

/** Floats in one 64 KiB uniform window (a packed tile is one window). */
const TILE = WINDOW_FLOATS;

/** What the software path's epilogue does besides storing the product (see mm_win). */
interface Epilogue {
  /** Add `bias[n]` (length N). */
  bias?: Tensor;
  /**
   * "forward": store gelu(acc + bias) and the pre-activation into `aux`; "backward": multiply
   * by gelu'(aux); "inference": store gelu(acc + bias) only (no backward will need `aux`).
   */
  gelu?: "forward" | "backward" | "inference";
  /** Pre-activation [M, N] (written by "forward", read by "backward"). */
  aux?: Tensor;
  /** Also write the row sums of A over k (length M): a Linear's bias gradient from dW = g^T x. */
  dbias?: Tensor;
}

/** An operand as stored: element (r, k) at k * ld + r (kMajor) or r * ld + k. */
interface Operand {
  t: Tensor;
  R: number;
  kMajor: boolean;
  ld: number;
}

/** One operand's part of a plan: read in place (`direct`) or packed, and its block rows. */
interface Side {
  direct: boolean;
  RC: number;
}

interface Plan {
  KC: number;
  a: Side;
  b: Side;
  rows: boolean;
}

/**
 * Planner costs (llvmpipe, measured), in µs: a dispatch, one float through `pack`, and one
 * output element stored (and, after the first, reloaded) by each pass of k dispatches.
 */
const DISPATCH_US = 100;
const PACK_US = 0.01;
const PASS_US = 0.008;
/** Floats of a window an in-place operand may use: its start is aligned down to 256 bytes. */
const USABLE = TILE - 60;

const plans = new Map<string, Plan>();

/**
 * Rows of a block that fit one window for k blocks of `kc` (0: the operand cannot be read
 * in place). `room` is the window's usable floats: all of it when every block starts on a
 * 256-byte boundary, less when a start may sit up to 60 floats past one.
 */
function directRows(op: Operand, K: number, kc: number, room: number): number {
  if (K % 4 || op.ld % 4) return 0;
  const bytes = op.t.buffer.size;
  // an operand smaller than a window is copied into one; a larger one needs a buffer that
  // ends on a 256-byte boundary, so its last window can be moved back to end there
  if (bytes < TILE * 4 ? op.t.size > TILE : bytes % 256 !== 0) return 0;
  if (op.kMajor) return Math.max(0, room - (kc - 1) * op.ld);
  return kc > room ? 0 : Math.floor((room - kc) / op.ld) + 1;
}

/** Whether every block of an in-place operand starts on a 256-byte (64-float) boundary. */
function aligned(op: Operand, RC: number, R: number, kc: number, K: number): boolean {
  const rowsOk = RC >= R || (op.kMajor ? RC % 64 === 0 : (RC * op.ld) % 64 === 0);
  const kOk = kc >= K || (op.kMajor ? (kc * op.ld) % 64 === 0 : kc % 64 === 0);
  return rowsOk && kOk;
}

/** Block rows of an in-place operand (a multiple of `unit`, at most `full`), or 0. */
function directBlock(op: Operand, full: number, unit: number, kc: number, K: number): number {
  for (const room of [TILE, USABLE]) {
    const RC = blockRows(full, op.R, unit, directRows(op, K, kc, room));
    if (
      RC >= unit && (room < TILE || op.t.buffer.size < TILE * 4 || aligned(op, RC, op.R, kc, K))
    ) {
      return RC;
    }
  }
  return 0;
}

/** Largest multiple of `unit` (at most `full`) whose valid rows (at most R) fit `max`. */
function blockRows(full: number, R: number, unit: number, max: number): number {
  if (Math.min(full, R) <= max) return full;
  return Math.floor(max / unit) * unit;
}

/** Pick the k block, each operand's mode and block rows, and the dispatch shape for the least estimated time. */
function plan(A: Operand, B: Operand, M: number, N: number, K: number): Plan {
  const key = [
    M,
    N,
    K,
    A.kMajor,
    A.ld,
    B.kMajor,
    B.ld,
    A.t.buffer.size < TILE * 4,
    B.t.buffer.size < TILE * 4,
  ].join();
  const hit = plans.get(key);
  if (hit) return hit;
  const m8 = Math.ceil(M / 8) * 8;
  const n64 = Math.ceil(N / 64) * 64;
  let best: Plan | null = null;
  let bestCost = Infinity;
  for (let kc = 4; kc <= Math.min(Math.ceil(K / 4) * 4, 2048); kc += 4) {
    const kt = Math.ceil(K / kc);
    for (const ad of [true, false]) {
      for (const bd of [true, false]) {
        const MC = ad ? directBlock(A, m8, 8, kc, K) : Math.min(m8, Math.floor(TILE / kc / 8) * 8);
        const NC = bd
          ? directBlock(B, n64, 64, kc, K)
          : Math.min(n64, Math.floor(TILE / kc / 64) * 64);
        if (MC < 8 || NC < 64) continue;
        const mt = Math.ceil(M / MC);
        const nt = Math.ceil(N / NC);
        const rows = kt === 1 && mt > 1;
        const dispatches = rows ? nt * Math.ceil(mt / 4) : mt * nt * Math.ceil(kt / 4);
        const packed = (ad ? 0 : mt * kt * MC * kc) + (bd ? 0 : nt * kt * NC * kc);
        const passes = rows ? 1 : Math.ceil(kt / 4); // times each output is stored
        const cost = (dispatches + (ad ? 0 : 1) + (bd ? 0 : 1)) * DISPATCH_US + packed * PACK_US +
          M * N * passes * PASS_US;
        if (cost < bestCost) {
          bestCost = cost;
          best = { KC: kc, a: { direct: ad, RC: MC }, b: { direct: bd, RC: NC }, rows };
        }
      }
    }
  }
  if (!best) throw new Error(`matmul: no window plan for [${M}, ${N}, ${K}]`); // packing always fits
  if (plans.size > 1000) plans.clear();
  plans.set(key, best);
  return best;
}

/** Windows of one operand: `at(r, k)` is block (row block r, k block k) as a binding and its vec4 start. */
interface Source {
  at(r: number, k: number): { win: GPUBufferBinding; e: number };
  s: number; // ld / 4
  kMajor: boolean;
  temp: Tensor | null;
}

function source(op: Operand, side: Side, K: number, KC: number, rt: number, kt: number): Source {
  if (!side.direct) {
    const p = Tensor.empty([rt * kt * TILE], "f32", "matmul pack");
    pack(op.t, p, op.R, K, side.RC, KC, rt, kt, op.kMajor);
    return {
      at: (r, k) => ({ win: uniformWindow(p, r * kt + k), e: 0 }),
      s: side.RC / 4,
      kMajor: true,
      temp: p,
    };
  }
  let t = op.t;
  let temp: Tensor | null = null;
  if (t.buffer.size < TILE * 4) {
    // smaller than a window: copy into one (a buffer copy, no kernel)
    temp = Tensor.empty([TILE], "f32", "matmul window");
    runtime().copy(t.buffer, 0, temp.buffer, 0, t.size * 4);
    t = temp;
  }
  const floats = t.buffer.size / 4;
  return {
    at: (r, k) => {
      const r0 = r * side.RC;
      const k0 = k * KC;
      const start = op.kMajor ? k0 * op.ld + r0 : r0 * op.ld + k0;
      const off = Math.min(Math.floor(start / 64) * 64, floats - TILE);
      return { win: { buffer: t.buffer, offset: off * 4, size: TILE * 4 }, e: (start - off) / 4 };
    },
    s: op.ld / 4,
    kMajor: op.kMajor,
    temp,
  };
}

const spares = new WeakMap<object, [GPUBuffer, GPUBuffer]>();

/**
 * Two small buffers, kept for the runtime's life, bound where an entry's unused epilogue
 * outputs need a buffer: distinct, so no buffer is bound writable twice, and the same every
 * call, so the runtime's cached bind groups repeat from step to step.
 */
function spareBuffers(): [GPUBuffer, GPUBuffer] {
  const rt = runtime();
  let s = spares.get(rt);
  if (!s) {
    // outside the pool: they hold no tensor, so they do not count as buffers in use
    const make = (i: number) =>
      rt.device.createBuffer({
        size: 16,
        usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST,
        label: `matmul-spare-${i}`,
      });
    s = [make(0), make(1)];
    spares.set(rt, s);
  }
  return s;
}

/**
 * Software-adapter path for one 2-D product: A and B are read through 64 KiB uniform
 * windows, in place where their layout allows (an activation [rows, features], a weight) and
 * packed into k-major tiles otherwise, then one `mm_win` dispatch per (row block, column
 * block, four k blocks), or per four row blocks when K fits one block. `epi` adds a bias, a
 * GELU, or a bias gradient in the epilogue.
 */
function windowMatmul(
  a: Tensor,
  b: Tensor,
  c: Tensor,
  M: number,
  N: number,
  K: number,
  ta: boolean,
  tb: boolean,
  epi: Epilogue = {},
) {
  const A: Operand = { t: a, R: M, kMajor: ta, ld: ta ? M : K };
  const B: Operand = { t: b, R: N, kMajor: !tb, ld: tb ? K : N };
  const p = plan(A, B, M, N, K);
  const { KC } = p;
  const MC = p.a.RC;
  const NC = p.b.RC;
  const mt = Math.ceil(M / MC);
  const nt = Math.ceil(N / NC);
  const kt = Math.ceil(K / KC);
  const sa = source(A, p.a, K, KC, mt, kt);
  const sb = source(B, p.b, K, KC, nt, kt);
  const constants = {
    LA: sa.kMajor ? 1 : 0,
    LB: sb.kMajor ? 1 : 0,
    ROWS: p.rows ? 1 : 0,
    BIAS: epi.bias ? 1 : 0,
    EPI: epi.gelu ? { forward: 1, backward: 2, inference: 3 }[epi.gelu] : 0,
    DB: epi.dbias ? 1 : 0,
    // one dispatch stores each output (K in at most four blocks): no accumulate paths
    ONEPASS: p.rows || kt <= 4 ? 1 : 0,
  };
  const entry = N % 4 === 0 ? "mm_win4" : "mm_win";
  // bindings the entry reads even when its override turns them off need a buffer
  const [s1, s2] = spareBuffers();
  const tail = [c, epi.bias ?? a, epi.aux ?? s1, epi.dbias ?? s2];
  const kn = (k: number) => Math.ceil(Math.min(KC, K - k * KC) / 4) * 4;
  // the WinParams block of mm_win; a one-element window list is repeated four times
  const four = (v: number[]) => v.length === 1 ? [v[0], v[0], v[0], v[0]] : v;
  const winParams = (
    m0: number,
    n0: number,
    first: number,
    last: number,
    blocks: number,
    rpb: number,
    j: number,
    ao: number[],
    bo: number[],
    kns: number[],
  ) =>
    new Params().u32(M, N, m0, n0, first, blocks, sa.s, sb.s, rpb, j === 0 ? 1 : 0, last, 0)
      .u32(...four(ao)).u32(...four(bo)).u32(...four(kns));
  for (let j = 0; j < nt; j++) {
    const n0 = j * NC;
    const wx = Math.ceil(Math.min(NC, N - n0) / 64);
    if (p.rows) {
      for (let i = 0; i < mt; i += 4) {
        const nb = Math.min(4, mt - i);
        const wa = [0, 1, 2, 3].map((d) => sa.at(i + Math.min(d, nb - 1), 0));
        const wb = sb.at(j, 0);
        launch("matmul", code, entry, {
          buffers: [
            wa[0].win,
            wb.win,
            wa[1].win,
            wb.win,
            wa[2].win,
            wb.win,
            wa[3].win,
            wb.win,
            ...tail,
          ],
          workgroups: [
            wx,
            (nb - 1) * (MC / 8) + Math.ceil(Math.min(MC, M - (i + nb - 1) * MC) / 8),
          ],
          params: winParams(i * MC, n0, 1, 1, nb, MC / 8, j, wa.map((w) => w.e), [wb.e], [kn(0)]),
          constants,
        });
      }
      continue;
    }
    for (let i = 0; i < mt; i++) {
      const m0 = i * MC;
      const wy = Math.ceil(Math.min(MC, M - m0) / 8);
      for (let k = 0; k < kt; k += 4) {
        const blocks = Math.min(4, kt - k);
        // unused windows still need valid bindings: repeat the last real block
        const kk = [0, 1, 2, 3].map((d) => k + Math.min(d, blocks - 1));
        const wa = kk.map((q) => sa.at(i, q));
        const wb = kk.map((q) => sb.at(j, q));
        launch("matmul", code, entry, {
          buffers: [
            wa[0].win,
            wb[0].win,
            wa[1].win,
            wb[1].win,
            wa[2].win,
            wb[2].win,
            wa[3].win,
            wb[3].win,
            ...tail,
          ],
          workgroups: [wx, wy],
          params: winParams(
            m0,
            n0,
            k === 0 ? 1 : 0,
            k + 4 >= kt ? 1 : 0,
            blocks,
            0,
            j,
            wa.map((w) => w.e),
            wb.map((w) => w.e),
            kk.map(kn),
          ),
          constants,
        });
      }
    }
  }
  sa.temp?.dispose();
  sb.temp?.dispose();
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
    windowMatmul(a, b, c, M, N, K, ta, tb);
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
  const fused = b && windowed(R, O, I);
  let out: Tensor;
  if (fused) {
    out = Tensor.empty([R, O], "f32", "linear");
    windowMatmul(x, w, out, R, O, I, false, true, { bias: b });
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
    ...linearGrads(g, x, w.requiresGrad, Boolean(b?.requiresGrad)),
  ]);
}

/** Whether a 2-D product takes the windowed software path (where epilogues can be fused). */
function windowed(M: number, N: number, K: number): boolean {
  return runtime().info.kernels === "cpu" && usePacked(M, N, K);
}

/**
 * A Linear's weight and bias gradients from its output gradient g [R, O] and input x [R, I]:
 * dW = g^T x, db = column sums of g. On the windowed path db comes out of dW's product.
 */
function linearGrads(g: Tensor, x: Tensor, wantW: boolean, wantB: boolean): (Tensor | null)[] {
  const [R, O] = g.shape;
  const I = x.shape[1];
  if (wantW && wantB && windowed(O, I, R)) {
    const dw = Tensor.empty([O, I], "f32", "linear backward");
    const db = Tensor.empty([O], "f32", "linear backward");
    windowMatmul(g, x, dw, O, I, R, true, false, { dbias: db });
    return [dw, db];
  }
  return [wantW ? matmulRaw(g, x, true, false) : null, wantB ? sumTo(g, [O]) : null];
}

/**
 * Two Linears with an exact GELU between them, timm's `Mlp`: `gelu(x W1^T + b1) W2^T + b2`
 * (x [R, I], w1 [H, I], b1 [H], w2 [O, H], b2 [O]; biases optional). On a software adapter
 * it is fused: the GELU runs in fc1's epilogue, its derivative in the epilogue of the product
 * that back-propagates through fc2, and the bias gradients come out of the weight gradients'
 * products. Elsewhere it is `linear`, `gelu`, `linear`.
 *
 * @example
 * ```ts
 * const y = mlp(x, fc1.weight, fc1.bias, fc2.weight, fc2.bias); // [R, O]
 * ```
 */
export function mlp(
  x: Tensor,
  w1: Tensor,
  b1: Tensor | null,
  w2: Tensor,
  b2: Tensor | null,
): Tensor {
  checkDevice("mlp", x, w1, w2, ...(b1 ? [b1] : []), ...(b2 ? [b2] : []));
  if (x.ndim !== 2 || w1.ndim !== 2 || w2.ndim !== 2 || x.shape[1] !== w1.shape[1]) {
    throw new Error(
      `mlp: input [${x.shape}] and fc1 weight [${w1.shape}] do not match (want [R, in] and [hidden, in])`,
    );
  }
  const [R, I] = x.shape;
  const [H, O] = [w1.shape[0], w2.shape[0]];
  if (w2.shape[1] !== H) {
    throw new Error(
      `mlp: fc2 weight [${w2.shape}] does not take fc1's ${H} outputs (want [out, ${H}])`,
    );
  }
  for (const [what, t, n] of [["fc1 bias", b1, H], ["fc2 bias", b2, O]] as const) {
    if (t && (t.ndim !== 1 || t.shape[0] !== n)) {
      throw new Error(`mlp: ${what} [${t.shape}] does not match (want [${n}])`);
    }
  }
  if (!windowed(R, H, I) || !windowed(R, O, H)) {
    return linear(gelu(linear(x, w1, b1)), w2, b2);
  }
  const inputs = [x, w1, ...(b1 ? [b1] : []), w2, ...(b2 ? [b2] : [])];
  const h = Tensor.empty([R, H], "f32", "mlp");
  // fc1's output before the GELU, kept only when a backward will need it (not for a teacher
  // or an evaluation)
  const keep = gradEnabled() && inputs.some((t) => t.requiresGrad);
  const pre = keep ? Tensor.empty([R, H], "f32", "mlp") : null;
  windowMatmul(x, w1, h, R, H, I, false, true, {
    bias: b1 ?? undefined,
    gelu: pre ? "forward" : "inference",
    aux: pre ?? undefined,
  });
  const y = Tensor.empty([R, O], "f32", "mlp");
  windowMatmul(h, w2, y, R, O, H, false, true, { bias: b2 ?? undefined });
  if (!pre) {
    h.dispose();
    return y;
  }
  record(y, "mlp", inputs, (g) => {
    const [dw2, db2] = linearGrads(g, h, w2.requiresGrad, Boolean(b2?.requiresGrad));
    let dx: Tensor | null = null;
    let dw1: Tensor | null = null;
    let db1: Tensor | null = null;
    if (x.requiresGrad || w1.requiresGrad || b1?.requiresGrad) {
      // gradient at fc1's output: (g W2) * gelu'(pre), the product's epilogue applying gelu'
      const dpre = Tensor.empty([R, H], "f32", "mlp backward");
      windowMatmul(g, w2, dpre, R, H, O, false, false, { gelu: "backward", aux: pre });
      dx = x.requiresGrad ? matmulRaw(dpre, w1, false, false) : null;
      [dw1, db1] = linearGrads(dpre, x, w1.requiresGrad, Boolean(b1?.requiresGrad));
      dpre.dispose();
    }
    pre.dispose();
    h.dispose();
    return [dx, dw1, ...(b1 ? [db1] : []), dw2, ...(b2 ? [db2] : [])];
  });
  return y;
}
