import {
  cifar10,
  CIFAR10_CLASSES,
  CIFAR10_RECORD_BYTES,
  parseCifar10,
  readCifar10Batch,
} from "../../lib/data/cifar10.ts";
import { imageAt } from "../../lib/data/dataset.ts";
import { assert, assertEquals, assertRejects, assertThrows } from "../helpers.ts";
import { put, tempDir } from "./fixtures.ts";

/** `n` records: label (i + first) % 10, pixel c,y,x = (i * 7 + c * 50 + y * 3 + x) % 256. */
function records(n: number, first = 0): Uint8Array {
  const out = new Uint8Array(n * CIFAR10_RECORD_BYTES);
  for (let i = 0; i < n; i++) {
    const o = i * CIFAR10_RECORD_BYTES;
    out[o] = (i + first) % 10;
    for (let c = 0; c < 3; c++) {
      for (let y = 0; y < 32; y++) {
        for (let x = 0; x < 32; x++) {
          out[o + 1 + c * 1024 + y * 32 + x] = (i * 7 + c * 50 + y * 3 + x) % 256;
        }
      }
    }
  }
  return out;
}

Deno.test("cifar10: records are label + CHW planes", async () => {
  await using dir = await tempDir();
  const path = await put(dir.path, "test_batch.bin", records(5));
  const ds = await readCifar10Batch(path);
  assertEquals([ds.n, ds.channels, ds.height, ds.width], [5, 3, 32, 32]);
  assertEquals(Array.from(ds.labels), [0, 1, 2, 3, 4]);
  assertEquals(ds.classes, [...CIFAR10_CLASSES]);
  const img = imageAt(ds, 3);
  // channel 2 (blue), row 4, column 5
  assertEquals(img[2 * 1024 + 4 * 32 + 5], (3 * 7 + 100 + 12 + 5) % 256);
  assertEquals(img[0], 21);
});

Deno.test("cifar10: the train split joins data_batch_1..5; meta names the classes", async () => {
  await using dir = await tempDir();
  const root = `${dir.path}/cifar-10-batches-bin`;
  for (let b = 1; b <= 5; b++) await put(root, `data_batch_${b}.bin`, records(2, b));
  await put(root, "test_batch.bin", records(3));
  const names = CIFAR10_CLASSES.map((c) => c.toUpperCase());
  await put(root, "batches.meta.txt", new TextEncoder().encode(names.join("\n") + "\n\n"));
  const train = await cifar10("train", dir.path); // finds the cifar-10-batches-bin sub-folder
  assertEquals(train.n, 10);
  assertEquals(Array.from(train.labels), [1, 2, 2, 3, 3, 4, 4, 5, 5, 6]);
  assertEquals(train.classes, names);
  assertEquals((await cifar10("test", root)).n, 3);
});

Deno.test("cifar10: a wrong size, a bad label and a missing batch are named", async () => {
  const r = records(2);
  assertThrows(
    () => parseCifar10(r.subarray(0, 3073 + 100), "data_batch_1.bin"),
    "CIFAR-10 file data_batch_1.bin: size 3173 bytes is not a positive multiple of the record " +
      "size 3073 (1 label byte + 3072 image bytes); 100 bytes left after 1 records",
  );
  assertThrows(() => parseCifar10(new Uint8Array(0), "empty.bin"), "empty.bin: size 0 bytes");
  const bad = r.slice();
  bad[3073] = 12;
  assertThrows(() => parseCifar10(bad, "b.bin"), "b.bin: record 1 has label 12, expected 0..9");
  await using dir = await tempDir();
  await put(dir.path, "data_batch_1.bin", records(1));
  const e = await assertRejects(
    () => cifar10("train", dir.path),
    "data_batch_2.bin does not exist",
  );
  assert(e.message.includes("data_batch_1.bin, data_batch_2.bin"), e.message);
  await assertRejects(() => cifar10("test", `${dir.path}/nope`), `${dir.path}/nope does not exist`);
});
