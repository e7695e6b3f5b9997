// Fused multi-head self-attention, forward and backward, straight from the fused qkv
// projection: softmax(q k^T * scale) v per (batch, head, query row).
//
// Layout: qkv is [B, N, 3, H, d] (the `qkv` Linear's output viewed as PyTorch reshapes
// it); out and its gradient are [B, N, H, d] (the input of `proj`); P (probabilities) and
// dS (score gradients) are [B, H, N, N]; dqkv has qkv's layout. Bounds: one invocation per
// (b, h, block of 4 rows), rows >= N skipped; any N and d. Each invocation handles four rows
// so every k/v (or q/g) load serves four of them, and the head dimension is processed in
// chunks of 16 held in vec4 registers (no private arrays: on llvmpipe those cost as much as
// memory, and memory loads dominate).

override WG: u32 = 64u;

struct Params {
  B: u32,
  N: u32,
  H: u32,
  d: u32,
  scale: f32,
}

@group(0) @binding(0) var<uniform> p: Params;

// element e of q (s = 0), k (s = 1) or v (s = 2) for token n of batch b, head h
fn qkvIndex(b: u32, n: u32, s: u32, h: u32, e: u32) -> u32 {
  return (((b * p.N + n) * 3u + s) * p.H + h) * p.d + e;
}

fn outIndex(b: u32, n: u32, h: u32, e: u32) -> u32 {
  return ((b * p.N + n) * p.H + h) * p.d + e;
}

fn pIndex(b: u32, h: u32, i: u32, j: u32) -> u32 {
  return ((b * p.H + h) * p.N + i) * p.N + j;
}

// blocks of 4 rows per (b, h)
fn nblk() -> u32 {
  return (p.N + 3u) / 4u;
}

// (b, h, first row) of invocation r
fn unpack(r: u32) -> vec3u {
  let nb = nblk();
  return vec3u(r / (nb * p.H), (r / nb) % p.H, (r % nb) * 4u);
}

// row i0 + t, clamped into range (loads only; stores check `i0 + t < p.N`)
fn rowc(i0: u32, t: u32) -> u32 {
  return min(i0 + t, p.N - 1u);
}

struct Chunk {
  x: vec4f,
  y: vec4f,
  z: vec4f,
  w: vec4f,
}

fn dot16(a: Chunk, b: Chunk) -> f32 {
  return dot(a.x, b.x) + dot(a.y, b.y) + dot(a.z, b.z) + dot(a.w, b.w);
}

fn axpy16(s: f32, a: Chunk, c: Chunk) -> Chunk {
  return Chunk(fma(vec4f(s), a.x, c.x), fma(vec4f(s), a.y, c.y), fma(vec4f(s), a.z, c.z), fma(vec4f(s), a.w, c.w));
}

fn zero16() -> Chunk {
  return Chunk(vec4f(0.0), vec4f(0.0), vec4f(0.0), vec4f(0.0));
}

// ---- forward: P[b,h,i,:] = softmax(q_i . k_j * scale); out[b,i,h,:] = sum_j P_ij v_j
@group(0) @binding(1) var<storage, read> fqkv: array<f32>;
@group(0) @binding(2) var<storage, read_write> fout: array<f32>;
@group(0) @binding(3) var<storage, read_write> fP: array<f32>;

fn fload(base: u32, e0: u32) -> Chunk {
  let i = base + e0;
  if (e0 + 16u <= p.d) {
    return Chunk(vec4f(fqkv[i + 0u], fqkv[i + 1u], fqkv[i + 2u], fqkv[i + 3u]), vec4f(fqkv[i + 4u], fqkv[i + 5u], fqkv[i + 6u], fqkv[i + 7u]), vec4f(fqkv[i + 8u], fqkv[i + 9u], fqkv[i + 10u], fqkv[i + 11u]), vec4f(fqkv[i + 12u], fqkv[i + 13u], fqkv[i + 14u], fqkv[i + 15u]));
  }
  return Chunk(vec4f(select(0.0, fqkv[i + 0u], e0 + 0u < p.d), select(0.0, fqkv[i + 1u], e0 + 1u < p.d), select(0.0, fqkv[i + 2u], e0 + 2u < p.d), select(0.0, fqkv[i + 3u], e0 + 3u < p.d)), vec4f(select(0.0, fqkv[i + 4u], e0 + 4u < p.d), select(0.0, fqkv[i + 5u], e0 + 5u < p.d), select(0.0, fqkv[i + 6u], e0 + 6u < p.d), select(0.0, fqkv[i + 7u], e0 + 7u < p.d)), vec4f(select(0.0, fqkv[i + 8u], e0 + 8u < p.d), select(0.0, fqkv[i + 9u], e0 + 9u < p.d), select(0.0, fqkv[i + 10u], e0 + 10u < p.d), select(0.0, fqkv[i + 11u], e0 + 11u < p.d)), vec4f(select(0.0, fqkv[i + 12u], e0 + 12u < p.d), select(0.0, fqkv[i + 13u], e0 + 13u < p.d), select(0.0, fqkv[i + 14u], e0 + 14u < p.d), select(0.0, fqkv[i + 15u], e0 + 15u < p.d)));
}

fn storeOut(o: u32, e0: u32, c: Chunk) {
  for (var t = 0u; t < 4u && e0 + t < p.d; t++) { fout[o + e0 + t] = c.x[t]; }
  for (var t = 0u; t < 4u && e0 + 4u + t < p.d; t++) { fout[o + e0 + 4u + t] = c.y[t]; }
  for (var t = 0u; t < 4u && e0 + 8u + t < p.d; t++) { fout[o + e0 + 8u + t] = c.z[t]; }
  for (var t = 0u; t < 4u && e0 + 12u + t < p.d; t++) { fout[o + e0 + 12u + t] = c.w[t]; }
}

@compute @workgroup_size(WG)
fn forward(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let r = gid.x + gid.y * nwg.x * WG;
  if (r >= p.B * p.H * nblk()) { return; }
  let u = unpack(r);
  let b = u.x;
  let h = u.y;
  let i0 = u.z;
  let n = min(4u, p.N - i0); // rows of this block
  // scores of the four rows, accumulated over chunks of the head dimension
  for (var e0 = 0u; e0 < p.d; e0 += 16u) {
    let q0 = fload(qkvIndex(b, rowc(i0, 0u), 0u, h, 0u), e0);
    let q1 = fload(qkvIndex(b, rowc(i0, 1u), 0u, h, 0u), e0);
    let q2 = fload(qkvIndex(b, rowc(i0, 2u), 0u, h, 0u), e0);
    let q3 = fload(qkvIndex(b, rowc(i0, 3u), 0u, h, 0u), e0);
    for (var j = 0u; j < p.N; j++) {
      let k = fload(qkvIndex(b, j, 1u, h, 0u), e0);
      let s = vec4f(dot16(q0, k), dot16(q1, k), dot16(q2, k), dot16(q3, k)) * p.scale;
      for (var t = 0u; t < n; t++) {
        let o = pIndex(b, h, i0 + t, j);
        if (e0 == 0u) { fP[o] = s[t]; } else { fP[o] += s[t]; }
      }
    }
  }
  // softmax of each row, in place
  for (var t = 0u; t < n; t++) {
    let base = pIndex(b, h, i0 + t, 0u);
    var mx = -3.4e38;
    for (var j = 0u; j < p.N; j++) { mx = max(mx, fP[base + j]); }
    var z = 0.0;
    for (var j = 0u; j < p.N; j++) {
      let w = exp(fP[base + j] - mx);
      fP[base + j] = w;
      z += w;
    }
    let inv = 1.0 / z;
    for (var j = 0u; j < p.N; j++) { fP[base + j] *= inv; }
  }
  // out = P v
  for (var e0 = 0u; e0 < p.d; e0 += 16u) {
    var a0 = zero16();
    var a1 = zero16();
    var a2 = zero16();
    var a3 = zero16();
    for (var j = 0u; j < p.N; j++) {
      let v = fload(qkvIndex(b, j, 2u, h, 0u), e0);
      a0 = axpy16(fP[pIndex(b, h, rowc(i0, 0u), j)], v, a0);
      a1 = axpy16(fP[pIndex(b, h, rowc(i0, 1u), j)], v, a1);
      a2 = axpy16(fP[pIndex(b, h, rowc(i0, 2u), j)], v, a2);
      a3 = axpy16(fP[pIndex(b, h, rowc(i0, 3u), j)], v, a3);
    }
    storeOut(outIndex(b, i0, h, 0u), e0, a0);
    if (n > 1u) { storeOut(outIndex(b, i0 + 1u, h, 0u), e0, a1); }
    if (n > 2u) { storeOut(outIndex(b, i0 + 2u, h, 0u), e0, a2); }
    if (n > 3u) { storeOut(outIndex(b, i0 + 3u, h, 0u), e0, a3); }
  }
}

// ---- backward. Bindings: qkv, P, g (read), dS (pass 1 writes, pass 2 reads), dqkv.
@group(0) @binding(1) var<storage, read> bqkv: array<f32>;
@group(0) @binding(2) var<storage, read> bP: array<f32>;
@group(0) @binding(3) var<storage, read> bg: array<f32>;
@group(0) @binding(4) var<storage, read_write> bdS: array<f32>;
@group(0) @binding(5) var<storage, read_write> bdqkv: array<f32>;

fn bload(base: u32, e0: u32) -> Chunk {
  let i = base + e0;
  if (e0 + 16u <= p.d) {
    return Chunk(vec4f(bqkv[i + 0u], bqkv[i + 1u], bqkv[i + 2u], bqkv[i + 3u]), vec4f(bqkv[i + 4u], bqkv[i + 5u], bqkv[i + 6u], bqkv[i + 7u]), vec4f(bqkv[i + 8u], bqkv[i + 9u], bqkv[i + 10u], bqkv[i + 11u]), vec4f(bqkv[i + 12u], bqkv[i + 13u], bqkv[i + 14u], bqkv[i + 15u]));
  }
  return Chunk(vec4f(select(0.0, bqkv[i + 0u], e0 + 0u < p.d), select(0.0, bqkv[i + 1u], e0 + 1u < p.d), select(0.0, bqkv[i + 2u], e0 + 2u < p.d), select(0.0, bqkv[i + 3u], e0 + 3u < p.d)), vec4f(select(0.0, bqkv[i + 4u], e0 + 4u < p.d), select(0.0, bqkv[i + 5u], e0 + 5u < p.d), select(0.0, bqkv[i + 6u], e0 + 6u < p.d), select(0.0, bqkv[i + 7u], e0 + 7u < p.d)), vec4f(select(0.0, bqkv[i + 8u], e0 + 8u < p.d), select(0.0, bqkv[i + 9u], e0 + 9u < p.d), select(0.0, bqkv[i + 10u], e0 + 10u < p.d), select(0.0, bqkv[i + 11u], e0 + 11u < p.d)), vec4f(select(0.0, bqkv[i + 12u], e0 + 12u < p.d), select(0.0, bqkv[i + 13u], e0 + 13u < p.d), select(0.0, bqkv[i + 14u], e0 + 14u < p.d), select(0.0, bqkv[i + 15u], e0 + 15u < p.d)));
}

fn gload(base: u32, e0: u32) -> Chunk {
  let i = base + e0;
  if (e0 + 16u <= p.d) {
    return Chunk(vec4f(bg[i + 0u], bg[i + 1u], bg[i + 2u], bg[i + 3u]), vec4f(bg[i + 4u], bg[i + 5u], bg[i + 6u], bg[i + 7u]), vec4f(bg[i + 8u], bg[i + 9u], bg[i + 10u], bg[i + 11u]), vec4f(bg[i + 12u], bg[i + 13u], bg[i + 14u], bg[i + 15u]));
  }
  return Chunk(vec4f(select(0.0, bg[i + 0u], e0 + 0u < p.d), select(0.0, bg[i + 1u], e0 + 1u < p.d), select(0.0, bg[i + 2u], e0 + 2u < p.d), select(0.0, bg[i + 3u], e0 + 3u < p.d)), vec4f(select(0.0, bg[i + 4u], e0 + 4u < p.d), select(0.0, bg[i + 5u], e0 + 5u < p.d), select(0.0, bg[i + 6u], e0 + 6u < p.d), select(0.0, bg[i + 7u], e0 + 7u < p.d)), vec4f(select(0.0, bg[i + 8u], e0 + 8u < p.d), select(0.0, bg[i + 9u], e0 + 9u < p.d), select(0.0, bg[i + 10u], e0 + 10u < p.d), select(0.0, bg[i + 11u], e0 + 11u < p.d)), vec4f(select(0.0, bg[i + 12u], e0 + 12u < p.d), select(0.0, bg[i + 13u], e0 + 13u < p.d), select(0.0, bg[i + 14u], e0 + 14u < p.d), select(0.0, bg[i + 15u], e0 + 15u < p.d)));
}

fn store16(base: u32, e0: u32, c: Chunk, s: f32) {
  for (var t = 0u; t < 4u && e0 + t < p.d; t++) { bdqkv[base + e0 + t] = c.x[t] * s; }
  for (var t = 0u; t < 4u && e0 + 4u + t < p.d; t++) { bdqkv[base + e0 + 4u + t] = c.y[t] * s; }
  for (var t = 0u; t < 4u && e0 + 8u + t < p.d; t++) { bdqkv[base + e0 + 8u + t] = c.z[t] * s; }
  for (var t = 0u; t < 4u && e0 + 12u + t < p.d; t++) { bdqkv[base + e0 + 12u + t] = c.w[t] * s; }
}

// pass 1 (per block of query rows i): dP_ij = g_i . v_j; dS_ij = P_ij (dP_ij - sum_j P_ij dP_ij);
// dq_i = scale * sum_j dS_ij k_j
@compute @workgroup_size(WG)
fn backward_q(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let r = gid.x + gid.y * nwg.x * WG;
  if (r >= p.B * p.H * nblk()) { return; }
  let u = unpack(r);
  let b = u.x;
  let h = u.y;
  let i0 = u.z;
  let n = min(4u, p.N - i0);
  for (var e0 = 0u; e0 < p.d; e0 += 16u) {
    let g0 = gload(outIndex(b, rowc(i0, 0u), h, 0u), e0);
    let g1 = gload(outIndex(b, rowc(i0, 1u), h, 0u), e0);
    let g2 = gload(outIndex(b, rowc(i0, 2u), h, 0u), e0);
    let g3 = gload(outIndex(b, rowc(i0, 3u), h, 0u), e0);
    for (var j = 0u; j < p.N; j++) {
      let v = bload(qkvIndex(b, j, 2u, h, 0u), e0);
      let s = vec4f(dot16(g0, v), dot16(g1, v), dot16(g2, v), dot16(g3, v));
      for (var t = 0u; t < n; t++) {
        let o = pIndex(b, h, i0 + t, j);
        if (e0 == 0u) { bdS[o] = s[t]; } else { bdS[o] += s[t]; }
      }
    }
  }
  for (var t = 0u; t < n; t++) {
    let base = pIndex(b, h, i0 + t, 0u);
    var dotp = 0.0;
    for (var j = 0u; j < p.N; j++) { dotp += bdS[base + j] * bP[base + j]; }
    for (var j = 0u; j < p.N; j++) { bdS[base + j] = bP[base + j] * (bdS[base + j] - dotp); }
  }
  for (var e0 = 0u; e0 < p.d; e0 += 16u) {
    var d0 = zero16();
    var d1 = zero16();
    var d2 = zero16();
    var d3 = zero16();
    for (var j = 0u; j < p.N; j++) {
      let k = bload(qkvIndex(b, j, 1u, h, 0u), e0);
      d0 = axpy16(bdS[pIndex(b, h, rowc(i0, 0u), j)], k, d0);
      d1 = axpy16(bdS[pIndex(b, h, rowc(i0, 1u), j)], k, d1);
      d2 = axpy16(bdS[pIndex(b, h, rowc(i0, 2u), j)], k, d2);
      d3 = axpy16(bdS[pIndex(b, h, rowc(i0, 3u), j)], k, d3);
    }
    store16(qkvIndex(b, i0, 0u, h, 0u), e0, d0, p.scale);
    if (n > 1u) { store16(qkvIndex(b, i0 + 1u, 0u, h, 0u), e0, d1, p.scale); }
    if (n > 2u) { store16(qkvIndex(b, i0 + 2u, 0u, h, 0u), e0, d2, p.scale); }
    if (n > 3u) { store16(qkvIndex(b, i0 + 3u, 0u, h, 0u), e0, d3, p.scale); }
  }
}

// pass 2 (per block of key rows j): dk_j = scale * sum_i dS_ij q_i; dv_j = sum_i P_ij g_i
@compute @workgroup_size(WG)
fn backward_kv(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let r = gid.x + gid.y * nwg.x * WG;
  if (r >= p.B * p.H * nblk()) { return; }
  let u = unpack(r);
  let b = u.x;
  let h = u.y;
  let j0 = u.z;
  let n = min(4u, p.N - j0);
  for (var e0 = 0u; e0 < p.d; e0 += 16u) {
    var k0 = zero16();
    var k1 = zero16();
    var k2 = zero16();
    var k3 = zero16();
    var v0 = zero16();
    var v1 = zero16();
    var v2 = zero16();
    var v3 = zero16();
    for (var i = 0u; i < p.N; i++) {
      let q = bload(qkvIndex(b, i, 0u, h, 0u), e0);
      let g = gload(outIndex(b, i, h, 0u), e0);
      let row = pIndex(b, h, i, 0u);
      k0 = axpy16(bdS[row + rowc(j0, 0u)], q, k0);
      k1 = axpy16(bdS[row + rowc(j0, 1u)], q, k1);
      k2 = axpy16(bdS[row + rowc(j0, 2u)], q, k2);
      k3 = axpy16(bdS[row + rowc(j0, 3u)], q, k3);
      v0 = axpy16(bP[row + rowc(j0, 0u)], g, v0);
      v1 = axpy16(bP[row + rowc(j0, 1u)], g, v1);
      v2 = axpy16(bP[row + rowc(j0, 2u)], g, v2);
      v3 = axpy16(bP[row + rowc(j0, 3u)], g, v3);
    }
    store16(qkvIndex(b, j0, 1u, h, 0u), e0, k0, p.scale);
    store16(qkvIndex(b, j0, 2u, h, 0u), e0, v0, 1.0);
    if (n > 1u) { store16(qkvIndex(b, j0 + 1u, 1u, h, 0u), e0, k1, p.scale); store16(qkvIndex(b, j0 + 1u, 2u, h, 0u), e0, v1, 1.0); }
    if (n > 2u) { store16(qkvIndex(b, j0 + 2u, 1u, h, 0u), e0, k2, p.scale); store16(qkvIndex(b, j0 + 2u, 2u, h, 0u), e0, v2, 1.0); }
    if (n > 3u) { store16(qkvIndex(b, j0 + 3u, 1u, h, 0u), e0, k3, p.scale); store16(qkvIndex(b, j0 + 3u, 2u, h, 0u), e0, v3, 1.0); }
  }
}

// ==== Uniform-window variant (software adapters). Storage-buffer loads are the cost on
// llvmpipe and uniform loads are nearly free, so q, k, v and the output gradient are first
// re-laid out (`pack_rows`) into 64 KiB windows: window w holds pairs (b, h) in
// [w * PW, (w + 1) * PW), each as N rows of RS floats (the head dim zero-padded to DP, a
// multiple of 16, then 4 extra floats: the row's softmax max, sum and backward dot for the
// packed q, zeros otherwise). One dispatch per window; one invocation per (pair, row).
// The forward keeps no probabilities: an online softmax writes the row max and sum, and the
// backward recomputes probabilities from them (as flash attention does).

override D16: u32 = 1u; // chunks of 16 in the padded head dim (1..4)

struct WinParams {
  BH: u32,   // pairs in all
  N: u32,
  H: u32,
  d: u32,
  RS: u32,   // floats per packed row (DP + 4)
  PW: u32,   // pairs per window
  pair0: u32, // first pair of this dispatch's window
  src: u32,  // pack_rows: 0 q, 1 k, 2 v from qkv; 3 rows of g [B, N, H, d]
  scale: f32,
}

@group(0) @binding(0) var<uniform> w: WinParams;

// ---- pack: one invocation per packed row (pair, j) of all windows; stats (m, z, dot) are
// appended for q when `src` = 0 (binding 3, [BH * N * 3]).
@group(0) @binding(1) var<storage, read> wsrc: array<f32>;
@group(0) @binding(2) var<storage, read_write> wdst: array<f32>;
@group(0) @binding(3) var<storage, read> wstats: array<f32>;

@compute @workgroup_size(64)
fn pack_rows(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let r = gid.x + gid.y * nwg.x * 64u;
  if (r >= w.BH * w.N) { return; }
  let pair = r / w.N;
  let j = r % w.N;
  let b = pair / w.H;
  let h = pair % w.H;
  let win = pair / w.PW;
  let slot = pair % w.PW;
  let dst = win * 16384u + (slot * w.N + j) * w.RS;
  var src = (((b * w.N + j) * 3u + w.src) * w.H + h) * w.d;
  if (w.src == 3u) { src = ((b * w.N + j) * w.H + h) * w.d; }
  for (var e = 0u; e < w.d; e++) { wdst[dst + e] = wsrc[src + e]; }
  for (var e = w.d; e < w.RS - 4u; e++) { wdst[dst + e] = 0.0; }
  let st = (pair * w.N + j) * 3u;
  if (w.src == 0u) {
    wdst[dst + w.RS - 4u] = wstats[st];
    wdst[dst + w.RS - 3u] = wstats[st + 1u];
    wdst[dst + w.RS - 2u] = wstats[st + 2u];
  } else {
    wdst[dst + w.RS - 4u] = 0.0;
    wdst[dst + w.RS - 3u] = 0.0;
    wdst[dst + w.RS - 2u] = 0.0;
  }
  wdst[dst + w.RS - 1u] = 0.0;
}

@group(0) @binding(1) var<uniform> W0: array<vec4f, 4096>;
@group(0) @binding(2) var<uniform> W1: array<vec4f, 4096>;

// chunk c of packed row (slot, j) of a window
fn w0c(slot: u32, j: u32, c: u32) -> Chunk {
  let i = ((slot * w.N + j) * w.RS) / 4u + c * 4u;
  return Chunk(W0[i], W0[i + 1u], W0[i + 2u], W0[i + 3u]);
}

fn w1c(slot: u32, j: u32, c: u32) -> Chunk {
  let i = ((slot * w.N + j) * w.RS) / 4u + c * 4u;
  return Chunk(W1[i], W1[i + 1u], W1[i + 2u], W1[i + 3u]);
}

// the 4 floats after the padded head dim of row (slot, j) in window 0: (m, z, dot, 0)
fn w0stats(slot: u32, j: u32) -> vec4f {
  return W0[((slot * w.N + j) * w.RS) / 4u + D16 * 4u];
}

fn scale16(c: Chunk, s: f32) -> Chunk {
  return Chunk(c.x * s, c.y * s, c.z * s, c.w * s);
}

// the storage inputs of the windowed kernels: S0 = qkv, S1 = g (backward_q only)
@group(0) @binding(3) var<storage, read> S0: array<f32>;
@group(0) @binding(4) var<storage, read> S1: array<f32>;

// chunk c of a storage row of qkv (s = 0, 1, 2) in S0, or of g (s = 3) in S1; zero past d
fn srow0(b: u32, n: u32, s: u32, h: u32, c: u32) -> Chunk {
  var base = (((b * w.N + n) * 3u + s) * w.H + h) * w.d;
  if (s == 3u) { base = ((b * w.N + n) * w.H + h) * w.d; }
  let e0 = c * 16u;
  return Chunk(
    vec4f(select(0.0, S0[base + e0 + 0u], e0 + 0u < w.d), select(0.0, S0[base + e0 + 1u], e0 + 1u < w.d), select(0.0, S0[base + e0 + 2u], e0 + 2u < w.d), select(0.0, S0[base + e0 + 3u], e0 + 3u < w.d)),
    vec4f(select(0.0, S0[base + e0 + 4u], e0 + 4u < w.d), select(0.0, S0[base + e0 + 5u], e0 + 5u < w.d), select(0.0, S0[base + e0 + 6u], e0 + 6u < w.d), select(0.0, S0[base + e0 + 7u], e0 + 7u < w.d)),
    vec4f(select(0.0, S0[base + e0 + 8u], e0 + 8u < w.d), select(0.0, S0[base + e0 + 9u], e0 + 9u < w.d), select(0.0, S0[base + e0 + 10u], e0 + 10u < w.d), select(0.0, S0[base + e0 + 11u], e0 + 11u < w.d)),
    vec4f(select(0.0, S0[base + e0 + 12u], e0 + 12u < w.d), select(0.0, S0[base + e0 + 13u], e0 + 13u < w.d), select(0.0, S0[base + e0 + 14u], e0 + 14u < w.d), select(0.0, S0[base + e0 + 15u], e0 + 15u < w.d)),
  );
}

fn srow1(b: u32, n: u32, s: u32, h: u32, c: u32) -> Chunk {
  var base = (((b * w.N + n) * 3u + s) * w.H + h) * w.d;
  if (s == 3u) { base = ((b * w.N + n) * w.H + h) * w.d; }
  let e0 = c * 16u;
  return Chunk(
    vec4f(select(0.0, S1[base + e0 + 0u], e0 + 0u < w.d), select(0.0, S1[base + e0 + 1u], e0 + 1u < w.d), select(0.0, S1[base + e0 + 2u], e0 + 2u < w.d), select(0.0, S1[base + e0 + 3u], e0 + 3u < w.d)),
    vec4f(select(0.0, S1[base + e0 + 4u], e0 + 4u < w.d), select(0.0, S1[base + e0 + 5u], e0 + 5u < w.d), select(0.0, S1[base + e0 + 6u], e0 + 6u < w.d), select(0.0, S1[base + e0 + 7u], e0 + 7u < w.d)),
    vec4f(select(0.0, S1[base + e0 + 8u], e0 + 8u < w.d), select(0.0, S1[base + e0 + 9u], e0 + 9u < w.d), select(0.0, S1[base + e0 + 10u], e0 + 10u < w.d), select(0.0, S1[base + e0 + 11u], e0 + 11u < w.d)),
    vec4f(select(0.0, S1[base + e0 + 12u], e0 + 12u < w.d), select(0.0, S1[base + e0 + 13u], e0 + 13u < w.d), select(0.0, S1[base + e0 + 14u], e0 + 14u < w.d), select(0.0, S1[base + e0 + 15u], e0 + 15u < w.d)),
  );
}

@group(0) @binding(5) var<storage, read_write> O0: array<f32>;
@group(0) @binding(6) var<storage, read_write> O1: array<f32>;

fn store0(base: u32, c: u32, v: Chunk) {
  let e0 = c * 16u;
  for (var t = 0u; t < 4u && e0 + t < w.d; t++) { O0[base + e0 + t] = v.x[t]; }
  for (var t = 0u; t < 4u && e0 + 4u + t < w.d; t++) { O0[base + e0 + 4u + t] = v.y[t]; }
  for (var t = 0u; t < 4u && e0 + 8u + t < w.d; t++) { O0[base + e0 + 8u + t] = v.z[t]; }
  for (var t = 0u; t < 4u && e0 + 12u + t < w.d; t++) { O0[base + e0 + 12u + t] = v.w[t]; }
}

fn dotc(a0: Chunk, a1: Chunk, a2: Chunk, a3: Chunk, b0: Chunk, b1: Chunk, b2: Chunk, b3: Chunk) -> f32 {
  var s = dot16(a0, b0);
  if (D16 > 1u) { s += dot16(a1, b1); }
  if (D16 > 2u) { s += dot16(a2, b2); }
  if (D16 > 3u) { s += dot16(a3, b3); }
  return s;
}

// invocation -> (slot, row, pair); pair >= BH or slot >= PW means idle
fn wslot(gid: vec3u, nwg: vec3u) -> vec3u {
  let r = gid.x + gid.y * nwg.x * 64u;
  let slot = r / w.N;
  return vec3u(slot, r % w.N, w.pair0 + slot);
}

// ---- forward: windows W0 = k, W1 = v; S0 = qkv; O0 = out [B, N, H, d]; O1 = stats [BH*N*3]
@compute @workgroup_size(64)
fn forward_win(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let u = wslot(gid, nwg);
  let slot = u.x;
  let i = u.y;
  let pair = u.z;
  if (slot >= w.PW || pair >= w.BH) { return; }
  let b = pair / w.H;
  let h = pair % w.H;
  let q0 = scale16(srow0(b, i, 0u, h, 0u), w.scale);
  var q1 = zero16();
  var q2 = zero16();
  var q3 = zero16();
  if (D16 > 1u) { q1 = scale16(srow0(b, i, 0u, h, 1u), w.scale); }
  if (D16 > 2u) { q2 = scale16(srow0(b, i, 0u, h, 2u), w.scale); }
  if (D16 > 3u) { q3 = scale16(srow0(b, i, 0u, h, 3u), w.scale); }
  var m = -3.4e38;
  var z = 0.0;
  var o0 = zero16();
  var o1 = zero16();
  var o2 = zero16();
  var o3 = zero16();
  for (var j = 0u; j < w.N; j++) {
    var k1 = zero16();
    var k2 = zero16();
    var k3 = zero16();
    if (D16 > 1u) { k1 = w0c(slot, j, 1u); }
    if (D16 > 2u) { k2 = w0c(slot, j, 2u); }
    if (D16 > 3u) { k3 = w0c(slot, j, 3u); }
    let s = dotc(q0, q1, q2, q3, w0c(slot, j, 0u), k1, k2, k3);
    let mn = max(m, s);
    let c = exp(m - mn);
    let p = exp(s - mn);
    z = z * c + p;
    m = mn;
    o0 = axpy16(p, w1c(slot, j, 0u), scale16(o0, c));
    if (D16 > 1u) { o1 = axpy16(p, w1c(slot, j, 1u), scale16(o1, c)); }
    if (D16 > 2u) { o2 = axpy16(p, w1c(slot, j, 2u), scale16(o2, c)); }
    if (D16 > 3u) { o3 = axpy16(p, w1c(slot, j, 3u), scale16(o3, c)); }
  }
  let inv = 1.0 / z;
  let ob = ((b * w.N + i) * w.H + h) * w.d;
  store0(ob, 0u, scale16(o0, inv));
  if (D16 > 1u) { store0(ob, 1u, scale16(o1, inv)); }
  if (D16 > 2u) { store0(ob, 2u, scale16(o2, inv)); }
  if (D16 > 3u) { store0(ob, 3u, scale16(o3, inv)); }
  let st = (pair * w.N + i) * 3u;
  O1[st] = m;
  O1[st + 1u] = z;
}

// ---- backward for q: windows W0 = k, W1 = v; S0 = qkv, S1 = g; O0 = dqkv; O1 = stats
// (reads m, z; writes the row's dot = sum_j P_ij dP_ij for the k/v pass)
@compute @workgroup_size(64)
fn backward_q_win(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let u = wslot(gid, nwg);
  let slot = u.x;
  let i = u.y;
  let pair = u.z;
  if (slot >= w.PW || pair >= w.BH) { return; }
  let b = pair / w.H;
  let h = pair % w.H;
  let q0 = scale16(srow0(b, i, 0u, h, 0u), w.scale);
  let g0 = srow1(b, i, 3u, h, 0u);
  var q1 = zero16();
  var q2 = zero16();
  var q3 = zero16();
  var g1 = zero16();
  var g2 = zero16();
  var g3 = zero16();
  if (D16 > 1u) { q1 = scale16(srow0(b, i, 0u, h, 1u), w.scale); g1 = srow1(b, i, 3u, h, 1u); }
  if (D16 > 2u) { q2 = scale16(srow0(b, i, 0u, h, 2u), w.scale); g2 = srow1(b, i, 3u, h, 2u); }
  if (D16 > 3u) { q3 = scale16(srow0(b, i, 0u, h, 3u), w.scale); g3 = srow1(b, i, 3u, h, 3u); }
  let st = (pair * w.N + i) * 3u;
  let m = O1[st];
  let iz = 1.0 / O1[st + 1u];
  var dotp = 0.0;
  for (var j = 0u; j < w.N; j++) {
    var k1 = zero16();
    var k2 = zero16();
    var k3 = zero16();
    var v1 = zero16();
    var v2 = zero16();
    var v3 = zero16();
    if (D16 > 1u) { k1 = w0c(slot, j, 1u); v1 = w1c(slot, j, 1u); }
    if (D16 > 2u) { k2 = w0c(slot, j, 2u); v2 = w1c(slot, j, 2u); }
    if (D16 > 3u) { k3 = w0c(slot, j, 3u); v3 = w1c(slot, j, 3u); }
    let p = exp(dotc(q0, q1, q2, q3, w0c(slot, j, 0u), k1, k2, k3) - m) * iz;
    dotp += p * dotc(g0, g1, g2, g3, w1c(slot, j, 0u), v1, v2, v3);
  }
  var d0 = zero16();
  var d1 = zero16();
  var d2 = zero16();
  var d3 = zero16();
  for (var j = 0u; j < w.N; j++) {
    var k1 = zero16();
    var k2 = zero16();
    var k3 = zero16();
    var v1 = zero16();
    var v2 = zero16();
    var v3 = zero16();
    if (D16 > 1u) { k1 = w0c(slot, j, 1u); v1 = w1c(slot, j, 1u); }
    if (D16 > 2u) { k2 = w0c(slot, j, 2u); v2 = w1c(slot, j, 2u); }
    if (D16 > 3u) { k3 = w0c(slot, j, 3u); v3 = w1c(slot, j, 3u); }
    let k0 = w0c(slot, j, 0u);
    let p = exp(dotc(q0, q1, q2, q3, k0, k1, k2, k3) - m) * iz;
    let ds = p * (dotc(g0, g1, g2, g3, w1c(slot, j, 0u), v1, v2, v3) - dotp);
    d0 = axpy16(ds, k0, d0);
    if (D16 > 1u) { d1 = axpy16(ds, k1, d1); }
    if (D16 > 2u) { d2 = axpy16(ds, k2, d2); }
    if (D16 > 3u) { d3 = axpy16(ds, k3, d3); }
  }
  let qb = (((b * w.N + i) * 3u) * w.H + h) * w.d;
  store0(qb, 0u, scale16(d0, w.scale));
  if (D16 > 1u) { store0(qb, 1u, scale16(d1, w.scale)); }
  if (D16 > 2u) { store0(qb, 2u, scale16(d2, w.scale)); }
  if (D16 > 3u) { store0(qb, 3u, scale16(d3, w.scale)); }
  O1[st + 2u] = dotp;
}

// ---- backward for k and v: windows W0 = q (+ stats m, z, dot per row), W1 = g;
// S0 = qkv (this key row's k and v); O0 = dqkv
@compute @workgroup_size(64)
fn backward_kv_win(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let u = wslot(gid, nwg);
  let slot = u.x;
  let j = u.y;
  let pair = u.z;
  if (slot >= w.PW || pair >= w.BH) { return; }
  let b = pair / w.H;
  let h = pair % w.H;
  let k0 = srow0(b, j, 1u, h, 0u);
  let v0 = srow0(b, j, 2u, h, 0u);
  var k1 = zero16();
  var k2 = zero16();
  var k3 = zero16();
  var v1 = zero16();
  var v2 = zero16();
  var v3 = zero16();
  if (D16 > 1u) { k1 = srow0(b, j, 1u, h, 1u); v1 = srow0(b, j, 2u, h, 1u); }
  if (D16 > 2u) { k2 = srow0(b, j, 1u, h, 2u); v2 = srow0(b, j, 2u, h, 2u); }
  if (D16 > 3u) { k3 = srow0(b, j, 1u, h, 3u); v3 = srow0(b, j, 2u, h, 3u); }
  var dk0 = zero16();
  var dk1 = zero16();
  var dk2 = zero16();
  var dk3 = zero16();
  var dv0 = zero16();
  var dv1 = zero16();
  var dv2 = zero16();
  var dv3 = zero16();
  for (var i = 0u; i < w.N; i++) {
    let stt = w0stats(slot, i);
    let qq0 = w0c(slot, i, 0u);
    let gg0 = w1c(slot, i, 0u);
    var qq1 = zero16();
    var qq2 = zero16();
    var qq3 = zero16();
    var gg1 = zero16();
    var gg2 = zero16();
    var gg3 = zero16();
    if (D16 > 1u) { qq1 = w0c(slot, i, 1u); gg1 = w1c(slot, i, 1u); }
    if (D16 > 2u) { qq2 = w0c(slot, i, 2u); gg2 = w1c(slot, i, 2u); }
    if (D16 > 3u) { qq3 = w0c(slot, i, 3u); gg3 = w1c(slot, i, 3u); }
    let p = exp(dotc(qq0, qq1, qq2, qq3, k0, k1, k2, k3) * w.scale - stt.x) / stt.y;
    let ds = p * (dotc(gg0, gg1, gg2, gg3, v0, v1, v2, v3) - stt.z) * w.scale;
    dk0 = axpy16(ds, qq0, dk0);
    dv0 = axpy16(p, gg0, dv0);
    if (D16 > 1u) { dk1 = axpy16(ds, qq1, dk1); dv1 = axpy16(p, gg1, dv1); }
    if (D16 > 2u) { dk2 = axpy16(ds, qq2, dk2); dv2 = axpy16(p, gg2, dv2); }
    if (D16 > 3u) { dk3 = axpy16(ds, qq3, dk3); dv3 = axpy16(p, gg3, dv3); }
  }
  let kb = (((b * w.N + j) * 3u + 1u) * w.H + h) * w.d;
  let vb = (((b * w.N + j) * 3u + 2u) * w.H + h) * w.d;
  store0(kb, 0u, dk0);
  store0(vb, 0u, dv0);
  if (D16 > 1u) { store0(kb, 1u, dk1); store0(vb, 1u, dv1); }
  if (D16 > 2u) { store0(kb, 2u, dk2); store0(vb, 2u, dv2); }
  if (D16 > 3u) { store0(kb, 3u, dk3); store0(vb, 3u, dv3); }
}
