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
// backward goes through a CSR table: row r's positions m, in increasing m, are
// order[off[r] .. off[r + 1]). It is built in parallel and deterministically by a
// stable LSD radix sort of the keys idx[m] (out-of-range ones as key R) carrying the
// positions m: per pass, `radix_count` makes per-chunk digit histograms, an exclusive
// scan (`scan_*`) turns them into output cursors and `radix_scatter` moves each chunk's
// elements in order (stable, so equal keys keep increasing m). `csr_offsets` then finds
// each row's start by binary search in the sorted keys. The gradient kernel sums in
// that fixed order, so results are bit-identical run to run.
//
// Loop budget: llvmpipe silently stops an invocation's loops after ~65 535 iterations in all
// (LOOP_BUDGET in lib/tensor/launch.ts): every loop here is bounded by a host-chosen
// chunk (sort chunks, scan blocks, backward passes of p.bad positions, top-k chunks and
// merge groups), never by a tensor size.
//
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
  cols: u32,   // C: words per row (sort and scan kernels: elements per invocation)
  m: u32,      // M: number of indices (or of source rows, or of elements scanned)
  start: u32,  // writeRows_: first target row; other kernels: see their comments
  bad: u32,    // bit pattern written for out-of-range indices; others: see comments
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

// ---- The CSR table (see the header). Keys are u32: idx[m] when valid, R otherwise, so
// out-of-range positions sort after every row and get no entry.
// csr_keys: keys[m] = key of idx[m], vals[m] = m. n = M.
// Bindings: idx (read), keys (write), vals (write).
@group(0) @binding(1) var<storage, read> kidx: array<i32>;
@group(0) @binding(2) var<storage, read_write> kkeys: array<u32>;
@group(0) @binding(3) var<storage, read_write> kvals: array<u32>;

@compute @workgroup_size(WG)
fn csr_keys(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let m = index(gid, nwg);
  if (m >= p.n) { return; }
  let r = kidx[m];
  kkeys[m] = select(p.rows, u32(r), valid(r));
  kvals[m] = m;
}

// One radix pass over the M keys, cut into n = G chunks of p.cols (S) consecutive
// elements, one invocation per chunk (S loop iterations each). The digit of a key is
// (key >> p.start) & p.bad. hist is [buckets, G] (bucket-major), zeroed by the host.
// radix_count: hist[d * G + g] = elements of chunk g with digit d.
// Bindings: keys (read), hist (read_write).
@group(0) @binding(1) var<storage, read> rckeys: array<u32>;
@group(0) @binding(2) var<storage, read_write> rchist: array<u32>;

@compute @workgroup_size(WG)
fn radix_count(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let g = index(gid, nwg);
  if (g >= p.n) { return; }
  let hi = min(g * p.cols + p.cols, p.m);
  for (var j = g * p.cols; j < hi; j++) {
    let d = (rckeys[j] >> p.start) & p.bad;
    rchist[d * p.n + g] += 1u;
  }
}

// radix_scatter: with hist exclusive-scanned (the first output slot of each (digit,
// chunk)), moves chunk g's elements in order to their slots: a stable counting sort.
// Bindings: keys, vals (read), hist (read_write, used as cursors), keys', vals' (write).
@group(0) @binding(1) var<storage, read> rskeys: array<u32>;
@group(0) @binding(2) var<storage, read> rsvals: array<u32>;
@group(0) @binding(3) var<storage, read_write> rshist: array<u32>;
@group(0) @binding(4) var<storage, read_write> rsokeys: array<u32>;
@group(0) @binding(5) var<storage, read_write> rsovals: array<u32>;

@compute @workgroup_size(WG)
fn radix_scatter(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let g = index(gid, nwg);
  if (g >= p.n) { return; }
  let hi = min(g * p.cols + p.cols, p.m);
  for (var j = g * p.cols; j < hi; j++) {
    let key = rskeys[j];
    let slot = ((key >> p.start) & p.bad) * p.n + g;
    let dst = rshist[slot];
    rshist[slot] = dst + 1u;
    rsokeys[dst] = key;
    rsovals[dst] = rsvals[j];
  }
}

// Exclusive prefix sum of a[0 .. p.m), in blocks of p.cols words (one invocation per
// block, n = blocks): scan_sums writes each block's total to sums[b], the host scans
// sums (recursively), then scan_add rewrites block b as its exclusive scan plus
// sums[b]. scan_serial scans a[0 .. p.m) (p.m <= block) in one invocation.
// Bindings: a (read_write), sums (read_write).
@group(0) @binding(1) var<storage, read_write> sa: array<u32>;
@group(0) @binding(2) var<storage, read_write> ssums: array<u32>;

@compute @workgroup_size(WG)
fn scan_sums(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let b = index(gid, nwg);
  if (b >= p.n) { return; }
  let hi = min(b * p.cols + p.cols, p.m);
  var acc = 0u;
  for (var j = b * p.cols; j < hi; j++) { acc += sa[j]; }
  ssums[b] = acc;
}

fn scan_block(lo: u32, hi: u32, first: u32) {
  var acc = first;
  for (var j = lo; j < hi; j++) {
    let v = sa[j];
    sa[j] = acc;
    acc += v;
  }
}

@compute @workgroup_size(WG)
fn scan_add(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let b = index(gid, nwg);
  if (b >= p.n) { return; }
  scan_block(b * p.cols, min(b * p.cols + p.cols, p.m), ssums[b]);
}

// Bindings: a (read_write).
@group(0) @binding(1) var<storage, read_write> sa1: array<u32>;

@compute @workgroup_size(1)
fn scan_serial(@builtin(global_invocation_id) gid: vec3u) {
  if (gid.x != 0u) { return; }
  var acc = 0u;
  for (var j = 0u; j < p.m; j++) {
    let v = sa1[j];
    sa1[j] = acc;
    acc += v;
  }
}

// csr_offsets: off[r] = first slot of the sorted keys (M of them) that is >= r, for
// r <= R (a binary search, about log2 M iterations); off[R + 1] = M - off[R], the number
// of out-of-range indices. n = R + 2. Bindings: sorted keys (read), off (write).
@group(0) @binding(1) var<storage, read> okeys: array<u32>;
@group(0) @binding(2) var<storage, read_write> ooff: array<u32>;

fn lower_bound(v: u32) -> u32 {
  var lo = 0u;
  var hi = p.m;
  while (lo < hi) {
    let mid = lo + (hi - lo) / 2u;
    if (okeys[mid] < v) { lo = mid + 1u; } else { hi = mid; }
  }
  return lo;
}

@compute @workgroup_size(WG)
fn csr_offsets(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let r = index(gid, nwg);
  if (r >= p.n) { return; }
  if (r == p.rows + 1u) {
    ooff[r] = p.m - lower_bound(p.rows);
  } else {
    ooff[r] = lower_bound(r);
  }
}

// ---- gather_rows_backward: dx[r, c] = sum over m with idx[m] == r (increasing m) of
// g[m, c]. A row may be named by up to M positions, so the sum runs over passes of at
// most p.bad positions each: pass q (p.start = q * p.bad) continues the running sum
// from dx (the same float32 additions in the same order as one loop), and an element
// whose row has no position left returns at once.
// Bindings: g (read, M x C), off, order (read), dx (read_write, R x C). n = R * C.
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
  let end = boff[r + 1u];
  let lo = boff[r] + p.start;
  var acc = 0.0;
  if (p.start > 0u) {
    if (lo >= end) { return; }
    acc = bdx[i];
  }
  let hi = min(end, lo + p.bad);
  for (var k = lo; k < hi; k++) {
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
// above +inf, as PyTorch ranks NaN); equal keys rank by lower index.
// Scan: an invocation scans its elements in increasing index order keeping the best k
// (key, index) pairs seen so far in a private binary heap whose root is the worst of
// them, so an element enters only when its key is strictly above the root key, one
// compare against a register; entering costs one sift-down, at most floor(log2 k) + 2
// loop iterations, whatever the input order (an ascending row makes every element
// enter). At the end a heap sort leaves the k pairs best first.
// topk_rows:    one invocation per row; writes values (f32) and indices (i32). n = rows.
// topk_partial: one invocation per (row, chunk of p.start elements), p.m chunks per
//               row; writes the chunk's k candidates (key, index) best first (sentinels
//               pad a short chunk). n = rows * chunks.
// Merge: the sorted candidate lists of a row are merged two at a time (k + 1 loop
// iterations per list, two-pointer, ping-ponging between two private buffers).
// topk_merge_lists: one invocation per (row, group of p.start consecutive lists) of the
//               p.m lists of each row; writes one merged list per group (p.bad groups
//               per row). n = rows * groups.
// topk_merge:   one invocation per row over its p.m lists; writes the final values and
//               indices. n = rows.
// The host sizes chunks and groups so that every invocation stays within LOOP_BUDGET
// in the worst case (lib/tensor/ops/index.ts, topkPlan).
override K: u32 = 1u;
// Capacity of the private heaps (K <= HEAP). The host compiles a second copy of this
// source with HEAP = 256 for k > 64 (lib/tensor/ops/index.ts, `topkSource`): private
// arrays cost registers and stack, so the common small-k kernels keep the small heap.
const HEAP: u32 = 64u;

var<private> hkey: array<u32, HEAP>;
var<private> hidx: array<u32, HEAP>;

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

// Fill the heap with sentinels: key 0 (never produced by key_of) and index 0xffffffff
// rank below every real element, so the heap is "full" from the start and a real
// element always displaces a sentinel.
fn reset() {
  for (var j = 0u; j < K; j++) {
    hkey[j] = 0u;
    hidx[j] = 0xffffffffu;
  }
}

// Put (kv, iv) at the root of the heap hkey/hidx[0 .. size) and sift it down: a parent
// never ranks before its children, so the root is the worst entry.
fn sift(kv: u32, iv: u32, size: u32) {
  var i = 0u;
  loop {
    var c = 2u * i + 1u;
    if (c >= size) { break; }
    if (c + 1u < size && better(hkey[c], hidx[c], hkey[c + 1u], hidx[c + 1u])) { c += 1u; }
    if (!better(kv, iv, hkey[c], hidx[c])) { break; }
    hkey[i] = hkey[c];
    hidx[i] = hidx[c];
    i = c;
  }
  hkey[i] = kv;
  hidx[i] = iv;
}

// Scan x[base + lo .. base + hi) (indices lo .. hi), then sort the heap best first.
fn scan(base: u32, lo: u32, hi: u32) {
  reset();
  // scanning in index order, an equal key never displaces: a strict > suffices
  var thr = 0u;
  for (var j = lo; j < hi; j++) {
    let kv = key_of(tx[base + j]);
    if (kv > thr) {
      sift(kv, j, K);
      thr = hkey[0];
    }
  }
  // heap sort: the worst of the remaining e + 1 entries goes to slot e
  for (var e = K - 1u; e > 0u; e--) {
    let k0 = hkey[0];
    let i0 = hidx[0];
    sift(hkey[e], hidx[e], e);
    hkey[e] = k0;
    hidx[e] = i0;
  }
}

@group(0) @binding(1) var<storage, read> tx: array<f32>;
@group(0) @binding(2) var<storage, read_write> tvals: array<f32>;
@group(0) @binding(3) var<storage, read_write> tidx: array<i32>;

@compute @workgroup_size(WG)
fn topk_rows(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let row = index(gid, nwg);
  if (row >= p.n) { return; }
  let base = row * p.cols;
  scan(base, 0u, p.cols);
  for (var j = 0u; j < K; j++) {
    tvals[row * K + j] = tx[base + hidx[j]];
    tidx[row * K + j] = i32(hidx[j]);
  }
}

// Bindings: x (read, as tx), keys (write), idx (write).
@group(0) @binding(2) var<storage, read_write> pkey: array<u32>;
@group(0) @binding(3) var<storage, read_write> pidx: array<u32>;

@compute @workgroup_size(WG)
fn topk_partial(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = index(gid, nwg);
  if (i >= p.n) { return; }
  let row = i / p.m;
  let lo = (i % p.m) * p.start;
  scan(row * p.cols, lo, min(lo + p.start, p.cols));
  for (var j = 0u; j < K; j++) { // a short chunk leaves sentinels
    pkey[i * K + j] = hkey[j];
    pidx[i * K + j] = hidx[j];
  }
}

// Two candidate buffers of k pairs: halves [0, 64) and [64, 128).
var<private> mkey: array<u32, 2u * HEAP>;
var<private> midx: array<u32, 2u * HEAP>;

@group(0) @binding(1) var<storage, read> ckey: array<u32>;
@group(0) @binding(2) var<storage, read> cidx: array<u32>;

// Merge the `count` sorted lists of K pairs starting at list `first` of ckey/cidx;
// returns the half of mkey/midx (0 or HEAP) that holds the best K, best first.
fn merge(first: u32, count: u32) -> u32 {
  for (var j = 0u; j < K; j++) {
    mkey[j] = ckey[first * K + j];
    midx[j] = cidx[first * K + j];
  }
  var cur = 0u;
  for (var l = 1u; l < count; l++) {
    let src = (first + l) * K;
    let nxt = HEAP - cur;
    var a = 0u;
    var b = 0u;
    // the two heads never run out: after o outputs, a + b == o < K
    for (var o = 0u; o < K; o++) {
      let ka = mkey[cur + a];
      let ia = midx[cur + a];
      let kb = ckey[src + b];
      let ib = cidx[src + b];
      if (better(kb, ib, ka, ia)) {
        mkey[nxt + o] = kb;
        midx[nxt + o] = ib;
        b++;
      } else {
        mkey[nxt + o] = ka;
        midx[nxt + o] = ia;
        a++;
      }
    }
    cur = nxt;
  }
  return cur;
}

// Bindings: keys, idx (read, as ckey/cidx), keys', idx' (write).
@group(0) @binding(3) var<storage, read_write> gkey: array<u32>;
@group(0) @binding(4) var<storage, read_write> gidx2: array<u32>;

@compute @workgroup_size(WG)
fn topk_merge_lists(
  @builtin(global_invocation_id) gid: vec3u,
  @builtin(num_workgroups) nwg: vec3u,
) {
  let i = index(gid, nwg);
  if (i >= p.n) { return; }
  let row = i / p.bad;
  let g = i % p.bad;
  let first = g * p.start;
  let h = merge(row * p.m + first, min(p.start, p.m - first));
  for (var j = 0u; j < K; j++) {
    gkey[i * K + j] = mkey[h + j];
    gidx2[i * K + j] = midx[h + j];
  }
}

// Bindings: keys, idx (read, as ckey/cidx), x (read), values, indices (write).
@group(0) @binding(3) var<storage, read> fx: array<f32>;
@group(0) @binding(4) var<storage, read_write> fvals: array<f32>;
@group(0) @binding(5) var<storage, read_write> fout: array<i32>;

@compute @workgroup_size(WG)
fn topk_merge(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let row = index(gid, nwg);
  if (row >= p.n) { return; }
  let h = merge(row * p.m, p.m);
  for (var j = 0u; j < K; j++) {
    fvals[row * K + j] = fx[row * p.cols + midx[h + j]];
    fout[row * K + j] = i32(midx[h + j]);
  }
}
