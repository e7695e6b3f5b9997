import { ImageFolder, imageFolder } from "../../lib/data/image_folder.ts";
import { decodeImage, resizeBilinear, rgbaToChw } from "../../lib/data/image_decode.ts";
import { DecodePool } from "../../lib/data/decode_pool.ts";
import { imageAt } from "../../lib/data/dataset.ts";
import { assert, assertEquals, assertRejects, assertThrows } from "../helpers.ts";
import { decodeJpegRgba, encodeJpeg, encodePng, put, rgba, tempDir } from "./fixtures.ts";

// A 5x4 RGBA image and what Pillow 9.4 makes of it (computed with PIL, written down here):
// Image.putdata(px); convert("L"); convert("L").resize((3, 2), BILINEAR);
// convert("RGB").resize((7, 3), BILINEAR).
const W = 5;
const H = 4;
const px = (x: number, y: number): [number, number, number, number] => [
  (17 * x + 3 * y * y) % 256,
  (29 * x * y + 11) % 256,
  (255 - 13 * x - 7 * y) % 256,
  (40 * x + y) % 256,
];
const PIL_L = [
  36,
  39,
  43,
  46,
  50,
  36,
  56,
  77,
  97,
  118,
  38,
  75,
  113,
  150,
  188,
  41,
  96,
  151,
  55,
  110,
];
const PIL_L_3x2 = [43, 68, 92, 57, 110, 126];
const PIL_RGB_7x3 = [
  [1, 11, 253],
  [11, 16, 246],
  [23, 22, 236],
  [35, 28, 227],
  [47, 35, 218],
  [59, 41, 208],
  [69, 46, 201],
  [8, 11, 245],
  [18, 36, 238],
  [30, 67, 228],
  [42, 98, 219],
  [54, 129, 210],
  [66, 160, 200],
  [76, 185, 193],
  [23, 11, 236],
  [33, 56, 229],
  [45, 112, 219],
  [57, 168, 210],
  [69, 95, 201],
  [81, 100, 191],
  [91, 145, 184],
];

/** HWC triples of a CHW image. */
function hwc(chw: Uint8Array, h: number, w: number): number[][] {
  return Array.from({ length: h * w }, (_, i) => [chw[i], chw[h * w + i], chw[2 * h * w + i]]);
}

Deno.test("image: grayscale is Pillow's convert('L'); RGB drops alpha; resize matches Pillow", () => {
  const png = encodePng(rgba(W, H, px), W, H);
  const gray = decodeImage(png, "a.png", { channels: 1 });
  assertEquals([gray.channels, gray.height, gray.width], [1, H, W]);
  assertEquals(Array.from(gray.data), PIL_L, "convert('L')");
  const rgb = decodeImage(png, "a.png");
  assertEquals(rgb.channels, 3);
  const want = Array.from({ length: H * W }, (_, i) => px(i % W, Math.floor(i / W)).slice(0, 3));
  assertEquals(hwc(rgb.data, H, W), want, "RGB planes, alpha dropped");
  assertEquals(
    Array.from(decodeImage(png, "a.png", { channels: 1, size: [2, 3] }).data),
    PIL_L_3x2,
  );
  const up = decodeImage(png, "a.png", { channels: 3, size: [3, 7] });
  assertEquals(hwc(up.data, 3, 7), PIL_RGB_7x3, "RGB resize to 7x3");
  // a few luma values by the formula (R*19595 + G*38470 + B*7471 + 0x8000) >> 16
  assertEquals(
    Array.from(rgbaToChw(Uint8Array.of(255, 0, 0, 0, 0, 255, 0, 9, 10, 200, 77, 255), 1, 3, 1)),
    [76, 150, 129],
  );
  // same size: a copy, unchanged
  const same = resizeBilinear(Uint8Array.of(1, 2, 3, 4), 1, 2, 2, 2, 2);
  assertEquals(Array.from(same), [1, 2, 3, 4]);
  assertThrows(
    () => decodeImage(png, "a.png", { channels: 2 as 1 }),
    "channels must be 1 or 3, got 2",
  );
  assertThrows(() => decodeImage(png, "a.png", { size: [0, 3] }), "size must be [height, width]");
});

Deno.test("image: JPEG decodes through jpeg-js; undecodable bytes name the file", () => {
  const src = rgba(16, 8, (x, y) => [x * 16, y * 32, 128, 255]);
  const jpg = encodeJpeg(src, 16, 8, 100);
  const img = decodeImage(jpg, "b.jpg");
  assertEquals([img.channels, img.height, img.width], [3, 8, 16]);
  assertEquals(Array.from(img.data), Array.from(rgbaToChw(decodeJpegRgba(jpg), 8, 16, 3)));
  let err = 0;
  for (let i = 0; i < 16 * 8; i++) err = Math.max(err, Math.abs(img.data[i] - src[4 * i]));
  assert(err <= 8, `JPEG quality 100 red channel off by ${err}`);
  assertThrows(
    () => decodeImage(new TextEncoder().encode("hello, not an image"), "notes.png"),
    "image notes.png: not a PNG or JPEG file (first bytes 68 65 6c 6c 6f 2c 20 6e); expected a PNG",
  );
  assertThrows(
    () => decodeImage(new Uint8Array(0), "empty.jpg"),
    "empty.jpg: not a PNG or JPEG file (first bytes none: empty file)",
  );
  const png = encodePng(rgba(W, H, px), W, H);
  assertThrows(
    () => decodeImage(png.subarray(0, 40), "cut.png"),
    "image cut.png: could not decode it as PNG",
  );
  assertThrows(
    () => decodeImage(jpg.subarray(0, jpg.length >> 1), "cut.jpg"),
    "image cut.jpg: could not decode it as JPEG",
  );
});

Deno.test({
  name: "image folder: sorted classes, nested files, unlabeled root images, PNG and JPEG",
  fn: async () => {
    await using dir = await tempDir();
    const r = dir.path;
    const solid = (v: number) => encodePng(rgba(6, 4, () => [v, v, v, 255]), 6, 4);
    await put(r, "zebra/b.png", solid(10));
    await put(r, "zebra/a.PNG", solid(20));
    await put(r, "Ant/x.jpeg", encodeJpeg(rgba(6, 4, () => [200, 200, 200, 255]), 6, 4, 100));
    await put(r, "Ant/sub/y.png", solid(30));
    await put(r, "Ant/readme.txt", new TextEncoder().encode("ignored"));
    await put(r, "cat/c.jpg", encodeJpeg(rgba(6, 4, () => [90, 90, 90, 255]), 6, 4, 100));
    await put(r, "loose.png", solid(40));
    for (const workers of [0, 2]) {
      const ds = await imageFolder(r, { channels: 1, workers });
      assertEquals(ds.classes, ["Ant", "cat", "zebra"], "classes sorted by code point");
      assertEquals(Array.from(ds.labels), [-1, 0, 0, 1, 2, 2]);
      assertEquals([ds.n, ds.channels, ds.height, ds.width], [6, 1, 4, 6]);
      const first = (i: number) => imageAt(ds, i)[0];
      assertEquals(
        [first(0), first(2), first(4), first(5)],
        [40, 30, 20, 10],
        `workers ${workers}`,
      );
      assert(Math.abs(first(1) - 200) <= 2 && Math.abs(first(3) - 90) <= 2, "JPEG values");
    }
    // resized, RGB; the loaded bytes equal decodeImage's
    const ds = await imageFolder(r, { size: [3, 5], workers: 1 });
    assertEquals([ds.channels, ds.height, ds.width], [3, 3, 5]);
    const want = decodeImage(await Deno.readFile(`${r}/zebra/b.png`), "b", { size: [3, 5] });
    assertEquals(Array.from(imageAt(ds, 5)), Array.from(want.data));
    // only unlabeled images
    await using flat = await tempDir();
    await put(flat.path, "1.png", solid(1));
    await put(flat.path, "2.png", solid(2));
    const u = await imageFolder(flat.path, { channels: 1, workers: 0 });
    assertEquals(u.classes, []);
    assertEquals(Array.from(u.labels), [-1, -1]);
  },
});

Deno.test({
  name: "image folder: lazy gather decodes batches in workers",
  fn: async () => {
    await using dir = await tempDir();
    for (let i = 0; i < 12; i++) {
      await put(
        dir.path,
        `k${i % 3}/${String(i).padStart(2, "0")}.png`,
        encodePng(rgba(4, 4, () => [i, i, i, 255]), 4, 4),
      );
    }
    using folder = await ImageFolder.open(dir.path, { channels: 1, workers: 2 });
    assertEquals([folder.n, folder.height, folder.width], [12, 4, 4]);
    const b = await folder.gather(Int32Array.of(11, 0, 5));
    assertEquals([b[0], b[16], b[32]], [11, 0, 4]); // k2/11, k0/00, k1/04 in sorted order
    // all twelve, reversed: sent in chunks of several files per message, order kept
    const rev = Int32Array.from({ length: 12 }, (_, i) => 11 - i);
    const all = await folder.gather(rev);
    const want = Array.from(rev, (i) => Number(folder.files[i].match(/(\d+)\.png$/)![1]));
    assertEquals(Array.from({ length: 12 }, (_, j) => all[16 * j]), want);
    await assertRejects(() => folder.gather([12]), "index 12 is outside [0, 11]");
  },
});

Deno.test({
  name: "image folder: missing, empty, undecodable and mixed-size inputs are named",
  fn: async () => {
    await using dir = await tempDir();
    const r = dir.path;
    await assertRejects(() => imageFolder(`${r}/nope`), `image folder ${r}/nope does not exist`);
    await assertRejects(
      () => imageFolder(r),
      `image folder ${r} is empty: no .png, .jpg, .jpeg files`,
    );
    await put(r, "notes.txt", new TextEncoder().encode("x"));
    await assertRejects(() => imageFolder(`${r}/notes.txt`), "is not a directory");
    await Deno.mkdir(`${r}/empty_class`);
    await put(r, "full/a.png", encodePng(rgba(4, 4, () => [1, 2, 3, 255]), 4, 4));
    await assertRejects(() => imageFolder(r), `class folder ${r}/empty_class holds no image`);
    await Deno.remove(`${r}/empty_class`);
    await put(r, "full/b.png", encodePng(rgba(5, 4, () => [1, 2, 3, 255]), 5, 4));
    await assertRejects(
      () => imageFolder(r, { workers: 1 }),
      `image ${r}/full/b.png is 4x5 (HxW) but ${r}/full/a.png is 4x4; pass size`,
    );
    assertEquals((await imageFolder(r, { size: 4, workers: 1 })).n, 2);
    await put(r, "full/c.jpg", new TextEncoder().encode("definitely not a jpeg"));
    for (const workers of [0, 1]) {
      await assertRejects(
        () => imageFolder(r, { size: 4, workers }),
        `image ${r}/full/c.jpg: not a PNG or JPEG file`,
      );
    }
    await assertRejects(
      () => imageFolder(r, { channels: 4 as 3 }),
      "channels must be 1 or 3, got 4",
    );
    const pool = new DecodePool(1);
    await assertRejects(() => pool.decode(`${r}/gone.png`), `image ${r}/gone.png does not exist`);
    pool.close();
    await assertRejects(() => pool.decode(`${r}/full/a.png`), "DecodePool: closed");
  },
});
