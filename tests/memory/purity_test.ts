// Neighbour purity: a hand-made memory (rows around three class directions, each row's image
// known, unknown or unlabeled) is searched on the GPU, and `readPurity`'s counts are checked
// against a float64 host reference (cosine similarities, top-k by similarity then index,
// label comparison) overall and per class. The data are chosen so that no two candidates
// are within 1e-4 of each other at the k-th place (the reference asserts it), so float32
// rounding cannot change the neighbour sets.
import { assert, assertEquals, assertThrows, gpuTest, randArray, setup } from "../helpers.ts";
import { LocalGroupMemory } from "../../lib/memory/local_group.ts";
import {
  addPurity,
  neighbourPurity,
  purityChance,
  purityValue,
  queryImages,
  readPurity,
} from "../../lib/memory/purity.ts";
import { tensor } from "../../lib/tensor/tensor.ts";

await setup();

const DIM = 6;
const K = 4;

/** Rows near class direction `c` (axes 0, 1, 2) with noise; returns the flat rows. */
function near(classes: number[], noise: number, seed: number): Float32Array {
  const r = randArray(classes.length * DIM, seed);
  const out = new Float32Array(classes.length * DIM);
  classes.forEach((c, i) => {
    for (let j = 0; j < DIM; j++) out[i * DIM + j] = (j === c ? 1 : 0) + noise * r[i * DIM + j];
  });
  return out;
}

/** Float64 top-k of cosine similarity (ties to the lower row); asserts a clear k-th gap. */
function refRows(mem: Float32Array, q: Float32Array): number[][] {
  const unit = (x: Float32Array, i: number) => {
    const v = Array.from(x.subarray(i * DIM, (i + 1) * DIM), Number);
    const n = Math.hypot(...v);
    return v.map((a) => a / n);
  };
  const M = mem.length / DIM;
  const rows = Array.from({ length: M }, (_, i) => unit(mem, i));
  return Array.from({ length: q.length / DIM }, (_, b) => {
    const u = unit(q, b);
    const sims = rows.map((r) => r.reduce((a, v, j) => a + v * u[j], 0));
    const order = sims.map((s, i) => [s, i]).sort((a, b) => b[0] - a[0] || a[1] - b[1]);
    assert(order[K - 1][0] - order[K][0] > 1e-4, `query ${b}: a near tie at place ${K}`);
    return order.slice(0, K).map(([, i]) => i);
  });
}

Deno.test({
  name: "neighbour purity: GPU search + readPurity equal a float64 reference on a hand-made memory",
  ...gpuTest,
  fn: async () => {
    // dataset: 40 images, label i % 3, except image 39 which is unlabeled
    const labels = Int32Array.from({ length: 40 }, (_, i) => (i === 39 ? -1 : i % 3));
    // memory: 14 rows; the images they came from (-1: unknown, e.g. a random initial row)
    const rowClass = [0, 0, 0, 1, 1, 1, 2, 2, 2, 0, 1, 2, 0, 1];
    const sources = [0, 3, 6, 1, 4, 7, 2, 5, 8, -1, 10, 39, 12, 13]; // label = source % 3
    const rowsData = near(rowClass, 0.6, 11);
    const mem = new LocalGroupMemory(sources.length, DIM, { init: "zeros", k: K });
    const batch = tensor(rowsData, [sources.length, DIM]);
    mem.enqueue(batch, undefined, sources);
    // queries: images 15..23 (labels 0, 1, 2, ...) near their class with a lot of noise
    const qImages = [15, 16, 17, 18, 19, 20, 21, 22, 23];
    const qData = near(qImages.map((i) => i % 3), 0.9, 5);
    const q = tensor(qData, [qImages.length, DIM]);
    const snap = mem.sources;
    const { indices, features, similarities } = mem.neighbours(q);
    const got = await readPurity(indices, snap, qImages, labels);
    // reference
    const want = {
      hits: 0,
      total: 0,
      perClass: new Map<number, { hits: number; total: number }>(),
    };
    for (const [b, nb] of refRows(rowsData, qData).entries()) {
      const l = labels[qImages[b]];
      const hits = nb.filter((r) => sources[r] >= 0 && labels[sources[r]] === l).length;
      want.hits += hits;
      want.total += K;
      const c = want.perClass.get(l) ?? { hits: 0, total: 0 };
      want.perClass.set(l, { hits: c.hits + hits, total: c.total + K });
    }
    assertEquals(got.total, qImages.length * K, "k per query");
    assertEquals([got.hits, got.total], [want.hits, want.total], "overall");
    assertEquals(
      [...got.perClass].sort((a, b) => a[0] - b[0]),
      [...want.perClass].sort((a, b) => a[0] - b[0]),
      "per class",
    );
    const v = purityValue(got);
    assert(v > 0 && v < 1, `purity ${v} is neither 0 nor 1: the case tests something`);
    // held-out queries: their labels given directly give the same counts
    const direct = await readPurity(indices, snap, null, labels, qImages.map((i) => labels[i]));
    assertEquals([direct.hits, direct.total], [got.hits, got.total], "query labels given");
    for (const t of [indices, features, similarities, q, batch]) t.dispose();
    mem.dispose();
  },
});

Deno.test("neighbour purity: unknown and unlabeled neighbours miss, unlabeled queries are skipped", () => {
  const labels = Int32Array.of(0, 0, 1, -1);
  const sources = Int32Array.of(0, 1, 2, 3, -1); // memory rows -> images
  // query image 0 (label 0): rows 1 (hit), 4 (unknown), 3 (unlabeled); query image 3 skipped
  const p = neighbourPurity(Int32Array.of(1, 4, 3, 0, 1, 2), 3, sources, [0, 3], labels);
  assertEquals([p.hits, p.total], [1, 3]);
  assertEquals([...p.perClass], [[0, { hits: 1, total: 3 }]]);
  const sum = addPurity(p, neighbourPurity(Int32Array.of(2, 0, 1), 3, sources, [2], labels));
  assertEquals([sum.hits, sum.total, sum.perClass.get(1)], [2, 6, { hits: 1, total: 3 }]);
  assert(Number.isNaN(purityValue(neighbourPurity([0, 1, 2], 3, sources, [3], labels))), "NaN");
  assertEquals(Array.from(queryImages(Int32Array.of(7, 9), 6)), [7, 9, 7, 9, 7, 9]);
  assertEquals(purityChance(Int32Array.of(0, 0, 1, 1, -1)), 0.5);
  assertThrows(() => neighbourPurity([0, 1, 2], 2, sources, [0], labels), "not a multiple of k");
  assertThrows(() => neighbourPurity([0, 1], 2, sources, [0, 1], labels), "2 query images for 1");
  assertThrows(() => neighbourPurity([0, 9], 2, sources, [0], labels), "row 9 is outside");
  assertThrows(
    () => neighbourPurity([0, 1], 2, Int32Array.of(0, 50), [0], labels),
    "refers to image 50, outside the 4 labelled images",
  );
  assertThrows(() => queryImages([1, 2], 3), "3 queries are not whole views of a batch of 2");
});
