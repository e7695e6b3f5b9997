import { assertEquals, assertThrows } from "../helpers.ts";
import { knnCurve } from "../../lib/viz/knn.ts";

Deno.test("knnCurve: one series from { k: top1 } or knnClassify results, k sorted", () => {
  const a = knnCurve({ 200: 70.5, 10: 80.25, 20: 81, 100: 75 });
  assertEquals(a.data.length, 1, "one trace");
  assertEquals([a.data[0].x, a.data[0].y], [[10, 20, 100, 200], [80.25, 81, 75, 70.5]], "points");
  const ax = a.layout.xaxis as { type: string; tickvals: number[]; ticktext: string[] };
  assertEquals([ax.type, ax.tickvals, ax.ticktext], ["log", [10, 20, 100, 200], [
    "10",
    "20",
    "100",
    "200",
  ]], "log k axis with the ks as ticks");
  const b = knnCurve([{ k: 20, top1: 50, top5: 90 }, { k: 10, top1: 40, top5: 80 }], {
    logX: false,
  });
  assertEquals([b.data[0].x, b.data[0].y], [[10, 20], [40, 50]], "results array");
  assertEquals((b.layout.xaxis as { type: string }).type, "linear", "logX false");
});

Deno.test("knnCurve: named series share the k ticks; bad input is named", () => {
  const f = knnCurve({
    Mugs: { 10: 82, 20: 83 },
    "raw pixels": [{ k: 10, top1: 78 }, { k: 50, top1: 76 }],
  });
  assertEquals(f.data.map((d) => d.name), ["Mugs", "raw pixels"], "series names");
  assertEquals((f.layout.xaxis as { tickvals: number[] }).tickvals, [10, 20, 50], "union of ks");
  assertEquals(f.layout.showlegend, true, "legend for several series");
  assertThrows(() => knnCurve({}), "knnCurve: input is empty");
  assertThrows(() => knnCurve({ 0: 5 }), "k must be a positive integer");
  assertThrows(() => knnCurve({ 10: NaN }), "accuracy at k=10 must be a finite number");
  assertThrows(() => knnCurve({ a: { 2.5: 1 } }), 'series "a": k must be a positive integer');
  assertThrows(() => knnCurve({ a: 5 as never, b: {} }), 'series "a" must be');
});
