import { assertEquals, assertThrows } from "../helpers.ts";
import { PNG } from "npm:pngjs@7.0.0";
import { Buffer } from "node:buffer";
import {
  type ImageBatch,
  imageBytes,
  imagesFromDataset,
  pngDataUrl,
} from "../../lib/viz/images.ts";

function decode(url: string): { width: number; height: number; rgba: number[] } {
  const prefix = "data:image/png;base64,";
  if (!url.startsWith(prefix)) throw new Error(`not a PNG data URL: ${url.slice(0, 30)}`);
  const png = PNG.sync.read(Buffer.from(url.slice(prefix.length), "base64"));
  return { width: png.width, height: png.height, rgba: [...png.data] };
}

Deno.test("pngDataUrl: grayscale bytes, float RGB and auto range decode back to the pixels", () => {
  // two 2x3 grayscale byte images
  const gray: ImageBatch = {
    data: Uint8Array.from({ length: 12 }, (_, i) => i * 20),
    shape: [2, 1, 2, 3],
  };
  const g = decode(pngDataUrl(gray, 1));
  assertEquals([g.width, g.height], [3, 2], "size");
  const want: number[] = [];
  for (let p = 0; p < 6; p++) want.push(...[1, 1, 1].map(() => (6 + p) * 20), 255);
  assertEquals(g.rgba, want, "grayscale pixels");
  // one 1x2 RGB float image in [0, 1], CHW: R = (0, 1), G = (0.5, 0.25), B = (1, 0)
  const rgb: ImageBatch = { data: Float32Array.of(0, 1, 0.5, 0.25, 1, 0), shape: [1, 3, 1, 2] };
  assertEquals(decode(pngDataUrl(rgb, 0)).rgba, [0, 128, 255, 255, 255, 64, 0, 255], "RGB pixels");
  // normalised values, per-image min..max
  const norm: ImageBatch = { data: [-2, 0, 2, 6], shape: [1, 1, 2, 2], range: "auto" };
  assertEquals([...imageBytes(norm, 0).pixels], [0, 64, 128, 255], "auto range");
  const fixed: ImageBatch = { data: [-1, 0, 1, 3], shape: [1, 1, 2, 2], range: [-1, 1] };
  assertEquals([...imageBytes(fixed, 0).pixels], [0, 128, 255, 255], "fixed range, clamped");
});

Deno.test("images: dataset picks and bad batches are clear errors", () => {
  const ds = {
    images: Uint8Array.from({ length: 3 * 4 }, (_, i) => i),
    labels: Int32Array.of(0, 1, 0),
    n: 3,
    channels: 1,
    height: 2,
    width: 2,
    classes: ["a", "b"],
  };
  const b = imagesFromDataset(ds, [2, 0]);
  assertEquals(b.shape, [2, 1, 2, 2], "shape");
  assertEquals([...b.data], [8, 9, 10, 11, 0, 1, 2, 3], "picked images");
  assertThrows(() => imagesFromDataset(ds, [3]), "index 3 (at 0) is outside 0..2");
  assertThrows(() => pngDataUrl({ data: [1], shape: [1, 2, 1, 1] } as never, 0), "1 or 3 channels");
  assertThrows(() => pngDataUrl({ data: [1, 2], shape: [1, 1, 1, 1] }, 0), "data holds 2 values");
  assertThrows(() => pngDataUrl({ data: [1], shape: [1, 1, 1] } as never, 0), "[N, C, H, W]");
  assertThrows(() => pngDataUrl({ data: [1], shape: [1, 1, 1, 1] }, 1), "index 1 is outside");
  assertThrows(
    () => pngDataUrl({ data: [1], shape: [1, 1, 1, 1], range: [1, 0] }, 0),
    "range must be",
  );
});
