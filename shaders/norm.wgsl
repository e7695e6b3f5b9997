// Normalisations over the last axis, forward and backward, fused: LayerNorm (optional
// affine weight and bias) and L2 normalisation (torch.nn.functional.normalize).
//
// Layout: contiguous row-major f32 viewed as [rows, L]; weight and bias are [L]; per-row
// statistics (mean, rstd, norm) are [rows].
//   LayerNorm   mean = sum(x) / L, var = sum((x - mean)^2) / L (biased, two passes),
//               rstd = 1 / sqrt(var + eps), xhat = (x - mean) * rstd, y = xhat * w + b.
//               dx = rstd * (gy - sum(gy) / L - xhat * sum(gy * xhat) / L), gy = g * w;
//               dw = sum over rows of g * xhat, db = sum over rows of g.
//   L2          n = sqrt(sum(x^2)), d = max(n, eps), y = x / d.
//               dx = (g - y * sum(g * y)) / d when n > eps, else g / eps.
// Two shapes of the row kernels (as in softmax.wgsl):
//   *_row_*  one invocation per row r < p.rows, rows over a 2-D grid
//            (r = gid.x + gid.y * num_workgroups.x * WG); no barriers.
//   *_wg_*   one workgroup of WG (a power of two) invocations per row (row = workgroup
//            index wid.x + wid.y * num_workgroups.x), strided over the row, partial sums
//            combined by a shared-memory tree.
// ln_param_backward: one invocation per (row chunk k, column c), t = k * L + c < nChunks * L;
// it sums rows [k * chunk, min((k + 1) * chunk, rows)) into partials [nChunks, L], which
// the host sums over chunks (one chunk when rows are few). No atomics.
// ln4_* / ln4r_* (software adapters, L % 4 == 0, L <= 4 * WB_SLOTS / 2): one invocation per
// row as *_row_*, the row read as vec4 (llvmpipe pays per load instruction, not per float),
// weight and bias read from a uniform block wb (weight in vec4 slots [0, L/4), bias in
// [WB_SLOTS/2, WB_SLOTS/2 + L/4)), statistics in one array st (mean at [r], rstd at
// [rows + r]). ln4r_* (L <= 4 * ROW_SLOTS) read the row once into a private array (L4C =
// L/4, a pipeline constant, bounds its loops) and make their passes over that copy; ln4_*
// (longer rows) stream it: ln4_forward takes mean and variance in one pass (Welford's
// update in each vec4 lane, the four lanes merged with Chan et al.'s formula) and a second
// pass writes y; ln4_backward is ln_row_backward on vec4s. ln4_param is ln_param_backward
// with one invocation per (row chunk k, column quad c), t = k * L/4 + c, weight and bias
// partials interleaved by chunk ([nChunks, 2, L]) so one reduction sums both;
// ln4r_backward_param makes dx and those partials in one pass over g and x.
// HAS_W / HAS_B (overrides): whether weight / bias exist (an absent one is bound to a
// placeholder and never read).

override WG: u32 = 64u;
override HAS_W: u32 = 1u;
override HAS_B: u32 = 1u;

struct Params {
  rows: u32,
  L: u32,
  eps: f32,
  chunk: u32,
}

@group(0) @binding(0) var<uniform> p: Params;

fn row_index(gid: vec3u, nwg: vec3u) -> u32 {
  return gid.x + gid.y * nwg.x * WG;
}

fn group_index(wid: vec3u, nwg: vec3u) -> u32 {
  return wid.x + wid.y * nwg.x;
}

var<workgroup> sh: array<vec2f, WG>;

// sum of v over the workgroup (every invocation gets the total)
fn wg_sum(v: vec2f, lid: u32) -> vec2f {
  sh[lid] = v;
  workgroupBarrier();
  for (var k = WG / 2u; k > 0u; k = k / 2u) {
    if (lid < k) {
      sh[lid] = sh[lid] + sh[lid + k];
    }
    workgroupBarrier();
  }
  let total = sh[0];
  workgroupBarrier(); // sh is reused by the next call
  return total;
}

// ---- LayerNorm forward. Bindings: x, weight, bias (read), y, mean, rstd (write).
@group(0) @binding(1) var<storage, read> lx: array<f32>;
@group(0) @binding(2) var<storage, read> lw: array<f32>;
@group(0) @binding(3) var<storage, read> lb: array<f32>;
@group(0) @binding(4) var<storage, read_write> ly: array<f32>;
@group(0) @binding(5) var<storage, read_write> lmean: array<f32>;
@group(0) @binding(6) var<storage, read_write> lrstd: array<f32>;

fn ln_out(i: u32, c: u32, mu: f32, rs: f32) -> f32 {
  var v = (lx[i] - mu) * rs;
  if (HAS_W == 1u) { v = v * lw[c]; }
  if (HAS_B == 1u) { v = v + lb[c]; }
  return v;
}

@compute @workgroup_size(WG)
fn ln_row_forward(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let r = row_index(gid, nwg);
  if (r >= p.rows) { return; }
  let base = r * p.L;
  var s = 0.0;
  for (var c = 0u; c < p.L; c++) {
    s += lx[base + c];
  }
  let mu = s / f32(p.L);
  var s2 = 0.0;
  for (var c = 0u; c < p.L; c++) {
    let d = lx[base + c] - mu;
    s2 += d * d;
  }
  let rs = inverseSqrt(s2 / f32(p.L) + p.eps);
  for (var c = 0u; c < p.L; c++) {
    ly[base + c] = ln_out(base + c, c, mu, rs);
  }
  lmean[r] = mu;
  lrstd[r] = rs;
}

@compute @workgroup_size(WG)
fn ln_wg_forward(
  @builtin(workgroup_id) wid: vec3u,
  @builtin(local_invocation_index) lid: u32,
  @builtin(num_workgroups) nwg: vec3u,
) {
  let r = group_index(wid, nwg);
  if (r >= p.rows) { return; }
  let base = r * p.L;
  var s = 0.0;
  for (var c = lid; c < p.L; c += WG) {
    s += lx[base + c];
  }
  let mu = wg_sum(vec2f(s, 0.0), lid).x / f32(p.L);
  var s2 = 0.0;
  for (var c = lid; c < p.L; c += WG) {
    let d = lx[base + c] - mu;
    s2 += d * d;
  }
  let rs = inverseSqrt(wg_sum(vec2f(s2, 0.0), lid).x / f32(p.L) + p.eps);
  for (var c = lid; c < p.L; c += WG) {
    ly[base + c] = ln_out(base + c, c, mu, rs);
  }
  if (lid == 0u) {
    lmean[r] = mu;
    lrstd[r] = rs;
  }
}

// ---- LayerNorm backward, dx. Bindings: g, x, weight, mean, rstd (read), dx (write).
@group(0) @binding(1) var<storage, read> bg: array<f32>;
@group(0) @binding(2) var<storage, read> bx: array<f32>;
@group(0) @binding(3) var<storage, read> bw: array<f32>;
@group(0) @binding(4) var<storage, read> bmean: array<f32>;
@group(0) @binding(5) var<storage, read> brstd: array<f32>;
@group(0) @binding(6) var<storage, read_write> bdx: array<f32>;

fn ln_gy(i: u32, c: u32) -> f32 {
  if (HAS_W == 1u) { return bg[i] * bw[c]; }
  return bg[i];
}

// (gy, gy * xhat) of element i
fn ln_terms(i: u32, c: u32, mu: f32, rs: f32) -> vec2f {
  let gy = ln_gy(i, c);
  return vec2f(gy, gy * (bx[i] - mu) * rs);
}

fn ln_dx(i: u32, c: u32, mu: f32, rs: f32, sums: vec2f) -> f32 {
  let xh = (bx[i] - mu) * rs;
  let inv = 1.0 / f32(p.L);
  return rs * (ln_gy(i, c) - sums.x * inv - xh * sums.y * inv);
}

@compute @workgroup_size(WG)
fn ln_row_backward(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let r = row_index(gid, nwg);
  if (r >= p.rows) { return; }
  let base = r * p.L;
  let mu = bmean[r];
  let rs = brstd[r];
  var sums = vec2f(0.0);
  for (var c = 0u; c < p.L; c++) {
    sums += ln_terms(base + c, c, mu, rs);
  }
  for (var c = 0u; c < p.L; c++) {
    bdx[base + c] = ln_dx(base + c, c, mu, rs, sums);
  }
}

@compute @workgroup_size(WG)
fn ln_wg_backward(
  @builtin(workgroup_id) wid: vec3u,
  @builtin(local_invocation_index) lid: u32,
  @builtin(num_workgroups) nwg: vec3u,
) {
  let r = group_index(wid, nwg);
  if (r >= p.rows) { return; }
  let base = r * p.L;
  let mu = bmean[r];
  let rs = brstd[r];
  var part = vec2f(0.0);
  for (var c = lid; c < p.L; c += WG) {
    part += ln_terms(base + c, c, mu, rs);
  }
  let sums = wg_sum(part, lid);
  for (var c = lid; c < p.L; c += WG) {
    bdx[base + c] = ln_dx(base + c, c, mu, rs, sums);
  }
}

// ---- LayerNorm backward, weight and bias partials [nChunks, L].
// Bindings: g, x, mean, rstd (read), dweight, dbias partials (write).
@group(0) @binding(1) var<storage, read> pg: array<f32>;
@group(0) @binding(2) var<storage, read> px: array<f32>;
@group(0) @binding(3) var<storage, read> pmean: array<f32>;
@group(0) @binding(4) var<storage, read> prstd: array<f32>;
@group(0) @binding(5) var<storage, read_write> pdw: array<f32>;
@group(0) @binding(6) var<storage, read_write> pdb: array<f32>;

@compute @workgroup_size(WG)
fn ln_param_backward(
  @builtin(global_invocation_id) gid: vec3u,
  @builtin(num_workgroups) nwg: vec3u,
) {
  let t = row_index(gid, nwg);
  let nChunks = (p.rows + p.chunk - 1u) / p.chunk;
  if (t >= nChunks * p.L) { return; }
  let c = t % p.L;
  let k = t / p.L;
  let r1 = min((k + 1u) * p.chunk, p.rows);
  var dw = 0.0;
  var db = 0.0;
  for (var r = k * p.chunk; r < r1; r++) {
    let i = r * p.L + c;
    let gv = pg[i];
    dw += gv * (px[i] - pmean[r]) * prstd[r];
    db += gv;
  }
  pdw[t] = dw;
  pdb[t] = db;
}

// ---- L2 normalise forward. Bindings: x (read), y, norm (write).
@group(0) @binding(1) var<storage, read> nx: array<f32>;
@group(0) @binding(2) var<storage, read_write> ny: array<f32>;
@group(0) @binding(3) var<storage, read_write> nnorm: array<f32>;

@compute @workgroup_size(WG)
fn l2_row_forward(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let r = row_index(gid, nwg);
  if (r >= p.rows) { return; }
  let base = r * p.L;
  var s = 0.0;
  for (var c = 0u; c < p.L; c++) {
    let v = nx[base + c];
    s += v * v;
  }
  let n = sqrt(s);
  let inv = 1.0 / max(n, p.eps);
  for (var c = 0u; c < p.L; c++) {
    ny[base + c] = nx[base + c] * inv;
  }
  nnorm[r] = n;
}

@compute @workgroup_size(WG)
fn l2_wg_forward(
  @builtin(workgroup_id) wid: vec3u,
  @builtin(local_invocation_index) lid: u32,
  @builtin(num_workgroups) nwg: vec3u,
) {
  let r = group_index(wid, nwg);
  if (r >= p.rows) { return; }
  let base = r * p.L;
  var s = 0.0;
  for (var c = lid; c < p.L; c += WG) {
    let v = nx[base + c];
    s += v * v;
  }
  let n = sqrt(wg_sum(vec2f(s, 0.0), lid).x);
  let inv = 1.0 / max(n, p.eps);
  for (var c = lid; c < p.L; c += WG) {
    ny[base + c] = nx[base + c] * inv;
  }
  if (lid == 0u) {
    nnorm[r] = n;
  }
}

// ---- L2 normalise backward. Bindings: g, x, norm (read), dx (write).
@group(0) @binding(1) var<storage, read> qg: array<f32>;
@group(0) @binding(2) var<storage, read> qx: array<f32>;
@group(0) @binding(3) var<storage, read> qnorm: array<f32>;
@group(0) @binding(4) var<storage, read_write> qdx: array<f32>;

// dx from the row's sum(g * x): (g - x * sum(g x) / d^2) / d, or g / eps when clamped
fn l2_dx(i: u32, n: f32, gx: f32) -> f32 {
  if (n > p.eps) {
    let inv = 1.0 / n;
    return (qg[i] - qx[i] * gx * inv * inv) * inv;
  }
  return qg[i] / p.eps;
}

@compute @workgroup_size(WG)
fn l2_row_backward(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let r = row_index(gid, nwg);
  if (r >= p.rows) { return; }
  let base = r * p.L;
  let n = qnorm[r];
  var gx = 0.0;
  for (var c = 0u; c < p.L; c++) {
    gx += qg[base + c] * qx[base + c];
  }
  for (var c = 0u; c < p.L; c++) {
    qdx[base + c] = l2_dx(base + c, n, gx);
  }
}

@compute @workgroup_size(WG)
fn l2_wg_backward(
  @builtin(workgroup_id) wid: vec3u,
  @builtin(local_invocation_index) lid: u32,
  @builtin(num_workgroups) nwg: vec3u,
) {
  let r = group_index(wid, nwg);
  if (r >= p.rows) { return; }
  let base = r * p.L;
  let n = qnorm[r];
  var gx = 0.0;
  for (var c = lid; c < p.L; c += WG) {
    gx += qg[base + c] * qx[base + c];
  }
  let tot = wg_sum(vec2f(gx, 0.0), lid).x;
  for (var c = lid; c < p.L; c += WG) {
    qdx[base + c] = l2_dx(base + c, n, tot);
  }
}

// ---- vec4 LayerNorm (see the header). Bindings (forward): x (read), wb (uniform), y, st.
const WB_SLOTS = 256u;
const B_SLOT = 128u; // first bias slot in wb

@group(0) @binding(1) var<storage, read> fx: array<vec4f>;
@group(0) @binding(2) var<uniform> fwb: array<vec4f, WB_SLOTS>;
@group(0) @binding(3) var<storage, read_write> fy: array<vec4f>;
@group(0) @binding(4) var<storage, read_write> fst: array<f32>;

@compute @workgroup_size(WG)
fn ln4_forward(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let r = row_index(gid, nwg);
  if (r >= p.rows) { return; }
  let L4 = p.L / 4u;
  let base = r * L4;
  // Welford in each of the four lanes (lane j sees elements 4i + j)
  var mean = vec4f(0.0);
  var m2 = vec4f(0.0);
  for (var i = 0u; i < L4; i++) {
    let v = fx[base + i];
    let d = v - mean;
    mean += d * (1.0 / f32(i + 1u));
    m2 += d * (v - mean);
  }
  // merge the lanes (equal counts L/4): M2 = sum m2_j + (L/4) sum (mean_j - mu)^2
  let mu = (mean.x + mean.y + mean.z + mean.w) * 0.25;
  let dm = mean - vec4f(mu);
  let s2 = m2.x + m2.y + m2.z + m2.w + f32(L4) * dot(dm, dm);
  let rs = inverseSqrt(s2 / f32(p.L) + p.eps);
  for (var i = 0u; i < L4; i++) {
    var v = (fx[base + i] - vec4f(mu)) * rs;
    if (HAS_W == 1u) { v = v * fwb[i]; }
    if (HAS_B == 1u) { v = v + fwb[B_SLOT + i]; }
    fy[base + i] = v;
  }
  fst[r] = mu;
  fst[p.rows + r] = rs;
}

// ---- vec4 LayerNorm backward, dx. Bindings: g, x (read), wb (uniform), st (read), dx (write).
@group(0) @binding(1) var<storage, read> dg: array<vec4f>;
@group(0) @binding(2) var<storage, read> dxin: array<vec4f>;
@group(0) @binding(3) var<uniform> dwb: array<vec4f, WB_SLOTS>;
@group(0) @binding(4) var<storage, read> dstat: array<f32>;
@group(0) @binding(5) var<storage, read_write> ddx: array<vec4f>;

@compute @workgroup_size(WG)
fn ln4_backward(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let r = row_index(gid, nwg);
  if (r >= p.rows) { return; }
  let L4 = p.L / 4u;
  let base = r * L4;
  let mu = vec4f(dstat[r]);
  let rs = dstat[p.rows + r];
  var s1 = vec4f(0.0);
  var s2 = vec4f(0.0);
  for (var i = 0u; i < L4; i++) {
    var gy = dg[base + i];
    if (HAS_W == 1u) { gy = gy * dwb[i]; }
    s1 += gy;
    s2 += gy * (dxin[base + i] - mu) * rs;
  }
  let inv = 1.0 / f32(p.L);
  let a = (s1.x + s1.y + s1.z + s1.w) * inv;
  let b = (s2.x + s2.y + s2.z + s2.w) * inv;
  for (var i = 0u; i < L4; i++) {
    var gy = dg[base + i];
    if (HAS_W == 1u) { gy = gy * dwb[i]; }
    let xh = (dxin[base + i] - mu) * rs;
    ddx[base + i] = rs * (gy - vec4f(a) - xh * b);
  }
}

// ---- vec4 LayerNorm on a private copy of the row (L <= 4 * ROW_SLOTS). Bindings as ln4_*.
const ROW_SLOTS = 64u;
override L4C: u32 = 1u; // L / 4

@compute @workgroup_size(WG)
fn ln4r_forward(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let r = row_index(gid, nwg);
  if (r >= p.rows) { return; }
  let base = r * L4C;
  var row: array<vec4f, ROW_SLOTS>;
  var s = vec4f(0.0);
  for (var i = 0u; i < L4C; i++) {
    let v = fx[base + i];
    row[i] = v;
    s += v;
  }
  let mu = (s.x + s.y + s.z + s.w) / f32(p.L);
  var s2 = vec4f(0.0);
  for (var i = 0u; i < L4C; i++) {
    let d = row[i] - vec4f(mu);
    s2 += d * d;
  }
  let rs = inverseSqrt((s2.x + s2.y + s2.z + s2.w) / f32(p.L) + p.eps);
  for (var i = 0u; i < L4C; i++) {
    var v = (row[i] - vec4f(mu)) * rs;
    if (HAS_W == 1u) { v = v * fwb[i]; }
    if (HAS_B == 1u) { v = v + fwb[B_SLOT + i]; }
    fy[base + i] = v;
  }
  fst[r] = mu;
  fst[p.rows + r] = rs;
}

@compute @workgroup_size(WG)
fn ln4r_backward(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let r = row_index(gid, nwg);
  if (r >= p.rows) { return; }
  let base = r * L4C;
  let mu = vec4f(dstat[r]);
  let rs = dstat[p.rows + r];
  var gys: array<vec4f, ROW_SLOTS>;
  var xhs: array<vec4f, ROW_SLOTS>;
  var s1 = vec4f(0.0);
  var s2 = vec4f(0.0);
  for (var i = 0u; i < L4C; i++) {
    var gy = dg[base + i];
    if (HAS_W == 1u) { gy = gy * dwb[i]; }
    let xh = (dxin[base + i] - mu) * rs;
    gys[i] = gy;
    xhs[i] = xh;
    s1 += gy;
    s2 += gy * xh;
  }
  let inv = 1.0 / f32(p.L);
  let a = (s1.x + s1.y + s1.z + s1.w) * inv;
  let b = (s2.x + s2.y + s2.z + s2.w) * inv;
  for (var i = 0u; i < L4C; i++) {
    ddx[base + i] = rs * (gys[i] - vec4f(a) - xhs[i] * b);
  }
}

// ln4r_backward_param: ln4r_backward over p.chunk consecutive rows per invocation t, also
// summing the weight and bias gradients of those rows (layout as ln4_param, one chunk per
// invocation), so the gradient pass reads g and x once. Bindings: as ln4r_backward, then
// the partials [nChunks, 2, L] (write).
@group(0) @binding(6) var<storage, read_write> dpart: array<vec4f>;

@compute @workgroup_size(WG)
fn ln4r_backward_param(
  @builtin(global_invocation_id) gid: vec3u,
  @builtin(num_workgroups) nwg: vec3u,
) {
  let t = row_index(gid, nwg);
  let r0 = t * p.chunk;
  if (r0 >= p.rows) { return; }
  let r1 = min(r0 + p.chunk, p.rows);
  var gs: array<vec4f, ROW_SLOTS>;
  var xhs: array<vec4f, ROW_SLOTS>;
  var dw: array<vec4f, ROW_SLOTS>;
  var db: array<vec4f, ROW_SLOTS>;
  for (var i = 0u; i < L4C; i++) {
    dw[i] = vec4f(0.0);
    db[i] = vec4f(0.0);
  }
  let inv = 1.0 / f32(p.L);
  for (var r = r0; r < r1; r++) {
    let base = r * L4C;
    let mu = vec4f(dstat[r]);
    let rs = dstat[p.rows + r];
    var s1 = vec4f(0.0);
    var s2 = vec4f(0.0);
    for (var i = 0u; i < L4C; i++) {
      let g = dg[base + i];
      let xh = (dxin[base + i] - mu) * rs;
      gs[i] = g;
      xhs[i] = xh;
      dw[i] += g * xh;
      db[i] += g;
      var gy = g;
      if (HAS_W == 1u) { gy = gy * dwb[i]; }
      s1 += gy;
      s2 += gy * xh;
    }
    let a = (s1.x + s1.y + s1.z + s1.w) * inv;
    let b = (s2.x + s2.y + s2.z + s2.w) * inv;
    for (var i = 0u; i < L4C; i++) {
      var gy = gs[i];
      if (HAS_W == 1u) { gy = gy * dwb[i]; }
      ddx[base + i] = rs * (gy - vec4f(a) - xhs[i] * b);
    }
  }
  for (var i = 0u; i < L4C; i++) {
    dpart[2u * t * L4C + i] = dw[i];
    dpart[(2u * t + 1u) * L4C + i] = db[i];
  }
}

// ---- vec4 LayerNorm backward, weight and bias partials [nChunks, 2, L] (p.chunk rows each):
// chunk k's weight partial in row 2k, its bias partial in row 2k + 1.
// Bindings: g, x, st (read), partials (write).
@group(0) @binding(1) var<storage, read> qg4: array<vec4f>;
@group(0) @binding(2) var<storage, read> qx4: array<vec4f>;
@group(0) @binding(3) var<storage, read> qst: array<f32>;
@group(0) @binding(4) var<storage, read_write> qpart: array<vec4f>;

@compute @workgroup_size(WG)
fn ln4_param(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let t = row_index(gid, nwg);
  let L4 = p.L / 4u;
  let nChunks = (p.rows + p.chunk - 1u) / p.chunk;
  if (t >= nChunks * L4) { return; }
  let c = t % L4;
  let k = t / L4;
  let r1 = min((k + 1u) * p.chunk, p.rows);
  var dw = vec4f(0.0);
  var db = vec4f(0.0);
  for (var r = k * p.chunk; r < r1; r++) {
    let i = r * L4 + c;
    let gv = qg4[i];
    dw += gv * (qx4[i] - vec4f(qst[r])) * qst[p.rows + r];
    db += gv;
  }
  qpart[2u * k * L4 + c] = dw;
  qpart[(2u * k + 1u) * L4 + c] = db;
}
