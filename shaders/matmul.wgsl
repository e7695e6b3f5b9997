// Batched matmul C[b] = op(A[b]) @ op(B[b]), op = identity or transpose.
//
// Layout: row-major f32. A is [M, K] (or [K, M] when TA = 1), B is [K, N] (or [N, K]
// when TB = 1), C is [M, N]. Batch b = gid.z; p.sa, p.sb, p.sc are batch strides in
// elements (0 broadcasts an operand over the batch). Bounds: any M, N, K >= 1; every
// load and store is guarded, so odd sizes need no padding.
//
// Two shapes of kernel, chosen by adapter (DESIGN.md §4):
//  - `mm_reg`: each invocation computes a TM x TN block in registers, no shared memory
//    and no barriers (fast on llvmpipe, where barriers are expensive);
//  - `mm_tiled`: a 64x64 tile per 16x16 workgroup staged through shared memory, 4x4
//    outputs per invocation (what a real GPU wants).

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
  for (var k = 0u; k < p.K; k++) {
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
  for (var k0 = 0u; k0 < p.K; k0 += KT) {
    // stage A[tm..tm+T, k0..k0+KT] and B[k0..k0+KT, tn..tn+T]: 1024 values each, 4 per thread
    for (var r = 0u; r < 4u; r++) {
      let e = t + r * 256u;
      let kk = e / T;
      let mm = e % T;
      let m = tm + mm;
      let k = k0 + kk;
      var va = 0.0;
      if (m < p.M && k < p.K) { va = A[ia(b, m, k)]; }
      sA[kk * T + mm] = va;
      let n = tn + mm;
      var vb = 0.0;
      if (n < p.N && k < p.K) { vb = B[ib(b, k, n)]; }
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
