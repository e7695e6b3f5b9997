/**
 * `--data`: every layout the kit reads is reached from the command line's spec (IDX, CIFAR-10,
 * image folders in DINO's layout and as one folder of classes), a corrupt image is skipped
 * with a warning naming it, and a path that matches no layout is an error naming the path and
 * the layouts; nothing falls back to the Debian files.
 */
import { DATA_LAYOUTS, dataLayout, HELD_OUT, loadData } from "../../lib/cli/data.ts";
import { CIFAR10_RECORD_BYTES } from "../../lib/data/cifar10.ts";
import { writeIdx } from "../../lib/data/idx.ts";
import { imageAt } from "../../lib/data/dataset.ts";
import { assert, assertEquals, assertRejects } from "../helpers.ts";
import { encodeJpeg, encodePng, put, rgba, tempDir } from "../data/fixtures.ts";

/** `n` CIFAR-10 records with labels (first + i) % 10. */
function cifarRecords(n: number, first: number): Uint8Array {
  const out = new Uint8Array(n * CIFAR10_RECORD_BYTES);
  for (let i = 0; i < n; i++) {
    const o = i * CIFAR10_RECORD_BYTES;
    out[o] = (first + i) % 10;
    for (let j = 1; j < CIFAR10_RECORD_BYTES; j++) out[o + j] = (i * 13 + j) % 256;
  }
  return out;
}

/** A `w x h` PNG: grey (R = G = B) or coloured, brightness by `v`. */
function png(w: number, h: number, v: number, grey: boolean): Uint8Array {
  return encodePng(
    rgba(w, h, (x, y) => {
      const g = (v + 5 * x + 3 * y) % 256;
      return grey ? [g, g, g, 255] : [g, (g + 80) % 256, 255 - g, 255];
    }),
    w,
    h,
  );
}

/** Class folders a/ and b/ with `per` images each (PNG and JPEG, sizes differ) + one corrupt. */
async function classFolders(root: string, per: number, grey: boolean): Promise<void> {
  for (const [k, cls] of ["a", "b"].entries()) {
    for (let i = 0; i < per; i++) {
      const bytes = i % 2
        ? encodeJpeg(
          rgba(20 + i, 16, (x) => {
            const g = (40 * k + 9 * x) % 256;
            return grey ? [g, g, g, 255] : [g, 255 - g, 30, 255];
          }),
          20 + i,
          16,
        )
        : png(12 + i, 30, 40 * k + i, grey);
      await put(root, `${cls}/img${i}.${i % 2 ? "jpg" : "png"}`, bytes);
    }
  }
  await put(root, "b/broken.png", Uint8Array.of(0x89, 0x50, 0x4e, 0x47, 1, 2, 3)); // truncated
}

Deno.test("--data: a folder that matches no layout is an error naming it and the layouts", async () => {
  await using dir = await tempDir();
  await put(dir.path, "notes.txt", new TextEncoder().encode("hello"));
  const e = await assertRejects(() => loadData(dir.path), `--data ${dir.path}: this folder`);
  for (const l of DATA_LAYOUTS) assert(e.message.includes(l), `message lists: ${l}`);
  await assertRejects(() => loadData(`${dir.path}/nope`), "no such file or folder; the kit reads");
  await assertRejects(() => loadData(`${dir.path}/notes.txt`), "expected a folder");
});

Deno.test("--data: an IDX folder is read from that folder only, never the Debian one", async () => {
  await using dir = await tempDir();
  // the train files only: the test files are missing, and the Debian folder is not searched
  await writeIdx(`${dir.path}/train-images-idx3-ubyte`, new Uint8Array(2 * 784), [2, 28, 28]);
  await writeIdx(`${dir.path}/train-labels-idx1-ubyte`, Uint8Array.of(1, 2), [2]);
  assertEquals(await dataLayout(dir.path), { kind: "idx", dir: dir.path });
  const e = await assertRejects(() => loadData(dir.path), "Fashion-MNIST test files not found");
  assert(!e.message.includes("/usr/share/datasets"), "the default location is not tried");
  await writeIdx(`${dir.path}/t10k-images-idx3-ubyte.gz`, new Uint8Array(784), [1, 28, 28]);
  await writeIdx(`${dir.path}/t10k-labels-idx1-ubyte.gz`, Uint8Array.of(7), [1]);
  const d = await loadData(dir.path);
  assertEquals([d.train.n, d.test.n, d.preset, d.test.labels[0]], [2, 1, "fashion-mnist", 7]);
  assertEquals((await dataLayout("fashion-mnist")).kind, "fashion-mnist");
});

Deno.test("--data: a CIFAR-10 binary folder gives 3-channel 32-px splits", async () => {
  await using dir = await tempDir();
  const sub = `${dir.path}/cifar-10-batches-bin`;
  for (let b = 1; b <= 5; b++) await put(sub, `data_batch_${b}.bin`, cifarRecords(3, b));
  await put(sub, "test_batch.bin", cifarRecords(4, 0));
  const d = await loadData(dir.path);
  assertEquals(d.layout.kind, "cifar10");
  assertEquals([d.train.n, d.test.n, d.train.channels, d.train.height], [15, 4, 3, 32]);
  assertEquals([d.preset, Array.from(d.test.labels)], ["cifar10", [0, 1, 2, 3]]);
});

Deno.test("--data: one folder of classes, resized, a seeded stratified split, the corrupt file skipped", async () => {
  await using dir = await tempDir();
  await classFolders(dir.path, 10, false);
  await put(dir.path, "loose.png", png(8, 8, 1, false)); // not in a class: left out
  const warnings: string[] = [];
  const d = await loadData(dir.path, { imageSize: 28, warn: (l) => warnings.push(l) });
  assertEquals(d.layout, { kind: "image-folder", dir: dir.path });
  assertEquals([d.train.channels, d.train.height, d.train.width, d.preset], [3, 28, 28, "cifar10"]);
  assertEquals(d.train.classes, ["a", "b"]);
  // 10 readable images per class; 10% of each held out
  assertEquals([d.train.n, d.test.n], [20 - 2 * 10 * HELD_OUT, 2 * 10 * HELD_OUT]);
  const text = warnings.join("\n");
  assert(text.includes("skipped 1 of 21 image files"), text);
  assert(text.includes("broken.png"), "the skipped file is named");
  assert(text.includes("left out 1 images that are not in a class folder"), text);
  assert(text.includes("held out as the test split"), text);
  // the same seed gives the same split
  const again = await loadData(dir.path, { imageSize: 28, warn: () => {} });
  assertEquals(Array.from(again.test.images), Array.from(d.test.images));
});

Deno.test("--data: DINO's train/val layout; grey images give 1 channel, the model's count wins", async () => {
  await using dir = await tempDir();
  await classFolders(`${dir.path}/train`, 4, true);
  await classFolders(`${dir.path}/val`, 2, true);
  const warnings: string[] = [];
  const d = await loadData(dir.path, { imageSize: 16, warn: (l) => warnings.push(l) });
  assertEquals(d.layout.kind, "image-splits");
  assertEquals([d.train.n, d.test.n, d.train.channels, d.preset], [8, 4, 1, "fashion-mnist"]);
  assertEquals([d.test.height, d.test.width], [16, 16]);
  assertEquals(warnings.filter((w) => w.includes("skipped 1 of")).length, 2, warnings.join("\n"));
  // a grey image read as 3 channels (a model trained on RGB) has equal planes
  const rgb = await loadData(dir.path, { imageSize: 16, channels: 3, warn: () => {} });
  const img = imageAt(rgb.test, 0);
  assertEquals(img.subarray(0, 256), img.subarray(256, 512));
  // a val class the train split lacks is an error naming it
  await put(`${dir.path}/val`, "c/x.png", png(8, 8, 3, true));
  await assertRejects(() => loadData(dir.path, { warn: () => {} }), "class folder 'c'");
});

Deno.test("--data: a folder with nothing readable is refused, naming it", async () => {
  await using dir = await tempDir();
  await put(dir.path, "cls/a.png", new TextEncoder().encode("not a png"));
  await put(dir.path, "cls/b.jpg", new Uint8Array(0));
  await assertRejects(
    () => loadData(dir.path, { warn: () => {} }),
    `image folder ${dir.path}: none of its 2 image files could be read`,
  );
});
