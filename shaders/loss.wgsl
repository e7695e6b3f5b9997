// Softmax cross-entropy, forward and backward, fused.
//
// Layout: logits x are contiguous row-major f32 [N, C]. Hard targets are i32 class indices
// [N]; soft targets are f32 [N, C] (probabilities, or any weights). Per-row outputs are
// [N]: the loss, stat = (m, log(s)) with lse = m + log(s) (saved for the backward, kept
// apart so that x - lse = (x - m) - log(s) stays exact for large logits) and, for soft
// targets, sum(t) over the row.
//   hard   loss = lse - x[t]            dx = gs * (softmax(x) - onehot(t))
//   soft   loss = sum(t * (lse - x))    dx = gs * (softmax(x) * sum(t) - t),
//                                       dt = -gs * (x - lse)          (= -gs * log_softmax)
// with softmax(x) = exp(x - lse) and gs = g[row] * scale ("none") or g[0] * scale ("mean",
// scale = 1 / N), selected by the MEAN override.
// Numerics: lse = m + log(s) with m the row max and s = sum(exp(x - m)) from an online
// pass; the soft loss sums t * ((m - x) + log(s)), so large logits do not cancel.
// A class index outside [0, C) makes that row's loss and gradient NaN (never silent).
// Forward kernels, two shapes as in softmax.wgsl:
//   *_row_forward  one invocation per row, n < p.N, over a 2-D grid
//                  (n = gid.x + gid.y * num_workgroups.x * WG); no barriers.
//   *_wg_forward   one workgroup of WG (a power of two) invocations per row
//                  (row = wid.x + wid.y * num_workgroups.x), shared-memory tree reductions.
// Backward kernels: one invocation per element i < N * C over the 2-D grid.

override WG: u32 = 64u;
override MEAN: u32 = 1u;
// soft backward: 0 writes dlogits, 1 writes dtarget
override WHICH: u32 = 0u;

struct Params {
  N: u32,
  C: u32,
  scale: f32,
  _p: u32,
}

@group(0) @binding(0) var<uniform> p: Params;

const NEG_BIG: f32 = -3.4028234e38;

fn nan() -> f32 {
  return bitcast<f32>(0x7fc00000u);
}

fn flat_index(gid: vec3u, nwg: vec3u) -> u32 {
  return gid.x + gid.y * nwg.x * WG;
}

fn group_index(wid: vec3u, nwg: vec3u) -> u32 {
  return wid.x + wid.y * nwg.x;
}

// online (max, sum of exp(x - max))
fn push(a: vec2f, v: f32) -> vec2f {
  if (v > a.x) {
    return vec2f(v, a.y * exp(a.x - v) + 1.0);
  }
  return vec2f(a.x, a.y + exp(v - a.x));
}

fn combine(a: vec2f, b: vec2f) -> vec2f {
  let m = max(a.x, b.x);
  return vec2f(m, a.y * exp(a.x - m) + b.y * exp(b.x - m));
}

var<workgroup> shm: array<vec2f, WG>;

// (max, sum) over the workgroup
fn wg_maxsum(v: vec2f, lid: u32) -> vec2f {
  shm[lid] = v;
  workgroupBarrier();
  for (var k = WG / 2u; k > 0u; k = k / 2u) {
    if (lid < k) {
      shm[lid] = combine(shm[lid], shm[lid + k]);
    }
    workgroupBarrier();
  }
  let total = shm[0];
  workgroupBarrier();
  return total;
}

// plain sums over the workgroup
fn wg_sum(v: vec2f, lid: u32) -> vec2f {
  shm[lid] = v;
  workgroupBarrier();
  for (var k = WG / 2u; k > 0u; k = k / 2u) {
    if (lid < k) {
      shm[lid] = shm[lid] + shm[lid + k];
    }
    workgroupBarrier();
  }
  let total = shm[0];
  workgroupBarrier();
  return total;
}

// ---- hard-label forward. Bindings: x, target (i32) (read), loss, stat (write).
@group(0) @binding(1) var<storage, read> hx: array<f32>;
@group(0) @binding(2) var<storage, read> ht: array<i32>;
@group(0) @binding(3) var<storage, read_write> hloss: array<f32>;
@group(0) @binding(4) var<storage, read_write> hstat: array<vec2f>;

fn hard_finish(n: u32, ms: vec2f) {
  let base = n * p.C;
  let t = ht[n];
  let ls = log(ms.y);
  hstat[n] = vec2f(ms.x, ls);
  if (t < 0 || u32(t) >= p.C) {
    hloss[n] = nan();
  } else {
    hloss[n] = (ms.x - hx[base + u32(t)]) + ls;
  }
}

@compute @workgroup_size(WG)
fn ce_hard_row_forward(
  @builtin(global_invocation_id) gid: vec3u,
  @builtin(num_workgroups) nwg: vec3u,
) {
  let n = flat_index(gid, nwg);
  if (n >= p.N) { return; }
  let base = n * p.C;
  var ms = vec2f(NEG_BIG, 0.0);
  for (var c = 0u; c < p.C; c++) {
    ms = push(ms, hx[base + c]);
  }
  hard_finish(n, ms);
}

@compute @workgroup_size(WG)
fn ce_hard_wg_forward(
  @builtin(workgroup_id) wid: vec3u,
  @builtin(local_invocation_index) lid: u32,
  @builtin(num_workgroups) nwg: vec3u,
) {
  let n = group_index(wid, nwg);
  if (n >= p.N) { return; }
  let base = n * p.C;
  var ms = vec2f(NEG_BIG, 0.0);
  for (var c = lid; c < p.C; c += WG) {
    ms = push(ms, hx[base + c]);
  }
  let tot = wg_maxsum(ms, lid);
  if (lid == 0u) {
    hard_finish(n, tot);
  }
}

// ---- soft-target forward. Bindings: x, target (f32 [N, C]) (read), loss, stat, sum(t)
// (write).
@group(0) @binding(1) var<storage, read> sx: array<f32>;
@group(0) @binding(2) var<storage, read> st: array<f32>;
@group(0) @binding(3) var<storage, read_write> sloss: array<f32>;
@group(0) @binding(4) var<storage, read_write> sstat: array<vec2f>;
@group(0) @binding(5) var<storage, read_write> ssum: array<f32>;

// (t, t * (lse - x)) of element i, lse - x computed as (m - x) + log(s)
fn soft_terms(i: u32, ms: vec2f, ls: f32) -> vec2f {
  let t = st[i];
  return vec2f(t, t * ((ms.x - sx[i]) + ls));
}

@compute @workgroup_size(WG)
fn ce_soft_row_forward(
  @builtin(global_invocation_id) gid: vec3u,
  @builtin(num_workgroups) nwg: vec3u,
) {
  let n = flat_index(gid, nwg);
  if (n >= p.N) { return; }
  let base = n * p.C;
  var ms = vec2f(NEG_BIG, 0.0);
  for (var c = 0u; c < p.C; c++) {
    ms = push(ms, sx[base + c]);
  }
  let ls = log(ms.y);
  var acc = vec2f(0.0);
  for (var c = 0u; c < p.C; c++) {
    acc += soft_terms(base + c, ms, ls);
  }
  sloss[n] = acc.y;
  sstat[n] = vec2f(ms.x, ls);
  ssum[n] = acc.x;
}

@compute @workgroup_size(WG)
fn ce_soft_wg_forward(
  @builtin(workgroup_id) wid: vec3u,
  @builtin(local_invocation_index) lid: u32,
  @builtin(num_workgroups) nwg: vec3u,
) {
  let n = group_index(wid, nwg);
  if (n >= p.N) { return; }
  let base = n * p.C;
  var ms = vec2f(NEG_BIG, 0.0);
  for (var c = lid; c < p.C; c += WG) {
    ms = push(ms, sx[base + c]);
  }
  let tot = wg_maxsum(ms, lid);
  let ls = log(tot.y);
  var acc = vec2f(0.0);
  for (var c = lid; c < p.C; c += WG) {
    acc += soft_terms(base + c, tot, ls);
  }
  let sums = wg_sum(acc, lid);
  if (lid == 0u) {
    sloss[n] = sums.y;
    sstat[n] = vec2f(tot.x, ls);
    ssum[n] = sums.x;
  }
}

// upstream gradient of row n, scaled
fn row_grad(g: f32) -> f32 {
  return g * p.scale;
}

// ---- hard-label backward, dlogits. Bindings: g, x, target, stat (read), dx (write).
@group(0) @binding(1) var<storage, read> hbg: array<f32>;
@group(0) @binding(2) var<storage, read> hbx: array<f32>;
@group(0) @binding(3) var<storage, read> hbt: array<i32>;
@group(0) @binding(4) var<storage, read> hbstat: array<vec2f>;
@group(0) @binding(5) var<storage, read_write> hbdx: array<f32>;

@compute @workgroup_size(WG)
fn ce_hard_backward(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = flat_index(gid, nwg);
  if (i >= p.N * p.C) { return; }
  let n = i / p.C;
  let c = i % p.C;
  let t = hbt[n];
  let gs = row_grad(hbg[select(n, 0u, MEAN == 1u)]);
  if (t < 0 || u32(t) >= p.C) {
    hbdx[i] = nan();
    return;
  }
  let row = hbstat[n];
  let sm = exp((hbx[i] - row.x) - row.y);
  hbdx[i] = gs * (sm - select(0.0, 1.0, u32(t) == c));
}

// ---- soft-target backward: dlogits (WHICH 0) or dtarget (WHICH 1).
// Bindings: g, x, target, stat, sum(t) (read), out (write).
@group(0) @binding(1) var<storage, read> sbg: array<f32>;
@group(0) @binding(2) var<storage, read> sbx: array<f32>;
@group(0) @binding(3) var<storage, read> sbt: array<f32>;
@group(0) @binding(4) var<storage, read> sbstat: array<vec2f>;
@group(0) @binding(5) var<storage, read> sbsum: array<f32>;
@group(0) @binding(6) var<storage, read_write> sbout: array<f32>;

@compute @workgroup_size(WG)
fn ce_soft_backward(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = flat_index(gid, nwg);
  if (i >= p.N * p.C) { return; }
  let n = i / p.C;
  let gs = row_grad(sbg[select(n, 0u, MEAN == 1u)]);
  let row = sbstat[n];
  let z = (sbx[i] - row.x) - row.y;
  if (WHICH == 0u) {
    sbout[i] = gs * (exp(z) * sbsum[n] - sbt[i]);
  } else {
    sbout[i] = -gs * z;
  }
}

// ---- vec4 backward variants (C % 4 == 0): one invocation per 4 consecutive elements
// i4 < N * C / 4 of one row, so each invocation loads its row's g, target and stat once per
// 4 elements. Same bindings as the scalar kernels, logits and outputs read as vec4.
@group(0) @binding(2) var<storage, read> hbx4: array<vec4f>;
@group(0) @binding(5) var<storage, read_write> hbdx4: array<vec4f>;

@compute @workgroup_size(WG)
fn ce_hard_backward4(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i4 = flat_index(gid, nwg);
  let c4 = p.C / 4u;
  if (i4 >= p.N * c4) { return; }
  let n = i4 / c4;
  let c = (i4 - n * c4) * 4u;
  let t = hbt[n];
  let gs = row_grad(hbg[select(n, 0u, MEAN == 1u)]);
  if (t < 0 || u32(t) >= p.C) {
    hbdx4[i4] = vec4f(nan());
    return;
  }
  let row = hbstat[n];
  let sm = exp((hbx4[i4] - row.x) - row.y);
  let hot = select(vec4f(0.0), vec4f(1.0), vec4u(c, c + 1u, c + 2u, c + 3u) == vec4u(u32(t)));
  hbdx4[i4] = gs * (sm - hot);
}

@group(0) @binding(2) var<storage, read> sbx4: array<vec4f>;
@group(0) @binding(3) var<storage, read> sbt4: array<vec4f>;
@group(0) @binding(6) var<storage, read_write> sbout4: array<vec4f>;

@compute @workgroup_size(WG)
fn ce_soft_backward4(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i4 = flat_index(gid, nwg);
  let c4 = p.C / 4u;
  if (i4 >= p.N * c4) { return; }
  let n = i4 / c4;
  let gs = row_grad(sbg[select(n, 0u, MEAN == 1u)]);
  let row = sbstat[n];
  let z = (sbx4[i4] - row.x) - row.y;
  if (WHICH == 0u) {
    sbout4[i4] = gs * (exp(z) * sbsum[n] - sbt4[i4]);
  } else {
    sbout4[i4] = -gs * z;
  }
}
