// Elementwise kernels: broadcasting binary ops, unary ops with their backward, fill.
//
// Layout: all tensors are contiguous row-major f32. Binary ops read `a` and `b` through
// per-dimension strides aligned to the output shape (stride 0 on broadcast dimensions),
// MODE 1; the host merges adjacent dimensions first. Common cases skip the stride walk:
// MODE 0 both have the output's shape; MODE 2 b is a trailing block (a bias: b[i % nb]);
// MODE 3 a is a trailing block; MODE 4 b is a leading block (a per-sample mask:
// b[i / (n / nb)]); MODE 5 a is a leading block. p.alpha carries nb or na as a float-free u32
// in `inner` (see Params).
// Bounds: one invocation per output element, i < p.n; the 1-D index is spread over a
// 2-D grid (gid.x + gid.y * num_workgroups.x * WG) to stay under 65 535 groups.
// OP (override) selects the function; the compiler folds the switch.
// *4 entries (binary4, unary4, unary_backward4, residual4): the same ops on vec4s, one
// invocation per 4 elements, i < p.n / 4, for n % 4 == 0 and (modes 2-5) inner % 4 == 0;
// llvmpipe pays per load/store instruction, so a vec4 costs little more than a float.

override WG: u32 = 256u;
override OP: u32 = 0u;
override MODE: u32 = 0u;
override RANK: u32 = 0u; // 1..8: the stride walk's rank, known when compiling (0: p.rank)

struct Params {
  n: u32,
  rank: u32,
  alpha: f32,
  beta: f32,
  inner: u32, // MODE 2/3: size of the trailing block; MODE 4/5: n / size of the leading block
  _p0: u32,
  _p1: u32,
  _p2: u32,
  shape: array<vec4u, 2>,
  sa: array<vec4u, 2>,
  sb: array<vec4u, 2>,
}

@group(0) @binding(0) var<uniform> p: Params;

fn index(gid: vec3u, nwg: vec3u) -> u32 {
  return gid.x + gid.y * nwg.x * WG;
}

fn dim(v: array<vec4u, 2>, d: u32) -> u32 {
  return v[d / 4u][d % 4u];
}

// offsets of output element i in a and b; RANK > 0 fixes the rank at compile time, so the
// walk unrolls and its shape and stride loads have constant offsets
fn offsets(i: u32) -> vec2u {
  let rank = select(p.rank, RANK, RANK > 0u);
  var rem = i;
  var oa = 0u;
  var ob = 0u;
  for (var k = 1u; k <= rank; k++) {
    let d = rank - k;
    let s = dim(p.shape, d);
    let q = rem / s;
    let c = rem - q * s;
    rem = q;
    oa += c * dim(p.sa, d);
    ob += c * dim(p.sb, d);
  }
  return vec2u(oa, ob);
}

// erf, Abramowitz & Stegun 7.1.26 (|error| < 1.5e-7)
fn erf_(x: f32) -> f32 {
  let t = 1.0 / (1.0 + 0.3275911 * abs(x));
  let y = 1.0 - (((((1.061405429 * t - 1.453152027) * t) + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t * exp(-x * x);
  return select(-y, y, x >= 0.0);
}

// ---- binary: out = a OP b, with broadcasting
// OP: 0 add, 1 sub, 2 mul, 3 div, 4 maximum, 5 minimum
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;

fn binop(x: f32, y: f32) -> f32 {
  switch OP {
    case 0u: { return x + y; }
    case 1u: { return x - y; }
    case 2u: { return x * y; }
    case 3u: { return x / y; }
    case 4u: { return max(x, y); }
    default: { return min(x, y); }
  }
}

@compute @workgroup_size(WG)
fn binary(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = index(gid, nwg);
  if (i >= p.n) { return; }
  switch MODE {
    case 0u: { out[i] = binop(a[i], b[i]); }
    case 2u: { out[i] = binop(a[i], b[i % p.inner]); }
    case 3u: { out[i] = binop(a[i % p.inner], b[i]); }
    case 4u: { out[i] = binop(a[i], b[i / p.inner]); }
    case 5u: { out[i] = binop(a[i / p.inner], b[i]); }
    default: {
      let o = offsets(i);
      out[i] = binop(a[o.x], b[o.y]);
    }
  }
}

// ---- maximum/minimum backward: the full-shape gradients of a and b (ties split in half,
// as PyTorch does). OP 4 maximum, 5 minimum. Bindings: g, a, b (read), ga, gb (write).
@group(0) @binding(1) var<storage, read> mg: array<f32>;
@group(0) @binding(2) var<storage, read> ma: array<f32>;
@group(0) @binding(3) var<storage, read> mb: array<f32>;
@group(0) @binding(4) var<storage, read_write> mga: array<f32>;
@group(0) @binding(5) var<storage, read_write> mgb: array<f32>;

@compute @workgroup_size(WG)
fn minmax_backward(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = index(gid, nwg);
  if (i >= p.n) { return; }
  let o = offsets(i);
  let x = ma[o.x];
  let y = mb[o.y];
  let g = mg[i];
  var wa = select(0.0, 1.0, x > y);
  if (OP == 5u) { wa = select(0.0, 1.0, x < y); }
  if (x == y) { wa = 0.5; }
  mga[i] = g * wa;
  mgb[i] = g * (1.0 - wa);
}

// ---- unary: out = f(x); alpha and beta are op scalars
// OP: 0 neg, 1 exp, 2 log, 3 sqrt, 4 rsqrt, 5 pow(alpha), 6 abs, 7 clamp(alpha, beta),
//     8 gelu (exact, erf), 9 relu, 10 x + alpha, 11 x * alpha, 12 alpha - x, 13 alpha / x
@group(0) @binding(1) var<storage, read> ux: array<f32>;
@group(0) @binding(2) var<storage, read_write> uy: array<f32>;

fn unop(x: f32) -> f32 {
  switch OP {
    case 0u: { return -x; }
    case 1u: { return exp(x); }
    case 2u: { return log(x); }
    case 3u: { return sqrt(x); }
    case 4u: { return inverseSqrt(x); }
    case 5u: {
      // pow for negative bases with integer exponents, like PyTorch
      if (x < 0.0 && round(p.alpha) == p.alpha) {
        let m = pow(-x, p.alpha);
        return select(m, -m, (i32(p.alpha) & 1) == 1);
      }
      if (x == 0.0 && p.alpha == 0.0) { return 1.0; }
      return pow(x, p.alpha);
    }
    case 6u: { return abs(x); }
    case 7u: { return clamp(x, p.alpha, p.beta); }
    case 8u: { return 0.5 * x * (1.0 + erf_(x * 0.70710678118654752)); }
    case 9u: { return max(x, 0.0); }
    case 10u: { return x + p.alpha; }
    case 11u: { return x * p.alpha; }
    case 12u: { return p.alpha - x; }
    default: { return p.alpha / x; }
  }
}

@compute @workgroup_size(WG)
fn unary(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = index(gid, nwg);
  if (i >= p.n) { return; }
  uy[i] = unop(ux[i]);
}

// ---- unary backward: dx = g * f'(x), with y = f(x) available. Bindings: g, x, y (read), dx.
@group(0) @binding(1) var<storage, read> bg: array<f32>;
@group(0) @binding(2) var<storage, read> bx: array<f32>;
@group(0) @binding(3) var<storage, read> by: array<f32>;
@group(0) @binding(4) var<storage, read_write> bdx: array<f32>;

fn dunop(x: f32, y: f32) -> f32 {
  switch OP {
    case 0u: { return -1.0; }
    case 1u: { return y; }
    case 2u: { return 1.0 / x; }
    case 3u: { return 0.5 / y; }
    case 4u: { return -0.5 * y * y * y; }
    case 5u: {
      if (p.alpha == 0.0) { return 0.0; }
      if (p.alpha == 1.0) { return 1.0; }
      if (x < 0.0 && round(p.alpha) == p.alpha) {
        let m = p.alpha * pow(-x, p.alpha - 1.0);
        return select(-m, m, (i32(p.alpha) & 1) == 1);
      }
      return p.alpha * pow(x, p.alpha - 1.0);
    }
    case 6u: { return sign(x); }
    case 7u: { return select(0.0, 1.0, x >= p.alpha && x <= p.beta); }
    case 8u: {
      let cdf = 0.5 * (1.0 + erf_(x * 0.70710678118654752));
      return cdf + x * 0.3989422804014327 * exp(-0.5 * x * x);
    }
    case 9u: { return select(0.0, 1.0, x > 0.0); }
    case 10u: { return 1.0; }
    case 11u: { return p.alpha; }
    case 12u: { return -1.0; }
    default: { return -y / x; }
  }
}

@compute @workgroup_size(WG)
fn unary_backward(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = index(gid, nwg);
  if (i >= p.n) { return; }
  bdx[i] = bg[i] * dunop(bx[i], by[i]);
}

// ---- fill: every element = bits (the value's f32 or i32 bit pattern)
@group(0) @binding(1) var<storage, read_write> fo: array<u32>;

@compute @workgroup_size(WG)
fn fill(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = index(gid, nwg);
  if (i >= p.n) { return; }
  fo[i] = bitcast<u32>(p.alpha);
}

// ---- expand: out[i] = alpha * x[offset of i through strides sa] (broadcast copy)
@group(0) @binding(1) var<storage, read> ex: array<f32>;
@group(0) @binding(2) var<storage, read_write> eo: array<f32>;

@compute @workgroup_size(WG)
fn expand(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = index(gid, nwg);
  if (i >= p.n) { return; }
  eo[i] = p.alpha * ex[offsets(i).x];
}

// ---- residual with a per-sample scale (stochastic depth): out[i] = x[i] + s[i / inner] * y[i]
@group(0) @binding(1) var<storage, read> rx: array<f32>;
@group(0) @binding(2) var<storage, read> ry: array<f32>;
@group(0) @binding(3) var<storage, read> rs: array<f32>;
@group(0) @binding(4) var<storage, read_write> ro: array<f32>;

@compute @workgroup_size(WG)
fn residual(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = index(gid, nwg);
  if (i >= p.n) { return; }
  ro[i] = rx[i] + rs[i / p.inner] * ry[i];
}

// ---- vec4 forms (see the header): bindings as their scalar forms, viewed as vec4
@group(0) @binding(1) var<storage, read> a4: array<vec4f>;
@group(0) @binding(2) var<storage, read> b4: array<vec4f>;
@group(0) @binding(3) var<storage, read_write> out4: array<vec4f>;

// per component (llvmpipe keeps vec4 components in separate SIMD registers anyway)
fn binop4(x: vec4f, y: vec4f) -> vec4f {
  return vec4f(binop(x.x, y.x), binop(x.y, y.y), binop(x.z, y.z), binop(x.w, y.w));
}

// a vec4 of a per-sample operand: element 4i's block index, all four share it (inner % 4 == 0)
fn lead4(v: vec4f, i: u32) -> f32 {
  return v[(4u * i / p.inner) % 4u];
}

@compute @workgroup_size(WG)
fn binary4(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = index(gid, nwg);
  if (i >= p.n / 4u) { return; }
  switch MODE {
    case 2u: { out4[i] = binop4(a4[i], b4[i % (p.inner / 4u)]); }
    case 3u: { out4[i] = binop4(a4[i % (p.inner / 4u)], b4[i]); }
    case 4u: { out4[i] = binop4(a4[i], vec4f(lead4(b4[4u * i / p.inner / 4u], i))); }
    case 5u: { out4[i] = binop4(vec4f(lead4(a4[4u * i / p.inner / 4u], i)), b4[i]); }
    default: { out4[i] = binop4(a4[i], b4[i]); }
  }
}

@group(0) @binding(1) var<storage, read> ux4: array<vec4f>;
@group(0) @binding(2) var<storage, read_write> uy4: array<vec4f>;

@compute @workgroup_size(WG)
fn unary4(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = index(gid, nwg);
  if (i >= p.n / 4u) { return; }
  let x = ux4[i];
  uy4[i] = vec4f(unop(x.x), unop(x.y), unop(x.z), unop(x.w));
}

@group(0) @binding(1) var<storage, read> bg4: array<vec4f>;
@group(0) @binding(2) var<storage, read> bx4: array<vec4f>;
@group(0) @binding(3) var<storage, read> by4: array<vec4f>;
@group(0) @binding(4) var<storage, read_write> bdx4: array<vec4f>;

@compute @workgroup_size(WG)
fn unary_backward4(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = index(gid, nwg);
  if (i >= p.n / 4u) { return; }
  let x = bx4[i];
  let y = by4[i];
  let d = vec4f(dunop(x.x, y.x), dunop(x.y, y.y), dunop(x.z, y.z), dunop(x.w, y.w));
  bdx4[i] = bg4[i] * d;
}

@group(0) @binding(1) var<storage, read> rx4: array<vec4f>;
@group(0) @binding(2) var<storage, read> ry4: array<vec4f>;
@group(0) @binding(3) var<storage, read> rs4: array<f32>;
@group(0) @binding(4) var<storage, read_write> ro4: array<vec4f>;

@compute @workgroup_size(WG)
fn residual4(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = index(gid, nwg);
  if (i >= p.n / 4u) { return; }
  ro4[i] = rx4[i] + rs4[4u * i / p.inner] * ry4[i];
}
