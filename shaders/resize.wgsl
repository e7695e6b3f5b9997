// Bicubic resize, matching PyTorch's F.interpolate(mode="bicubic", align_corners=False).
//
// Layout: x is contiguous [P, inH, inW] (P = N * C planes), out is [P, outH, outW].
// Coordinate map per axis (PyTorch's area_pixel_compute_source_index with cubic=true):
//   src = (dst + 0.5) * scale - 0.5      (NOT clamped at 0 for bicubic)
// where scale = 1 / scaleFactor when a scale factor was given, else in / out (host side).
// Then i0 = min(floor(src), in - 1), t = clamp(src - i0, 0, 1) (PyTorch's
// guard_index_and_lambda), the 4 taps are i0 - 1 .. i0 + 2, each clamped into
// [0, in - 1], with the cubic convolution weights of A = -0.75:
//   w0 = cc2(t + 1), w1 = cc1(t), w2 = cc1(1 - t), w3 = cc2(2 - t)
//   cc1(x) = ((A + 2) x - (A + 3)) x^2 + 1          (|x| <= 1)
//   cc2(x) = ((A x - 5A) x + 8A) x - 4A             (1 < |x| < 2)
// Forward interpolates the 4 tap rows along x, then those 4 values along y (PyTorch's
// order). Backward is the transpose, out = Wy X Wx^T  =>  dX = Wy^T G Wx, done as two
// gathers (no atomics): backward_w makes T = G Wx ([P, outH, inW]), backward_h makes
// dX = Wy^T T ([P, inH, inW]). Each invocation owns one input position i and loops
// over the output positions o whose clamped taps can reach i, summing the weight of
// every tap of o that lands on i (border inputs collect the clamped taps).
// Work split: invocation i writes a run of up to p.chunk consecutive elements of one
// output row (run i % p.runs of row i / p.runs, p.runs = ceil(row length / chunk)):
// on a CPU adapter (chunk 16) that saves integer divisions and the y taps; on a GPU
// chunk is 1. Bounds: i < p.n = rows * runs, on a 2-D grid.
// Loop budget: llvmpipe silently stops an invocation's loops after ~65 535 iterations
// in all (LOOP_BUDGET, lib/tensor/launch.ts). An input's reach is about 4 / scale + 5
// output positions (all of them for a tiny input), so a strong upsampling makes the
// backward loops long: the host then shortens the runs and, if one element is still
// too much, cuts each reach into p.nseg segments of p.seg positions: the invocations
// i of segment s = i / (p.n / p.nseg) write partial sums into part s (p.part elements
// each) of a scratch buffer, and `sum_parts` adds the parts in order.

override WG: u32 = 256u;

struct Params {
  n: u32,
  inH: u32,
  inW: u32,
  outH: u32,
  outW: u32,
  scaleH: f32,
  scaleW: f32,
  chunk: u32,
  runs: u32,
  seg: u32,    // backward: output positions per segment of a reach (with nseg > 1)
  nseg: u32,   // backward: segments (1: whole reaches, written to the output directly)
  part: u32,   // backward: elements of one part (rows * width); sum_parts: the same
}

@group(0) @binding(0) var<uniform> p: Params;

const A: f32 = -0.75;

fn index(gid: vec3u, nwg: vec3u) -> u32 {
  return gid.x + gid.y * nwg.x * WG;
}

fn cc1(x: f32) -> f32 {
  return ((A + 2.0) * x - (A + 3.0)) * x * x + 1.0;
}

fn cc2(x: f32) -> f32 {
  return ((A * x - 5.0 * A) * x + 8.0 * A) * x - 4.0 * A;
}

// The first (unclamped) tap i0 - 1 and the 4 weights of output position o.
struct Taps {
  first: i32,
  w: vec4f,
}

fn taps(o: u32, scale: f32, size: u32) -> Taps {
  let src = (f32(o) + 0.5) * scale - 0.5;
  let i0 = min(i32(floor(src)), i32(size) - 1);
  let t = clamp(src - f32(i0), 0.0, 1.0);
  return Taps(i0 - 1, vec4f(cc2(t + 1.0), cc1(t), cc1(1.0 - t), cc2(2.0 - t)));
}

fn clampi(i: i32, size: u32) -> u32 {
  return u32(clamp(i, 0, i32(size) - 1));
}

// The weight of input i in output o: the sum over o's taps that clamp onto i.
fn weight(o: u32, i: u32, scale: f32, size: u32) -> f32 {
  let tp = taps(o, scale, size);
  var s = 0.0;
  for (var j = 0; j < 4; j++) {
    if (clampi(tp.first + j, size) == i) { s += tp.w[j]; }
  }
  return s;
}

// Output positions that can reach input i: o's taps are i0 - 1 .. i0 + 2, so an inner
// i is reached when i0 = floor(src(o)) lies in [i - 2, i + 1], i.e. src(o) in
// [i - 2, i + 2). Inputs near the borders also collect every tap clamped onto them (and
// the min(floor(src), in - 1) guard), so their range runs to the end. One extra
// position each side absorbs float rounding; weight() decides exactly.
fn reach(i: u32, scale: f32, size: u32, outSize: u32) -> vec2u {
  var lo = 0u;
  var hi = outSize - 1u;
  if (i > 1u) {
    lo = u32(clamp(floor((f32(i) - 1.5) / scale - 0.5) - 1.0, 0.0, f32(outSize - 1u)));
  }
  if (i + 3u < size) {
    hi = u32(clamp(ceil((f32(i) + 2.5) / scale - 0.5) + 1.0, 0.0, f32(outSize - 1u)));
  }
  return vec2u(lo, hi);
}

// A run: its row, first column and length in a row of `width` elements.
struct Run {
  row: u32,
  col: u32,
  len: u32,
}

fn run(i: u32, width: u32) -> Run {
  let col = (i % p.runs) * p.chunk;
  return Run(i / p.runs, col, min(p.chunk, width - col));
}

// ---- forward. Bindings: x (read), out (write). Rows: P * outH, of outW elements.
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;

@compute @workgroup_size(WG)
fn bicubic(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = index(gid, nwg);
  if (i >= p.n) { return; }
  let r = run(i, p.outW);
  let oy = r.row % p.outH;
  let plane = r.row / p.outH;
  let ty = taps(oy, p.scaleH, p.inH);
  var rows: array<u32, 4>;
  for (var j = 0; j < 4; j++) {
    rows[j] = plane * p.inH * p.inW + clampi(ty.first + j, p.inH) * p.inW;
  }
  for (var k = 0u; k < r.len; k++) {
    let ox = r.col + k;
    let tx = taps(ox, p.scaleW, p.inW);
    let c0 = clampi(tx.first, p.inW);
    let c1 = clampi(tx.first + 1, p.inW);
    let c2 = clampi(tx.first + 2, p.inW);
    let c3 = clampi(tx.first + 3, p.inW);
    var acc = 0.0;
    for (var j = 0; j < 4; j++) {
      let row = rows[j];
      let v = x[row + c0] * tx.w.x + x[row + c1] * tx.w.y + x[row + c2] * tx.w.z +
        x[row + c3] * tx.w.w;
      acc += v * ty.w[j];
    }
    y[r.row * p.outW + ox] = acc;
  }
}

// The part of reach range rg that segment s sums: positions rg.x + s * seg on, seg of
// them, the last segment up to rg.y (empty when past it). One segment: all of rg.
fn segment(rg: vec2u, s: u32) -> vec2u {
  let lo = rg.x + s * p.seg;
  var hi = rg.y;
  if (s + 1u < p.nseg) { hi = min(hi, lo + p.seg - 1u); }
  return vec2u(lo, hi);
}

// ---- backward_w: T[pl, oy, ix] = sum_ox G[pl, oy, ox] * Wx[ox, ix].
// Bindings: g (read, [P, outH, outW]), t (write, [P, outH, inW], or the nseg parts).
// Rows: P * outH, of inW.
@group(0) @binding(1) var<storage, read> bg: array<f32>;
@group(0) @binding(2) var<storage, read_write> bt: array<f32>;

@compute @workgroup_size(WG)
fn backward_w(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = index(gid, nwg);
  if (i >= p.n) { return; }
  let per = p.n / p.nseg;
  let s = i / per;
  let r = run(i % per, p.inW);
  let out = s * p.part + r.row * p.inW;
  for (var k = 0u; k < r.len; k++) {
    let ix = r.col + k;
    let rg = segment(reach(ix, p.scaleW, p.inW, p.outW), s);
    var acc = 0.0;
    for (var ox = rg.x; ox <= rg.y; ox++) {
      let w = weight(ox, ix, p.scaleW, p.inW);
      if (w != 0.0) { acc += bg[r.row * p.outW + ox] * w; }
    }
    bt[out + ix] = acc;
  }
}

// ---- backward_h: dX[pl, iy, ix] = sum_oy Wy[oy, iy] * T[pl, oy, ix].
// Bindings: t (read, [P, outH, inW]), dx (write, [P, inH, inW], or the nseg parts).
// Rows: P * inH, of inW. The weights Wy[oy, iy] are shared by the run, so the loop over
// oy is outside.
@group(0) @binding(1) var<storage, read> ht: array<f32>;
@group(0) @binding(2) var<storage, read_write> hdx: array<f32>;

@compute @workgroup_size(WG)
fn backward_h(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = index(gid, nwg);
  if (i >= p.n) { return; }
  let per = p.n / p.nseg;
  let s = i / per;
  let r = run(i % per, p.inW);
  let iy = r.row % p.inH;
  let plane = r.row / p.inH;
  let out = s * p.part + r.row * p.inW + r.col;
  for (var k = 0u; k < r.len; k++) { hdx[out + k] = 0.0; }
  let rg = segment(reach(iy, p.scaleH, p.inH, p.outH), s);
  for (var oy = rg.x; oy <= rg.y; oy++) {
    let w = weight(oy, iy, p.scaleH, p.inH);
    if (w != 0.0) {
      let src = (plane * p.outH + oy) * p.inW + r.col;
      for (var k = 0u; k < r.len; k++) { hdx[out + k] += ht[src + k] * w; }
    }
  }
}

// ---- sum_parts: out[i] (+)= sum of parts p.chunk .. p.chunk + p.runs - 1 at i, in
// order (the host runs passes of at most ~LOOP_BUDGET parts; a pass after the first
// adds to out). n = p.part. Bindings: parts (read), out (read_write).
@group(0) @binding(1) var<storage, read> sparts: array<f32>;
@group(0) @binding(2) var<storage, read_write> sout: array<f32>;

@compute @workgroup_size(WG)
fn sum_parts(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = index(gid, nwg);
  if (i >= p.n) { return; }
  var acc = 0.0;
  if (p.chunk > 0u) { acc = sout[i]; }
  for (var s = p.chunk; s < p.chunk + p.runs; s++) { acc += sparts[s * p.part + i]; }
  sout[i] = acc;
}
