import { assert, assertEquals, assertThrows } from "../helpers.ts";
import { tsneScatter } from "../../lib/viz/tsne.ts";
import { mimeBundle, PLOTLY_MIME } from "../../lib/viz/figure.ts";
import { type ImageBatch, pngDataUrl } from "../../lib/viz/images.ts";

Deno.test("tsneScatter: one trace per class, index and class on hover", () => {
  const coords = Float32Array.of(0, 0, 1, 1, 2, 2, 3, 3, 4, 4);
  const labels = Int32Array.of(2, 0, 2, -1, 0);
  const f = tsneScatter(coords, labels, { classNames: ["shirt", "bag", "boot"] });
  assertEquals(
    f.data.map((t) => t.name),
    ["shirt", "boot", "unlabeled"],
    "traces by class, -1 last",
  );
  assertEquals([f.data[0].x, f.data[0].y, f.data[0].text], [[1, 4], [1, 4], ["#1", "#4"]], "shirt");
  assertEquals([f.data[1].x, f.data[1].text], [[0, 2], ["#0", "#2"]], "boot");
  assertEquals(f.data[1].hovertemplate, "%{text} boot<extra></extra>", "hover names the class");
  assertEquals(f.data[0].type, "scatter", "SVG scatter for small N");
  assert(!("customdata" in f.data[0]), "no images, no customdata");
  assertEquals((f.layout.yaxis as { scaleanchor: string }).scaleanchor, "x", "equal aspect");
  // nested coords, default names, WebGL on request
  const g = tsneScatter([[0, 1], [2, 3]], [1, 1], { gl: true });
  assertEquals(
    [g.data[0].name, g.data[0].type, g.data[0].y],
    ["class 1", "scattergl", [1, 3]],
    "nested",
  );
});

Deno.test("tsneScatter: images travel as PNG data URLs, dropped from the Jupyter bundle", () => {
  const images: ImageBatch = {
    data: Uint8Array.from({ length: 3 * 4 }, (_, i) => i * 20),
    shape: [3, 1, 2, 2],
  };
  const f = tsneScatter([0, 0, 1, 1, 2, 2], [1, 0, 1], { images });
  assertEquals(
    f.data[1].customdata,
    [pngDataUrl(images, 0), pngDataUrl(images, 2)],
    "class 1 images",
  );
  assertEquals(f.data[1].meta, { hoverImages: true }, "marked for the HTML hover script");
  const b = mimeBundle(f)[PLOTLY_MIME] as { data: Record<string, unknown>[] };
  assert(b.data.every((t) => !("customdata" in t)), "images left out of the Jupyter bundle");
  assertEquals(b.data[1].text, ["#0", "#2"], "hover text kept in Jupyter");
});

Deno.test("tsneScatter: bad input is a clear error", () => {
  assertThrows(() => tsneScatter([0, 1, 2], [0]), "2 numbers per point");
  assertThrows(() => tsneScatter([0, 1, 2, 3], [0]), "labels must hold 2 entries");
  assertThrows(() => tsneScatter([0, NaN], [0]), "point 0 is (0,NaN), not finite");
  assertThrows(() => tsneScatter([0, 1], [1.5]), "labels[0] = 1.5 is not a class index");
  assertThrows(() => tsneScatter([0, 1], [3], { classNames: ["a"] }), "classNames has 1 names");
  assertThrows(() => tsneScatter([[0, 1, 2]], [0]), "coords[0] must be [x, y]");
  const images: ImageBatch = { data: new Uint8Array(4), shape: [1, 1, 2, 2] };
  assertThrows(() => tsneScatter([0, 1, 2, 3], [0, 0], { images }), "1 images for 2 points");
});
