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
