import { assertEquals, assertThrows } from "../helpers.ts";
import { confusionFigure } from "../../lib/viz/confusion.ts";

Deno.test("confusionFigure: a count heatmap, rows = true, accuracy in the title", () => {
  const names = ["cat", "dog", "eel"];
  const m = [[1, 1, 0], [0, 1, 0], [1, 0, 2]];
  const f = confusionFigure(m, names);
  const t = f.data[0];
  assertEquals(t.type, "heatmap", "type");
  assertEquals([t.x, t.y, t.z], [names, names, m], "axes and counts");
  assertEquals(t.text, [["1", "1", "0"], ["0", "1", "0"], ["1", "0", "2"]], "cell text");
  assertEquals(t.texttemplate, "%{text}", "counts written in the cells");
  assertEquals(
    (f.layout.title as { text: string }).text,
    "confusion matrix (accuracy 66.67%)",
    "title",
  );
  assertEquals((f.layout.yaxis as { autorange: string }).autorange, "reversed", "row 0 on top");
  assertEquals((f.layout.yaxis as { title: { text: string } }).title.text, "true", "y is true");
  // flat input and row-normalised colours (counts still shown)
  const g = confusionFigure(m.flat(), names, { normalize: true });
  assertEquals(g.data[0].z, [[0.5, 0.5, 0], [0, 1, 0], [0.333333, 0, 0.666667]], "row shares");
  assertEquals(g.data[0].text, t.text, "normalised figure still shows counts");
  assertThrows(() => confusionFigure([[1, 2], [3, 4]], names), "must be 3x3");
  assertThrows(() => confusionFigure([1, 2, 3], names), "must hold 9 entries");
  assertThrows(() => confusionFigure(m, ["a", "a", "b"]), "must be distinct");
  assertThrows(() => confusionFigure([[1, 0, 0], [0, -1, 0], [0, 0, 1]], names), "[1][1] = -1");
});
