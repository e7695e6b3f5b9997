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

// ---- packing for mm_ubo. X is a logical [R, Kd] matrix stored [R, Kd] (TX = 0) or
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

// ---- mm_ubo: C[m0.., n0..] (+)= A B over up to 4 * KC k-steps: the A and B tiles of up to
// four consecutive k blocks in uniform windows A0/B0 .. A3/B3 (u.blocks of them are real).
// Invocation x of workgroup (., y) owns rows m0 + 8y .. +8 and columns n0 + 8x .. +8;
// workgroups of 8 x 1.
// With BIAS = 1 the first block adds bias[n] (a fused Linear).
override KC: u32 = 128u;
override MC: u32 = 128u;
override NC: u32 = 128u;
override BIAS: u32 = 0u;

struct UboParams {
  M: u32,
  N: u32,
  m0: u32,
  n0: u32,
  first: u32,  // 1: overwrite C, 0: accumulate
  blocks: u32, // k blocks bound (1..4)
}

@group(0) @binding(0) var<uniform> u: UboParams;
@group(0) @binding(1) var<uniform> A0: array<vec4f, 4096>;
@group(0) @binding(2) var<uniform> B0: array<vec4f, 4096>;
@group(0) @binding(3) var<uniform> A1: array<vec4f, 4096>;
@group(0) @binding(4) var<uniform> B1: array<vec4f, 4096>;
@group(0) @binding(5) var<uniform> A2: array<vec4f, 4096>;
@group(0) @binding(6) var<uniform> B2: array<vec4f, 4096>;
@group(0) @binding(7) var<uniform> A3: array<vec4f, 4096>;
@group(0) @binding(8) var<uniform> B3: array<vec4f, 4096>;
@group(0) @binding(9) var<storage, read_write> Cu: array<f32>;
@group(0) @binding(10) var<storage, read> bias: array<f32>;

// the 8x8 block of one invocation: acc[i] covers row i, columns 0..3 (.a) and 4..7 (.b)
struct Acc {
  a0: vec4f, b0: vec4f, a1: vec4f, b1: vec4f, a2: vec4f, b2: vec4f, a3: vec4f, b3: vec4f,
  a4: vec4f, b4: vec4f, a5: vec4f, b5: vec4f, a6: vec4f, b6: vec4f, a7: vec4f, b7: vec4f,
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
  );
}

fn put(m: u32, n: u32, v: vec4f) {
  if (m >= u.M) { return; }
  for (var j = 0u; j < 4u; j++) {
    if (n + j < u.N) {
      let o = m * u.N + n + j;
      var x = v[j];
      if (BIAS == 1u && u.first == 1u) { x += bias[n + j]; }
      if (u.first == 1u) { Cu[o] = x; } else { Cu[o] = Cu[o] + x; }
    }
  }
}

@compute @workgroup_size(8, 1)
fn mm_ubo(@builtin(global_invocation_id) gid: vec3u, @builtin(workgroup_id) wid: vec3u) {
  // rows from the workgroup id: the same for every lane, so llvmpipe loads A once per step
  // instead of gathering it per lane
  let ta = wid.y * 2u; // vec4 index of this invocation's 8 rows in a k-row of an A tile
  let tb = gid.x * 2u; // vec4 index of its 8 columns in a k-row of a B tile
  let z = vec4f(0.0);
  var c = Acc(z, z, z, z, z, z, z, z, z, z, z, z, z, z, z, z);
  for (var k = 0u; k < KC; k++) {
    let ia = k * (MC / 4u) + ta;
    let ib = k * (NC / 4u) + tb;
    c = fma8(c, A0[ia], A0[ia + 1u], B0[ib], B0[ib + 1u]);
  }
  if (u.blocks > 1u) {
    for (var k = 0u; k < KC; k++) {
      let ia = k * (MC / 4u) + ta;
      let ib = k * (NC / 4u) + tb;
      c = fma8(c, A1[ia], A1[ia + 1u], B1[ib], B1[ib + 1u]);
    }
  }
  if (u.blocks > 2u) {
    for (var k = 0u; k < KC; k++) {
      let ia = k * (MC / 4u) + ta;
      let ib = k * (NC / 4u) + tb;
      c = fma8(c, A2[ia], A2[ia + 1u], B2[ib], B2[ib + 1u]);
    }
  }
  if (u.blocks > 3u) {
    for (var k = 0u; k < KC; k++) {
      let ia = k * (MC / 4u) + ta;
      let ib = k * (NC / 4u) + tb;
      c = fma8(c, A3[ia], A3[ia + 1u], B3[ib], B3[ib + 1u]);
    }
  }
  let m = u.m0 + wid.y * 8u;
  let n = u.n0 + gid.x * 8u;
  put(m, n, c.a0); put(m, n + 4u, c.b0);
  put(m + 1u, n, c.a1); put(m + 1u, n + 4u, c.b1);
  put(m + 2u, n, c.a2); put(m + 2u, n + 4u, c.b2);
  put(m + 3u, n, c.a3); put(m + 3u, n + 4u, c.b3);
  put(m + 4u, n, c.a4); put(m + 4u, n + 4u, c.b4);
  put(m + 5u, n, c.a5); put(m + 5u, n + 4u, c.b5);
  put(m + 6u, n, c.a6); put(m + 6u, n + 4u, c.b6);
  put(m + 7u, n, c.a7); put(m + 7u, n + 4u, c.b7);
}

