// Row indexing kernels: gather rows (indexSelect), its deterministic scatter-add
// backward, functional and in-place row writes, and top-k along the last axis.
//
// Layout: a "row tensor" is contiguous row-major [R, C] (C = product of the trailing
// dims); elements are 32-bit words (array<u32>) where only copies happen, so f32 and
// i32 rows move bit for bit; array<f32> where gradients are summed. Indices are i32.
// Bounds: one invocation per output element unless stated; the 1-D index is spread
// over a 2-D grid (gid.x + gid.y * num_workgroups.x * WG).
//
// Repeated indices. WGSL has no float atomics, so the scatter-add of indexSelect's
// backward goes through a CSR table built by `csr` (one invocation, O(R + M),
// deterministic): row r's positions m, in increasing m, are order[off[r] .. off[r + 1]).
// The gradient kernel sums in that fixed order, so results are bit-identical run to run.
// Row writes need only the last position naming each row ("last write wins"):
// `last_rows` builds last[r] = 1 + max m with idx[m] == r (0: none) with integer
// atomicMax, in parallel (integer atomics give the same table whatever the order), and
// last[R] != 0 flags an out-of-range index.
//
// Out-of-range indices are never clamped: a gathered row becomes `bad` (NaN for f32,
// i32 min for i32); scatter_rows with any bad index makes its whole output `bad`, and
// write_rows_at writes `bad` rows instead of the source rows.

override WG: u32 = 256u;

struct Params {
  n: u32,      // invocations
  rows: u32,   // R: rows of the indexed tensor
  cols: u32,   // C: words per row
  m: u32,      // M: number of indices (or of source rows)
  start: u32,  // writeRows_: first target row
  bad: u32,    // bit pattern written for out-of-range indices
  _p0: u32,
  _p1: u32,
}

@group(0) @binding(0) var<uniform> p: Params;

fn index(gid: vec3u, nwg: vec3u) -> u32 {
  return gid.x + gid.y * nwg.x * WG;
}

fn valid(r: i32) -> bool {
  return r >= 0 && u32(r) < p.rows;
}

// ---- gather_rows: out[m, c] = x[idx[m], c] (bad bits if idx[m] is out of range).
// Bindings: x (read), idx (read), out (write). n = M * C.
@group(0) @binding(1) var<storage, read> gx: array<u32>;
@group(0) @binding(2) var<storage, read> gidx: array<i32>;
@group(0) @binding(3) var<storage, read_write> gout: array<u32>;

@compute @workgroup_size(WG)
fn gather_rows(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = index(gid, nwg);
  if (i >= p.n) { return; }
  let m = i / p.cols;
  let c = i % p.cols;
  let r = gidx[m];
  gout[i] = select(p.bad, gx[u32(r) * p.cols + c], valid(r));
}

// ---- csr: the per-row lists of positions. One invocation (dispatch 1 x 1, WG 1).
// Bindings: idx (read, M), off (write, R + 2; off[R + 1] = number of out-of-range
// indices, which get no entry), order (write, M; the first M - bad entries are used).
@group(0) @binding(1) var<storage, read> cidx: array<i32>;
@group(0) @binding(2) var<storage, read_write> coff: array<u32>;
@group(0) @binding(3) var<storage, read_write> corder: array<u32>;

@compute @workgroup_size(1)
fn csr(@builtin(global_invocation_id) gid: vec3u) {
  if (gid.x != 0u) { return; }
  for (var r = 0u; r < p.rows + 2u; r++) { coff[r] = 0u; }
  // counts of row r land in off[r + 1]; bad ones in off[R + 1]
  var nbad = 0u;
  for (var m = 0u; m < p.m; m++) {
    let r = cidx[m];
    if (valid(r)) { coff[u32(r) + 1u] += 1u; } else { nbad += 1u; }
  }
  // exclusive prefix sum: off[r] = start of row r
  for (var r = 1u; r <= p.rows; r++) { coff[r] += coff[r - 1u]; }
  // stable fill, using off[r] as row r's cursor (it ends at the start of row r + 1)
  for (var m = 0u; m < p.m; m++) {
    let r = cidx[m];
    if (valid(r)) {
      let k = coff[u32(r)];
      corder[k] = m;
      coff[u32(r)] = k + 1u;
    }
  }
  // shift back: off[r] = start of row r again
  for (var r = p.rows; r >= 1u; r--) { coff[r] = coff[r - 1u]; }
  coff[0] = 0u;
  coff[p.rows + 1u] = nbad;
}

// ---- gather_rows_backward: dx[r, c] = sum over m with idx[m] == r (increasing m) of
// g[m, c]. Bindings: g (read, M x C), off, order (read), dx (write, R x C). n = R * C.
@group(0) @binding(1) var<storage, read> bg: array<f32>;
@group(0) @binding(2) var<storage, read> boff: array<u32>;
@group(0) @binding(3) var<storage, read> border: array<u32>;
@group(0) @binding(4) var<storage, read_write> bdx: array<f32>;

@compute @workgroup_size(WG)
fn gather_rows_backward(
  @builtin(global_invocation_id) gid: vec3u,
  @builtin(num_workgroups) nwg: vec3u,
) {
  let i = index(gid, nwg);
  if (i >= p.n) { return; }
  let r = i / p.cols;
  let c = i % p.cols;
  var acc = 0.0;
  for (var k = boff[r]; k < boff[r + 1u]; k++) {
    acc += bg[border[k] * p.cols + c];
  }
  bdx[i] = acc;
}

// ---- last_rows: the "last write wins" table. n = M; the table (R + 1 words) is zeroed
// before. Bindings: idx (read), last (read_write, atomic).
@group(0) @binding(1) var<storage, read> li: array<i32>;
@group(0) @binding(2) var<storage, read_write> ltab: array<atomic<u32>>;

@compute @workgroup_size(WG)
fn last_rows(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let m = index(gid, nwg);
  if (m >= p.n) { return; }
  let r = li[m];
  if (valid(r)) {
    atomicMax(&ltab[u32(r)], m + 1u);
  } else {
    atomicOr(&ltab[p.rows], 1u);
  }
}

// ---- scatter_rows: out[r, c] = src[last m with idx[m] == r, c], else target[r, c];
// every element is `bad` if any index is out of range. Bindings: target, src, last
// (read), out (write). n = R * C.
@group(0) @binding(1) var<storage, read> st: array<u32>;
@group(0) @binding(2) var<storage, read> ssrc: array<u32>;
@group(0) @binding(3) var<storage, read> slast: array<u32>;
@group(0) @binding(4) var<storage, read_write> sout: array<u32>;

@compute @workgroup_size(WG)
fn scatter_rows(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = index(gid, nwg);
  if (i >= p.n) { return; }
  let r = i / p.cols;
  let c = i % p.cols;
  let w = slast[r];
  var v = st[i];
  if (w > 0u) { v = ssrc[(w - 1u) * p.cols + c]; }
  sout[i] = select(v, p.bad, slast[p.rows] != 0u);
}

// ---- write_rows_at: the in-place form of scatter_rows, one invocation per source
// element (m, c): it writes when m is the last position naming its row. With any bad
// index it writes `bad` instead, into row idx[m] (when valid) and row m % R, so at least
// min(M, R) target rows are poisoned (every writer of an address writes the same bits).
// Bindings: src, idx, last (read), target (read_write). n = M * C.
@group(0) @binding(1) var<storage, read> wsrc: array<u32>;
@group(0) @binding(2) var<storage, read> wi: array<i32>;
@group(0) @binding(3) var<storage, read> wlast: array<u32>;
@group(0) @binding(4) var<storage, read_write> wt: array<u32>;

@compute @workgroup_size(WG)
fn write_rows_at(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = index(gid, nwg);
  if (i >= p.n) { return; }
  let m = i / p.cols;
  let c = i % p.cols;
  let r = wi[m];
  if (wlast[p.rows] != 0u) {
    wt[(m % p.rows) * p.cols + c] = p.bad;
    if (valid(r)) { wt[u32(r) * p.cols + c] = p.bad; }
    return;
  }
  if (valid(r)) {
    if (wlast[u32(r)] == m + 1u) { wt[u32(r) * p.cols + c] = wsrc[i]; }
  }
}

// ---- scatter_rows_backward: the two gradients of scatter_rows.
// mask_rows: dtarget[r, c] = g[r, c] unless row r was overwritten (then 0). n = R * C.
// Bindings: g, last (read), dtarget (write).
@group(0) @binding(1) var<storage, read> mg: array<f32>;
@group(0) @binding(2) var<storage, read> mlast: array<u32>;
@group(0) @binding(3) var<storage, read_write> mdt: array<f32>;

@compute @workgroup_size(WG)
fn mask_rows(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = index(gid, nwg);
  if (i >= p.n) { return; }
  mdt[i] = select(mg[i], 0.0, mlast[i / p.cols] != 0u);
}

// gather_winners: dsrc[m, c] = g[idx[m], c] if m is the last position writing row
// idx[m] (its value reached the output), else 0. n = M * C.
// Bindings: g, idx, last (read), dsrc (write).
@group(0) @binding(1) var<storage, read> wg_: array<f32>;
@group(0) @binding(2) var<storage, read> widx: array<i32>;
@group(0) @binding(3) var<storage, read> wl: array<u32>;
@group(0) @binding(4) var<storage, read_write> wds: array<f32>;

@compute @workgroup_size(WG)
fn gather_winners(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = index(gid, nwg);
  if (i >= p.n) { return; }
  let m = i / p.cols;
  let c = i % p.cols;
  let r = widx[m];
  var v = 0.0;
  if (valid(r)) {
    if (wl[u32(r)] == m + 1u) { v = wg_[u32(r) * p.cols + c]; }
  }
  wds[i] = v;
}

// ---- write_rows: FIFO ring write, target[(start + b) % R, c] = src[b, c], B <= R so
// no two invocations share a target row. Bindings: src (read), target (read_write).
// n = B * C (p.m = B).
@group(0) @binding(1) var<storage, read> fsrc: array<u32>;
@group(0) @binding(2) var<storage, read_write> ft: array<u32>;

@compute @workgroup_size(WG)
fn write_rows(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = index(gid, nwg);
  if (i >= p.n) { return; }
  let b = i / p.cols;
  let c = i % p.cols;
  ft[((p.start + b) % p.rows) * p.cols + c] = fsrc[i];
}

// ---- top-k along the last axis (rows of length L = p.cols), largest first.
// Order: a value's key is its f32 bits mapped to a monotone u32 (-0 == +0, every NaN
// above +inf, as PyTorch ranks NaN); equal keys rank by lower index. Each invocation
// keeps a sorted insertion buffer of k <= 64 (key, index) pairs in private memory and
// scans its elements in increasing index order, so an element enters only when its key
// is strictly above the current k-th key, one compare against a register (O(L)
// compares, O(k) per insertion, about k ln(L/k) insertions on random data).
// topk_rows:    one invocation per row; writes values (f32) and indices (i32). n = rows.
// topk_partial: one invocation per (row, chunk of p.start elements), p.m chunks per
//               row; writes k candidates (key, index) per chunk (sentinels pad a short
//               chunk). n = rows * chunks.
// topk_merge:   one invocation per row over its chunks * k candidates; writes the
//               final values and indices. n = rows.
override K: u32 = 1u;

var<private> bkey: array<u32, 64>;
var<private> bidx: array<u32, 64>;

fn key_of(v: f32) -> u32 {
  let b = bitcast<u32>(v);
  if ((b & 0x7fffffffu) > 0x7f800000u) { return 0xffffffffu; } // NaN
  if (b == 0x80000000u) { return 0x80000000u; } // -0 ranks as +0
  return select(b | 0x80000000u, ~b, (b & 0x80000000u) != 0u);
}

// (k1, i1) ranks before (k2, i2)
fn better(k1: u32, i1: u32, k2: u32, i2: u32) -> bool {
  return k1 > k2 || (k1 == k2 && i1 < i2);
}

// Fill the buffer with sentinels: key 0 (never produced by key_of) and index
// 0xffffffff rank below every real element, so the buffer is "full" from the start
// and a real element always displaces a sentinel.
fn reset() {
  for (var j = 0u; j < K; j++) {
    bkey[j] = 0u;
    bidx[j] = 0xffffffffu;
  }
}

// insert (kv, iv), known to rank before the current k-th entry; returns the new k-th key
fn insert(kv: u32, iv: u32) -> u32 {
  var j = K - 1u;
  while (j > 0u && better(kv, iv, bkey[j - 1u], bidx[j - 1u])) {
    bkey[j] = bkey[j - 1u];
    bidx[j] = bidx[j - 1u];
    j--;
  }
  bkey[j] = kv;
  bidx[j] = iv;
  return bkey[K - 1u];
}

@group(0) @binding(1) var<storage, read> tx: array<f32>;
@group(0) @binding(2) var<storage, read_write> tvals: array<f32>;
@group(0) @binding(3) var<storage, read_write> tidx: array<i32>;

@compute @workgroup_size(WG)
fn topk_rows(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let row = index(gid, nwg);
  if (row >= p.n) { return; }
  let base = row * p.cols;
  reset();
  // scanning in index order, an equal key never displaces: a strict > suffices
  var thr = 0u;
  for (var j = 0u; j < p.cols; j++) {
    let kv = key_of(tx[base + j]);
    if (kv > thr) { thr = insert(kv, j); }
  }
  for (var j = 0u; j < K; j++) {
    tvals[row * K + j] = tx[base + bidx[j]];
    tidx[row * K + j] = i32(bidx[j]);
  }
}

@group(0) @binding(1) var<storage, read> px: array<f32>;
@group(0) @binding(2) var<storage, read_write> pkey: array<u32>;
@group(0) @binding(3) var<storage, read_write> pidx: array<u32>;

@compute @workgroup_size(WG)
fn topk_partial(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = index(gid, nwg);
  if (i >= p.n) { return; }
  let row = i / p.m;
  let lo = (i % p.m) * p.start;
  let hi = min(lo + p.start, p.cols);
  reset();
  var thr = 0u;
  for (var j = lo; j < hi; j++) {
    let kv = key_of(px[row * p.cols + j]);
    if (kv > thr) { thr = insert(kv, j); }
  }
  for (var j = 0u; j < K; j++) { // a short chunk leaves sentinels
    pkey[i * K + j] = bkey[j];
    pidx[i * K + j] = bidx[j];
  }
}

@group(0) @binding(1) var<storage, read> mx: array<f32>;
@group(0) @binding(2) var<storage, read> mkey: array<u32>;
@group(0) @binding(3) var<storage, read> midx: array<u32>;
@group(0) @binding(4) var<storage, read_write> mvals: array<f32>;
@group(0) @binding(5) var<storage, read_write> mout: array<i32>;

@compute @workgroup_size(WG)
fn topk_merge(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let row = index(gid, nwg);
  if (row >= p.n) { return; }
  let base = row * p.m * K;
  reset();
  var tk = 0u;
  var ti = 0xffffffffu;
  for (var j = 0u; j < p.m * K; j++) {
    let kv = mkey[base + j];
    let iv = midx[base + j];
    if (better(kv, iv, tk, ti)) {
      tk = insert(kv, iv);
      ti = bidx[K - 1u];
    }
  }
  for (var j = 0u; j < K; j++) {
    mvals[row * K + j] = mx[row * p.cols + bidx[j]];
    mout[row * K + j] = i32(bidx[j]);
  }
}
