// Fused multi-head self-attention, forward and backward, straight from the fused qkv
// projection: softmax(q k^T * scale) v per (batch, head, query row).
//
// Layout: qkv is [B, N, 3, H, d] (the `qkv` Linear's output viewed as PyTorch reshapes
// it); out and its gradient are [B, N, H, d] (the input of `proj`); P (probabilities) and
// dS (score gradients) are [B, H, N, N]; dqkv has qkv's layout. Bounds: one invocation per
// (b, h, row), row < N; any N and d. The head dimension is processed in chunks of 16 held
// in four vec4 registers (no private arrays: on llvmpipe those cost as much as memory).

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

// (b, h, row) of invocation r
fn unpack(r: u32) -> vec3u {
  return vec3u(r / (p.N * p.H), (r / p.N) % p.H, r % p.N);
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
  var v: array<f32, 16>;
  for (var t = 0u; t < 16u; t++) {
    v[t] = select(0.0, fqkv[base + e0 + t], e0 + t < p.d);
  }
  return Chunk(vec4f(v[0], v[1], v[2], v[3]), vec4f(v[4], v[5], v[6], v[7]), vec4f(v[8], v[9], v[10], v[11]), vec4f(v[12], v[13], v[14], v[15]));
}

@compute @workgroup_size(WG)
fn forward(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let r = gid.x + gid.y * nwg.x * WG;
  if (r >= p.B * p.H * p.N) { return; }
  let u = unpack(r);
  let b = u.x;
  let h = u.y;
  let i = u.z;
  // scores, accumulated over chunks of the head dimension
  for (var e0 = 0u; e0 < p.d; e0 += 16u) {
    let q = fload(qkvIndex(b, i, 0u, h, 0u), e0);
    for (var j = 0u; j < p.N; j++) {
      let s = dot16(q, fload(qkvIndex(b, j, 1u, h, 0u), e0)) * p.scale;
      if (e0 == 0u) { fP[pIndex(b, h, i, j)] = s; } else { fP[pIndex(b, h, i, j)] += s; }
    }
  }
  var mx = -3.4e38;
  for (var j = 0u; j < p.N; j++) { mx = max(mx, fP[pIndex(b, h, i, j)]); }
  var z = 0.0;
  for (var j = 0u; j < p.N; j++) {
    let w = exp(fP[pIndex(b, h, i, j)] - mx);
    fP[pIndex(b, h, i, j)] = w;
    z += w;
  }
  let inv = 1.0 / z;
  for (var j = 0u; j < p.N; j++) { fP[pIndex(b, h, i, j)] *= inv; }
  for (var e0 = 0u; e0 < p.d; e0 += 16u) {
    var acc = zero16();
    for (var j = 0u; j < p.N; j++) {
      acc = axpy16(fP[pIndex(b, h, i, j)], fload(qkvIndex(b, j, 2u, h, 0u), e0), acc);
    }
    let o = outIndex(b, i, h, 0u);
    for (var t = 0u; t < 4u && e0 + t < p.d; t++) { fout[o + e0 + t] = acc.x[t]; }
    for (var t = 0u; t < 4u && e0 + 4u + t < p.d; t++) { fout[o + e0 + 4u + t] = acc.y[t]; }
    for (var t = 0u; t < 4u && e0 + 8u + t < p.d; t++) { fout[o + e0 + 8u + t] = acc.z[t]; }
    for (var t = 0u; t < 4u && e0 + 12u + t < p.d; t++) { fout[o + e0 + 12u + t] = acc.w[t]; }
  }
}

// ---- backward. Bindings: qkv, P, g (read), dS (pass 1 writes, pass 2 reads), dqkv.
@group(0) @binding(1) var<storage, read> bqkv: array<f32>;
@group(0) @binding(2) var<storage, read> bP: array<f32>;
@group(0) @binding(3) var<storage, read> bg: array<f32>;
@group(0) @binding(4) var<storage, read_write> bdS: array<f32>;
@group(0) @binding(5) var<storage, read_write> bdqkv: array<f32>;

fn bload(base: u32, e0: u32) -> Chunk {
  var v: array<f32, 16>;
  for (var t = 0u; t < 16u; t++) {
    v[t] = select(0.0, bqkv[base + e0 + t], e0 + t < p.d);
  }
  return Chunk(vec4f(v[0], v[1], v[2], v[3]), vec4f(v[4], v[5], v[6], v[7]), vec4f(v[8], v[9], v[10], v[11]), vec4f(v[12], v[13], v[14], v[15]));
}

fn gload(base: u32, e0: u32) -> Chunk {
  var v: array<f32, 16>;
  for (var t = 0u; t < 16u; t++) {
    v[t] = select(0.0, bg[base + e0 + t], e0 + t < p.d);
  }
  return Chunk(vec4f(v[0], v[1], v[2], v[3]), vec4f(v[4], v[5], v[6], v[7]), vec4f(v[8], v[9], v[10], v[11]), vec4f(v[12], v[13], v[14], v[15]));
}

fn store16(base: u32, e0: u32, c: Chunk, s: f32) {
  for (var t = 0u; t < 4u && e0 + t < p.d; t++) { bdqkv[base + e0 + t] = c.x[t] * s; }
  for (var t = 0u; t < 4u && e0 + 4u + t < p.d; t++) { bdqkv[base + e0 + 4u + t] = c.y[t] * s; }
  for (var t = 0u; t < 4u && e0 + 8u + t < p.d; t++) { bdqkv[base + e0 + 8u + t] = c.z[t] * s; }
  for (var t = 0u; t < 4u && e0 + 12u + t < p.d; t++) { bdqkv[base + e0 + 12u + t] = c.w[t] * s; }
}

// pass 1 (per query row i): dP_ij = g_i . v_j; dS_ij = P_ij (dP_ij - sum_j P_ij dP_ij);
// dq_i = scale * sum_j dS_ij k_j
@compute @workgroup_size(WG)
fn backward_q(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let r = gid.x + gid.y * nwg.x * WG;
  if (r >= p.B * p.H * p.N) { return; }
  let u = unpack(r);
  let b = u.x;
  let h = u.y;
  let i = u.z;
  for (var e0 = 0u; e0 < p.d; e0 += 16u) {
    let g = gload(outIndex(b, i, h, 0u), e0);
    for (var j = 0u; j < p.N; j++) {
      let s = dot16(g, bload(qkvIndex(b, j, 2u, h, 0u), e0));
      if (e0 == 0u) { bdS[pIndex(b, h, i, j)] = s; } else { bdS[pIndex(b, h, i, j)] += s; }
    }
  }
  var dotp = 0.0;
  for (var j = 0u; j < p.N; j++) { dotp += bdS[pIndex(b, h, i, j)] * bP[pIndex(b, h, i, j)]; }
  for (var j = 0u; j < p.N; j++) {
    bdS[pIndex(b, h, i, j)] = bP[pIndex(b, h, i, j)] * (bdS[pIndex(b, h, i, j)] - dotp);
  }
  for (var e0 = 0u; e0 < p.d; e0 += 16u) {
    var dq = zero16();
    for (var j = 0u; j < p.N; j++) {
      dq = axpy16(bdS[pIndex(b, h, i, j)], bload(qkvIndex(b, j, 1u, h, 0u), e0), dq);
    }
    store16(qkvIndex(b, i, 0u, h, 0u), e0, dq, p.scale);
  }
}

// pass 2 (per key row j): dk_j = scale * sum_i dS_ij q_i; dv_j = sum_i P_ij g_i
@compute @workgroup_size(WG)
fn backward_kv(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let r = gid.x + gid.y * nwg.x * WG;
  if (r >= p.B * p.H * p.N) { return; }
  let u = unpack(r);
  let b = u.x;
  let h = u.y;
  let j = u.z;
  for (var e0 = 0u; e0 < p.d; e0 += 16u) {
    var dk = zero16();
    var dv = zero16();
    for (var i = 0u; i < p.N; i++) {
      dk = axpy16(bdS[pIndex(b, h, i, j)], bload(qkvIndex(b, i, 0u, h, 0u), e0), dk);
      dv = axpy16(bP[pIndex(b, h, i, j)], gload(outIndex(b, i, h, 0u), e0), dv);
    }
    store16(qkvIndex(b, j, 1u, h, 0u), e0, dk, p.scale);
    store16(qkvIndex(b, j, 2u, h, 0u), e0, dv, 1.0);
  }
}
