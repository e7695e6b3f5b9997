// Masked Siamese ConvNets (MSCN) masking of finished views: an optional high-pass filter
// (the image minus its Gaussian blur) and then a mask (random grid cells or everything
// outside a focal square, per channel) whose area is filled with zeros or hashed normal noise.
// `mask_rows` is the row pass of the high-pass blur; `mask_apply` the column pass, the
// subtraction, the mask and the fill.
//
// Layout: views [N, C, H, W] f32 (C = CH, override 1 or 3), one 80-byte Mask record per view
// (binding 2), grid bits [N, C, p.words] u32 (bit j of a channel's words = grid cell j, cells
// row-major, p.gw per row, p.cell pixels a side). Focal boxes are per channel (top, left,
// side); channel-shared masks repeat channel 0's. Blur weights exp(-k^2 / (2 sigma^2)) *
// invNorm, k = -r..r, reflect padding (r < size). Noise: noiseStd x the lowbias32/Box-Muller
// normal of (seed, (c H + y) W + x), as augment.wgsl and params.ts noiseAt.
// Work split: an invocation writes a run of up to p.chunk pixels (all channels) of one row
// (run i % p.runs of row i / p.runs, rows = N x H). Bounds: i < p.n on a 2-D grid.
// Loop budget: chunk x (2r + 1) taps with r <= 11, chunk <= 1024 (whole rows on a CPU adapter).

override WG: u32 = 64u;
override CH: u32 = 3u;

const M_HIGHPASS: u32 = 1u;
const M_NOISE: u32 = 2u;

struct Params {
  n: u32,
  H: u32,
  W: u32,
  chunk: u32,
  runs: u32,
  cell: u32,
  gw: u32,
  words: u32,
}

struct Mask {
  kind: u32, // 0 none, 1 grid, 2 focal
  flags: u32,
  radius: u32,
  seed: u32,
  sigma: f32,
  invNorm: f32,
  noiseStd: f32,
  _p: u32,
  focal: array<vec4i, 3>,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(2) var<storage, read> masks: array<Mask>;

fn index(gid: vec3u, nwg: vec3u) -> u32 {
  return gid.x + gid.y * nwg.x * WG;
}

// hash32, noise_at, reflect, gauss: shaders/augment_common.wgsl (prepended by the host)

// ---- mask_rows: bindings views (read), masks, out (write): row blur of high-pass views
@group(0) @binding(1) var<storage, read> rx: array<f32>;
@group(0) @binding(3) var<storage, read_write> ry: array<f32>;

@compute @workgroup_size(WG)
fn mask_rows(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = index(gid, nwg);
  if (i >= p.n) { return; }
  let row = i / p.runs;
  let x0 = (i % p.runs) * p.chunk;
  let len = min(p.chunk, p.W - x0);
  let n = row / p.H;
  let y = row % p.H;
  let m = masks[n];
  if ((m.flags & M_HIGHPASS) == 0u) { return; }
  let r = i32(m.radius);
  let plane = p.H * p.W;
  let base = n * CH * plane + y * p.W;
  for (var kk = 0u; kk < len; kk++) {
    let x = x0 + kk;
    var acc = vec3f(0.0);
    for (var k = -r; k <= r; k++) {
      let w = gauss(k, m.sigma, m.invNorm);
      let xs = u32(reflect(i32(x) + k, i32(p.W)));
      acc.x += w * rx[base + xs];
      if (CH == 3u) {
        acc.y += w * rx[base + plane + xs];
        acc.z += w * rx[base + 2u * plane + xs];
      }
    }
    ry[base + x] = acc.x;
    if (CH == 3u) {
      ry[base + plane + x] = acc.y;
      ry[base + 2u * plane + x] = acc.z;
    }
  }
}

// ---- mask_apply: bindings views (read), masks, row-blurred views (read), grid bits (read),
// out (write)
@group(0) @binding(1) var<storage, read> mx: array<f32>;
@group(0) @binding(3) var<storage, read> mb: array<f32>;
@group(0) @binding(4) var<storage, read> bits: array<u32>;
@group(0) @binding(5) var<storage, read_write> my: array<f32>;

fn masked(m: Mask, n: u32, c: u32, y: u32, x: u32) -> bool {
  if (m.kind == 1u) {
    let cell = (y / p.cell) * p.gw + x / p.cell;
    let word = bits[(n * CH + c) * p.words + cell / 32u];
    return ((word >> (cell % 32u)) & 1u) != 0u;
  }
  if (m.kind == 2u) {
    let b = m.focal[c];
    let yi = i32(y);
    let xi = i32(x);
    return !(yi >= b.x && yi < b.x + b.z && xi >= b.y && xi < b.y + b.z);
  }
  return false;
}

@compute @workgroup_size(WG)
fn mask_apply(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = index(gid, nwg);
  if (i >= p.n) { return; }
  let row = i / p.runs;
  let x0 = (i % p.runs) * p.chunk;
  let len = min(p.chunk, p.W - x0);
  let n = row / p.H;
  let y = row % p.H;
  let m = masks[n];
  let hp = (m.flags & M_HIGHPASS) != 0u;
  let r = i32(m.radius);
  let plane = p.H * p.W;
  let nb = n * CH * plane;
  for (var kk = 0u; kk < len; kk++) {
    let x = x0 + kk;
    let o = nb + y * p.W + x;
    var v = vec3f(mx[o], 0.0, 0.0);
    if (CH == 3u) {
      v.y = mx[o + plane];
      v.z = mx[o + 2u * plane];
    }
    if (hp) {
      var acc = vec3f(0.0);
      for (var k = -r; k <= r; k++) {
        let w = gauss(k, m.sigma, m.invNorm);
        let ob = nb + u32(reflect(i32(y) + k, i32(p.H))) * p.W + x;
        acc.x += w * mb[ob];
        if (CH == 3u) {
          acc.y += w * mb[ob + plane];
          acc.z += w * mb[ob + 2u * plane];
        }
      }
      v = v - acc;
    }
    for (var c = 0u; c < CH; c++) {
      var val = v[c];
      if (masked(m, n, c, y, x)) {
        val = 0.0;
        if ((m.flags & M_NOISE) != 0u) {
          val = m.noiseStd * noise_at(m.seed, (c * p.H + y) * p.W + x);
        }
      }
      my[o + c * plane] = val;
    }
  }
}
