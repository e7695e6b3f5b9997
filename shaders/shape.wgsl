// Layout kernels: strided copies behind permute, transpose, slice, concat and stack.
//
// Layout: tensors are contiguous row-major; elements are copied as 32-bit words
// (array<u32>), so f32 and i32 tensors go through the same kernels bit for bit.
// A copy is described by a logical shape (rank <= 8, adjacent dimensions merged on
// the host where the strides chain) and the strides of the strided side:
//   gather:  dst[i]                       = src[base + sum_d c_d(i) * stride_d]
//   scatter: dst[base + sum_d c_d(i) * stride_d] = src[i]
// where c(i) are the row-major coordinates of i in `shape`. The contiguous side is
// indexed by i directly.
//   permute: gather, shape = output shape, strides = input strides permuted.
//   slice:   gather, shape = output shape, strides = input strides, base = start offset;
//            its backward is a scatter into a zeroed tensor of the input's shape.
//   concat/stack: one scatter per input into the output (base = offset along the axis);
//            the backward is one gather (a slice) per input.
// Bounds: one invocation per element of `shape`, i < p.n; the 1-D index is spread over
// a 2-D grid (gid.x + gid.y * num_workgroups.x * WG) to stay under 65 535 groups.

override WG: u32 = 256u;

struct Params {
  n: u32,
  rank: u32,
  base: u32,
  _pad: u32,
  shape: array<vec4u, 2>,
  strides: array<vec4u, 2>,
}

@group(0) @binding(0) var<uniform> p: Params;

fn index(gid: vec3u, nwg: vec3u) -> u32 {
  return gid.x + gid.y * nwg.x * WG;
}

fn dim(v: array<vec4u, 2>, d: u32) -> u32 {
  return v[d / 4u][d % 4u];
}

// offset on the strided side of logical element i
fn strided(i: u32) -> u32 {
  var rem = i;
  var off = p.base;
  for (var d = i32(p.rank) - 1; d >= 0; d--) {
    let s = dim(p.shape, u32(d));
    off += (rem % s) * dim(p.strides, u32(d));
    rem = rem / s;
  }
  return off;
}

// ---- gather: strided read, contiguous write. Bindings: src (read), dst (write).
@group(0) @binding(1) var<storage, read> gsrc: array<u32>;
@group(0) @binding(2) var<storage, read_write> gdst: array<u32>;

@compute @workgroup_size(WG)
fn gather(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = index(gid, nwg);
  if (i >= p.n) { return; }
  gdst[i] = gsrc[strided(i)];
}

// ---- scatter: contiguous read, strided write. Bindings: src (read), dst (read_write;
// elements outside the pattern are left untouched).
@group(0) @binding(1) var<storage, read> ssrc: array<u32>;
@group(0) @binding(2) var<storage, read_write> sdst: array<u32>;

@compute @workgroup_size(WG)
fn scatter(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = index(gid, nwg);
  if (i >= p.n) { return; }
  sdst[strided(i)] = ssrc[i];
}
