// Optimiser kernels, one parameter tensor per dispatch: fused AdamW (with per-parameter
// gradient clipping folded in), EMA of one tensor into another, and the squared L2 norm.
//
// Layout: flat f32 arrays of p.n elements (param, grad, exp_avg, exp_avg_sq share the
// shape). Bounds: one invocation per element i < p.n on a 2-D grid (see elementwise.wgsl),
// except `sumsq`, which is one workgroup of WG invocations writing out[0].

override WG: u32 = 256u;

struct Params {
  n: u32,
  clip: u32,    // 1: scale the gradient by min(1, maxNorm / (norm + 1e-6)) using norm2[0]
  lr: f32,
  wd: f32,
  beta1: f32,
  beta2: f32,
  eps: f32,
  bc1: f32,     // 1 - beta1^t
  bc2: f32,     // 1 - beta2^t
  maxNorm: f32,
  momentum: f32, // EMA: teacher = momentum * teacher + (1 - momentum) * student
}

@group(0) @binding(0) var<uniform> p: Params;

fn index(gid: vec3u, nwg: vec3u) -> u32 {
  return gid.x + gid.y * nwg.x * WG;
}

// ---- AdamW, PyTorch semantics: p *= 1 - lr*wd; m, v updated; p -= lr/bc1 * m / (sqrt(v)/sqrt(bc2) + eps)
@group(0) @binding(1) var<storage, read_write> param: array<f32>;
@group(0) @binding(2) var<storage, read> grad: array<f32>;
@group(0) @binding(3) var<storage, read_write> m1: array<f32>;
@group(0) @binding(4) var<storage, read_write> m2: array<f32>;
@group(0) @binding(5) var<storage, read> norm2: array<f32>; // squared grad norm (clip = 1)

@compute @workgroup_size(WG)
fn adamw(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = index(gid, nwg);
  if (i >= p.n) { return; }
  var g = grad[i];
  if (p.clip == 1u) {
    let coef = p.maxNorm / (sqrt(norm2[0]) + 1e-6);
    if (coef < 1.0) { g = g * coef; }
  }
  let m = p.beta1 * m1[i] + (1.0 - p.beta1) * g;
  let v = p.beta2 * m2[i] + (1.0 - p.beta2) * g * g;
  m1[i] = m;
  m2[i] = v;
  let denom = sqrt(v) / sqrt(p.bc2) + p.eps;
  param[i] = param[i] * (1.0 - p.lr * p.wd) - (p.lr / p.bc1) * m / denom;
}

// ---- EMA: dst = momentum * dst + (1 - momentum) * src
@group(0) @binding(1) var<storage, read_write> dst: array<f32>;
@group(0) @binding(2) var<storage, read> src: array<f32>;

@compute @workgroup_size(WG)
fn ema(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = index(gid, nwg);
  if (i >= p.n) { return; }
  dst[i] = p.momentum * dst[i] + (1.0 - p.momentum) * src[i];
}

// ---- sum of squares of x into out[0] (one workgroup; strided loop then a tree)
@group(0) @binding(1) var<storage, read> sx: array<f32>;
@group(0) @binding(2) var<storage, read_write> sout: array<f32>;
var<workgroup> partial: array<f32, 256>;

@compute @workgroup_size(WG)
fn sumsq(@builtin(local_invocation_id) lid: vec3u) {
  var acc = 0.0;
  for (var i = lid.x; i < p.n; i += WG) {
    let v = sx[i];
    acc += v * v;
  }
  partial[lid.x] = acc;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s = s / 2u) {
    if (lid.x < s) { partial[lid.x] += partial[lid.x + s]; }
    workgroupBarrier();
  }
  if (lid.x == 0u) { sout[0] = partial[0]; }
}

// ---- scale in place: x *= min(1, maxNorm / (sqrt(norm2[0]) + 1e-6))
@group(0) @binding(1) var<storage, read_write> cx: array<f32>;
@group(0) @binding(2) var<storage, read> cn: array<f32>;

@compute @workgroup_size(WG)
fn clip_scale(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = index(gid, nwg);
  if (i >= p.n) { return; }
  let coef = p.maxNorm / (sqrt(cn[0]) + 1e-6);
  if (coef < 1.0) { cx[i] = cx[i] * coef; }
}
