import { assert, assertEquals, assertThrows, gpuTest, randArray, setup } from "../helpers.ts";
import { type AttentionMaps, attentionMaps } from "../../lib/eval/attention_maps.ts";
import { attentionGrid } from "../../lib/viz/attention.ts";
import { figureJson, type Trace } from "../../lib/viz/figure.ts";
import { type ImageBatch, pngDataUrl } from "../../lib/viz/images.ts";
import { ViT } from "../../lib/nn/vit.ts";
import { tensor } from "../../lib/tensor/tensor.ts";

await setup();

const round = (v: number) => Number(v.toPrecision(5));

Deno.test({
  name: "attentionGrid: image + one heatmap per head from real attention maps, masks on request",
  ...gpuTest,
  fn: async () => {
    const vit = new ViT({
      imgSize: 8,
      patchSize: 4,
      inChans: 1,
      embedDim: 8,
      depth: 1,
      numHeads: 2,
      mlpRatio: 2,
      qkvBias: true,
      dropPathRate: 0,
      eps: 1e-6,
    }, 0);
    const B = 3, S = 12; // 3x3 grid at a size other than the training size
    const raw = Float32Array.from(randArray(B * S * S, 3, 0, 1));
    const x = tensor(raw, [B, 1, S, S]);
    const maps = await attentionMaps(vit, x, { threshold: 0.5 });
    x.dispose();
    const images: ImageBatch = { data: raw, shape: [B, 1, S, S] };

    const f = attentionGrid(images, maps, { indices: [2, 0] });
    // rows: images 2 and 0; columns: image, head 0, head 1
    assertEquals(f.data.map((t) => [t.type, t.xaxis, t.yaxis]), [
      ["image", "x", "y"],
      ["heatmap", "x2", "y2"],
      ["heatmap", "x3", "y3"],
      ["image", "x4", "y4"],
      ["heatmap", "x5", "y5"],
      ["heatmap", "x6", "y6"],
    ], "panels");
    assertEquals(f.data[0].source, pngDataUrl(images, 2), "first row shows image 2");
    assertEquals(f.data[3].source, pngDataUrl(images, 0), "second row shows image 0");
    // head 1 of image 2, as the 3x3 patch grid with 4-pixel cells centred on the pixels
    const h = f.data[2];
    const off = (2 * 2 + 1) * 9;
    const want = [0, 1, 2].map((y) => [0, 1, 2].map((x) => round(maps.patch[off + y * 3 + x])));
    assertEquals(h.z, want, "head map values");
    assertEquals([h.x0, h.dx, h.y0, h.dy], [1.5, 4, 1.5, 4], "grid cells cover the pixels");
    const y2 = f.layout.yaxis2 as { range: number[]; scaleanchor: string };
    assertEquals([y2.range, y2.scaleanchor], [[11.5, -0.5], "x2"], "image orientation");
    JSON.parse(figureJson(f)); // valid JSON

    const m = attentionGrid(images, maps, { heads: [1], indices: [0], masks: true });
    // row 0: image, head 1 map; row 1: (empty), image + mask overlay
    assertEquals(m.data.map((t) => [t.type, t.xaxis]), [
      ["image", "x"],
      ["heatmap", "x2"],
      ["image", "x4"],
      ["heatmap", "x4"],
    ], "mask row panels");
    const overlay = m.data[3] as Trace & { z: (number | null)[][] };
    const mask = maps.masks!.subarray((0 * 2 + 1) * 9, (0 * 2 + 1) * 9 + 9);
    assertEquals(overlay.z.flat(), [...mask].map((v) => (v ? 1 : null)), "mask overlay cells");
    assert(mask.some((v) => v) && mask.some((v) => !v), "the test mask is neither empty nor full");

    // bilinear maps are drawn at full resolution
    const bil: AttentionMaps = { ...maps, upsample: "bilinear" };
    const b = attentionGrid(images, bil, { heads: [0], indices: [1] });
    const z = b.data[1].z as number[][];
    assertEquals([z.length, z[0].length], [S, S], "full-resolution map");
    assertEquals(z[5][7], round(maps.upsampled[(1 * 2 + 0) * S * S + 5 * S + 7]), "pixel value");

    assertThrows(() => attentionGrid(images, maps, { heads: [2] }), "head 2 is outside 0..1");
    assertThrows(() => attentionGrid(images, maps, { indices: [3] }), "image index 3 is outside");
    const noMasks: AttentionMaps = { ...maps, masks: undefined, threshold: undefined };
    assertThrows(
      () => attentionGrid(images, noMasks, { masks: true }),
      "give attentionMaps a threshold",
    );
    const small: ImageBatch = { data: raw.subarray(0, 2 * S * S), shape: [2, 1, S, S] };
    assertThrows(() => attentionGrid(small, maps), "do not match the maps");
  },
});
