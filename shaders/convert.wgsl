// Data conversion kernels: uint8 images uploaded packed, widened to f32 on the GPU.
//
// Layout: `src` holds n uint8 values packed 4 per u32 word, little-endian (value i is bits
// 8*(i%4) .. 8*(i%4)+7 of word i/4; the last word is zero-padded). `out` is n contiguous f32
// in the same element order (the loader uses [B, C, H, W]). `lut[v]` is the f32 for byte v,
// computed on the host (v / 255 rounded once to f32), so out[i] == fround(src_i / 255)
// exactly on every adapter (WGSL division may be off by 2.5 ulp).
// Bounds: one invocation per word w < p.words (= ceil(n / 4)); a lane i >= p.n is skipped.
// The 1-D word index is spread over a 2-D grid (gid.x + gid.y * num_workgroups.x * WG) to
// stay under 65 535 workgroups per dimension. No loops.

override WG: u32 = 256u;

struct Params {
  n: u32,
  words: u32,
  _p0: u32,
  _p1: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> src: array<u32>;
@group(0) @binding(2) var<storage, read> lut: array<f32, 256>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(WG)
fn u8_to_f32(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let w = gid.x + gid.y * nwg.x * WG;
  if (w >= p.words) {
    return;
  }
  let word = src[w];
  let i = w * 4u;
  out[i] = lut[word & 0xffu];
  if (i + 1u < p.n) {
    out[i + 1u] = lut[(word >> 8u) & 0xffu];
  }
  if (i + 2u < p.n) {
    out[i + 2u] = lut[(word >> 16u) & 0xffu];
  }
  if (i + 3u < p.n) {
    out[i + 3u] = lut[word >> 24u];
  }
}
