// Batched image augmentation: resized crop + horizontal flip (`crop`), colour-jitter
// statistics (`color_stats`), colour jitter + grayscale (`color`), the row pass of the
// separable Gaussian blur (`blur_rows`) and `finish`: the column pass of the blur, then
// solarize, random erasing and per-channel normalisation, in registers.
//
// Layout: images are contiguous f32 [N, C, H, W], C = CH (override constant, 1 or 3). View n
// has one 96-byte `View` record (binding 2, struct below); the uniform block `p` (binding 0)
// carries the sizes. Semantics are torchvision's tensor functional on float images:
//   crop:   resize(crop(img, top, left, h, w), [outH, outW]) as F.interpolate with
//           align_corners=False and no antialias: per axis src = (dst + 0.5) * (in / out) - 0.5
//           in the crop's own coordinates, taps clamped into the crop box (the crop is cut
//           first in torchvision). Bilinear clamps src at 0 and uses taps i0, i0 + (i0 < in-1);
//           bicubic uses A = -0.75, i0 = min(floor(src), in - 1), t clamped to [0, 1], taps
//           i0 - 1 .. i0 + 2 clamped. The flip mirrors the output: out[x] = resized[outW-1-x].
//           Bicubic is not clamped to [0, 1] (torchvision clamps only uint8).
//   color:  the ColorJitter ops in the view's order (brightness: blend with 0; contrast: blend
//           with the mean of the grayscale image at that point; saturation: blend with the
//           grayscale image; hue: shift in HSV as _rgb2hsv/_hsv2rgb), each blend clamped to
//           [0, 1]; then grayscale (0.2989 R + 0.587 G + 0.114 B on every channel). On one
//           channel saturation, hue and grayscale are the identity and contrast blends with
//           the image mean, as torchvision does for grayscale tensors.
//   blur:   weights exp(-k^2 / (2 sigma^2)) * invNorm, k = -r..r, reflect padding (r < size).
//   finish: column blur, solarize (x >= thr -> 1 - x), erase (constant, or hashed standard
//           normal noise) before or after (x - mean[c]) / std[c].
// Work split: an invocation writes a run of up to p.chunk pixels (all channels) of one output
// row: run i % p.runs of row i / p.runs, rows = views x outH; whole rows of up to 1024 pixels
// on a CPU adapter (llvmpipe: every storage access costs, so per-row work such as the view
// fields and the crop's first window is paid once a row), one pixel on a GPU. Kernels load
// only the View fields they use (a whole record is 24 loads). `crop` walks a list of views
// (binding 3), so weak and strong views can be read from different sources; `blur_rows`
// skips views with radius 0 and `finish` reads those from the unblurred images. `color_stats`
// writes one partial sum per (view, block of p.rowsPer rows): p.parts per view.
// Bounds: i < p.n on a 2-D grid (gid.x + gid.y * num_workgroups.x * WG).
// Loop budget (llvmpipe silently stops an invocation's loops after ~65 535 iterations): at most
// chunk x (2r + 1) blur taps (r <= 11, chunk <= 1024: 23 552), chunk x CH crop steps,
// rowsPer x W <= 8192 pixels in color_stats, or chunk + p.parts in color.

override WG: u32 = 64u;
override CH: u32 = 3u;
override INTERP: u32 = 1u; // crop: 0 bilinear, 1 bicubic

const F_FLIP: u32 = 1u;
const F_JITTER: u32 = 2u;
const F_GRAY: u32 = 4u;
const F_SOLAR: u32 = 8u;
const F_ERASE: u32 = 16u;
const F_NOISE: u32 = 32u;

const P_NORMALIZE: u32 = 1u;
const P_ERASE_FIRST: u32 = 2u;

struct Params {
  n: u32,
  inH: u32,
  inW: u32,
  outH: u32,
  outW: u32,
  chunk: u32,
  runs: u32,
  parts: u32,
  rowsPer: u32,
  flags: u32,
  _p0: u32,
  _p1: u32,
  mean: vec4f,
  sdev: vec4f,
}

// One view's parameters (24 words). order: 4 nibbles, op k at bits 4k..4k+3 (0 brightness,
// 1 contrast, 2 saturation, 3 hue, 15 none).
struct View {
  src: u32,
  flags: u32,
  top: i32,
  left: i32,
  h: i32,
  w: i32,
  order: u32,
  radius: u32,
  bright: f32,
  contrast: f32,
  sat: f32,
  hue: f32,
  sigma: f32,
  invNorm: f32,
  solar: f32,
  eraseValue: f32,
  eTop: i32,
  eLeft: i32,
  eH: i32,
  eW: i32,
  seed: u32,
  _a: u32,
  _b: u32,
  _c: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(2) var<storage, read> views: array<View>;

fn index(gid: vec3u, nwg: vec3u) -> u32 {
  return gid.x + gid.y * nwg.x * WG;
}

// The jitter parameters of a view (loaded field by field: a whole View is 24 loads).
struct Jit {
  flags: u32,
  order: u32,
  bright: f32,
  contrast: f32,
  sat: f32,
  hue: f32,
}

fn load_jit(n: u32) -> Jit {
  return Jit(views[n].flags, views[n].order, views[n].bright, views[n].contrast, views[n].sat,
    views[n].hue);
}

// ---- crop: bindings src images (read), views, list of view indices (read), out (write)
@group(0) @binding(1) var<storage, read> cin: array<f32>;
@group(0) @binding(3) var<storage, read> list: array<u32>;
@group(0) @binding(4) var<storage, read_write> cout: array<f32>;

const A: f32 = -0.75;

fn cc1(x: f32) -> f32 {
  return ((A + 2.0) * x - (A + 3.0)) * x * x + 1.0;
}

fn cc2(x: f32) -> f32 {
  return ((A * x - 5.0 * A) * x + 8.0 * A) * x - 4.0 * A;
}

struct Taps {
  first: i32,
  w: vec4f,
}

fn cubic_taps(o: u32, scale: f32, size: i32) -> Taps {
  let src = (f32(o) + 0.5) * scale - 0.5;
  let i0 = min(i32(floor(src)), size - 1);
  let t = clamp(src - f32(i0), 0.0, 1.0);
  return Taps(i0 - 1, vec4f(cc2(t + 1.0), cc1(t), cc1(1.0 - t), cc2(2.0 - t)));
}

struct Lin {
  i0: i32,
  i1: i32,
  l: f32,
}

fn lin_taps(o: u32, scale: f32, size: i32) -> Lin {
  let src = max((f32(o) + 0.5) * scale - 0.5, 0.0);
  let i0 = i32(src);
  let i1 = select(i0, i0 + 1, i0 < size - 1);
  return Lin(i0, i1, src - f32(i0));
}

fn clampi(i: i32, size: i32) -> i32 {
  return clamp(i, 0, size - 1);
}

struct Box {
  top: i32,
  left: i32,
  h: i32,
  w: i32,
}

// one source column of the crop, interpolated vertically over the 4 (bicubic) tap rows
fn col4(b: u32, r: vec4u, col: u32, w: vec4f) -> f32 {
  return cin[b + r.x + col] * w.x + cin[b + r.y + col] * w.y + cin[b + r.z + col] * w.z +
    cin[b + r.w + col] * w.w;
}

// Each invocation walks its run in increasing source order (sx; the flip only changes where
// the value is written) and keeps the vertically interpolated values of the 4 (bicubic) or 2
// (bilinear) current source columns in registers, so consecutive outputs that share columns
// load only the new ones (a few loads per output instead of 16).
@compute @workgroup_size(WG)
fn crop(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = index(gid, nwg);
  if (i >= p.n) { return; }
  let row = i / p.runs;
  let x0 = (i % p.runs) * p.chunk;
  let len = min(p.chunk, p.outW - x0);
  let k = row / p.outH;
  let oy = row % p.outH;
  let n = list[k];
  let v = Box(views[n].top, views[n].left, views[n].h, views[n].w);
  let flip = (views[n].flags & F_FLIP) != 0u;
  let planeIn = p.inH * p.inW;
  let planeOut = p.outH * p.outW;
  let ib = views[n].src * CH * planeIn;
  let ob = n * CH * planeOut + oy * p.outW;
  let sh = f32(v.h) / f32(p.outH);
  let sw = f32(v.w) / f32(p.outW);
  let left = u32(v.left);
  if (INTERP == 1u) {
    let ty = cubic_taps(oy, sh, v.h);
    let r = vec4u(
      u32(v.top + clampi(ty.first, v.h)) * p.inW,
      u32(v.top + clampi(ty.first + 1, v.h)) * p.inW,
      u32(v.top + clampi(ty.first + 2, v.h)) * p.inW,
      u32(v.top + clampi(ty.first + 3, v.h)) * p.inW,
    );
    for (var c = 0u; c < CH; c++) {
      let b = ib + c * planeIn + left;
      var cur = -1000000;
      var w = vec4f(0.0);
      for (var kk = 0u; kk < len; kk++) {
        let sx = x0 + kk;
        let tx = cubic_taps(sx, sw, v.w);
        let f = tx.first;
        let d = f - cur;
        if (d == 1) {
          w = vec4f(w.yzw, col4(b, r, u32(clampi(f + 3, v.w)), ty.w));
        } else if (d == 2) {
          w = vec4f(w.zw, col4(b, r, u32(clampi(f + 2, v.w)), ty.w),
            col4(b, r, u32(clampi(f + 3, v.w)), ty.w));
        } else if (d != 0) {
          w = vec4f(
            col4(b, r, u32(clampi(f, v.w)), ty.w),
            col4(b, r, u32(clampi(f + 1, v.w)), ty.w),
            col4(b, r, u32(clampi(f + 2, v.w)), ty.w),
            col4(b, r, u32(clampi(f + 3, v.w)), ty.w),
          );
        }
        cur = f;
        let ox = select(sx, p.outW - 1u - sx, flip);
        cout[ob + c * planeOut + ox] = dot(w, tx.w);
      }
    }
  } else {
    let ty = lin_taps(oy, sh, v.h);
    let r0 = u32(v.top + ty.i0) * p.inW;
    let r1 = u32(v.top + ty.i1) * p.inW;
    for (var c = 0u; c < CH; c++) {
      let b = ib + c * planeIn + left;
      var cur = -1000000;
      var w = vec2f(0.0);
      for (var kk = 0u; kk < len; kk++) {
        let sx = x0 + kk;
        let tx = lin_taps(sx, sw, v.w);
        let f = tx.i0;
        if (f != cur) {
          if (f == cur + 1) {
            w.x = w.y;
          } else {
            w.x = (1.0 - ty.l) * cin[b + r0 + u32(f)] + ty.l * cin[b + r1 + u32(f)];
          }
          let f1 = u32(select(f, f + 1, f < v.w - 1));
          w.y = (1.0 - ty.l) * cin[b + r0 + f1] + ty.l * cin[b + r1 + f1];
          cur = f;
        }
        let ox = select(sx, p.outW - 1u - sx, flip);
        cout[ob + c * planeOut + ox] = (1.0 - tx.l) * w.x + tx.l * w.y;
      }
    }
  }
}

// ---- colour ops on one pixel (vec3f; only .x is used when CH = 1)
fn gray(c: vec3f) -> f32 {
  if (CH == 1u) { return c.x; }
  return 0.2989 * c.x + 0.587 * c.y + 0.114 * c.z;
}

fn hue_shift(c: vec3f, hf: f32) -> vec3f {
  let r = c.x;
  let g = c.y;
  let b = c.z;
  let maxc = max(r, max(g, b));
  let minc = min(r, min(g, b));
  let eqc = maxc == minc;
  let cr = maxc - minc;
  let s = cr / select(maxc, 1.0, eqc);
  let crd = select(cr, 1.0, eqc);
  let rc = (maxc - r) / crd;
  let gc = (maxc - g) / crd;
  let bc = (maxc - b) / crd;
  var h = 0.0;
  if (maxc == r) {
    h = bc - gc;
  } else if (maxc == g) {
    h = 2.0 + rc - bc;
  } else {
    h = 4.0 + gc - rc;
  }
  let h6 = h / 6.0 + 1.0;
  h = h6 - trunc(h6); // torch.fmod(h / 6 + 1, 1)
  h = h + hf;
  h = h - floor(h); // (h + hue) % 1.0 (torch.remainder)
  let v = maxc;
  let i6 = floor(h * 6.0);
  let f = h * 6.0 - i6;
  let i = ((i32(i6) % 6) + 6) % 6;
  let pp = clamp(v * (1.0 - s), 0.0, 1.0);
  let q = clamp(v * (1.0 - s * f), 0.0, 1.0);
  let t = clamp(v * (1.0 - s * (1.0 - f)), 0.0, 1.0);
  switch i {
    case 0: { return vec3f(v, t, pp); }
    case 1: { return vec3f(q, v, pp); }
    case 2: { return vec3f(pp, v, t); }
    case 3: { return vec3f(pp, q, v); }
    case 4: { return vec3f(t, pp, v); }
    default: { return vec3f(v, pp, q); }
  }
}

fn blend(a: vec3f, b: vec3f, ratio: f32) -> vec3f {
  return clamp(ratio * a + (1.0 - ratio) * b, vec3f(0.0), vec3f(1.0));
}

fn jitter_op(c: vec3f, op: u32, v: Jit, mean: f32) -> vec3f {
  switch op {
    case 0u: { return blend(c, vec3f(0.0), v.bright); }
    case 1u: { return blend(c, vec3f(mean), v.contrast); }
    case 2u: {
      if (CH == 1u) { return c; }
      return blend(c, vec3f(gray(c)), v.sat);
    }
    case 3u: {
      if (CH == 1u) { return c; }
      return hue_shift(c, v.hue);
    }
    default: { return c; }
  }
}

fn op_at(v: Jit, k: u32) -> u32 {
  return (v.order >> (4u * k)) & 15u;
}

// position (0..3) of contrast in the jitter order, 4 when the view needs no image mean
fn contrast_pos(v: Jit) -> u32 {
  if ((v.flags & F_JITTER) == 0u) { return 4u; }
  if (op_at(v, 0u) == 1u) { return 0u; }
  if (op_at(v, 1u) == 1u) { return 1u; }
  if (op_at(v, 2u) == 1u) { return 2u; }
  if (op_at(v, 3u) == 1u) { return 3u; }
  return 4u;
}

// ---- color_stats: bindings images (read), views, partials (write). i < p.n = views x parts.
@group(0) @binding(1) var<storage, read> sx: array<f32>;
@group(0) @binding(3) var<storage, read_write> sp: array<f32>;

fn load_px(buf_base: u32, plane: u32) -> vec3f {
  if (CH == 1u) { return vec3f(sx[buf_base], 0.0, 0.0); }
  return vec3f(sx[buf_base], sx[buf_base + plane], sx[buf_base + 2u * plane]);
}

@compute @workgroup_size(WG)
fn color_stats(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = index(gid, nwg);
  if (i >= p.n) { return; }
  let n = i / p.parts;
  let part = i % p.parts;
  let v = load_jit(n);
  let kc = contrast_pos(v);
  if (kc >= 4u) {
    sp[i] = 0.0;
    return;
  }
  let plane = p.outH * p.outW;
  let y0 = part * p.rowsPer;
  let y1 = min(y0 + p.rowsPer, p.outH);
  var sum = 0.0;
  for (var y = y0; y < y1; y++) {
    var rs = 0.0;
    for (var x = 0u; x < p.outW; x++) {
      var c = load_px(n * CH * plane + y * p.outW + x, plane);
      if (kc > 0u) { c = jitter_op(c, op_at(v, 0u), v, 0.0); }
      if (kc > 1u) { c = jitter_op(c, op_at(v, 1u), v, 0.0); }
      if (kc > 2u) { c = jitter_op(c, op_at(v, 2u), v, 0.0); }
      rs += gray(c);
    }
    sum += rs;
  }
  sp[i] = sum;
}

// ---- color (in place): bindings partials (read), views, images (read_write).
@group(0) @binding(1) var<storage, read> cp: array<f32>;
@group(0) @binding(3) var<storage, read_write> cimg: array<f32>;

@compute @workgroup_size(WG)
fn color(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = index(gid, nwg);
  if (i >= p.n) { return; }
  let row = i / p.runs;
  let x0 = (i % p.runs) * p.chunk;
  let len = min(p.chunk, p.outW - x0);
  let n = row / p.outH;
  let y = row % p.outH;
  let v = load_jit(n);
  let jit = (v.flags & F_JITTER) != 0u;
  let gry = (v.flags & F_GRAY) != 0u && CH == 3u;
  if (!jit && !gry) { return; }
  let plane = p.outH * p.outW;
  var mean = 0.0;
  if (contrast_pos(v) < 4u) {
    var s = 0.0;
    for (var k = 0u; k < p.parts; k++) { s += cp[n * p.parts + k]; }
    mean = s / f32(plane);
  }
  let base = n * CH * plane + y * p.outW;
  for (var kk = 0u; kk < len; kk++) {
    let o = base + x0 + kk;
    var c: vec3f;
    if (CH == 1u) {
      c = vec3f(cimg[o], 0.0, 0.0);
    } else {
      c = vec3f(cimg[o], cimg[o + plane], cimg[o + 2u * plane]);
    }
    if (jit) {
      c = jitter_op(c, op_at(v, 0u), v, mean);
      c = jitter_op(c, op_at(v, 1u), v, mean);
      c = jitter_op(c, op_at(v, 2u), v, mean);
      c = jitter_op(c, op_at(v, 3u), v, mean);
    }
    if (gry) { c = vec3f(gray(c)); }
    cimg[o] = c.x;
    if (CH == 3u) {
      cimg[o + plane] = c.y;
      cimg[o + 2u * plane] = c.z;
    }
  }
}

// ---- blur_rows: bindings images (read), views, out (write); views with radius 0 are skipped
@group(0) @binding(1) var<storage, read> bx: array<f32>;
@group(0) @binding(3) var<storage, read_write> by: array<f32>;

@compute @workgroup_size(WG)
fn blur_rows(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = index(gid, nwg);
  if (i >= p.n) { return; }
  let row = i / p.runs;
  let x0 = (i % p.runs) * p.chunk;
  let len = min(p.chunk, p.outW - x0);
  let n = row / p.outH;
  let y = row % p.outH;
  let r = i32(views[n].radius);
  if (r == 0) { return; } // finish reads unblurred views from the unblurred images
  let sigma = views[n].sigma;
  let inv = views[n].invNorm;
  let plane = p.outH * p.outW;
  let base = n * CH * plane + y * p.outW;
  let W = i32(p.outW);
  for (var kk = 0u; kk < len; kk++) {
    let x = x0 + kk;
    var acc = vec3f(0.0);
    for (var k = -r; k <= r; k++) {
      let w = gauss(k, sigma, inv);
      let xs = u32(reflect(i32(x) + k, W));
      acc.x += w * bx[base + xs];
      if (CH == 3u) {
        acc.y += w * bx[base + plane + xs];
        acc.z += w * bx[base + 2u * plane + xs];
      }
    }
    by[base + x] = acc.x;
    if (CH == 3u) {
      by[base + plane + x] = acc.y;
      by[base + 2u * plane + x] = acc.z;
    }
  }
}

// ---- finish: bindings images (read), views, out (write), row-blurred images (read; written
// only for views that blur, the images themselves when none does): column blur, solarize,
// erase, normalise.
@group(0) @binding(1) var<storage, read> fx: array<f32>;
@group(0) @binding(3) var<storage, read_write> fy: array<f32>;
@group(0) @binding(4) var<storage, read> fb: array<f32>;

// The finishing parameters of a view.
struct Fin {
  flags: u32,
  solar: f32,
  eraseValue: f32,
  seed: u32,
}

fn finish_px(val0: f32, c: u32, y: u32, x: u32, v: Fin, inErase: bool) -> f32 {
  var val = val0;
  if ((v.flags & F_SOLAR) != 0u && val >= v.solar) { val = 1.0 - val; }
  var fill = v.eraseValue;
  if (inErase && (v.flags & F_NOISE) != 0u) {
    fill = noise_at(v.seed, (c * p.outH + y) * p.outW + x);
  }
  let first = (p.flags & P_ERASE_FIRST) != 0u;
  if (inErase && first) { val = fill; }
  if ((p.flags & P_NORMALIZE) != 0u) { val = (val - p.mean[c]) / p.sdev[c]; }
  if (inErase && !first) { val = fill; }
  return val;
}

@compute @workgroup_size(WG)
fn finish(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = index(gid, nwg);
  if (i >= p.n) { return; }
  let row = i / p.runs;
  let x0 = (i % p.runs) * p.chunk;
  let len = min(p.chunk, p.outW - x0);
  let n = row / p.outH;
  let y = row % p.outH;
  let v = Fin(views[n].flags, views[n].solar, views[n].eraseValue, views[n].seed);
  let r = i32(views[n].radius);
  let sigma = views[n].sigma;
  let inv = views[n].invNorm;
  let plane = p.outH * p.outW;
  let nb = n * CH * plane;
  let H = i32(p.outH);
  var erase = false;
  var eLeft = 0;
  var eRight = 0;
  if ((v.flags & F_ERASE) != 0u) {
    let eTop = views[n].eTop;
    erase = i32(y) >= eTop && i32(y) < eTop + views[n].eH;
    eLeft = views[n].eLeft;
    eRight = eLeft + views[n].eW;
  }
  for (var kk = 0u; kk < len; kk++) {
    let x = x0 + kk;
    var acc = vec3f(0.0);
    if (r == 0) {
      let o = nb + y * p.outW + x;
      acc.x = fx[o];
      if (CH == 3u) {
        acc.y = fx[o + plane];
        acc.z = fx[o + 2u * plane];
      }
    } else {
      for (var k = -r; k <= r; k++) {
        let w = gauss(k, sigma, inv);
        let o = nb + u32(reflect(i32(y) + k, H)) * p.outW + x;
        acc.x += w * fb[o];
        if (CH == 3u) {
          acc.y += w * fb[o + plane];
          acc.z += w * fb[o + 2u * plane];
        }
      }
    }
    let inE = erase && i32(x) >= eLeft && i32(x) < eRight;
    let o = nb + y * p.outW + x;
    fy[o] = finish_px(acc.x, 0u, y, x, v, inE);
    if (CH == 3u) {
      fy[o + plane] = finish_px(acc.y, 1u, y, x, v, inE);
      fy[o + 2u * plane] = finish_px(acc.z, 2u, y, x, v, inE);
    }
  }
}
