/**
 * Elementwise ops (shaders/elementwise.wgsl): broadcasting add/sub/mul/div/maximum/
 * minimum with scalar forms, and unary exp, log, sqrt, rsqrt, pow, abs, clamp, GELU,
 * ReLU. Backward of a broadcast input sums the gradient back to the input's shape.
 * Sizes that are a multiple of 4 (with broadcast blocks of a multiple of 4) run the vec4
 * forms of the kernels: one invocation per 4 elements.
 */
import code from "../../../shaders/elementwise.wgsl" with { type: "text" };
import { Tensor } from "../tensor.ts";
import { record } from "../tape.ts";
import { grid, launch, Params } from "../launch.ts";
import { broadcastShapes, broadcastStrides, checkDevice, checkDType, checkRank } from "../check.ts";
import { sumTo } from "./reduce.ts";

const OPS = { add: 0, sub: 1, mul: 2, div: 3, maximum: 4, minimum: 5 } as const;
type BinOp = keyof typeof OPS;

const UN = {
  neg: 0,
  exp: 1,
  log: 2,
  sqrt: 3,
  rsqrt: 4,
  pow: 5,
  abs: 6,
  clamp: 7,
  gelu: 8,
  relu: 9,
  addScalar: 10,
  mulScalar: 11,
  rsubScalar: 12,
  rdivScalar: 13,
} as const;
type UnOp = keyof typeof UN;

function same(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

/** Uniform block shared by the elementwise kernels (see shaders/elementwise.wgsl). */
function ewParams(
  n: number,
  alpha = 0,
  beta = 0,
  inner = 0,
  shape: number[] = [],
  sa: number[] = [],
  sb: number[] = [],
) {
  return new Params().u32(n, shape.length).f32(alpha, beta).u32(inner, 0, 0, 0).u32s(shape).u32s(sa)
    .u32s(sb);
}

/** Merge adjacent output dims whose a- and b-strides chain, so the stride walk is short. */
function coalesce(
  shape: readonly number[],
  sa: number[],
  sb: number[],
): [number[], number[], number[]] {
  const os: number[] = [];
  const oa: number[] = [];
  const ob: number[] = [];
  for (let d = 0; d < shape.length; d++) {
    if (shape[d] === 1) continue;
    const k = os.length - 1;
    if (k >= 0 && oa[k] === sa[d] * shape[d] && ob[k] === sb[d] * shape[d]) {
      os[k] *= shape[d];
      oa[k] = sa[d];
      ob[k] = sb[d];
    } else {
      os.push(shape[d]);
      oa.push(sa[d]);
      ob.push(sb[d]);
    }
  }
  if (!os.length) return [[1], [0], [0]];
  return [os, oa, ob];
}

/** `s` (leading 1s ignored) equals the last dims of `out`. */
function isSuffix(s: readonly number[], out: readonly number[]): boolean {
  const t = s.slice(s.findIndex((d) => d !== 1) === -1 ? s.length : s.findIndex((d) => d !== 1));
  return t.every((d, i) => d === out[out.length - t.length + i]);
}

/** `s` equals the first dims of `out`, followed only by 1s (same rank). */
function isPrefix(s: readonly number[], out: readonly number[]): boolean {
  if (s.length !== out.length) return false;
  let k = s.length;
  while (k > 0 && s[k - 1] === 1) k--;
  return s.slice(0, k).every((d, i) => d === out[i]);
}

/** Kernel mode and block size for broadcasting `a` and `b` to `shape` (see the WGSL header). */
function broadcastMode(
  a: readonly number[],
  b: readonly number[],
  shape: readonly number[],
  n: number,
) {
  const fa = same(a, shape);
  const fb = same(b, shape);
  const na = a.reduce((x, y) => x * y, 1);
  const nb = b.reduce((x, y) => x * y, 1);
  if (fa && fb) return { mode: 0, inner: 0 };
  if (fa && isSuffix(b, shape)) return { mode: 2, inner: nb };
  if (fb && isSuffix(a, shape)) return { mode: 3, inner: na };
  if (fa && isPrefix(b, shape)) return { mode: 4, inner: n / nb };
  if (fb && isPrefix(a, shape)) return { mode: 5, inner: n / na };
  return { mode: 1, inner: 0 };
}

/** Raw forward of a binary op (no tape). */
function binaryRaw(op: BinOp, a: Tensor, b: Tensor): Tensor {
  const shape = broadcastShapes(op, a.shape, b.shape);
  checkRank(op, shape);
  const out = Tensor.empty(shape, "f32", op);
  const { mode, inner } = broadcastMode(a.shape, b.shape, shape, out.size);
  const [cs, ca, cb] = coalesce(
    shape,
    broadcastStrides(a.shape, shape),
    broadcastStrides(b.shape, shape),
  );
  const v4 = out.size % 4 === 0 && (mode === 0 || (mode > 1 && inner % 4 === 0));
  launch("elementwise", code, v4 ? "binary4" : "binary", {
    buffers: [a, b, out],
    workgroups: grid(v4 ? out.size / 4 : out.size),
    params: ewParams(out.size, 0, 0, inner, mode === 1 ? cs : [], ca, cb),
    constants: { OP: OPS[op], MODE: mode, RANK: mode === 1 ? cs.length : 0 },
  });
  return out;
}

function unaryRaw(op: UnOp, x: Tensor, alpha = 0, beta = 0): Tensor {
  const out = Tensor.empty(x.shape, "f32", op);
  const v4 = x.size % 4 === 0;
  launch("elementwise", code, v4 ? "unary4" : "unary", {
    buffers: [x, out],
    workgroups: grid(v4 ? x.size / 4 : x.size),
    params: ewParams(x.size, alpha, beta),
    constants: { OP: UN[op] },
  });
  return out;
}

function unaryGrad(op: UnOp, g: Tensor, x: Tensor, y: Tensor, alpha = 0, beta = 0): Tensor {
  const dx = Tensor.empty(x.shape, "f32", `${op} backward`);
  const v4 = x.size % 4 === 0;
  launch("elementwise", code, v4 ? "unary_backward4" : "unary_backward", {
    buffers: [g, x, y, dx],
    workgroups: grid(v4 ? x.size / 4 : x.size),
    params: ewParams(x.size, alpha, beta),
    constants: { OP: UN[op] },
  });
  return dx;
}

/** Broadcast `x` to `shape` times `scale` (no tape). */
export function expandRaw(x: Tensor, shape: readonly number[], scale = 1): Tensor {
  checkRank("expand", shape);
  const out = Tensor.empty(shape, "f32", "expand");
  const [cs, cx] = coalesce(shape, broadcastStrides(x.shape, shape), shape.map(() => 0));
  launch("elementwise", code, "expand", {
    buffers: [x, out],
    workgroups: grid(out.size),
    params: ewParams(out.size, scale, 0, 0, cs, cx, []),
    constants: { RANK: cs.length },
  });
  return out;
}

/**
 * Broadcast `x` to `shape` (a copy; gradient sums back).
 *
 * @example
 * ```ts
 * const b = expand(bias, [8, 64]);
 * ```
 */
export function expand(x: Tensor, shape: number[]): Tensor {
  checkDevice("expand", x);
  const full = broadcastShapes("expand", x.shape, shape);
  if (!same(full, shape)) {
    throw new Error(`expand: shape [${x.shape}] cannot be expanded to [${shape}]`);
  }
  return record(expandRaw(x, shape), "expand", [x], (g) => [sumTo(g, x.shape)]);
}

/** Fill `t` in place with `value` (f32, or i32 for integer tensors). */
export function fill(t: Tensor, value: number): void {
  const p = new Params().u32(t.size, 0);
  if (t.dtype === "i32") p.i32(value, 0);
  else p.f32(value, 0);
  p.u32(0, 0, 0, 0);
  launch("elementwise", code, "fill", { buffers: [t], workgroups: grid(t.size), params: p });
}

function unary(op: UnOp, x: Tensor, alpha = 0, beta = 0): Tensor {
  checkDevice(op, x);
  checkDType(op, x, "f32");
  const y = unaryRaw(op, x, alpha, beta);
  return record(y, op, [x], (g) => [unaryGrad(op, g, x, y, alpha, beta)]);
}

function scalarForm(op: BinOp, a: Tensor, s: number): Tensor {
  switch (op) {
    case "add":
      return unaryWithPassthrough("addScalar", a, s);
    case "sub":
      return unaryWithPassthrough("addScalar", a, -s);
    case "mul":
      return unary("mulScalar", a, s);
    case "div":
      return unary("mulScalar", a, 1 / s);
    case "maximum":
      return unary("clamp", a, s, Infinity);
    case "minimum":
      return unary("clamp", a, -Infinity, s);
  }
}

function unaryWithPassthrough(op: UnOp, x: Tensor, alpha: number): Tensor {
  checkDevice(op, x);
  checkDType(op, x, "f32");
  return record(unaryRaw(op, x, alpha), op, [x], (g) => [g]);
}

function binary(op: BinOp, a: Tensor | number, b: Tensor | number): Tensor {
  if (typeof a === "number" && typeof b === "number") {
    throw new Error(`${op}: at least one operand must be a tensor`);
  }
  if (typeof b === "number") return scalarForm(op, a as Tensor, b);
  if (typeof a === "number") {
    if (op === "sub") return unary("rsubScalar", b, a);
    if (op === "div") return unary("rdivScalar", b, a);
    return scalarForm(op, b, a); // commutative
  }
  checkDevice(op, a, b);
  checkDType(op, a, "f32", "first operand");
  checkDType(op, b, "f32", "second operand");
  const out = binaryRaw(op, a, b);
  return record(out, op, [a, b], (g) => {
    let ga: Tensor | null = null;
    let gb: Tensor | null = null;
    switch (op) {
      case "add":
        ga = g;
        gb = g;
        break;
      case "sub":
        ga = g;
        gb = unaryRaw("neg", g);
        break;
      case "mul":
        ga = a.requiresGrad ? binaryRaw("mul", g, b) : null;
        gb = b.requiresGrad ? binaryRaw("mul", g, a) : null;
        break;
      case "div": {
        ga = binaryRaw("div", g, b);
        if (b.requiresGrad) {
          const t = binaryRaw("mul", ga, out);
          gb = unaryRaw("neg", t);
          t.dispose();
        }
        break;
      }
      default: {
        const ga0 = Tensor.empty(g.shape, "f32", `${op} backward`);
        const gb0 = Tensor.empty(g.shape, "f32", `${op} backward`);
        const [cs, ca, cb] = coalesce(
          g.shape,
          broadcastStrides(a.shape, g.shape),
          broadcastStrides(b.shape, g.shape),
        );
        launch("elementwise", code, "minmax_backward", {
          buffers: [g, a, b, ga0, gb0],
          workgroups: grid(g.size),
          params: ewParams(g.size, 0, 0, 0, cs, ca, cb),
          constants: { OP: OPS[op], RANK: cs.length },
        });
        ga = ga0;
        gb = gb0;
      }
    }
    return [reduceTo(ga, a.shape, g), reduceTo(gb, b.shape, g)];
  });
}

/** Sum a full-shape gradient back to `shape`, disposing the full one if it was temporary. */
function reduceTo(gfull: Tensor | null, shape: readonly number[], g: Tensor): Tensor | null {
  if (!gfull) return null;
  if (same(gfull.shape, shape)) return gfull;
  const r = sumTo(gfull, shape);
  if (gfull !== g) gfull.dispose();
  return r;
}

/**
 * `a + b` with broadcasting; either may be a number.
 *
 * @example
 * ```ts
 * const c = add(a, b); // or a.add(b), a.add(1)
 * ```
 */
export function add(a: Tensor | number, b: Tensor | number): Tensor {
  return binary("add", a, b);
}

/** `a - b` with broadcasting. @example `sub(a, 1)` */
export function sub(a: Tensor | number, b: Tensor | number): Tensor {
  return binary("sub", a, b);
}

/** `a * b` with broadcasting. @example `mul(a, b)` */
export function mul(a: Tensor | number, b: Tensor | number): Tensor {
  return binary("mul", a, b);
}

/** `a / b` with broadcasting. @example `div(a, 2)` */
export function div(a: Tensor | number, b: Tensor | number): Tensor {
  return binary("div", a, b);
}

/** Elementwise maximum (ties send half the gradient to each side). @example `maximum(a, 0)` */
export function maximum(a: Tensor | number, b: Tensor | number): Tensor {
  return binary("maximum", a, b);
}

/** Elementwise minimum. @example `minimum(a, b)` */
export function minimum(a: Tensor | number, b: Tensor | number): Tensor {
  return binary("minimum", a, b);
}

/** `-x`. @example `neg(x)` */
export function neg(x: Tensor): Tensor {
  return unary("neg", x);
}

/** `exp(x)`. @example `exp(x)` */
export function exp(x: Tensor): Tensor {
  return unary("exp", x);
}

/** Natural logarithm. @example `log(x)` */
export function log(x: Tensor): Tensor {
  return unary("log", x);
}

/** Square root. @example `sqrt(x)` */
export function sqrt(x: Tensor): Tensor {
  return unary("sqrt", x);
}

/** `1 / sqrt(x)`. @example `rsqrt(x)` */
export function rsqrt(x: Tensor): Tensor {
  return unary("rsqrt", x);
}

/** `x ** p` for a scalar exponent. @example `pow(x, 2)` */
export function pow(x: Tensor, p: number): Tensor {
  if (!Number.isFinite(p)) throw new Error(`pow: exponent must be finite, got ${p}`);
  return unary("pow", x, p);
}

/** `|x|` (gradient sign(x), 0 at 0 as in PyTorch). @example `abs(x)` */
export function abs(x: Tensor): Tensor {
  return unary("abs", x);
}

/** Clamp into [min, max] (either bound optional). @example `clamp(x, 0, 1)` */
export function clamp(x: Tensor, min?: number, max?: number): Tensor {
  if (min === undefined && max === undefined) {
    throw new Error("clamp: give at least one of min, max");
  }
  const lo = min ?? -Infinity;
  const hi = max ?? Infinity;
  if (lo > hi) throw new Error(`clamp: min ${lo} > max ${hi}`);
  return unary("clamp", x, lo, hi);
}

/** Exact GELU, `x * Φ(x)` with erf (PyTorch's default). @example `gelu(x)` */
export function gelu(x: Tensor): Tensor {
  return unary("gelu", x);
}

/** `max(x, 0)`. @example `relu(x)` */
export function relu(x: Tensor): Tensor {
  return unary("relu", x);
}

/**
 * `x + scale[b] * y` for a per-sample scale over the leading dimension (a residual branch
 * under stochastic depth), in one pass. `scale` has shape [B] and is not differentiated.
 *
 * @example
 * ```ts
 * const out = residual(x, branch, keepMask); // x, branch [B, N, D], keepMask [B]
 * ```
 */
export function residual(x: Tensor, y: Tensor, scale: Tensor): Tensor {
  checkDevice("residual", x, y, scale);
  if (!same(x.shape, y.shape) || scale.ndim !== 1 || scale.shape[0] !== x.shape[0]) {
    throw new Error(
      `residual: x [${x.shape}], branch [${y.shape}] and scale [${scale.shape}] do not match`,
    );
  }
  const out = Tensor.empty(x.shape, "f32", "residual");
  const inner = x.size / x.shape[0];
  const v4 = inner % 4 === 0;
  launch("elementwise", code, v4 ? "residual4" : "residual", {
    buffers: [x, y, scale, out],
    workgroups: grid(v4 ? x.size / 4 : x.size),
    params: ewParams(x.size, 0, 0, inner),
  });
  return record(
    out,
    "residual",
    [x, y],
    (g) => [
      g,
      y.requiresGrad
        ? binaryRaw(
          "mul",
          g,
          scale.reshape([x.shape[0], ...x.shape.slice(1).map(() => 1)]),
        )
        : null,
    ],
  );
}
