// Helpers shared by the augmentation shaders (augment.wgsl, augment_mask.wgsl): the host
// prepends this file to each of them (WGSL has no includes; lib/augment/ops.ts, mscn.ts).
// No bindings, no entry points.

// ---- noise: lowbias32 hash of (seed, element), Box-Muller (params.ts noiseAt mirrors it)
fn hash32(x0: u32) -> u32 {
  var x = x0;
  x ^= x >> 16u;
  x *= 0x7feb352du;
  x ^= x >> 15u;
  x *= 0x846ca68bu;
  x ^= x >> 16u;
  return x;
}

fn noise_at(seed: u32, idx: u32) -> f32 {
  let s = hash32(seed);
  let a = hash32(s + hash32(2u * idx));
  let b = hash32(s + hash32(2u * idx + 1u));
  let u1 = (f32(a >> 8u) + 1.0) / 16777216.0;
  let u2 = f32(b >> 8u) / 16777216.0;
  return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

fn reflect(i: i32, size: i32) -> i32 {
  var j = i;
  if (j < 0) { j = -j; }
  if (j >= size) { j = 2 * size - 2 - j; }
  return j;
}

fn gauss(k: i32, sigma: f32, invNorm: f32) -> f32 {
  let t = f32(k) / sigma;
  return exp(-0.5 * t * t) * invNorm;
}
