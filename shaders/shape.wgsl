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
// Work split: integer division is slow on a CPU adapter (llvmpipe scalarises it), so
// an invocation copies a run of up to p.chunk elements along the last dimension: the
// coordinates of the run's first element cost rank divisions, the rest step by the
// last stride. Invocation i handles run (i % p.runs) of row (i / p.runs), where a row
// is one index of the leading rank - 1 dims and p.runs = ceil(last / chunk).
// Bounds: i < p.n (rows * runs); the 1-D index is spread over a 2-D grid
// (gid.x + gid.y * num_workgroups.x * WG) to stay under 65 535 groups.

override WG: u32 = 256u;

struct Params {
  n: u32,
  rank: u32,
  base: u32,
  chunk: u32,
  runs: u32,
  _p0: u32,
  _p1: u32,
  _p2: u32,
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

// A run: contiguous-side start, strided-side start, its length and the last stride.
struct Run {
  flat: u32,
  off: u32,
  len: u32,
  step: u32,
}

fn run(i: u32) -> Run {
  let last = p.rank - 1u;
  let size = dim(p.shape, last);
  let row = i / p.runs;
  let j0 = (i % p.runs) * p.chunk;
  var rem = row;
  var off = p.base + j0 * dim(p.strides, last);
  for (var d = i32(last) - 1; d >= 0; d--) {
    let s = dim(p.shape, u32(d));
    off += (rem % s) * dim(p.strides, u32(d));
    rem = rem / s;
  }
  return Run(row * size + j0, off, min(p.chunk, size - j0), dim(p.strides, last));
}

// ---- gather: strided read, contiguous write. Bindings: src (read), dst (write).
@group(0) @binding(1) var<storage, read> gsrc: array<u32>;
@group(0) @binding(2) var<storage, read_write> gdst: array<u32>;

@compute @workgroup_size(WG)
fn gather(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = index(gid, nwg);
  if (i >= p.n) { return; }
  let r = run(i);
  for (var j = 0u; j < r.len; j++) {
    gdst[r.flat + j] = gsrc[r.off + j * r.step];
  }
}

// ---- scatter: contiguous read, strided write. Bindings: src (read), dst (read_write;
// elements outside the pattern are left untouched).
@group(0) @binding(1) var<storage, read> ssrc: array<u32>;
@group(0) @binding(2) var<storage, read_write> sdst: array<u32>;

@compute @workgroup_size(WG)
fn scatter(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = index(gid, nwg);
  if (i >= p.n) { return; }
  let r = run(i);
  for (var j = 0u; j < r.len; j++) {
    sdst[r.off + j * r.step] = ssrc[r.flat + j];
  }
}
