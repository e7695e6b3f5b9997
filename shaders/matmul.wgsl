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
//  - `pack` + `mm_ubo` (software adapters, large products): on llvmpipe every storage-
//    buffer load costs tens of cycles while uniform-buffer loads are nearly free, so A and
//    B are first re-laid out into 64 KiB tiles (`pack`), and each `mm_ubo` dispatch binds
//    one A tile and one B tile as uniform buffers and computes a MC x NC block of C over
//    KC steps of K, 8x8 outputs per invocation, no shared memory, no barriers;
//  - `mm_reg`: an 8x8 block per invocation straight from storage buffers (software
//    adapters, small or batched products where packing does not pay).

override TA: u32 = 0u;
override TB: u32 = 0u;
override ACC: u32 = 0u; // 1: C += result (accumulate into existing C)

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
  let b = wid.z;
  let tm = wid.y * T;
  let tn = wid.x * T;
  let t = lid.y * 16u + lid.x;
  var acc: array<array<f32, 4>, 4>;
  for (var k0 = p.k0; k0 < p.k1; k0 += KT) {
    // stage A[tm..tm+T, k0..k0+KT] and B[k0..k0+KT, tn..tn+T]: 1024 values each, 4 per thread
    for (var r = 0u; r < 4u; r++) {
      let e = t + r * 256u;
      let kk = e / T;
      let mm = e % T;
      let m = tm + mm;
      let k = k0 + kk;
      var va = 0.0;
      if (m < p.M && k < p.k1) { va = A[ia(b, m, k)]; }
      sA[kk * T + mm] = va;
      let n = tn + mm;
      var vb = 0.0;
      if (n < p.N && k < p.k1) { vb = B[ib(b, k, n)]; }
      sB[kk * T + mm] = vb;
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
      if (m < p.M && n < p.N) { store(b, m, n, acc[i][j]); }
    }
  }
}

// ---- packing for mm_ubo. X is a logical [R, Kd] matrix stored [R, Kd] (TX = 0) or
// [Kd, R] (TX = 1). Output: tiles of 16384 floats, tile (r, k) at (r * q.kt + k) * 16384,
// laid out along X's contiguous dimension so each invocation copies one contiguous run:
// TX = 0 gives r-major tiles [RC][KC], TX = 1 gives k-major tiles [KC][RC]; zero-padded
// past R and Kd. One invocation per tile row: q.n = tiles * (rows per tile).
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
  // rows of a tile, and the length of each (contiguous) row
  var rows = q.RC;
  var run = q.KC;
  if (TX == 1u) { rows = q.KC; run = q.RC; }
  let tile = i / rows;
  let row = i % rows;
  let rt = tile / q.kt;
  let kt = tile % q.kt;
  let dst = tile * 16384u + row * run;
  if (TX == 0u) {
    // tile row = logical row gr, k from kt*KC: contiguous in X [R, Kd]
    let gr = rt * q.RC + row;
    let k0 = kt * q.KC;
    let n = select(0u, min(q.KC, q.Kd - min(k0, q.Kd)), gr < q.R);
    for (var t = 0u; t < n; t++) { PT[dst + t] = X[gr * q.Kd + k0 + t]; }
    for (var t = n; t < run; t++) { PT[dst + t] = 0.0; }
  } else {
    // tile row = k index gk, r from rt*RC: contiguous in X [Kd, R]
    let gk = kt * q.KC + row;
    let r0 = rt * q.RC;
    let n = select(0u, min(q.RC, q.R - min(r0, q.R)), gk < q.Kd);
    for (var t = 0u; t < n; t++) { PT[dst + t] = X[gk * q.R + r0 + t]; }
    for (var t = n; t < run; t++) { PT[dst + t] = 0.0; }
  }
}

// ---- mm_ubo: C[m0.., n0..] (+)= A_tile B_tile over KC k-steps; invocation (x, y) owns rows
// m0 + 8y .. +8 and columns n0 + 8x .. +8. Workgroup 8 x 2. AK / BK say whether the A / B
// tile is k-major ([KC][MC], from `pack` with TX = 1) or row-major ([MC][KC], TX = 0).
override KC: u32 = 128u;
override MC: u32 = 128u;
override NC: u32 = 128u;
override AK: u32 = 1u;
override BK: u32 = 1u;

struct UboParams {
  M: u32,
  N: u32,
  m0: u32,
  n0: u32,
  first: u32, // 1: overwrite C, 0: accumulate
}

@group(0) @binding(0) var<uniform> u: UboParams;
@group(0) @binding(1) var<uniform> At: array<vec4f, 4096>;
@group(0) @binding(2) var<uniform> Bt: array<vec4f, 4096>;
@group(0) @binding(3) var<storage, read_write> Cu: array<f32>;

fn ua(i: u32) -> f32 {
  return At[i / 4u][i % 4u];
}

fn ub(i: u32) -> f32 {
  return Bt[i / 4u][i % 4u];
}

// rows m..m+3 of A at step k
fn a4(m: u32, k: u32) -> vec4f {
  if (AK == 1u) { return At[(k * MC + m) / 4u]; }
  return vec4f(ua(m * KC + k), ua((m + 1u) * KC + k), ua((m + 2u) * KC + k), ua((m + 3u) * KC + k));
}

// columns n..n+3 of B at step k
fn b4(n: u32, k: u32) -> vec4f {
  if (BK == 1u) { return Bt[(k * NC + n) / 4u]; }
  return vec4f(ub(n * KC + k), ub((n + 1u) * KC + k), ub((n + 2u) * KC + k), ub((n + 3u) * KC + k));
}

fn put(m: u32, n: u32, v: vec4f) {
  for (var j = 0u; j < 4u; j++) {
    if (m < u.M && n + j < u.N) {
      let o = m * u.N + n + j;
      if (u.first == 1u) { Cu[o] = v[j]; } else { Cu[o] = Cu[o] + v[j]; }
    }
  }
}

@compute @workgroup_size(8, 2)
fn mm_ubo(@builtin(global_invocation_id) gid: vec3u) {
  let ml = gid.y * 8u; // first of this invocation's 8 rows within the tile
  let nl = gid.x * 8u; // first of its 8 columns
  var c00 = vec4f(0.0); var c01 = vec4f(0.0); var c10 = vec4f(0.0); var c11 = vec4f(0.0);
  var c20 = vec4f(0.0); var c21 = vec4f(0.0); var c30 = vec4f(0.0); var c31 = vec4f(0.0);
  var c40 = vec4f(0.0); var c41 = vec4f(0.0); var c50 = vec4f(0.0); var c51 = vec4f(0.0);
  var c60 = vec4f(0.0); var c61 = vec4f(0.0); var c70 = vec4f(0.0); var c71 = vec4f(0.0);
  for (var k = 0u; k < KC; k++) {
    let a0 = a4(ml, k);
    let a1 = a4(ml + 4u, k);
    let b0 = b4(nl, k);
    let b1 = b4(nl + 4u, k);
    c00 = fma(vec4f(a0.x), b0, c00); c01 = fma(vec4f(a0.x), b1, c01);
    c10 = fma(vec4f(a0.y), b0, c10); c11 = fma(vec4f(a0.y), b1, c11);
    c20 = fma(vec4f(a0.z), b0, c20); c21 = fma(vec4f(a0.z), b1, c21);
    c30 = fma(vec4f(a0.w), b0, c30); c31 = fma(vec4f(a0.w), b1, c31);
    c40 = fma(vec4f(a1.x), b0, c40); c41 = fma(vec4f(a1.x), b1, c41);
    c50 = fma(vec4f(a1.y), b0, c50); c51 = fma(vec4f(a1.y), b1, c51);
    c60 = fma(vec4f(a1.z), b0, c60); c61 = fma(vec4f(a1.z), b1, c61);
    c70 = fma(vec4f(a1.w), b0, c70); c71 = fma(vec4f(a1.w), b1, c71);
  }
  let m = u.m0 + ml;
  let n = u.n0 + nl;
  put(m, n, c00); put(m, n + 4u, c01);
  put(m + 1u, n, c10); put(m + 1u, n + 4u, c11);
  put(m + 2u, n, c20); put(m + 2u, n + 4u, c21);
  put(m + 3u, n, c30); put(m + 3u, n + 4u, c31);
  put(m + 4u, n, c40); put(m + 4u, n + 4u, c41);
  put(m + 5u, n, c50); put(m + 5u, n + 4u, c51);
  put(m + 6u, n, c60); put(m + 6u, n + 4u, c61);
  put(m + 7u, n, c70); put(m + 7u, n + 4u, c71);
}
