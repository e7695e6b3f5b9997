// RandAugment ops on whole images, one op per image per dispatch (a layer): `ra_stats`
// gathers what the op needs (per-channel min, max and sum; the equalize lookup table) and
// `ra_apply` applies it. Mugs applies RandAugment to the full image before its random
// resized crop, so these kernels run at source resolution.
//
// Layout: input [*, C, H, W] (binding 1: the source batch for the first layer, the previous
// layer's output after that), output [S, C, H, W] for S strong samples. One 64-byte Step per
// sample and layer (binding 2, record p.base + k): the input image `src`, a horizontal flip of
// the input (first layer only), the op code, interpolation, the PIL affine matrix or the op's
// argument, and the output region to compute (the rest of the output is left unwritten: the
// host asks only for what the next layer or the crop reads). C = CH (override, 1 or 3). Float semantics (the ops run on [0, 1] floats,
// never quantised except where the op is defined on 8-bit levels):
//   1 autocontrast  per channel (x - min) / (max - min), clamped (torchvision; max == min:
//                   clamp only)
//   2 equalize      PIL ImageOps.equalize on q = round(clamp(x, 0, 1) * 255): histogram h,
//                   step = (sum(h) - last nonzero count) / 255 (integer), lut[i] =
//                   (step / 2 + sum(h[0..i-1])) / step clamped to 255; out = lut[q] / 255. When
//                   PIL keeps the image (at most one level used, or step 0) x is unchanged.
//   3 invert        1 - x
//   4 affine        PIL Image.transform(AFFINE) as rotate/shear/translate use it: output pixel
//                   (x, y) samples the input at (m0 (x+.5) + m1 (y+.5) + m2, m3 (x+.5) +
//                   m4 (y+.5) + m5); outside [0, W) x [0, H) it takes the fill colour (p.fill).
//                   Bilinear: a + (b - a) d on the taps floor(s - .5) and +1, clamped into the
//                   image. Bicubic: PIL's transform cubic (Keys a = -1) on 4 clamped taps,
//                   result clamped to [0, 1] (PIL clips 8-bit results).
//   5 posterize     (q & ~(2^(8 - bits) - 1)) / 255
//   6 solarize      x >= arg -> 1 - x (arg = threshold / 255)
//   7 solarize add  x < 128 / 255 -> min(1, x + arg) (arg = add / 255)
//   8 color         blend with the grayscale image (0.2989 R + 0.587 G + 0.114 B), clamped
//   9 contrast      blend with the mean of the grayscale image, clamped
//  10 brightness    blend with 0, clamped
//  11 sharpness     blend with torchvision's degenerate image (3x3 [1 1 1; 1 5 1; 1 1 1] / 13
//                   inside, border pixels kept), clamped; images with a side <= 2 are kept.
// On one channel color is the identity and contrast blends with the image mean.
// Work split: ra_stats is one workgroup of 64 per (sample, channel) (workgroup id on a 2-D
// grid), each thread striding over the plane; thread 0 reduces and builds the table.
// ra_apply: an invocation writes a run of up to p.chunk pixels (all channels) of one output
// row (run i % p.runs of row i / p.runs, rows = S x H; whole rows on a CPU adapter), limited
// to the step's region. Bounds: job < p.count x CH, i < p.n.
// Loop budget: ra_stats threads visit ceil(H W / 64) pixels plus 2 x 256 + 64 table steps
// (host limits H W); ra_apply loops over its run (chunk <= 1024 pixels; taps are unrolled).

override WG: u32 = 64u;
override CH: u32 = 3u;

const OP_IDENTITY: u32 = 0u;
const OP_AUTOCONTRAST: u32 = 1u;
const OP_EQUALIZE: u32 = 2u;
const OP_INVERT: u32 = 3u;
const OP_AFFINE: u32 = 4u;
const OP_POSTERIZE: u32 = 5u;
const OP_SOLARIZE: u32 = 6u;
const OP_SOLARIZE_ADD: u32 = 7u;
const OP_COLOR: u32 = 8u;
const OP_CONTRAST: u32 = 9u;
const OP_BRIGHTNESS: u32 = 10u;
const OP_SHARPNESS: u32 = 11u;

struct Params {
  n: u32,
  H: u32,
  W: u32,
  count: u32,
  chunk: u32,
  runs: u32,
  base: u32,
  _p0: u32,
  fill: vec4f,
}

struct Step {
  src: u32,
  flip: u32,
  op: u32,
  interp: u32, // 0 bilinear, 1 bicubic
  m0: f32,
  m1: f32,
  m2: f32,
  m3: f32,
  m4: f32,
  m5: f32,
  arg: f32,
  _p: u32,
  // the output region to compute: rows y0 .. y1 - 1, columns x0 .. x1 - 1
  y0: u32,
  y1: u32,
  x0: u32,
  x1: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> ax: array<f32>;
@group(0) @binding(2) var<storage, read> steps: array<Step>;

fn quant(x: f32) -> u32 {
  return u32(round(clamp(x, 0.0, 1.0) * 255.0));
}

// ---- ra_stats: bindings input, steps, stats (write, [S, C, 4]: min, max, sum, equalize-keeps),
// lut (write, [S, C, 256])
@group(0) @binding(3) var<storage, read_write> st: array<f32>;
@group(0) @binding(4) var<storage, read_write> lut: array<f32>;

var<workgroup> hist: array<atomic<u32>, 256>;
var<workgroup> wmin: array<f32, 64>;
var<workgroup> wmax: array<f32, 64>;
var<workgroup> wsum: array<f32, 64>;
var<workgroup> wop: u32;

@compute @workgroup_size(64)
fn ra_stats(
  @builtin(workgroup_id) wid: vec3u,
  @builtin(num_workgroups) nwg: vec3u,
  @builtin(local_invocation_index) lid: u32,
) {
  let job = wid.x + wid.y * nwg.x;
  if (job >= p.count * CH) { return; }
  let k = job / CH;
  let c = job % CH;
  if (lid == 0u) { wop = steps[p.base + k].op; }
  let op = workgroupUniformLoad(&wop);
  if (op != OP_AUTOCONTRAST && op != OP_EQUALIZE && op != OP_CONTRAST) { return; }
  let eq = op == OP_EQUALIZE;
  if (eq) {
    for (var b = lid; b < 256u; b += 64u) { atomicStore(&hist[b], 0u); }
  }
  workgroupBarrier();
  let plane = p.H * p.W;
  let base = (steps[p.base + k].src * CH + c) * plane;
  var mn = 3.0e38;
  var mx = -3.0e38;
  var sm = 0.0;
  for (var j = lid; j < plane; j += 64u) {
    let x = ax[base + j];
    mn = min(mn, x);
    mx = max(mx, x);
    sm += x;
    if (eq) { atomicAdd(&hist[quant(x)], 1u); }
  }
  wmin[lid] = mn;
  wmax[lid] = mx;
  wsum[lid] = sm;
  workgroupBarrier();
  if (lid != 0u) { return; }
  for (var t = 1u; t < 64u; t++) {
    mn = min(mn, wmin[t]);
    mx = max(mx, wmax[t]);
    sm += wsum[t];
  }
  st[job * 4u] = mn;
  st[job * 4u + 1u] = mx;
  st[job * 4u + 2u] = sm;
  st[job * 4u + 3u] = 1.0;
  if (!eq) { return; }
  var total = 0u;
  var last = 0u;
  var used = 0u;
  for (var b = 0u; b < 256u; b++) {
    let h = atomicLoad(&hist[b]);
    if (h > 0u) {
      total += h;
      last = h;
      used += 1u;
    }
  }
  let step = (total - last) / 255u;
  if (used <= 1u || step == 0u) { return; } // PIL keeps the image: st[.. + 3] stays 1
  st[job * 4u + 3u] = 0.0;
  var acc = step / 2u;
  for (var b = 0u; b < 256u; b++) {
    lut[job * 256u + b] = f32(min(acc / step, 255u)) / 255.0;
    acc += atomicLoad(&hist[b]);
  }
}

// ---- ra_apply: bindings input, steps, stats (read), lut (read), out (write)
@group(0) @binding(3) var<storage, read> ast: array<f32>;
@group(0) @binding(4) var<storage, read> alut: array<f32>;
@group(0) @binding(5) var<storage, read_write> ay: array<f32>;

fn gray3(c: vec3f) -> f32 {
  if (CH == 1u) { return c.x; }
  return 0.2989 * c.x + 0.587 * c.y + 0.114 * c.z;
}

fn blend3(a: vec3f, b: vec3f, ratio: f32) -> vec3f {
  return clamp(ratio * a + (1.0 - ratio) * b, vec3f(0.0), vec3f(1.0));
}

// the input pixel (all channels) at integer (row, col) of the (possibly flipped) image
fn px(ib: u32, row: i32, col: i32, flip: bool) -> vec3f {
  let plane = p.H * p.W;
  let cc = select(u32(col), p.W - 1u - u32(col), flip);
  let o = ib + u32(row) * p.W + cc;
  if (CH == 1u) { return vec3f(ax[o], 0.0, 0.0); }
  return vec3f(ax[o], ax[o + plane], ax[o + 2u * plane]);
}

fn cub(v1: vec3f, v2: vec3f, v3: vec3f, v4: vec3f, d: f32) -> vec3f {
  let p1 = v2;
  let p2 = -v1 + v3;
  let p3 = 2.0 * (v1 - v2) + v3 - v4;
  let p4 = -v1 + v2 - v3 + v4;
  return p1 + d * (p2 + d * (p3 + d * p4));
}

fn cub_row(ib: u32, row: i32, x: i32, d: f32, flip: bool) -> vec3f {
  let w = i32(p.W);
  return cub(
    px(ib, row, clamp(x, 0, w - 1), flip),
    px(ib, row, clamp(x + 1, 0, w - 1), flip),
    px(ib, row, clamp(x + 2, 0, w - 1), flip),
    px(ib, row, clamp(x + 3, 0, w - 1), flip),
    d,
  );
}

fn affine(ib: u32, s: Step, x: u32, y: u32) -> vec3f {
  let xo = f32(x) + 0.5;
  let yo = f32(y) + 0.5;
  let xin = s.m0 * xo + s.m1 * yo + s.m2;
  let yin = s.m3 * xo + s.m4 * yo + s.m5;
  let flip = s.flip != 0u;
  if (xin < 0.0 || xin >= f32(p.W) || yin < 0.0 || yin >= f32(p.H)) { return p.fill.xyz; }
  let xs = xin - 0.5;
  let ys = yin - 0.5;
  let fx = floor(xs);
  let fy = floor(ys);
  let dx = xs - fx;
  let dy = ys - fy;
  let w = i32(p.W);
  let h = i32(p.H);
  if (s.interp == 0u) {
    let x0 = clamp(i32(fx), 0, w - 1);
    let x1 = clamp(i32(fx) + 1, 0, w - 1);
    let y0 = clamp(i32(fy), 0, h - 1);
    let y1 = clamp(i32(fy) + 1, 0, h - 1);
    let a = px(ib, y0, x0, flip);
    let b = px(ib, y0, x1, flip);
    let c = px(ib, y1, x0, flip);
    let d = px(ib, y1, x1, flip);
    let v1 = a + (b - a) * dx;
    let v2 = c + (d - c) * dx;
    return v1 + (v2 - v1) * dy;
  }
  let xb = i32(fx) - 1;
  let yb = i32(fy) - 1;
  let v1 = cub_row(ib, clamp(yb, 0, h - 1), xb, dx, flip);
  let v2 = cub_row(ib, clamp(yb + 1, 0, h - 1), xb, dx, flip);
  let v3 = cub_row(ib, clamp(yb + 2, 0, h - 1), xb, dx, flip);
  let v4 = cub_row(ib, clamp(yb + 3, 0, h - 1), xb, dx, flip);
  return clamp(cub(v1, v2, v3, v4, dy), vec3f(0.0), vec3f(1.0));
}

fn sharpen(ib: u32, s: Step, x: u32, y: u32, c: vec3f) -> vec3f {
  if (p.H <= 2u || p.W <= 2u) { return c; }
  var deg = c;
  if (x > 0u && y > 0u && x + 1u < p.W && y + 1u < p.H) {
    let flip = s.flip != 0u;
    let xi = i32(x);
    let yi = i32(y);
    var acc = vec3f(0.0);
    acc += px(ib, yi - 1, xi - 1, flip) + px(ib, yi - 1, xi, flip) + px(ib, yi - 1, xi + 1, flip);
    acc += px(ib, yi, xi - 1, flip) + 5.0 * c + px(ib, yi, xi + 1, flip);
    acc += px(ib, yi + 1, xi - 1, flip) + px(ib, yi + 1, xi, flip) + px(ib, yi + 1, xi + 1, flip);
    deg = acc / 13.0;
  }
  return blend3(c, deg, s.arg);
}

fn stat(k: u32, c: u32, j: u32) -> f32 {
  return ast[(k * CH + c) * 4u + j];
}

fn autocontrast1(x: f32, k: u32, c: u32) -> f32 {
  var mn = stat(k, c, 0u);
  let mx = stat(k, c, 1u);
  var scale = 1.0 / (mx - mn);
  if (mx == mn) {
    mn = 0.0;
    scale = 1.0;
  }
  return clamp((x - mn) * scale, 0.0, 1.0);
}

fn equalize1(x: f32, k: u32, c: u32) -> f32 {
  if (stat(k, c, 3u) != 0.0) { return x; }
  return alut[(k * CH + c) * 256u + quant(x)];
}

fn posterize1(x: f32, bits: u32) -> f32 {
  let mask = (0xffu << (8u - bits)) & 0xffu;
  return f32(quant(x) & mask) / 255.0;
}

@compute @workgroup_size(WG)
fn ra_apply(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = index(gid, nwg);
  if (i >= p.n) { return; }
  let row = i / p.runs;
  let x0 = (i % p.runs) * p.chunk;
  let len = min(p.chunk, p.W - x0);
  let k = row / p.H;
  let y = row % p.H;
  if (y < steps[p.base + k].y0 || y >= steps[p.base + k].y1) { return; }
  let s = steps[p.base + k];
  let plane = p.H * p.W;
  let ib = s.src * CH * plane;
  let ob = k * CH * plane + y * p.W;
  let flip = s.flip != 0u;
  var mean = 0.0;
  if (s.op == OP_CONTRAST) {
    if (CH == 1u) {
      mean = stat(k, 0u, 2u) / f32(plane);
    } else {
      mean = (0.2989 * stat(k, 0u, 2u) + 0.587 * stat(k, 1u, 2u) + 0.114 * stat(k, 2u, 2u)) /
        f32(plane);
    }
  }
  let xa = max(x0, s.x0);
  let xb = min(x0 + len, s.x1);
  for (var x = xa; x < xb; x++) {
    var c = px(ib, i32(y), i32(x), flip);
    switch s.op {
      case OP_AUTOCONTRAST: {
        let c0 = c;
        c.x = autocontrast1(c0.x, k, 0u);
        if (CH == 3u) {
          c.y = autocontrast1(c0.y, k, 1u);
          c.z = autocontrast1(c0.z, k, 2u);
        }
      }
      case OP_EQUALIZE: {
        let c0 = c;
        c.x = equalize1(c0.x, k, 0u);
        if (CH == 3u) {
          c.y = equalize1(c0.y, k, 1u);
          c.z = equalize1(c0.z, k, 2u);
        }
      }
      case OP_INVERT: { c = 1.0 - c; }
      case OP_AFFINE: { c = affine(ib, s, x, y); }
      case OP_POSTERIZE: {
        let bits = u32(s.arg);
        c = vec3f(posterize1(c.x, bits), posterize1(c.y, bits), posterize1(c.z, bits));
      }
      case OP_SOLARIZE: { c = select(c, 1.0 - c, c >= vec3f(s.arg)); }
      case OP_SOLARIZE_ADD: {
        c = select(c, min(c + s.arg, vec3f(1.0)), c < vec3f(128.0 / 255.0));
      }
      case OP_COLOR: {
        if (CH == 3u) { c = blend3(c, vec3f(gray3(c)), s.arg); }
      }
      case OP_CONTRAST: { c = blend3(c, vec3f(mean), s.arg); }
      case OP_BRIGHTNESS: { c = blend3(c, vec3f(0.0), s.arg); }
      case OP_SHARPNESS: { c = sharpen(ib, s, x, y, c); }
      default: {}
    }
    ay[ob + x] = c.x;
    if (CH == 3u) {
      ay[ob + plane + x] = c.y;
      ay[ob + 2u * plane + x] = c.z;
    }
  }
}

fn index(gid: vec3u, nwg: vec3u) -> u32 {
  return gid.x + gid.y * nwg.x * WG;
}
