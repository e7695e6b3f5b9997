import {
  balancedSubset,
  checkDataset,
  classCounts,
  concatDatasets,
  type Dataset,
  imageAt,
  splitHeldOut,
  subset,
} from "../../lib/data/dataset.ts";
import { assert, assertEquals, assertThrows } from "../helpers.ts";

/** n 1x2x2 images whose bytes are all i % 256, label labelOf(i). */
function toy(n: number, labelOf: (i: number) => number, classes = 3): Dataset {
  const images = new Uint8Array(n * 4);
  for (let i = 0; i < n; i++) images.fill(i % 256, 4 * i, 4 * i + 4);
  return {
    images,
    labels: Int32Array.from({ length: n }, (_, i) => labelOf(i)),
    n,
    channels: 1,
    height: 2,
    width: 2,
    classes: Array.from({ length: classes }, (_, k) => `c${k}`),
  };
}

Deno.test("dataset: checkDataset names the field at fault", () => {
  const ds = toy(4, (i) => i % 3);
  checkDataset(ds);
  assertThrows(
    () => checkDataset({ ...ds, n: 5 }, "ds"),
    "ds: field 'images' has 16 bytes, expected n*C*H*W = 5*1*2*2 = 20",
  );
  assertThrows(
    () => checkDataset({ ...ds, labels: Int32Array.of(0) }),
    "field 'labels' has 1 entries, expected n = 4",
  );
  assertThrows(
    () => checkDataset({ ...ds, labels: Int32Array.of(0, 1, 3, 0) }),
    "labels[2] = 3 is outside [-1, 2]",
  );
  assertThrows(
    () => checkDataset({ ...ds, channels: 0 }),
    "field 'channels' must be a positive integer",
  );
});

Deno.test("dataset: subset, imageAt, counts, concat", () => {
  const ds = toy(6, (i) => (i === 5 ? -1 : i % 3));
  const s = subset(ds, [4, 0, 4]);
  assertEquals(Array.from(s.labels), [1, 0, 1]);
  assertEquals(Array.from(imageAt(s, 0)), [4, 4, 4, 4]);
  assertEquals(classCounts(ds), { counts: [2, 2, 1], unlabeled: 1 });
  assertThrows(() => subset(ds, [6]), "indices[0] = 6 is outside [0, 5]");
  assertThrows(() => imageAt(ds, -1), "index -1 is outside [0, 5]");
  const c = concatDatasets([s, ds]);
  assertEquals(c.n, 9);
  assertEquals(Array.from(imageAt(c, 3)), [0, 0, 0, 0]);
  assertThrows(
    () => concatDatasets([s, { ...ds, height: 1, width: 4 }]),
    "part 1 has images [1, 1, 4]",
  );
});

Deno.test("dataset: balancedSubset takes the first k per class in file order, or a seeded choice", () => {
  const ds = toy(30, (i) => (i * 7) % 3);
  const b = balancedSubset(ds, 4);
  assertEquals(classCounts(b).counts, [4, 4, 4]);
  // the first four of each class, in their original order
  const want: number[] = [];
  const seen = [0, 0, 0];
  for (let i = 0; i < 30; i++) if (seen[ds.labels[i]]++ < 4) want.push(i);
  assertEquals(Array.from(b.images.filter((_, j) => j % 4 === 0)), want);
  const r1 = balancedSubset(ds, 4, { seed: 3 });
  const r2 = balancedSubset(ds, 4, { seed: 3 });
  assertEquals(Array.from(r1.images), Array.from(r2.images), "same seed");
  assertEquals(classCounts(r1).counts, [4, 4, 4]);
  assertThrows(() => balancedSubset(ds, 11), "class 0 ('c0') has 10 images, fewer than 11");
  assertThrows(() => balancedSubset(ds, 0), "perClass must be a positive integer");
});

Deno.test("dataset: splitHeldOut is stratified, disjoint, complete and seeded", () => {
  const ds = toy(100, (i) => (i < 10 ? -1 : i % 4), 4);
  const { train, heldOut } = splitHeldOut(ds, 0.2, 1);
  assertEquals(train.n + heldOut.n, 100);
  // classes of 22, 22, 23, 23 images and 10 unlabeled: round(0.2 * count) of each
  assertEquals(classCounts(heldOut), { counts: [4, 4, 5, 5], unlabeled: 2 });
  const ids = (d: Dataset) => Array.from(d.images.filter((_, j) => j % 4 === 0));
  const all = [...ids(train), ...ids(heldOut)].sort((a, b) => a - b);
  assertEquals(all, Array.from({ length: 100 }, (_, i) => i));
  assertEquals(ids(splitHeldOut(ds, 0.2, 1).heldOut), ids(heldOut), "same seed");
  assert(ids(splitHeldOut(ds, 0.2, 2).heldOut).join() !== ids(heldOut).join(), "seeds differ");
  assertThrows(() => splitHeldOut(ds, 1), "heldOut must be a fraction in (0, 1), got 1");
});
