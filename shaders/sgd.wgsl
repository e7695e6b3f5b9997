// SGD update kernels (lib/optim/sgd.ts), torch.optim.SGD semantics, one parameter tensor
// per dispatch:
//   d = grad + wd * param
//   momentum:  buf = d                                   (first step: PyTorch clones d)
//              buf = momentum * buf + (1 - dampening) * d  (later steps)
//              d = nesterov ? d + momentum * buf : buf
//   param -= lr * d
// with, when p.rowLen > 0, a per-row multiplier: lr = p.lr * rowScale[i / p.rowLen] (row =
// index along the parameter's first dimension; rowScale holds one f32 per row).
//
// Layout: flat f32 arrays of p.n elements (param, grad and the momentum buffer share the
// parameter's shape). Bounds: one invocation per element i < p.n on a 2-D grid of
// workgroups (x <= 65 535; index = gid.x + gid.y * nwg.x * WG); no loops, so llvmpipe's
// loop cap cannot bite.
//
// Entries (binding 4, rowScale, is read only when p.rowLen > 0; callers bind any buffer):
//   sgd           plain step (momentum 0): param, grad, -, rowScale
//   sgd_momentum  step with a momentum buffer: param, grad, buf (initialised when
//                 p.first = 1), rowScale

override WG: u32 = 256u;

struct Params {
  n: u32,
  first: u32,     // 1: the buffer holds nothing yet; it becomes d (no dampening)
  nesterov: u32,  // 1: Nesterov momentum
  rowLen: u32,    // > 0: elements per row of the per-row learning-rate multipliers
  lr: f32,
  wd: f32,
  momentum: f32,
  dampening: f32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> param: array<f32>;
@group(0) @binding(2) var<storage, read> grad: array<f32>;
@group(0) @binding(3) var<storage, read_write> buf: array<f32>;
@group(0) @binding(4) var<storage, read> rowScale: array<f32>;

fn index(gid: vec3u, nwg: vec3u) -> u32 {
  return gid.x + gid.y * nwg.x * WG;
}

fn lr_of(i: u32) -> f32 {
  if (p.rowLen > 0u) { return p.lr * rowScale[i / p.rowLen]; }
  return p.lr;
}

@compute @workgroup_size(WG)
fn sgd(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = index(gid, nwg);
  if (i >= p.n) { return; }
  let w = param[i];
  let d = grad[i] + p.wd * w;
  param[i] = w - lr_of(i) * d;
}

@compute @workgroup_size(WG)
fn sgd_momentum(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = index(gid, nwg);
  if (i >= p.n) { return; }
  let w = param[i];
  var d = grad[i] + p.wd * w;
  var b = d;
  if (p.first == 0u) { b = p.momentum * buf[i] + (1.0 - p.dampening) * d; }
  buf[i] = b;
  if (p.nesterov == 1u) { d = d + p.momentum * b; } else { d = b; }
  param[i] = w - lr_of(i) * d;
}
