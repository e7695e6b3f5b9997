// Patch extraction for the ViT patch embedding (timm PatchEmbed as a matmul).
//
// Layout: x is contiguous [N, C, H, W] with H = GH * P and W = GW * P; the patches are
// contiguous [N, GH * GW, C * P * P], token t = gy * GW + gx (row-major over the patch
// grid) and feature f = (c * P + py) * P + px, the order of a flattened Conv2d weight
// [D, C, P, P]. So patches @ W.reshape(D, C*P*P)^T equals Conv2d(C, D, P, stride P)
// flattened over the grid and transposed ([N, D, GH, GW] -> [N, GH*GW, D]).
//   patchify:   out[n, t, f] = x[n, c, gy * P + py, gx * P + px]
//   unpatchify: dx[n, c, y, x] = g[n, (y / P) * GW + x / P, (c * P + y % P) * P + x % P]
// (the inverse rearrangement: the backward of patchify). Both are bijections.
// Work split: invocation i writes the run of p.chunk elements starting at flat index
// i * chunk, where chunk divides P (P on a CPU adapter, which saves integer divisions;
// 1 on a GPU). A run never leaves a row of P pixels of one patch, which is contiguous
// on both sides. Bounds: i < p.n = elements / chunk, on a 2-D grid
// (gid.x + gid.y * num_workgroups.x * WG).

override WG: u32 = 256u;

struct Params {
  n: u32,
  C: u32,
  H: u32,
  W: u32,
  P: u32,
  chunk: u32,
  _p1: u32,
  _p2: u32,
}

@group(0) @binding(0) var<uniform> p: Params;

fn index(gid: vec3u, nwg: vec3u) -> u32 {
  return gid.x + gid.y * nwg.x * WG;
}

// ---- patchify. Bindings: x (read), out (write).
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;

@compute @workgroup_size(WG)
fn patchify(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i0 = index(gid, nwg);
  if (i0 >= p.n) { return; }
  let i = i0 * p.chunk;
  let F = p.C * p.P * p.P;
  let GW = p.W / p.P;
  let T = (p.H / p.P) * GW;
  let f = i % F;
  let t = (i / F) % T;
  let n = i / (F * T);
  let c = f / (p.P * p.P);
  let py = (f / p.P) % p.P;
  let px = f % p.P;
  let yy = (t / GW) * p.P + py;
  let xx = (t % GW) * p.P + px;
  let src = ((n * p.C + c) * p.H + yy) * p.W + xx;
  for (var j = 0u; j < p.chunk; j++) { out[i + j] = x[src + j]; }
}

// ---- unpatchify (patchify's backward). Bindings: g (read, patches), dx (write, image).
@group(0) @binding(1) var<storage, read> ug: array<f32>;
@group(0) @binding(2) var<storage, read_write> udx: array<f32>;

@compute @workgroup_size(WG)
fn unpatchify(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i0 = index(gid, nwg);
  if (i0 >= p.n) { return; }
  let i = i0 * p.chunk;
  let xx = i % p.W;
  let yy = (i / p.W) % p.H;
  let c = (i / (p.W * p.H)) % p.C;
  let n = i / (p.W * p.H * p.C);
  let F = p.C * p.P * p.P;
  let GW = p.W / p.P;
  let T = (p.H / p.P) * GW;
  let t = (yy / p.P) * GW + xx / p.P;
  let f = (c * p.P + yy % p.P) * p.P + xx % p.P;
  let src = (n * T + t) * F + f;
  for (var j = 0u; j < p.chunk; j++) { udx[i + j] = ug[src + j]; }
}
