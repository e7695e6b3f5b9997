// Reductions over any set of axes: sum ("sum to shape", used by sum/mean and by the
// backward of broadcasting ops), max with the index of the first maximum, and variance
// (mean and sum of squared deviations), with their backward kernels.
//
// Layout: contiguous row-major f32 input. Dimensions are split into kept dims (outShape,
// with their input strides outStr) and reduced dims (redShape, redStr); adjacent dims
// of the same kind are merged on the host, so most reductions here have rank 1 or 2.
// Output is contiguous in kept-dim order.
// Chunks: the reduced range [0, nRed) is cut into nChunks chunks of `chunk` elements
// (the last may be shorter). Invocation t < nOut * nChunks handles output o = t / nChunks
// over chunk c = t % nChunks and writes element t, so a partial result has layout
// [nOut, nChunks]; with nChunks = 1 it is the result. Chunking gives parallelism to long
// reductions and keeps every invocation under llvmpipe's cap of 65 535 loop iterations
// (the host sizes chunks for it). A second launch combines the chunks.
// Bounds: t < nOut * nChunks; the 1-D index is spread over a 2-D grid
// (gid.x + gid.y * num_workgroups.x * WG).

override WG: u32 = 64u;
// var_partial: 1 when there is one chunk, so it writes the variance itself
override FINAL: u32 = 0u;

struct Params {
  nOut: u32,
  nRed: u32,
  rankOut: u32,
  rankRed: u32,
  scale: f32,
  chunk: u32,
  nChunks: u32,
  _p: u32,
  outShape: array<vec4u, 2>,
  outStr: array<vec4u, 2>,
  redShape: array<vec4u, 2>,
  redStr: array<vec4u, 2>,
}

@group(0) @binding(0) var<uniform> p: Params;

fn dim(v: array<vec4u, 2>, d: u32) -> u32 {
  return v[d / 4u][d % 4u];
}

fn index(gid: vec3u, nwg: vec3u) -> u32 {
  return gid.x + gid.y * nwg.x * WG;
}

// input offset of the first element of output o
fn out_base(o: u32) -> u32 {
  var rem = o;
  var base = 0u;
  for (var d = i32(p.rankOut) - 1; d >= 0; d--) {
    let s = dim(p.outShape, u32(d));
    base += (rem % s) * dim(p.outStr, u32(d));
    rem = rem / s;
  }
  return base;
}

// input offset (relative to out_base) of reduced element r; `st` is the stride of a
// rank-1 reduction (hoisted by the caller: reading the uniform array per element is slow)
fn red_off(r: u32, st: u32) -> u32 {
  if (p.rankRed == 1u) {
    return r * st;
  }
  var rr = r;
  var off = 0u;
  for (var d = i32(p.rankRed) - 1; d >= 0; d--) {
    let s = dim(p.redShape, u32(d));
    off += (rr % s) * dim(p.redStr, u32(d));
    rr = rr / s;
  }
  return off;
}

// [r0, r1) of invocation t's chunk, and its output o
struct Range {
  o: u32,
  r0: u32,
  r1: u32,
}

fn range_of(t: u32) -> Range {
  let o = t / p.nChunks;
  let c = t % p.nChunks;
  let r0 = c * p.chunk;
  return Range(o, r0, min(r0 + p.chunk, p.nRed));
}

// ---- sum: y[t] = scale * sum of the chunk. Bindings: x (read), y (write).
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;

@compute @workgroup_size(WG)
fn sum_to(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let t = index(gid, nwg);
  if (t >= p.nOut * p.nChunks) { return; }
  let rg = range_of(t);
  let base = out_base(rg.o);
  var acc = 0.0;
  if (p.rankRed == 1u) {
    let st = dim(p.redStr, 0u);
    for (var r = rg.r0; r < rg.r1; r++) {
      acc += x[base + r * st];
    }
  } else {
    for (var r = rg.r0; r < rg.r1; r++) {
      acc += x[base + red_off(r, 0u)];
    }
  }
  y[t] = acc * p.scale;
}

// NaN test that survives fast-math: exponent all ones and a non-zero mantissa
fn is_nan(v: f32) -> bool {
  return (bitcast<u32>(v) & 0x7fffffffu) > 0x7f800000u;
}

// whether v replaces the running maximum m (NaN wins, as in PyTorch; ties keep the first)
fn beats(v: f32, m: f32) -> bool {
  return (v > m) || (is_nan(v) && !is_nan(m));
}

// ---- max over the chunk: value and index r (in the reduced range) of its first maximum.
// Bindings: x (read), value (write), index (write, i32).
@group(0) @binding(1) var<storage, read> mx: array<f32>;
@group(0) @binding(2) var<storage, read_write> mval: array<f32>;
@group(0) @binding(3) var<storage, read_write> midx: array<i32>;

@compute @workgroup_size(WG)
fn max_partial(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let t = index(gid, nwg);
  if (t >= p.nOut * p.nChunks) { return; }
  let rg = range_of(t);
  let base = out_base(rg.o);
  let st = dim(p.redStr, 0u);
  var m = mx[base + red_off(rg.r0, st)];
  var mi = rg.r0;
  // branch-free bodies, and the rank test outside the loops (llvmpipe runs branches
  // under execution masks)
  if (p.rankRed == 1u) {
    for (var r = rg.r0 + 1u; r < rg.r1; r++) {
      let v = mx[base + r * st];
      let b = beats(v, m);
      m = select(m, v, b);
      mi = select(mi, r, b);
    }
  } else {
    for (var r = rg.r0 + 1u; r < rg.r1; r++) {
      let v = mx[base + red_off(r, st)];
      let b = beats(v, m);
      m = select(m, v, b);
      mi = select(mi, r, b);
    }
  }
  mval[t] = m;
  midx[t] = i32(mi);
}

// ---- combine max partials [nOut, nChunks] (chunks in order, so a strict win keeps the
// first maximum). Params: nOut, nChunks. Bindings: partial values, partial indices (read),
// value, index (write).
@group(0) @binding(1) var<storage, read> cval: array<f32>;
@group(0) @binding(2) var<storage, read> cidx: array<i32>;
@group(0) @binding(3) var<storage, read_write> coval: array<f32>;
@group(0) @binding(4) var<storage, read_write> coidx: array<i32>;

@compute @workgroup_size(WG)
fn max_combine(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let o = index(gid, nwg);
  if (o >= p.nOut) { return; }
  let b = o * p.nChunks;
  var m = cval[b];
  var mi = cidx[b];
  for (var c = 1u; c < p.nChunks; c++) {
    let v = cval[b + c];
    if (beats(v, m)) {
      m = v;
      mi = cidx[b + c];
    }
  }
  coval[o] = m;
  coidx[o] = mi;
}

// ---- variance over the chunk: two passes (mean, then sum of squared deviations M2).
// FINAL = 0 writes the chunk's mean and M2; FINAL = 1 (a single chunk) writes the mean
// and the variance M2 * scale (scale = 1 / max(0, n - correction), inf when that is 0).
// Bindings: x (read), mean (write), M2 or variance (write).
@group(0) @binding(1) var<storage, read> vx: array<f32>;
@group(0) @binding(2) var<storage, read_write> vmean: array<f32>;
@group(0) @binding(3) var<storage, read_write> vm2: array<f32>;

@compute @workgroup_size(WG)
fn var_partial(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let t = index(gid, nwg);
  if (t >= p.nOut * p.nChunks) { return; }
  let rg = range_of(t);
  let base = out_base(rg.o);
  let st = dim(p.redStr, 0u);
  var s = 0.0;
  var m2 = 0.0;
  var mu = 0.0;
  // the rank test outside the loops, as in max_partial
  if (p.rankRed == 1u) {
    for (var r = rg.r0; r < rg.r1; r++) {
      s += vx[base + r * st];
    }
    mu = s / f32(rg.r1 - rg.r0);
    for (var r = rg.r0; r < rg.r1; r++) {
      let d = vx[base + r * st] - mu;
      m2 += d * d;
    }
  } else {
    for (var r = rg.r0; r < rg.r1; r++) {
      s += vx[base + red_off(r, st)];
    }
    mu = s / f32(rg.r1 - rg.r0);
    for (var r = rg.r0; r < rg.r1; r++) {
      let d = vx[base + red_off(r, st)] - mu;
      m2 += d * d;
    }
  }
  vmean[t] = mu;
  if (FINAL == 1u) {
    vm2[t] = m2 * p.scale;
  } else {
    vm2[t] = m2;
  }
}

// ---- combine variance partials [nOut, nChunks] (Chan et al.'s pairwise update: chunk
// counts from chunk and nRed). Bindings: partial means, partial M2 (read), mean, variance
// (write).
@group(0) @binding(1) var<storage, read> pmean: array<f32>;
@group(0) @binding(2) var<storage, read> pm2: array<f32>;
@group(0) @binding(3) var<storage, read_write> omean: array<f32>;
@group(0) @binding(4) var<storage, read_write> ovar: array<f32>;

@compute @workgroup_size(WG)
fn var_combine(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let o = index(gid, nwg);
  if (o >= p.nOut) { return; }
  let b = o * p.nChunks;
  var n = f32(min(p.chunk, p.nRed));
  var mu = pmean[b];
  var m2 = pm2[b];
  for (var c = 1u; c < p.nChunks; c++) {
    let nb = f32(min(p.chunk, p.nRed - c * p.chunk));
    let d = pmean[b + c] - mu;
    let nn = n + nb;
    mu += d * (nb / nn);
    m2 += pm2[b + c] + d * d * (n * nb / nn);
    n = nn;
  }
  omean[o] = mu;
  ovar[o] = m2 * p.scale;
}

// ---- backward kernels: one invocation per input element i < q.n. The output element of
// i is o = sum over dims of coord * ostr (ostr is 0 on reduced dims, the output's stride on
// kept dims); for max the reduced index is r = sum of coord * rstr.
struct BParams {
  n: u32,
  rank: u32,
  scale: f32,
  _p: u32,
  shape: array<vec4u, 2>,
  ostr: array<vec4u, 2>,
  rstr: array<vec4u, 2>,
}

@group(0) @binding(0) var<uniform> q: BParams;

fn bindex(gid: vec3u, nwg: vec3u) -> u32 {
  return gid.x + gid.y * nwg.x * WG;
}

// (o, r) of input element i
fn out_red(i: u32) -> vec2u {
  var rem = i;
  var o = 0u;
  var r = 0u;
  for (var d = i32(q.rank) - 1; d >= 0; d--) {
    let s = dim(q.shape, u32(d));
    let c = rem % s;
    rem = rem / s;
    o += c * dim(q.ostr, u32(d));
    r += c * dim(q.rstr, u32(d));
  }
  return vec2u(o, r);
}

// max: dx[i] = g[o] where i is the first maximum of its output, else 0.
// Bindings: g, index (read), dx (write).
@group(0) @binding(1) var<storage, read> xg: array<f32>;
@group(0) @binding(2) var<storage, read> xidx: array<i32>;
@group(0) @binding(3) var<storage, read_write> xdx: array<f32>;

@compute @workgroup_size(WG)
fn max_backward(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = bindex(gid, nwg);
  if (i >= q.n) { return; }
  let ir = out_red(i);
  xdx[i] = select(0.0, xg[ir.x], xidx[ir.x] == i32(ir.y));
}

// variance: dx[i] = g[o] * 2 * (x[i] - mean[o]) * scale.
// Bindings: g, x, mean (read), dx (write).
@group(0) @binding(1) var<storage, read> vgrad: array<f32>;
@group(0) @binding(2) var<storage, read> wx: array<f32>;
@group(0) @binding(3) var<storage, read> wmean: array<f32>;
@group(0) @binding(4) var<storage, read_write> wdx: array<f32>;

@compute @workgroup_size(WG)
fn var_backward(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = bindex(gid, nwg);
  if (i >= q.n) { return; }
  let o = out_red(i).x;
  wdx[i] = vgrad[o] * 2.0 * (wx[i] - wmean[o]) * q.scale;
}
