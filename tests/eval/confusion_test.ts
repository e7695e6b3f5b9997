// Host-side read-outs (lib/eval/confusion.ts) and the split helpers (lib/eval/splits.ts).
import { assert, assertEquals, assertThrows } from "../helpers.ts";
import {
  accuracyOf,
  argmaxRows,
  confusionMatrix,
  perClassAccuracy,
  topkAccuracy,
} from "../../lib/eval/confusion.ts";
import { checkLabels, labelFraction, stratifiedSplit } from "../../lib/eval/splits.ts";

Deno.test("confusion: matrix (rows = true class), per-class and overall accuracy by hand", () => {
  const labels = [0, 0, 0, 1, 1, 2, 2, 2, 2, 3];
  const pred = [0, 1, 0, 1, 1, 2, 0, 2, 3, 3];
  // true 0: predicted 0, 1, 0 -> [2, 1, 0, 0]; true 1: 1, 1 -> [0, 2, 0, 0]
  // true 2: 2, 0, 2, 3 -> [1, 0, 2, 1]; true 3: 3 -> [0, 0, 0, 1]; class 4 absent
  const m = confusionMatrix(pred, labels, 5);
  assertEquals(m, [
    [2, 1, 0, 0, 0],
    [0, 2, 0, 0, 0],
    [1, 0, 2, 1, 0],
    [0, 0, 0, 1, 0],
    [0, 0, 0, 0, 0],
  ], "confusion matrix");
  const pc = perClassAccuracy(m);
  assertEquals(pc.slice(0, 4), [200 / 3, 100, 50, 100], "per-class accuracy");
  assert(Number.isNaN(pc[4]), "a class without samples has NaN accuracy");
  assertEquals(accuracyOf(m), 70, "overall accuracy");
  assertEquals(confusionMatrix(Int32Array.from(pred), Int32Array.from(labels), 5), m, "i32");
});

Deno.test("confusion: argmax and top-k with ties (lower index wins) and NaN", () => {
  const logits = [
    0.1,
    0.9,
    0.9,
    0.0, // tie between 1 and 2 -> 1
    5.0,
    1.0,
    2.0,
    3.0, // -> 0
    NaN,
    0.5,
    0.2,
    0.1, // NaN never wins -> 1
    1.0,
    1.0,
    1.0,
    1.0, // all tied -> 0
  ];
  assertEquals(Array.from(argmaxRows(logits, 4)), [1, 0, 1, 0], "argmax");
  // labels: row 0 is 2 (ranks second: tie broken against it), row 1 is 3 (second),
  // row 2 is 0 (NaN at the label: wrong), row 3 is 3 (last of a 4-way tie)
  const labels = [2, 3, 0, 3];
  assertEquals(topkAccuracy(logits, labels, 4, 1), 0, "top-1");
  assertEquals(topkAccuracy(logits, labels, 4, 2), 50, "top-2");
  assertEquals(topkAccuracy(logits, labels, 4, 3), 50, "top-3");
  assertEquals(topkAccuracy(logits, labels, 4, 4), 75, "top-4");
  assertEquals(topkAccuracy(logits, [1, 0, 1, 0], 4, 1), 100, "top-1 of the argmax");
});

Deno.test("confusion: bad input names the argument", () => {
  assertThrows(() => confusionMatrix([0, 1], [0, 5], 3), "labels[1] = 5");
  assertThrows(() => confusionMatrix([0, -1], [0, 1], 3), "pred[1] = -1");
  assertThrows(() => confusionMatrix([0, 1, 1], [0, 1], 3), "pred has 3 entries");
  assertThrows(() => confusionMatrix([0.5], [0], 3), "not a class index");
  assertThrows(() => argmaxRows([1, 2, 3], 2), "not a non-empty multiple");
  assertThrows(() => topkAccuracy([1, 2, 3, 4], [0, 1], 2, 3), "k must be");
  assertThrows(() => topkAccuracy([1, 2, 3, 4], [0], 2, 1), "labels has 1 entries");
  assertThrows(() => perClassAccuracy([[1, 2], [3]]), "square");
  assertThrows(() => accuracyOf([[0]]), "empty");
  assertThrows(() => checkLabels("op", "y", [], 2), "y is empty");
});

/** Labels with uneven classes: 40 of class 0, 25 of 1, 9 of 2, 1 of 3, shuffled. */
function unevenLabels(): Int32Array {
  const y: number[] = [];
  [40, 25, 9, 1].forEach((n, c) => y.push(...new Array(n).fill(c)));
  const out = new Int32Array(y.length);
  for (let i = 0; i < y.length; i++) out[(i * 37) % y.length] = y[i]; // 37 is prime to 75
  return out;
}

function countBy(y: Int32Array, idx: Int32Array, C: number): number[] {
  const c = new Array(C).fill(0);
  for (const i of idx) c[y[i]]++;
  return c;
}

Deno.test("splits: stratifiedSplit holds out each class's share, seeded and disjoint", () => {
  const y = unevenLabels();
  const s = stratifiedSplit(y, 0.2, 7);
  // round(0.2 n_c) within [1, n_c - 1]: 8, 5, 2; the single sample of class 3 stays in train
  assertEquals(countBy(y, s.val, 4), [8, 5, 2, 0], "held-out per class");
  assertEquals(countBy(y, s.train, 4), [32, 20, 7, 1], "kept per class");
  const all = [...s.train, ...s.val].sort((a, b) => a - b);
  assertEquals(all, Array.from({ length: y.length }, (_, i) => i), "a partition of 0..n-1");
  assert(s.val.every((v, i) => i === 0 || s.val[i - 1] < v), "val indices ascending");
  const again = stratifiedSplit(y, 0.2, 7);
  assertEquals(Array.from(again.val), Array.from(s.val), "same seed, same split");
  const other = stratifiedSplit(y, 0.2, 8);
  assert(Array.from(other.val).join() !== Array.from(s.val).join(), "another seed differs");
  // tiny fraction: at least one of every class with two or more samples
  assertEquals(countBy(y, stratifiedSplit(y, 0.001, 0).val, 4), [1, 1, 1, 0], "at least 1");
  // a class of two keeps one on each side even at fraction 0.9
  const small = Int32Array.from([0, 0, 1, 1, 1]);
  assertEquals(countBy(small, stratifiedSplit(small, 0.9, 0).val, 2), [1, 2], "n_c - 1");
});

Deno.test("splits: labelFraction takes max(1, round(f n_c)) per class, seeded", () => {
  const y = unevenLabels();
  const a = labelFraction(y, 0.1, 3);
  assertEquals(countBy(y, a, 4), [4, 3, 1, 1], "per class at 10%"); // 2.5 rounds to 3
  assertEquals(countBy(y, labelFraction(y, 0.01, 3), 4), [1, 1, 1, 1], "at least 1 per class");
  assertEquals(labelFraction(y, 1, 0).length, y.length, "fraction 1 takes everything");
  assertEquals(Array.from(labelFraction(y, 0.1, 3)), Array.from(a), "deterministic");
  assert(new Set(a).size === a.length, "no repeats");
  assert(a.every((v, i) => i === 0 || a[i - 1] < v), "ascending");
  const b = labelFraction(y, 0.1, 4);
  assert(Array.from(a).join() !== Array.from(b).join(), "another seed differs");
});

Deno.test("splits: bad input names the argument", () => {
  const y = unevenLabels();
  assertThrows(() => labelFraction(y, 0.1, 0, 5), "class 4 has no samples");
  assertThrows(() => labelFraction(y, 0, 0), "fraction must be in (0, 1]");
  assertThrows(() => labelFraction(y, 1.5, 0), "fraction must be in (0, 1]");
  assertThrows(() => labelFraction([0, 1, 7], 0.5, 0, 3), "labels[2] = 7");
  assertThrows(() => labelFraction(y, 0.1, 0.5), "seed must be an integer");
  assertThrows(() => stratifiedSplit(y, 1, 0), "fraction must be in (0, 1)");
  assertThrows(() => stratifiedSplit([0, 1, 2], 0.5, 0), "nothing can be held out");
  assertThrows(() => stratifiedSplit([0, -1], 0.5, 0), "labels[1] = -1");
  assertThrows(() => checkLabels("op", "trainLabels", [0, 1], 2, 3), "has 2 entries");
});
