// Sum reductions over any set of axes ("sum to shape"), used by sum/mean and by the
// backward of broadcasting ops.
//
// Layout: contiguous row-major f32 input. Dimensions are split into kept dims (outShape,
// with their input strides outStr) and reduced dims (redShape, redStr); adjacent dims
// of the same kind are merged on the host, so most reductions here have rank 1 or 2.
// Bounds: one invocation per output element o < nOut; it loops over the nRed reduced
// elements and writes scale * sum. Output is contiguous in kept-dim order.

override WG: u32 = 64u;

struct Params {
  nOut: u32,
  nRed: u32,
  rankOut: u32,
  rankRed: u32,
  scale: f32,
  _p0: u32,
  _p1: u32,
  _p2: u32,
  outShape: array<vec4u, 2>,
  outStr: array<vec4u, 2>,
  redShape: array<vec4u, 2>,
  redStr: array<vec4u, 2>,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;

fn dim(v: array<vec4u, 2>, d: u32) -> u32 {
  return v[d / 4u][d % 4u];
}

@compute @workgroup_size(WG)
fn sum_to(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let o = gid.x + gid.y * nwg.x * WG;
  if (o >= p.nOut) { return; }
  var rem = o;
  var base = 0u;
  for (var d = i32(p.rankOut) - 1; d >= 0; d--) {
    let s = dim(p.outShape, u32(d));
    base += (rem % s) * dim(p.outStr, u32(d));
    rem = rem / s;
  }
  var acc = 0.0;
  if (p.rankRed == 1u) {
    let st = dim(p.redStr, 0u);
    for (var r = 0u; r < p.nRed; r++) {
      acc += x[base + r * st];
    }
  } else {
    for (var r = 0u; r < p.nRed; r++) {
      var rr = r;
      var off = base;
      for (var d = i32(p.rankRed) - 1; d >= 0; d--) {
        let s = dim(p.redShape, u32(d));
        off += (rr % s) * dim(p.redStr, u32(d));
        rr = rr / s;
      }
      acc += x[off];
    }
  }
  y[o] = acc * p.scale;
}
