// Batched matmul C[b] = op(A[b]) @ op(B[b]), op = identity or transpose.
//
// Layout: row-major f32. A is [M, K] (or [K, M] when TA = 1), B is [K, N] (or [N, K]
// when TB = 1), C is [M, N]. Batch b = gid.z; p.sa, p.sb, p.sc are batch strides in
// elements (0 broadcasts an operand over the batch). Bounds: any M, N, K >= 1; every
// load and store is guarded, so odd sizes need no padding.
//
// Three shapes of kernel, chosen by adapter and size (DESIGN.md §4):
//  - `mm_tiled`: a 64x64 tile per 16x16 workgroup staged through shared memory, 4x4
//    outputs per invocation (what a real GPU wants);
//  - `mm_win` / `mm_win4` (software adapters, large 2-D products): on llvmpipe (Mesa 22)
//    a storage-buffer load runs a loop over the 8 lanes with a bounds branch per component,
//    while a uniform-buffer load is a plain 8-lane gather (about a third of the cost; only
//    a constant offset makes it one scalar load, so even loads every lane shares are
//    gathers). Each dispatch binds 64 KiB windows of A and B as uniform buffers and computes
//    a block of C, 8x8 outputs per invocation, no shared memory, no barriers. An operand
//    is read in place when a window can hold its block as stored (an activation [rows,
//    features], a Linear weight); otherwise `pack` first re-lays it into k-major 64 KiB
//    tiles. The epilogue can add a bias, apply GELU (or its derivative), and emit a
//    Linear's bias gradient;
//  - `mm_reg`: an 8x8 block per invocation straight from storage buffers (software
//    adapters, small or batched products where windows do not pay).

override TA: u32 = 0u;
override TB: u32 = 0u;
override ACC: u32 = 0u; // 1: C += result (accumulate into existing C)
override SPLIT: u32 = 0u; // mm_tiled split-K: workgroup z takes k in [z*SPLIT, (z+1)*SPLIT), writes slice z

struct Params {
  M: u32,
  N: u32,
  K: u32,
  batch: u32,
  sa: u32,
  sb: u32,
  sc: u32,
  alpha: f32,
  k0: u32, // this dispatch covers k in [k0, k1): llvmpipe stops loops after ~65k iterations
  k1: u32, // per invocation, so long K is split over dispatches that accumulate (ACC = 1)
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> A: array<f32>;
@group(0) @binding(2) var<storage, read> B: array<f32>;
@group(0) @binding(3) var<storage, read_write> C: array<f32>;

fn ia(b: u32, m: u32, k: u32) -> u32 {
  if (TA == 1u) { return b * p.sa + k * p.M + m; }
  return b * p.sa + m * p.K + k;
}

fn ib(b: u32, k: u32, n: u32) -> u32 {
  if (TB == 1u) { return b * p.sb + n * p.K + k; }
  return b * p.sb + k * p.N + n;
}

fn store(b: u32, m: u32, n: u32, v: f32) {
  let i = b * p.sc + m * p.N + n;
  if (ACC == 1u) { C[i] = C[i] + p.alpha * v; } else { C[i] = p.alpha * v; }
}

const TM = 8u;
const TN = 8u;

// one invocation: rows m0..m0+TM, cols n0..n0+TN; workgroup 8x8 invocations
@compute @workgroup_size(8, 8)
fn mm_reg(@builtin(global_invocation_id) gid: vec3u) {
  let b = gid.z;
  let m0 = gid.y * TM;
  let n0 = gid.x * TN;
  if (m0 >= p.M || n0 >= p.N) { return; }
  var acc: array<array<f32, TN>, TM>;
  var av: array<f32, TM>;
  var bv: array<f32, TN>;
  let mfull = m0 + TM <= p.M;
  let nfull = n0 + TN <= p.N;
  for (var k = p.k0; k < p.k1; k++) {
    for (var i = 0u; i < TM; i++) {
      let m = min(m0 + i, p.M - 1u);
      av[i] = A[ia(b, m, k)];
    }
    for (var j = 0u; j < TN; j++) {
      let n = min(n0 + j, p.N - 1u);
      bv[j] = B[ib(b, k, n)];
    }
    for (var i = 0u; i < TM; i++) {
      for (var j = 0u; j < TN; j++) {
        acc[i][j] = fma(av[i], bv[j], acc[i][j]);
      }
    }
  }
  for (var i = 0u; i < TM; i++) {
    if (m0 + i >= p.M) { break; }
    for (var j = 0u; j < TN; j++) {
      if (n0 + j >= p.N) { break; }
      store(b, m0 + i, n0 + j, acc[i][j]);
    }
  }
}

const T = 64u;  // tile edge
const KT = 16u; // k-slice per stage
var<workgroup> sA: array<f32, 1024>; // [KT][T]
var<workgroup> sB: array<f32, 1024>; // [KT][T]

@compute @workgroup_size(16, 16)
fn mm_tiled(@builtin(workgroup_id) wid: vec3u, @builtin(local_invocation_id) lid: vec3u) {
  var b = wid.z;
  var kb0 = p.k0;
  var kb1 = p.k1;
  if (SPLIT > 0u) {
    b = 0u;
    kb0 = wid.z * SPLIT;
    kb1 = min(p.K, kb0 + SPLIT);
  }
  let tm = wid.y * T;
  let tn = wid.x * T;
  let t = lid.y * 16u + lid.x;
  var acc: array<array<f32, 4>, 4>;
  for (var k0 = kb0; k0 < kb1; k0 += KT) {
    // stage A[tm..tm+T, k0..k0+KT] and B[k0..k0+KT, tn..tn+T]: 1024 values each, 4 per
    // thread; consecutive threads read consecutive addresses of the stored layout
    for (var r = 0u; r < 4u; r++) {
      let e = t + r * 256u;
      var kk = e / T;
      var mm = e % T;
      if (TA == 0u) { kk = e % KT; mm = e / KT; }
      let m = tm + mm;
      let k = k0 + kk;
      var va = 0.0;
      if (m < p.M && k < kb1) { va = A[ia(b, m, k)]; }
      sA[kk * T + mm] = va;
      var kb = e / T;
      var nn = e % T;
      if (TB == 1u) { kb = e % KT; nn = e / KT; }
      let n = tn + nn;
      let k2 = k0 + kb;
      var vb = 0.0;
      if (n < p.N && k2 < kb1) { vb = B[ib(b, k2, n)]; }
      sB[kb * T + nn] = vb;
    }
    workgroupBarrier();
    for (var kk = 0u; kk < KT; kk++) {
      var av: array<f32, 4>;
      var bv: array<f32, 4>;
      for (var i = 0u; i < 4u; i++) { av[i] = sA[kk * T + lid.y + i * 16u]; }
      for (var j = 0u; j < 4u; j++) { bv[j] = sB[kk * T + lid.x + j * 16u]; }
      for (var i = 0u; i < 4u; i++) {
        for (var j = 0u; j < 4u; j++) { acc[i][j] = fma(av[i], bv[j], acc[i][j]); }
      }
    }
    workgroupBarrier();
  }
  for (var i = 0u; i < 4u; i++) {
    let m = tm + lid.y + i * 16u;
    for (var j = 0u; j < 4u; j++) {
      let n = tn + lid.x + j * 16u;
      if (m < p.M && n < p.N) { store(wid.z, m, n, acc[i][j]); }
    }
  }
}

// ---- packing for mm_win. X is a logical [R, Kd] matrix stored [R, Kd] (TX = 0) or
// [Kd, R] (TX = 1). Output: tiles of 16384 floats, tile (r, k) at (r * q.kt + k) * 16384,
// each k-major [KC][RC] and zero-padded past R and Kd. One invocation per tile row (one k)
// copies RC floats: contiguous reads for TX = 1, stride-Kd reads for TX = 0 (on llvmpipe a
// load costs the same either way). q.n = tiles * KC.
override TX: u32 = 0u;

struct PackParams {
  n: u32,
  R: u32,
  Kd: u32,
  RC: u32,
  KC: u32,
  rt: u32,
  kt: u32,
  _p: u32,
}

@group(0) @binding(0) var<uniform> q: PackParams;
@group(0) @binding(1) var<storage, read> X: array<f32>;
@group(0) @binding(2) var<storage, read_write> PT: array<f32>;

@compute @workgroup_size(64)
fn pack(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = gid.x + gid.y * nwg.x * 64u;
  if (i >= q.n) { return; }
  let tile = i / q.KC;
  let kk = i % q.KC;
  let rt = tile / q.kt;
  let gk = (tile % q.kt) * q.KC + kk;
  let r0 = rt * q.RC;
  let dst = tile * 16384u + kk * q.RC;
  let n = select(0u, min(q.RC, q.R - min(r0, q.R)), gk < q.Kd);
  if (TX == 1u) {
    for (var t = 0u; t < n; t++) { PT[dst + t] = X[gk * q.R + r0 + t]; }
  } else {
    for (var t = 0u; t < n; t++) { PT[dst + t] = X[(r0 + t) * q.Kd + gk]; }
  }
  for (var t = n; t < q.RC; t++) { PT[dst + t] = 0.0; }
}

// ---- mm_win: C[m0.., n0..] (+)= A B from 64 KiB uniform windows (software adapters).
// Each dispatch binds up to four (A window, B window) pairs. A window holds either a packed
// tile (`pack`: k-major, ld = the tile's row count) or a stretch of the operand as stored,
// so an operand already laid out well is read in place: element (m, k) of A is at
// ao + m * lda + k (LA = 0, A stored [M, K]) or ao + k * lda + m (LA = 1, stored [K, M]);
// element (k, n) of B at bo + n * ldb + k (LB = 0, B stored [N, K]) or bo + k * ldb + n
// (LB = 1). ao, bo, lda, ldb are in vec4 units (all multiples of 4 floats); the k steps of
// a window (kn) are a multiple of 4 and run past K only into a packed tile's zero padding.
// Loads past an operand's last row or column (or past the window) only feed outputs that
// are never stored.
// ROWS = 0: the pairs are consecutive k blocks summed by every workgroup (u.blocks of them);
// ROWS = 1: pair i holds row block i, run by workgroup rows [i * rpb, (i + 1) * rpb).
// Invocation x of workgroup (., y) owns rows m0 + 8y .. +8 and columns n0 + 8x .. +8
// (workgroups of 8 x 1; llvmpipe runs one as one 8-lane SIMD vector).
// Epilogue: X = acc (+ bias[n] when BIAS = 1, in the first k dispatch) (+ C when first = 0:
// long K takes several dispatches that accumulate), then by EPI in the last k dispatch
// (last = 1; earlier ones store X): 0 C = X; 1 (a Linear then GELU) aux = X, C = gelu(X);
// 2 (GELU backward fused into the product that makes its incoming gradient)
// C = X * gelu'(aux); 3 (a Linear then GELU with no backward to feed) C = gelu(X).
// DB = 1 also writes dbias[m] (+)= sum over k of A(m, k): a Linear's bias gradient taken
// from dW = g^T x, written by the first column of workgroups (u.dbw = 1 in one column block).
// mm_win4 stores vec4 (N % 4 == 0), mm_win stores scalars.
override BIAS: u32 = 0u;
override LA: u32 = 1u;
override LB: u32 = 1u;
override ROWS: u32 = 0u;
override EPI: u32 = 0u;
override DB: u32 = 0u;
// 1: this dispatch is the only k pass of its outputs (first = last = 1 known when the pipeline
// is built): the epilogue then has no accumulate or deferred-EPI paths, whose masked storage
// loads llvmpipe runs lane by lane even when no lane takes them
override ONEPASS: u32 = 0u;

fn first() -> bool { return ONEPASS == 1u || u.first == 1u; }
fn last() -> bool { return ONEPASS == 1u || u.last == 1u; }

struct WinParams {
  M: u32,
  N: u32,
  m0: u32,
  n0: u32,
  first: u32,  // 1: overwrite C (and dbias), 0: accumulate
  blocks: u32, // ROWS = 0: window pairs bound (1..4)
  sa: u32,     // lda / 4
  sb: u32,     // ldb / 4
  rpb: u32,    // ROWS = 1: workgroup rows per row block
  dbw: u32,    // DB = 1: this dispatch writes dbias
  last: u32,   // 1: the last k dispatch of these outputs (applies EPI)
  _p1: u32,
  ao: vec4u,   // window i: vec4 index of (first row of the block, first k of the block)
  bo: vec4u,
  kn: vec4u,   // window i: k steps (multiple of 4)
}

@group(0) @binding(0) var<uniform> u: WinParams;
@group(0) @binding(1) var<uniform> A0: array<vec4f, 4096>;
@group(0) @binding(2) var<uniform> B0: array<vec4f, 4096>;
@group(0) @binding(3) var<uniform> A1: array<vec4f, 4096>;
@group(0) @binding(4) var<uniform> B1: array<vec4f, 4096>;
@group(0) @binding(5) var<uniform> A2: array<vec4f, 4096>;
@group(0) @binding(6) var<uniform> B2: array<vec4f, 4096>;
@group(0) @binding(7) var<uniform> A3: array<vec4f, 4096>;
@group(0) @binding(8) var<uniform> B3: array<vec4f, 4096>;

// eight vec4 loads of one window
struct Q8 {
  v0: vec4f, v1: vec4f, v2: vec4f, v3: vec4f, v4: vec4f, v5: vec4f, v6: vec4f, v7: vec4f,
}

fn ldA(w: u32, e: u32, lo: vec4u, hi: vec4u) -> Q8 {
  switch w {
    case 0u: {
      return Q8(A0[e + lo.x], A0[e + lo.y], A0[e + lo.z], A0[e + lo.w],
                A0[e + hi.x], A0[e + hi.y], A0[e + hi.z], A0[e + hi.w]);
    }
    case 1u: {
      return Q8(A1[e + lo.x], A1[e + lo.y], A1[e + lo.z], A1[e + lo.w],
                A1[e + hi.x], A1[e + hi.y], A1[e + hi.z], A1[e + hi.w]);
    }
    case 2u: {
      return Q8(A2[e + lo.x], A2[e + lo.y], A2[e + lo.z], A2[e + lo.w],
                A2[e + hi.x], A2[e + hi.y], A2[e + hi.z], A2[e + hi.w]);
    }
    default: {
      return Q8(A3[e + lo.x], A3[e + lo.y], A3[e + lo.z], A3[e + lo.w],
                A3[e + hi.x], A3[e + hi.y], A3[e + hi.z], A3[e + hi.w]);
    }
  }
}

fn ldB(w: u32, e: u32, lo: vec4u, hi: vec4u) -> Q8 {
  switch w {
    case 0u: {
      return Q8(B0[e + lo.x], B0[e + lo.y], B0[e + lo.z], B0[e + lo.w],
                B0[e + hi.x], B0[e + hi.y], B0[e + hi.z], B0[e + hi.w]);
    }
    case 1u: {
      return Q8(B1[e + lo.x], B1[e + lo.y], B1[e + lo.z], B1[e + lo.w],
                B1[e + hi.x], B1[e + hi.y], B1[e + hi.z], B1[e + hi.w]);
    }
    case 2u: {
      return Q8(B2[e + lo.x], B2[e + lo.y], B2[e + lo.z], B2[e + lo.w],
                B2[e + hi.x], B2[e + hi.y], B2[e + hi.z], B2[e + hi.w]);
    }
    default: {
      return Q8(B3[e + lo.x], B3[e + lo.y], B3[e + lo.z], B3[e + lo.w],
                B3[e + hi.x], B3[e + hi.y], B3[e + hi.z], B3[e + hi.w]);
    }
  }
}

// offsets (vec4 units) of the eight loads covering 8 rows x 4 k steps: rows r at r * s
// (row-major), or k steps j at j * s, two vec4 per step (k-major)
fn offs(kmajor: bool, s: u32) -> array<vec4u, 2> {
  if (kmajor) {
    return array<vec4u, 2>(vec4u(0u, 1u, s, s + 1u), vec4u(2u * s, 2u * s + 1u, 3u * s, 3u * s + 1u));
  }
  return array<vec4u, 2>(vec4u(0u, s, 2u * s, 3u * s), vec4u(4u * s, 5u * s, 6u * s, 7u * s));
}

// rows (or columns) 0..3 and 4..7 at k step j of a Q8 loaded with `offs`
struct P2 {
  x: vec4f,
  y: vec4f,
}

fn at(q: Q8, kmajor: bool, j: u32) -> P2 {
  if (kmajor) {
    switch j {
      case 0u: { return P2(q.v0, q.v1); }
      case 1u: { return P2(q.v2, q.v3); }
      case 2u: { return P2(q.v4, q.v5); }
      default: { return P2(q.v6, q.v7); }
    }
  }
  return P2(vec4f(q.v0[j], q.v1[j], q.v2[j], q.v3[j]), vec4f(q.v4[j], q.v5[j], q.v6[j], q.v7[j]));
}

// the 8x8 block of one invocation (acc a_i: row i, columns 0..3; b_i: columns 4..7) and,
// for DB, the sums over k of its 8 rows of A (s0: rows 0..3, s1: rows 4..7)
struct Acc {
  a0: vec4f, b0: vec4f, a1: vec4f, b1: vec4f, a2: vec4f, b2: vec4f, a3: vec4f, b3: vec4f,
  a4: vec4f, b4: vec4f, a5: vec4f, b5: vec4f, a6: vec4f, b6: vec4f, a7: vec4f, b7: vec4f,
  s0: vec4f, s1: vec4f,
}

// one k step: rows r0 (rows 0..3) and r1 (rows 4..7) of A, columns c0, c1 of B
fn fma8(c: Acc, r0: vec4f, r1: vec4f, c0: vec4f, c1: vec4f) -> Acc {
  return Acc(
    fma(vec4f(r0.x), c0, c.a0), fma(vec4f(r0.x), c1, c.b0),
    fma(vec4f(r0.y), c0, c.a1), fma(vec4f(r0.y), c1, c.b1),
    fma(vec4f(r0.z), c0, c.a2), fma(vec4f(r0.z), c1, c.b2),
    fma(vec4f(r0.w), c0, c.a3), fma(vec4f(r0.w), c1, c.b3),
    fma(vec4f(r1.x), c0, c.a4), fma(vec4f(r1.x), c1, c.b4),
    fma(vec4f(r1.y), c0, c.a5), fma(vec4f(r1.y), c1, c.b5),
    fma(vec4f(r1.z), c0, c.a6), fma(vec4f(r1.z), c1, c.b6),
    fma(vec4f(r1.w), c0, c.a7), fma(vec4f(r1.w), c1, c.b7),
    c.s0 + r0, c.s1 + r1,
  );
}

fn step4(c: Acc, qa: Q8, qb: Q8) -> Acc {
  let a0 = at(qa, LA == 1u, 0u);
  let b0 = at(qb, LB == 1u, 0u);
  let c0 = fma8(c, a0.x, a0.y, b0.x, b0.y);
  let a1 = at(qa, LA == 1u, 1u);
  let b1 = at(qb, LB == 1u, 1u);
  let c1 = fma8(c0, a1.x, a1.y, b1.x, b1.y);
  let a2 = at(qa, LA == 1u, 2u);
  let b2 = at(qb, LB == 1u, 2u);
  let c2 = fma8(c1, a2.x, a2.y, b2.x, b2.y);
  let a3 = at(qa, LA == 1u, 3u);
  let b3 = at(qb, LB == 1u, 3u);
  return fma8(c2, a3.x, a3.y, b3.x, b3.y);
}

// window pair w over its kn k steps; ml, nl: this invocation's first row / column in the block
fn run(c0: Acc, w: u32, ml: u32, nl: u32) -> Acc {
  var c = c0;
  let oa = offs(LA == 1u, u.sa);
  let ob = offs(LB == 1u, u.sb);
  var ea = u.ao[w] + select(ml * u.sa, ml / 4u, LA == 1u);
  var eb = u.bo[w] + select(nl * u.sb, nl / 4u, LB == 1u);
  let da = select(1u, 4u * u.sa, LA == 1u); // vec4 advance per 4 k steps
  let db = select(1u, 4u * u.sb, LB == 1u);
  let kn = u.kn[w];
  for (var k = 0u; k < kn; k += 4u) {
    c = step4(c, ldA(w, ea, oa[0], oa[1]), ldB(w, eb, ob[0], ob[1]));
    ea += da;
    eb += db;
  }
  return c;
}

fn mm_acc(gid: vec3u, wid: vec3u) -> Acc {
  let z = vec4f(0.0);
  var c = Acc(z, z, z, z, z, z, z, z, z, z, z, z, z, z, z, z, z, z);
  let nl = gid.x * 8u;
  if (ROWS == 1u) {
    let g = wid.y / u.rpb;
    let ml = (wid.y - g * u.rpb) * 8u;
    if (g == 0u) { c = run(c, 0u, ml, nl); }
    if (g == 1u) { c = run(c, 1u, ml, nl); }
    if (g == 2u) { c = run(c, 2u, ml, nl); }
    if (g == 3u) { c = run(c, 3u, ml, nl); }
  } else {
    let ml = wid.y * 8u;
    c = run(c, 0u, ml, nl);
    if (u.blocks > 1u) { c = run(c, 1u, ml, nl); }
    if (u.blocks > 2u) { c = run(c, 2u, ml, nl); }
    if (u.blocks > 3u) { c = run(c, 3u, ml, nl); }
  }
  return c;
}

// erf, Abramowitz & Stegun 7.1.26 (|error| < 1.5e-7), as in elementwise.wgsl
fn erf4(x: vec4f) -> vec4f {
  let t = 1.0 / (1.0 + 0.3275911 * abs(x));
  let y = 1.0 - (((((1.061405429 * t - 1.453152027) * t) + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t * exp(-x * x);
  return select(-y, y, x >= vec4f(0.0));
}

fn gelu4(x: vec4f) -> vec4f {
  return 0.5 * x * (1.0 + erf4(x * 0.70710678118654752));
}

fn dgelu4(x: vec4f) -> vec4f {
  return 0.5 * (1.0 + erf4(x * 0.70710678118654752)) + x * 0.3989422804014327 * exp(-0.5 * x * x);
}

// DB: rows m..m+8 of the bias gradient, written by the first lane of the first column of
// workgroups
fn db1(m: u32, v: f32) {
  if (m >= u.M) { return; }
  var x = v;
  if (!first()) { x += dbias[m]; }
  dbias[m] = x;
}

fn put_db(gid: vec3u, m: u32, s0: vec4f, s1: vec4f) {
  if (DB == 0u || u.dbw == 0u || gid.x != 0u) { return; }
  db1(m, s0.x); db1(m + 1u, s0.y); db1(m + 2u, s0.z); db1(m + 3u, s0.w);
  db1(m + 4u, s1.x); db1(m + 5u, s1.y); db1(m + 6u, s1.z); db1(m + 7u, s1.w);
}

@group(0) @binding(12) var<storage, read_write> dbias: array<f32>;

// ---- vec4 epilogue (N % 4 == 0)
@group(0) @binding(9) var<storage, read_write> C4: array<vec4f>;
@group(0) @binding(10) var<storage, read> bias4: array<vec4f>;
@group(0) @binding(11) var<storage, read_write> aux4: array<vec4f>;

fn put4(m: u32, n: u32, v: vec4f) {
  if (m >= u.M || n >= u.N) { return; }
  let o = (m * u.N + n) / 4u;
  var x = v;
  if (!first()) { x += C4[o]; }
  if (EPI == 1u && last()) {
    aux4[o] = x;
    C4[o] = gelu4(x);
  } else if (EPI == 3u && last()) {
    C4[o] = gelu4(x);
  } else if (EPI == 2u && last()) {
    C4[o] = x * dgelu4(aux4[o]);
  } else {
    C4[o] = x;
  }
}

@compute @workgroup_size(8, 1)
fn mm_win4(@builtin(global_invocation_id) gid: vec3u, @builtin(workgroup_id) wid: vec3u) {
  let c = mm_acc(gid, wid);
  let m = u.m0 + wid.y * 8u;
  let n = u.n0 + gid.x * 8u;
  // the bias of this invocation's 8 columns, loaded once
  var p = vec4f(0.0);
  var q = vec4f(0.0);
  if (BIAS == 1u && first()) {
    if (n < u.N) { p = bias4[n / 4u]; }
    if (n + 4u < u.N) { q = bias4[n / 4u + 1u]; }
  }
  put4(m, n, c.a0 + p); put4(m, n + 4u, c.b0 + q);
  put4(m + 1u, n, c.a1 + p); put4(m + 1u, n + 4u, c.b1 + q);
  put4(m + 2u, n, c.a2 + p); put4(m + 2u, n + 4u, c.b2 + q);
  put4(m + 3u, n, c.a3 + p); put4(m + 3u, n + 4u, c.b3 + q);
  put4(m + 4u, n, c.a4 + p); put4(m + 4u, n + 4u, c.b4 + q);
  put4(m + 5u, n, c.a5 + p); put4(m + 5u, n + 4u, c.b5 + q);
  put4(m + 6u, n, c.a6 + p); put4(m + 6u, n + 4u, c.b6 + q);
  put4(m + 7u, n, c.a7 + p); put4(m + 7u, n + 4u, c.b7 + q);
  put_db(gid, m, c.s0, c.s1);
}

// ---- scalar epilogue (any N)
@group(0) @binding(9) var<storage, read_write> C1: array<f32>;
@group(0) @binding(10) var<storage, read> bias1: array<f32>;
@group(0) @binding(11) var<storage, read_write> aux1: array<f32>;

fn put1(m: u32, n: u32, v0: vec4f) {
  if (m >= u.M) { return; }
  for (var j = 0u; j < 4u; j++) {
    if (n + j < u.N) {
      let o = m * u.N + n + j;
      var x = v0[j];
      if (BIAS == 1u && first()) { x += bias1[n + j]; }
      if (!first()) { x += C1[o]; }
      if (EPI == 1u && last()) {
        aux1[o] = x;
        C1[o] = gelu4(vec4f(x)).x;
      } else if (EPI == 3u && last()) {
        C1[o] = gelu4(vec4f(x)).x;
      } else if (EPI == 2u && last()) {
        C1[o] = x * dgelu4(vec4f(aux1[o])).x;
      } else {
        C1[o] = x;
      }
    }
  }
}

@compute @workgroup_size(8, 1)
fn mm_win(@builtin(global_invocation_id) gid: vec3u, @builtin(workgroup_id) wid: vec3u) {
  let c = mm_acc(gid, wid);
  let m = u.m0 + wid.y * 8u;
  let n = u.n0 + gid.x * 8u;
  put1(m, n, c.a0); put1(m, n + 4u, c.b0);
  put1(m + 1u, n, c.a1); put1(m + 1u, n + 4u, c.b1);
  put1(m + 2u, n, c.a2); put1(m + 2u, n + 4u, c.b2);
  put1(m + 3u, n, c.a3); put1(m + 3u, n + 4u, c.b3);
  put1(m + 4u, n, c.a4); put1(m + 4u, n + 4u, c.b4);
  put1(m + 5u, n, c.a5); put1(m + 5u, n + 4u, c.b5);
  put1(m + 6u, n, c.a6); put1(m + 6u, n + 4u, c.b6);
  put1(m + 7u, n, c.a7); put1(m + 7u, n + 4u, c.b7);
  put_db(gid, m, c.s0, c.s1);
}
