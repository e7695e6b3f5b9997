// Exact t-SNE (lib/eval/tsne.ts), as scikit-learn's TSNE(method="exact"): affinities by a
// per-point binary search on beta, then gradient descent on KL(P || Q) with a Student-t Q
// (one degree of freedom, 2-D points; a 1-D embedding keeps its second coordinate at 0).
//
// Layouts (f32; N points):
//   G [N, N] row-major: the Gram matrix of the centred data (from the engine's matmul);
//             norms [N]: its diagonal.
//   packed:   the N x N distance matrix D, later the affinities P, in tiles of 16 384 floats
//             (one 64 KiB uniform window each). Rows are grouped in blocks of R = p.rb
//             rows; a block's columns are cut into p.nt tiles of TW = p.tw columns
//             (R TW <= 16384, TW a multiple of 4); tile c of block b is window b p.nt + c and
//             holds vec4f (r, q) (row b R + r, columns c TW + 4 q .. + 3) at index q R + r,
//             so neighbouring rows are neighbouring vec4s (a window's last 4096 - R TW / 4
//             vec4s are unused). Entries outside the matrix and on the diagonal hold SENT in
//             D (exp(-(SENT - m) beta) = 0: they drop out of every sum) and 0 in P. D[i, j]
//             and D[j, i] come from the same G entry, so D and P are exactly symmetric.
//   rows [N] of 2 x vec4f: calibration state of row i: (beta, beta_min, beta_max, m),
//             (S, steps, done, H). beta_min < 0 stands for -inf, beta_max < 0 for +inf;
//             m = min over j != i of D[i, j] (< 0: not computed yet); S = sum over j != i of
//             exp(-(D[i, j] - m) beta) at the last evaluated beta; steps = steps evaluated;
//             done = 1 once converged or out of steps; H = the entropy (nats) at that beta.
//             cstate [N] vec4f: the compact (beta, m, S, 0) that tsne_affin reads.
//   Y [N] vec2f: the embedding (zero beyond N: the padding columns' points), read-write
//             in tsne_update; two points per vec4f in tsne_grad_s (storage) and in
//             tsne_grad_w (the uniform window y4, so N <= 8188 there).
//   opt [N] vec4f: (update.xy, gains.xy) of the optimiser.
//   part [chunks, N] vec4f: per (chunk c, row i) (A.xy, R.xy) with
//             A = exaggeration * sum_j p_ij num_ij (y_i - y_j), R = sum_j num_ij^2 (y_i - y_j),
//             num_ij = 1 / (1 + |y_i - y_j|^2), j over the chunk's columns;
//             zpart [chunks, N]: sum_{j != i} num_ij over the chunk. tsne_grad_w covers a
//             whole row (1 chunk), tsne_grad_s one tile per invocation (p.nt chunks).
//   zb [blocks]: sums of p.chunk consecutive zpart values; Z = sum of zb, in one fixed order
//             in every invocation (deterministic and identical in all of them).
//
// The conditional affinity of row i is c_ij = exp(-(D[i, j] - m_i) beta_i) / S_i: shifting
// by the row's smallest distance leaves c_ij and the entropy
// H = log S + beta sum_j (D[i, j] - m) c_ij unchanged and keeps S >= 1 (no underflow of the
// sum in f32).
//
// Two shapes of the heavy row walks: "_w" entries read the tiles of one row block (one
// dispatch per block, p.blk) through ten uniform window bindings w0..w9 (llvmpipe's uniform
// loads are ~13x cheaper than its storage loads, measured), so a block has p.nt <= 10
// tiles; "_s" entries read the packed buffer from storage (real GPUs), any p.nt. Both share
// the arithmetic (cal_term, min, quad); sums run per tile (vec4 lanes), then over tiles.
//
// Loop budget (LOOP_BUDGET in lib/tensor/launch.ts: llvmpipe silently ends an invocation's
// loops after ~65 535 iterations in all): a row walk costs ceil(N / 4) + 2 p.nt + a few
// iterations; tsne_cal_* runs one min walk and at most p.chunk steps (the host sizes
// p.chunk so that this fits: calibrationSteps in lib/eval/tsne.ts); tsne_grad_w walks one
// row (N <= 8188), tsne_grad_s one tile row (TW / 4); tsne_zsum sums p.chunk values (at
// most ~60 000); tsne_update walks the chunks and the blocks (<= 256).

override WG: u32 = 64u;
override KL: bool = false;
override MODE: u32 = 0u;
// float64 machine epsilon, scikit-learn's MACHINE_EPSILON floor (a normal f32 number)
const EPS: f32 = 2.220446049250313e-16;
const SENT: f32 = 3.0e38;

struct Params {
  n: u32,      // N
  count: u32,  // invocations of a 1-D dispatch
  chunk: u32,  // cal: steps per dispatch; zsum: values per block
  chunks: u32, // update: partial sums per row
  blocks: u32, // update: z blocks; zsum: blocks
  flag: u32,   // update: 1 = start of a phase; cal: max steps in all
  nt: u32,     // tiles per row block
  blk: u32,    // "_w" entries: the row block of this dispatch
  rb: u32,     // R: rows per block
  tw: u32,     // TW: columns per tile
  _p0: u32,
  _p1: u32,
  a: f32,      // grad: exaggeration; cal: log(perplexity); update: momentum
  b: f32,      // cal: tolerance; update: learning rate; affin: 2N
  c: f32,      // update: minimum gain
  _f0: f32,
}

@group(0) @binding(0) var<uniform> p: Params;

fn index(gid: vec3u, nwg: vec3u) -> u32 {
  return gid.x + gid.y * nwg.x * WG;
}

fn tw() -> u32 {
  return p.tw;
}

// vec4s of tile c of a row that hold columns < N
fn tile_nq(c: u32) -> u32 {
  return (min(tw(), p.n - c * tw()) + 3u) / 4u;
}

// ---- distances ---------------------------------------------------------------------------

@group(0) @binding(1) var<storage, read_write> gmat: array<f32>;
@group(0) @binding(2) var<storage, read_write> norms: array<f32>;

// norms[i] = G[i, i]
@compute @workgroup_size(WG)
fn tsne_norms(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = index(gid, nwg);
  if (i >= p.n) { return; }
  norms[i] = gmat[i * p.n + i];
}

@group(0) @binding(3) var<storage, read_write> packed: array<vec4f>;

// One invocation per packed vec4f (p.count): D[i, j] = max(|x_i|^2 + |x_j|^2 - 2 G[a, b], 0)
// with a = min(i, j), b = max(i, j); SENT on the diagonal and outside the matrix.
@compute @workgroup_size(WG)
fn tsne_pack_d(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let v = index(gid, nwg);
  if (v >= p.count) { return; }
  let w = v / 4096u;
  let e = v % 4096u;
  let i = (w / p.nt) * p.rb + e % p.rb;
  let j0 = (w % p.nt) * tw() + 4u * (e / p.rb);
  var out = vec4f(SENT);
  if (i < p.n && e < p.rb * (p.tw / 4u)) {
    let ni = norms[i];
    for (var l = 0u; l < 4u; l++) {
      let j = j0 + l;
      if (j < p.n && j != i) {
        let g = gmat[min(i, j) * p.n + max(i, j)];
        out[l] = max(ni + norms[j] - 2.0 * g, 0.0);
      }
    }
  }
  packed[v] = out;
}

// ---- perplexity calibration --------------------------------------------------------------

@group(0) @binding(2) var<storage, read_write> rows: array<vec4f>;

// rows[i] = (1, -1, -1, -1), (0, 0, 0, 0)
@compute @workgroup_size(WG)
fn tsne_rows_init(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = index(gid, nwg);
  if (i >= p.n) { return; }
  rows[2u * i] = vec4f(1.0, -1.0, -1.0, -1.0);
  rows[2u * i + 1u] = vec4f(0.0);
}

// exp(-(d - m) beta) and (d - m) exp(-(d - m) beta) of four distances into s, t
fn cal_term(s: ptr<function, vec4f>, t: ptr<function, vec4f>, dv: vec4f, m: f32, beta: f32) {
  let d = dv - vec4f(m);
  let e = exp(-d * beta);
  *s += e;
  *t += d * e;
}

fn hsum(v: vec4f) -> f32 {
  return (v.x + v.y) + (v.z + v.w);
}

fn hmin(v: vec4f) -> f32 {
  return min(min(v.x, v.y), min(v.z, v.w));
}

// One step of scikit-learn's binary search (_binary_search_perplexity) on the state
// (beta, bmin, bmax) of a row whose sums at beta are st: returns the new r1 (S, steps,
// done, H); moves beta unless done (converged: |H - log(perplexity)| <= tol; or out of
// steps, keeping the last evaluated beta, whose affinities scikit-learn returns).
fn cal_step(st: vec2f, r1: vec4f, beta: ptr<function, f32>, bmin: ptr<function, f32>,
            bmax: ptr<function, f32>) -> vec4f {
  let h = log(st.x) + *beta * st.y / st.x;
  var o = vec4f(st.x, r1.y + 1.0, 0.0, h);
  let diff = h - p.a;
  if (abs(diff) <= p.b || o.y >= f32(p.flag)) {
    o.z = 1.0;
    return o;
  }
  if (diff > 0.0) {
    *bmin = *beta;
    *beta = select((*beta + *bmax) * 0.5, *beta * 2.0, *bmax < 0.0);
  } else {
    *bmax = *beta;
    *beta = select((*beta + *bmin) * 0.5, *beta * 0.5, *bmin < 0.0);
  }
  return o;
}

@group(0) @binding(4) var<uniform> w0: array<vec4f, 4096>;
@group(0) @binding(5) var<uniform> w1: array<vec4f, 4096>;
@group(0) @binding(6) var<uniform> w2: array<vec4f, 4096>;
@group(0) @binding(7) var<uniform> w3: array<vec4f, 4096>;
@group(0) @binding(8) var<uniform> w4: array<vec4f, 4096>;
@group(0) @binding(9) var<uniform> w5: array<vec4f, 4096>;
@group(0) @binding(10) var<uniform> w6: array<vec4f, 4096>;
@group(0) @binding(11) var<uniform> w7: array<vec4f, 4096>;
@group(0) @binding(12) var<uniform> w8: array<vec4f, 4096>;
@group(0) @binding(13) var<uniform> w9: array<vec4f, 4096>;

// min of row r's distances in tiles 0 .. p.nt - 1 of the bound windows
fn row_min_w(r: u32) -> f32 {
  var m = vec4f(SENT);
  for (var c = 0u; c < p.nt; c++) {
    let nq = tile_nq(c);
    switch c {
      case 0u: {
        for (var q = 0u; q < nq; q++) { m = min(m, w0[q * p.rb + r]); }
      }
      case 1u: {
        for (var q = 0u; q < nq; q++) { m = min(m, w1[q * p.rb + r]); }
      }
      case 2u: {
        for (var q = 0u; q < nq; q++) { m = min(m, w2[q * p.rb + r]); }
      }
      case 3u: {
        for (var q = 0u; q < nq; q++) { m = min(m, w3[q * p.rb + r]); }
      }
      case 4u: {
        for (var q = 0u; q < nq; q++) { m = min(m, w4[q * p.rb + r]); }
      }
      case 5u: {
        for (var q = 0u; q < nq; q++) { m = min(m, w5[q * p.rb + r]); }
      }
      case 6u: {
        for (var q = 0u; q < nq; q++) { m = min(m, w6[q * p.rb + r]); }
      }
      case 7u: {
        for (var q = 0u; q < nq; q++) { m = min(m, w7[q * p.rb + r]); }
      }
      case 8u: {
        for (var q = 0u; q < nq; q++) { m = min(m, w8[q * p.rb + r]); }
      }
      default: {
        for (var q = 0u; q < nq; q++) { m = min(m, w9[q * p.rb + r]); }
      }
    }
  }
  return hmin(m);
}

// (S, T) = sums of exp(-(d - m) beta) and (d - m) exp(-(d - m) beta) over row r (windows)
fn row_sums_w(r: u32, m: f32, beta: f32) -> vec2f {
  var tot = vec2f(0.0);
  for (var c = 0u; c < p.nt; c++) {
    let nq = tile_nq(c);
    var s = vec4f(0.0);
    var t = vec4f(0.0);
    switch c {
      case 0u: {
        for (var q = 0u; q < nq; q++) { cal_term(&s, &t, w0[q * p.rb + r], m, beta); }
      }
      case 1u: {
        for (var q = 0u; q < nq; q++) { cal_term(&s, &t, w1[q * p.rb + r], m, beta); }
      }
      case 2u: {
        for (var q = 0u; q < nq; q++) { cal_term(&s, &t, w2[q * p.rb + r], m, beta); }
      }
      case 3u: {
        for (var q = 0u; q < nq; q++) { cal_term(&s, &t, w3[q * p.rb + r], m, beta); }
      }
      case 4u: {
        for (var q = 0u; q < nq; q++) { cal_term(&s, &t, w4[q * p.rb + r], m, beta); }
      }
      case 5u: {
        for (var q = 0u; q < nq; q++) { cal_term(&s, &t, w5[q * p.rb + r], m, beta); }
      }
      case 6u: {
        for (var q = 0u; q < nq; q++) { cal_term(&s, &t, w6[q * p.rb + r], m, beta); }
      }
      case 7u: {
        for (var q = 0u; q < nq; q++) { cal_term(&s, &t, w7[q * p.rb + r], m, beta); }
      }
      case 8u: {
        for (var q = 0u; q < nq; q++) { cal_term(&s, &t, w8[q * p.rb + r], m, beta); }
      }
      default: {
        for (var q = 0u; q < nq; q++) { cal_term(&s, &t, w9[q * p.rb + r], m, beta); }
      }
    }
    tot += vec2f(hsum(s), hsum(t));
  }
  return tot;
}

// Up to p.chunk binary-search steps for each row of block p.blk not yet done (windows);
// the row minimum m first if not computed yet. One invocation per row of the block.
@compute @workgroup_size(WG)
fn tsne_cal_w(@builtin(global_invocation_id) gid: vec3u) {
  let r = gid.x;
  let i = p.blk * p.rb + r;
  if (r >= p.rb || i >= p.n) { return; }
  var r0 = rows[2u * i];
  var r1 = rows[2u * i + 1u];
  if (r1.z != 0.0) { return; }
  if (r0.w < 0.0) { r0.w = row_min_w(r); }
  var beta = r0.x;
  var bmin = r0.y;
  var bmax = r0.z;
  for (var s = 0u; s < p.chunk; s++) {
    r1 = cal_step(row_sums_w(r, r0.w, beta), r1, &beta, &bmin, &bmax);
    if (r1.z != 0.0) { break; }
  }
  rows[2u * i] = vec4f(beta, bmin, bmax, r0.w);
  rows[2u * i + 1u] = r1;
}

@group(0) @binding(4) var<storage, read> pk: array<vec4f>;

// As tsne_cal_w for every row (one invocation each), reading the packed tiles from storage.
@compute @workgroup_size(WG)
fn tsne_cal_s(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = index(gid, nwg);
  if (i >= p.n) { return; }
  var r0 = rows[2u * i];
  var r1 = rows[2u * i + 1u];
  if (r1.z != 0.0) { return; }
  let r = i % p.rb;
  let base = (i / p.rb) * p.nt * 4096u + r;
  if (r0.w < 0.0) {
    var m = vec4f(SENT);
    for (var c = 0u; c < p.nt; c++) {
      let nq = tile_nq(c);
      for (var q = 0u; q < nq; q++) { m = min(m, pk[base + c * 4096u + q * p.rb]); }
    }
    r0.w = hmin(m);
  }
  var beta = r0.x;
  var bmin = r0.y;
  var bmax = r0.z;
  for (var s = 0u; s < p.chunk; s++) {
    var st = vec2f(0.0);
    for (var c = 0u; c < p.nt; c++) {
      let nq = tile_nq(c);
      var s4 = vec4f(0.0);
      var t4 = vec4f(0.0);
      for (var q = 0u; q < nq; q++) {
        cal_term(&s4, &t4, pk[base + c * 4096u + q * p.rb], r0.w, beta);
      }
      st += vec2f(hsum(s4), hsum(t4));
    }
    r1 = cal_step(st, r1, &beta, &bmin, &bmax);
    if (r1.z != 0.0) { break; }
  }
  rows[2u * i] = vec4f(beta, bmin, bmax, r0.w);
  rows[2u * i + 1u] = r1;
}

// ---- affinities --------------------------------------------------------------------------

@group(0) @binding(3) var<storage, read_write> cstate: array<vec4f>;

// cstate[i] = (beta, m, S, 0) of row i: the compact state tsne_affin reads
@compute @workgroup_size(WG)
fn tsne_states(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = index(gid, nwg);
  if (i >= p.n) { return; }
  let r0 = rows[2u * i];
  cstate[i] = vec4f(r0.x, r0.w, rows[2u * i + 1u].x, 0.0);
}

@group(0) @binding(1) var<storage, read_write> dp: array<vec4f>;
@group(0) @binding(2) var<storage, read> cs: array<vec4f>;

// c_ij from the compact state s = (beta, m, S) of row i and d = D[i, j]
fn cond(s: vec4f, d: f32) -> f32 {
  return exp(-(d - s.y) * s.x) / s.z;
}

// In place on the packed tiles, one invocation per vec4f (p.count): D -> P.
// MODE 0: the joint P[i, j] = max((c_ij + c_ji) / 2N, EPS) (p.b = 2N);
// MODE 1: the conditional c_ij. 0 on the diagonal and outside the matrix.
@compute @workgroup_size(WG)
fn tsne_affin(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let v = index(gid, nwg);
  if (v >= p.count) { return; }
  let w = v / 4096u;
  let e = v % 4096u;
  let i = (w / p.nt) * p.rb + e % p.rb;
  let j0 = (w % p.nt) * tw() + 4u * (e / p.rb);
  var out = vec4f(0.0);
  if (i < p.n && e < p.rb * (p.tw / 4u)) {
    let dv = dp[v];
    let si = cs[i];
    for (var l = 0u; l < 4u; l++) {
      let j = j0 + l;
      if (j < p.n && j != i) {
        if (MODE == 0u) {
          out[l] = max((cond(si, dv[l]) + cond(cs[j], dv[l])) / p.b, EPS);
        } else {
          out[l] = cond(si, dv[l]);
        }
      }
    }
  }
  dp[v] = out;
}

// ---- gradient (and KL) -------------------------------------------------------------------
//
// The gradient kernels write the partial sums of the header's part / zpart. With KL = true
// they write instead part[k].x = sum p_ij log(p_ij Z (1 + |y_i - y_j|^2)) = sum p log(p / q)
// over the same columns (j != i), p_ij = exaggeration x P[i, j], q_ij = num_ij / Z, with Z
// from the blocks zk of the gradient pass just before (p.blocks of them); the ratio p / q
// is formed before the log, so no large logs cancel. scikit-learn floors q at EPS; that
// binds only where num / Z < 2.2e-16, a negligible term, and is dropped here.

@group(0) @binding(14) var<storage, read> zk: array<f32>;
var<private> ztot: f32;

// Z for the KL terms (p.blocks = 0 in gradient passes: 0)
fn kl_z() {
  var z = 0.0;
  for (var b = 0u; b < p.blocks; b++) { z += zk[b]; }
  ztot = z;
}

struct Acc {
  a: vec2f,
  r: vec2f,
  z: f32,
}

// Four columns at once: their points u0.xy, u0.zw, u1.xy, u1.zw and affinities pv.
fn quad(acc: Acc, yi: vec2f, u0: vec4f, u1: vec4f, pv: vec4f) -> Acc {
  let d0 = yi - u0.xy;
  let d1 = yi - u0.zw;
  let d2 = yi - u1.xy;
  let d3 = yi - u1.zw;
  let s = vec4f(1.0) + vec4f(dot(d0, d0), dot(d1, d1), dot(d2, d2), dot(d3, d3));
  if (KL) {
    let pe = pv * p.a;
    let l = select(vec4f(0.0), pe * log(pe * s * ztot), pe > vec4f(0.0));
    return Acc(acc.a + vec2f(hsum(l), hsum(pe)), acc.r, acc.z);
  } else {
    let num = 1.0 / s;
    let pn = pv * num;
    let n2 = num * num;
    return Acc(
      acc.a + ((pn.x * d0 + pn.y * d1) + (pn.z * d2 + pn.w * d3)),
      acc.r + ((n2.x * d0 + n2.y * d1) + (n2.z * d2 + n2.w * d3)),
      acc.z + hsum(num),
    );
  }
}

@group(0) @binding(2) var<storage, read_write> part: array<vec4f>;
@group(0) @binding(3) var<storage, read_write> zpart: array<f32>;

// Row i's sums over columns [c0, c0 + valid) were taken in whole vec4s, the padding columns
// (Y zero there, P zero) included: take out their num and the diagonal's (num 1, zero
// difference), then store.
fn finish(k: u32, i: u32, yi: vec2f, c0: u32, valid: u32, acc: Acc) {
  if (KL) {
    part[k] = vec4f(acc.a, 0.0, 0.0);
    return;
  }
  var z = acc.z;
  if (i >= c0 && i < c0 + valid) { z -= 1.0; }
  let pad = f32(4u * ((valid + 3u) / 4u) - valid);
  let n0 = 1.0 / (1.0 + dot(yi, yi));
  part[k] = vec4f(acc.a * p.a, acc.r - (pad * n0 * n0) * yi);
  zpart[k] = z - pad * n0;
}

@group(0) @binding(1) var<uniform> y4: array<vec4f, 4096>;

// rows per tsne_grad_w invocation (1, 2 or 4): rows u + m R / K, m < K, share each Y load
override K: u32 = 1u;

// the sums of an invocation's rows (a1..a3 unused when K is smaller)
struct Accs {
  a0: Acc,
  a1: Acc,
  a2: Acc,
  a3: Acc,
}

fn acc_sum(a: Acc, b: Acc) -> Acc {
  return Acc(a.a + b.a, a.r + b.r, a.z + b.z);
}

// quad() for the invocation's K rows (points yk): the four columns whose points are
// y4[yq], y4[yq + 1], with the rows' affinities p0..p3 (those of rows m >= K are not used)
fn quads(t: Accs, yk: array<vec2f, 4>, yq: u32, p0: vec4f, p1: vec4f, p2: vec4f,
         p3: vec4f) -> Accs {
  let u0 = y4[yq];
  let u1 = y4[yq + 1u];
  var o = t;
  o.a0 = quad(o.a0, yk[0], u0, u1, p0);
  if (K > 1u) { o.a1 = quad(o.a1, yk[1], u0, u1, p1); }
  if (K > 2u) {
    o.a2 = quad(o.a2, yk[2], u0, u1, p2);
    o.a3 = quad(o.a3, yk[3], u0, u1, p3);
  }
  return o;
}

// the point of row i (rows past N, which an invocation of the last block may name, read
// row N - 1's and are never stored)
fn y_of(row: u32) -> vec2f {
  let i = min(row, p.n - 1u);
  let v = y4[i >> 1u];
  return select(v.xy, v.zw, (i & 1u) != 0u);
}

// Software adapter: one dispatch per row block p.blk, one invocation per K rows: their sums
// over all columns (tiles through w0..w9, Y through y4), one partial per row (chunks = 1).
@compute @workgroup_size(WG)
fn tsne_grad_w(@builtin(global_invocation_id) gid: vec3u) {
  let u = gid.x;
  let s = p.rb / K; // row stride between an invocation's rows
  if (u >= s) { return; }
  kl_z();
  let o1 = (1u % K) * s;
  let o2 = (2u % K) * s;
  let o3 = (3u % K) * s;
  let i0 = p.blk * p.rb + u;
  let yk = array(y_of(i0), y_of(i0 + o1), y_of(i0 + o2), y_of(i0 + o3));
  let zero = Acc(vec2f(0.0), vec2f(0.0), 0.0);
  var tot = Accs(zero, zero, zero, zero);
  for (var c = 0u; c < p.nt; c++) {
    let nq = tile_nq(c);
    let y0 = c * (tw() / 2u); // y4 index of the tile's first column
    var t = Accs(zero, zero, zero, zero);
    switch c {
      case 0u: {
        for (var q = 0u; q < nq; q++) {
          let o = q * p.rb + u;
          t = quads(t, yk, y0 + 2u * q, w0[o], w0[o + o1], w0[o + o2], w0[o + o3]);
        }
      }
      case 1u: {
        for (var q = 0u; q < nq; q++) {
          let o = q * p.rb + u;
          t = quads(t, yk, y0 + 2u * q, w1[o], w1[o + o1], w1[o + o2], w1[o + o3]);
        }
      }
      case 2u: {
        for (var q = 0u; q < nq; q++) {
          let o = q * p.rb + u;
          t = quads(t, yk, y0 + 2u * q, w2[o], w2[o + o1], w2[o + o2], w2[o + o3]);
        }
      }
      case 3u: {
        for (var q = 0u; q < nq; q++) {
          let o = q * p.rb + u;
          t = quads(t, yk, y0 + 2u * q, w3[o], w3[o + o1], w3[o + o2], w3[o + o3]);
        }
      }
      case 4u: {
        for (var q = 0u; q < nq; q++) {
          let o = q * p.rb + u;
          t = quads(t, yk, y0 + 2u * q, w4[o], w4[o + o1], w4[o + o2], w4[o + o3]);
        }
      }
      case 5u: {
        for (var q = 0u; q < nq; q++) {
          let o = q * p.rb + u;
          t = quads(t, yk, y0 + 2u * q, w5[o], w5[o + o1], w5[o + o2], w5[o + o3]);
        }
      }
      case 6u: {
        for (var q = 0u; q < nq; q++) {
          let o = q * p.rb + u;
          t = quads(t, yk, y0 + 2u * q, w6[o], w6[o + o1], w6[o + o2], w6[o + o3]);
        }
      }
      case 7u: {
        for (var q = 0u; q < nq; q++) {
          let o = q * p.rb + u;
          t = quads(t, yk, y0 + 2u * q, w7[o], w7[o + o1], w7[o + o2], w7[o + o3]);
        }
      }
      case 8u: {
        for (var q = 0u; q < nq; q++) {
          let o = q * p.rb + u;
          t = quads(t, yk, y0 + 2u * q, w8[o], w8[o + o1], w8[o + o2], w8[o + o3]);
        }
      }
      default: {
        for (var q = 0u; q < nq; q++) {
          let o = q * p.rb + u;
          t = quads(t, yk, y0 + 2u * q, w9[o], w9[o + o1], w9[o + o2], w9[o + o3]);
        }
      }
    }
    tot = Accs(acc_sum(tot.a0, t.a0), acc_sum(tot.a1, t.a1), acc_sum(tot.a2, t.a2),
               acc_sum(tot.a3, t.a3));
  }
  if (i0 < p.n) { finish(i0, i0, yk[0], 0u, p.n, tot.a0); }
  if (K > 1u && i0 + s < p.n) { finish(i0 + s, i0 + s, yk[1], 0u, p.n, tot.a1); }
  if (K > 2u && i0 + 2u * s < p.n) { finish(i0 + 2u * s, i0 + 2u * s, yk[2], 0u, p.n, tot.a2); }
  if (K > 2u && i0 + 3u * s < p.n) { finish(i0 + 3u * s, i0 + 3u * s, yk[3], 0u, p.n, tot.a3); }
}

@group(0) @binding(5) var<storage, read> ys: array<vec4f>;

// GPU: one invocation per (tile c, row i), i fastest (p.count = p.nt N), P from storage
// (neighbouring rows read neighbouring vec4s), Y from storage (two points per vec4f).
@compute @workgroup_size(WG)
fn tsne_grad_s(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let k = index(gid, nwg);
  if (k >= p.count) { return; }
  let c = k / p.n;
  kl_z();
  let i = k - c * p.n;
  let yv = ys[i >> 1u];
  let yi = select(yv.xy, yv.zw, (i & 1u) != 0u);
  let nq = tile_nq(c);
  let y0 = c * (tw() / 2u);
  let base = ((i / p.rb) * p.nt + c) * 4096u + i % p.rb;
  var a = Acc(vec2f(0.0), vec2f(0.0), 0.0);
  for (var q = 0u; q < nq; q++) {
    a = quad(a, yi, ys[y0 + 2u * q], ys[y0 + 2u * q + 1u], pk[base + q * p.rb]);
  }
  finish(k, i, yi, c * tw(), min(tw(), p.n - c * tw()), a);
}

// ---- Z and the update --------------------------------------------------------------------

@group(0) @binding(1) var<storage, read> zin: array<f32>;
@group(0) @binding(2) var<storage, read_write> zb: array<f32>;

// zb[b] = sum of zin[b p.chunk .. (b + 1) p.chunk) (p.count values, p.blocks blocks)
@compute @workgroup_size(WG)
fn tsne_zsum(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let b = index(gid, nwg);
  if (b >= p.blocks) { return; }
  let lo = b * p.chunk;
  let hi = min(lo + p.chunk, p.count);
  var tot = 0.0;
  for (var j0 = lo; j0 < hi; j0 += 64u) {
    let j1 = min(j0 + 64u, hi);
    var s = 0.0;
    for (var j = j0; j < j1; j++) { s += zin[j]; }
    tot += s;
  }
  zb[b] = tot;
}

@group(0) @binding(1) var<storage, read> zbr: array<f32>;
@group(0) @binding(2) var<storage, read> partr: array<vec4f>;
@group(0) @binding(3) var<storage, read_write> yw: array<vec2f>;
@group(0) @binding(4) var<storage, read_write> opt: array<vec4f>;

// One invocation per point: grad = 4 (A - R / Z), then scikit-learn's _gradient_descent:
// gains += 0.2 where update * grad < 0, else gains *= 0.8, gains >= p.c;
// update = momentum (p.a) update - lr (p.b) gains grad; y += update. p.flag = 1 starts a
// phase (update 0, gains 1), as each of scikit-learn's two _gradient_descent calls does.
@compute @workgroup_size(WG)
fn tsne_update(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = index(gid, nwg);
  if (i >= p.n) { return; }
  var z = 0.0;
  for (var b = 0u; b < p.blocks; b++) { z += zbr[b]; }
  var A = vec2f(0.0);
  var Rs = vec2f(0.0);
  for (var c = 0u; c < p.chunks; c++) {
    let v = partr[c * p.n + i];
    A += v.xy;
    Rs += v.zw;
  }
  let grad = 4.0 * (A - Rs / z);
  var o = opt[i];
  if (p.flag != 0u) { o = vec4f(0.0, 0.0, 1.0, 1.0); }
  let inc = o.xy * grad < vec2f(0.0);
  let gains = max(select(o.zw * 0.8, o.zw + 0.2, inc), vec2f(p.c));
  let upd = p.a * o.xy - p.b * (gains * grad);
  yw[i] = yw[i] + upd;
  opt[i] = vec4f(upd, gains);
}
