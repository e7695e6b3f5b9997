// Softmax and log-softmax over the last axis, forward and backward, fused.
//
// Layout: contiguous row-major f32, viewed as [rows, L]; every kernel works on whole rows.
// Numerics: the row max is subtracted before exp (an online max/sum pass: when a larger
// value arrives the running sum is rescaled), so no exp overflows.
// OP (override): 0 softmax, 1 log-softmax.
//   forward   softmax:     y = exp(x - m) / s                 with m = max x, s = sum exp(x - m)
//             log-softmax: y = x - m - log(s)
//   backward  softmax:     dx = y * (g - sum(g * y))
//             log-softmax: dx = g - exp(y) * sum(g)
// Two shapes of each kernel:
//   row_*  one invocation per row, r < p.rows; rows over a 2-D grid
//          (r = gid.x + gid.y * num_workgroups.x * WG). No barriers: for short rows.
//   wg_*   one workgroup of WG (a power of two) invocations per row (row = workgroup index
//          wid.x + wid.y * num_workgroups.x); each invocation strides over the row by WG,
//          then a shared-memory tree reduction combines the partials: for long rows.

override WG: u32 = 64u;
override OP: u32 = 0u;

struct Params {
  rows: u32,
  L: u32,
  _p0: u32,
  _p1: u32,
}

@group(0) @binding(0) var<uniform> p: Params;

const NEG_BIG: f32 = -3.4028234e38;

// online (max, sum of exp(x - max)) of two partials
fn combine(a: vec2f, b: vec2f) -> vec2f {
  let m = max(a.x, b.x);
  return vec2f(m, a.y * exp(a.x - m) + b.y * exp(b.x - m));
}

// one element into a running (max, sum)
fn push(a: vec2f, v: f32) -> vec2f {
  if (v > a.x) {
    return vec2f(v, a.y * exp(a.x - v) + 1.0);
  }
  return vec2f(a.x, a.y + exp(v - a.x));
}

fn fwd_value(v: f32, ms: vec2f) -> f32 {
  if (OP == 0u) {
    return exp(v - ms.x) / ms.y;
  }
  return v - ms.x - log(ms.y);
}

// per-element backward term given the row's reduction d (sum(g*y) or sum(g))
fn bwd_value(gv: f32, yv: f32, d: f32) -> f32 {
  if (OP == 0u) {
    return yv * (gv - d);
  }
  return gv - exp(yv) * d;
}

fn bwd_term(gv: f32, yv: f32) -> f32 {
  if (OP == 0u) {
    return gv * yv;
  }
  return gv;
}

// ---- forward. Bindings: x (read), y (write).
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;

@compute @workgroup_size(WG)
fn row_forward(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let r = gid.x + gid.y * nwg.x * WG;
  if (r >= p.rows) { return; }
  let base = r * p.L;
  var ms = vec2f(NEG_BIG, 0.0);
  for (var i = 0u; i < p.L; i++) {
    ms = push(ms, x[base + i]);
  }
  for (var i = 0u; i < p.L; i++) {
    y[base + i] = fwd_value(x[base + i], ms);
  }
}

var<workgroup> wm: array<vec2f, WG>;

@compute @workgroup_size(WG)
fn wg_forward(
  @builtin(workgroup_id) wid: vec3u,
  @builtin(local_invocation_index) lid: u32,
  @builtin(num_workgroups) nwg: vec3u,
) {
  let r = wid.x + wid.y * nwg.x;
  if (r >= p.rows) { return; }
  let base = r * p.L;
  var ms = vec2f(NEG_BIG, 0.0);
  for (var i = lid; i < p.L; i += WG) {
    ms = push(ms, x[base + i]);
  }
  wm[lid] = ms;
  workgroupBarrier();
  for (var k = WG / 2u; k > 0u; k = k / 2u) {
    if (lid < k) {
      wm[lid] = combine(wm[lid], wm[lid + k]);
    }
    workgroupBarrier();
  }
  let tot = wm[0];
  for (var i = lid; i < p.L; i += WG) {
    y[base + i] = fwd_value(x[base + i], tot);
  }
}

// ---- backward. Bindings: g (upstream gradient), y (the forward's output), dx (write).
@group(0) @binding(1) var<storage, read> bg: array<f32>;
@group(0) @binding(2) var<storage, read> by: array<f32>;
@group(0) @binding(3) var<storage, read_write> bdx: array<f32>;

@compute @workgroup_size(WG)
fn row_backward(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let r = gid.x + gid.y * nwg.x * WG;
  if (r >= p.rows) { return; }
  let base = r * p.L;
  var d = 0.0;
  for (var i = 0u; i < p.L; i++) {
    d += bwd_term(bg[base + i], by[base + i]);
  }
  for (var i = 0u; i < p.L; i++) {
    bdx[base + i] = bwd_value(bg[base + i], by[base + i], d);
  }
}

var<workgroup> ws: array<f32, WG>;

@compute @workgroup_size(WG)
fn wg_backward(
  @builtin(workgroup_id) wid: vec3u,
  @builtin(local_invocation_index) lid: u32,
  @builtin(num_workgroups) nwg: vec3u,
) {
  let r = wid.x + wid.y * nwg.x;
  if (r >= p.rows) { return; }
  let base = r * p.L;
  var d = 0.0;
  for (var i = lid; i < p.L; i += WG) {
    d += bwd_term(bg[base + i], by[base + i]);
  }
  ws[lid] = d;
  workgroupBarrier();
  for (var k = WG / 2u; k > 0u; k = k / 2u) {
    if (lid < k) {
      ws[lid] = ws[lid] + ws[lid + k];
    }
    workgroupBarrier();
  }
  let tot = ws[0];
  for (var i = lid; i < p.L; i += WG) {
    bdx[base + i] = bwd_value(bg[base + i], by[base + i], tot);
  }
}
