// Exact top-k (k <= 256) of the rows of a similarity matrix, for the weighted k-NN
// classifier (lib/eval/knn.ts).
//
// Input: sim, row-major [R, N] f32 (R test rows of one chunk, N train rows).
// Keys: a similarity maps to an order-preserving u32 (key_of); pairs (key, index) are
// ranked by key descending, then index ascending, a strict total order over a row, so
// the top k is unique and ties go to the lower train index.
//
// knn_scan:  one invocation per (row, chunk of p.start consecutive columns), p.m chunks
//            per row. It scans its columns in increasing index order keeping the best K
//            pairs seen so far in a private binary heap whose root is the worst of them
//            (an element enters only when its key is strictly above the root key: an
//            equal key comes later in index order, so it ranks below), then heap-sorts
//            them best first and writes the chunk's list of K pairs (sentinels, key 0 and
//            index 0xffffffff, pad a chunk shorter than K). Any pair of the row's top K is
//            in its chunk's top K, so the union of the lists holds the row's top K.
// knn_merge: one invocation per (row, group of p.start consecutive lists of the p.m lists
//            of a row); merges them two at a time (two-pointer, K outputs per list,
//            ping-ponging between two private buffers) into one sorted list of K pairs;
//            p.bad groups per row. Repeated until one list per row is left.
//
// Loop budget (LOOP_BUDGET in lib/tensor/launch.ts: llvmpipe silently stops an
// invocation's loops after ~65 535 iterations in all): the host sizes chunks and groups
// with the worst case (every element enters the heap: an ascending row) so that no
// invocation exceeds the budget (lib/eval/knn.ts, scanCost and mergeCost).

override WG: u32 = 16u;
override K: u32 = 1u;

struct Params {
  n: u32,     // invocations
  rows: u32,  // R
  cols: u32,  // N: columns of a sim row
  m: u32,     // lists (scan: chunks) per row
  start: u32, // scan: columns per chunk; merge: lists per group
  bad: u32,   // merge: groups per row
  _p0: u32,
  _p1: u32,
}

@group(0) @binding(0) var<uniform> p: Params;

fn index(gid: vec3u, nwg: vec3u) -> u32 {
  return gid.x + gid.y * nwg.x * WG;
}

fn key_of(v: f32) -> u32 {
  let b = bitcast<u32>(v);
  if ((b & 0x7fffffffu) > 0x7f800000u) { return 0xffffffffu; } // NaN ranks first
  if (b == 0x80000000u) { return 0x80000000u; } // -0 ranks as +0
  return select(b | 0x80000000u, ~b, (b & 0x80000000u) != 0u);
}

// (k1, i1) ranks before (k2, i2)
fn better(k1: u32, i1: u32, k2: u32, i2: u32) -> bool {
  return k1 > k2 || (k1 == k2 && i1 < i2);
}

var<private> hkey: array<u32, 256>;
var<private> hidx: array<u32, 256>;

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

@group(0) @binding(1) var<storage, read> sim: array<f32>;
@group(0) @binding(2) var<storage, read_write> skey: array<u32>;
@group(0) @binding(3) var<storage, read_write> sidx: array<u32>;

@compute @workgroup_size(WG)
fn knn_scan(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = index(gid, nwg);
  if (i >= p.n) { return; }
  let row = i / p.m;
  let lo = (i % p.m) * p.start;
  let hi = min(lo + p.start, p.cols);
  let base = row * p.cols;
  // sentinels rank below every real pair, so the heap is "full" from the start
  for (var j = 0u; j < K; j++) {
    hkey[j] = 0u;
    hidx[j] = 0xffffffffu;
  }
  var thr = 0u;
  for (var j = lo; j < hi; j++) {
    let kv = key_of(sim[base + j]);
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
  for (var j = 0u; j < K; j++) {
    skey[i * K + j] = hkey[j];
    sidx[i * K + j] = hidx[j];
  }
}

// Two candidate buffers of K pairs: halves [0, 256) and [256, 512).
var<private> mkey: array<u32, 512>;
var<private> midx: array<u32, 512>;

@group(0) @binding(1) var<storage, read> ckey: array<u32>;
@group(0) @binding(2) var<storage, read> cidx: array<u32>;
@group(0) @binding(3) var<storage, read_write> okey: array<u32>;
@group(0) @binding(4) var<storage, read_write> oidx: array<u32>;

@compute @workgroup_size(WG)
fn knn_merge(@builtin(global_invocation_id) gid: vec3u, @builtin(num_workgroups) nwg: vec3u) {
  let i = index(gid, nwg);
  if (i >= p.n) { return; }
  let row = i / p.bad;
  let g = i % p.bad;
  let first = row * p.m + g * p.start;
  let count = min(p.start, p.m - g * p.start);
  for (var j = 0u; j < K; j++) {
    mkey[j] = ckey[first * K + j];
    midx[j] = cidx[first * K + j];
  }
  var cur = 0u;
  for (var l = 1u; l < count; l++) {
    let src = (first + l) * K;
    let nxt = 256u - cur;
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
  for (var j = 0u; j < K; j++) {
    okey[i * K + j] = mkey[cur + j];
    oidx[i * K + j] = midx[cur + j];
  }
}
