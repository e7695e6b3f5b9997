import { epochSeed, Loader } from "../../lib/data/loader.ts";
import { uint8ToTensor } from "../../lib/data/convert.ts";
import type { Dataset } from "../../lib/data/dataset.ts";
import { embedded } from "../../lib/data/embedded.ts";
import { ImageFolder } from "../../lib/data/image_folder.ts";
import { Generator } from "../../lib/tensor/rng.ts";
import { gpuStats, sync } from "../../lib/gpu/device.ts";
import { assert, assertEquals, assertRejects, assertThrows, gpuTest, setup } from "../helpers.ts";
import { encodePng, put, rgba, tempDir } from "./fixtures.ts";

await setup();

/** n 1x3x3 images; image i's bytes are (i * 9 + j) % 256, label i % 4 (or -1 when i % 5 == 4). */
function toy(n: number): Dataset {
  return {
    images: Uint8Array.from({ length: n * 9 }, (_, k) => k % 256),
    labels: Int32Array.from({ length: n }, (_, i) => (i % 5 === 4 ? -1 : i % 4)),
    n,
    channels: 1,
    height: 3,
    width: 3,
    classes: ["a", "b", "c", "d"],
  };
}

/** Indices of every batch of one epoch (and dispose the tensors). */
async function epochIndices(loader: Loader): Promise<number[][]> {
  const out: number[][] = [];
  for await (const b of loader.epoch()) {
    out.push(Array.from(b.indices));
    b.images.dispose();
    b.labels.dispose();
  }
  return out;
}

Deno.test({
  name: "convert: u8 -> f32 on the GPU equals value / 255 exactly, any length and offset",
  ...gpuTest,
  fn: async () => {
    for (const n of [1, 3, 256, 257, 1001]) {
      const g = new Generator(n);
      const backing = new Uint8Array(n + 3);
      for (let i = 0; i < backing.length; i++) backing[i] = i < 256 ? i : g.int(256);
      for (const off of [0, 3]) {
        const bytes = backing.subarray(off, off + n);
        const t = uint8ToTensor(bytes, [n]);
        const got = await t.toArray();
        t.dispose();
        assertEquals(got.constructor.name, "Float32Array");
        for (let i = 0; i < n; i++) {
          if (got[i] !== Math.fround(bytes[i] / 255)) {
            throw new Error(`n ${n} offset ${off}: element ${i} (${bytes[i]}) -> ${got[i]}`);
          }
        }
      }
    }
    // every byte value, in a [B, C, H, W] shape
    const all = Uint8Array.from({ length: 256 }, (_, i) => 255 - i);
    const t = uint8ToTensor(all, [4, 1, 8, 8]);
    assertEquals(t.shape, [4, 1, 8, 8]);
    const v = await t.toArray();
    t.dispose();
    assert(v.every((x, i) => x === Math.fround(all[i] / 255)), "all 256 values");
    assertEquals([v[0], v[255]], [1, 0]);
    assertThrows(() => uint8ToTensor(new Uint8Array(5), [2, 3]), "5 bytes do not fill shape [2,3]");
  },
});

Deno.test({
  name: "loader: batches carry the right images and labels as f32 [B,C,H,W] and i32 [B]",
  ...gpuTest,
  fn: async () => {
    const ds = toy(10);
    const loader = new Loader(ds, { batchSize: 4, seed: 1 });
    const b = await loader.next();
    assertEquals(b.images.shape, [4, 1, 3, 3]);
    assertEquals([b.labels.shape, b.labels.dtype], [[4], "i32"]);
    assertEquals([b.epoch, b.step], [0, 0]);
    const x = await b.images.toArray();
    const y = await b.labels.toArray();
    b.indices.forEach((idx, j) => {
      for (let k = 0; k < 9; k++) {
        assertEquals(x[j * 9 + k], Math.fround(ds.images[idx * 9 + k] / 255), `image ${idx}`);
      }
      assertEquals(y[j], ds.labels[idx], `label ${idx}`);
    });
    b.images.dispose();
    b.labels.dispose();
  },
});

Deno.test({
  name: "loader: order depends only on (seed, epoch); epochs are permutations; no shuffle",
  ...gpuTest,
  fn: async () => {
    const ds = toy(23);
    const a = new Loader(ds, { batchSize: 5, seed: 7 });
    const b = new Loader(ds, { batchSize: 5, seed: 7 });
    const c = new Loader(ds, { batchSize: 5, seed: 8 });
    const e0 = await epochIndices(a);
    assertEquals(e0, await epochIndices(b), "same seed, epoch 0");
    assertEquals(e0.map((x) => x.length), [5, 5, 5, 5, 3], "last batch kept");
    assertEquals(e0.flat().sort((x, y) => x - y), Array.from({ length: 23 }, (_, i) => i));
    const e1 = await epochIndices(a);
    assert(e1.flat().join() !== e0.flat().join(), "epoch 1 reuses epoch 0's order");
    assertEquals(a.state(), { seed: 7, epoch: 2, position: 0 });
    assert((await epochIndices(c)).flat().join() !== e0.flat().join(), "seed 8 = seed 7");
    // the order is the documented permutation
    assertEquals(e1.flat(), Array.from(new Generator(epochSeed(7, 1)).permutation(23)));
    assertEquals(Array.from(a.order(1)), e1.flat());
    const plain = new Loader(ds, { batchSize: 10, shuffle: false });
    assertEquals((await epochIndices(plain)).flat(), Array.from({ length: 23 }, (_, i) => i));
    assert(epochSeed(0, 1) !== epochSeed(1, 0), "epochSeed(0, 1) collides with (1, 0)");
  },
});

Deno.test({
  name: "loader: dropLast skips the partial batch; batch sizes are validated",
  ...gpuTest,
  fn: async () => {
    const ds = toy(23);
    const l = new Loader(ds, { batchSize: 5, seed: 3, dropLast: true });
    assertEquals([l.batchesPerEpoch, l.samplesPerEpoch], [4, 20]);
    const e0 = await epochIndices(l);
    assertEquals(e0.map((x) => x.length), [5, 5, 5, 5]);
    assertEquals(e0.flat(), Array.from(l.order(0).slice(0, 20)));
    assertEquals(l.state().epoch, 1);
    assertEquals(new Loader(ds, { batchSize: 5 }).batchesPerEpoch, 5);
    assertThrows(
      () => new Loader(ds, { batchSize: 0 }),
      "batchSize must be an integer >= 1, got 0",
    );
    assertThrows(
      () => new Loader(ds, { batchSize: 2.5 }),
      "batchSize must be an integer >= 1, got 2.5",
    );
    assertThrows(
      () => new Loader(ds, { batchSize: 24, dropLast: true }),
      "batchSize 24 is larger than the dataset (23 samples)",
    );
    assertThrows(() => new Loader(ds, { batchSize: 4, seed: 0.5 }), "seed must be a safe integer");
    assertThrows(() => new Loader({ ...ds, n: 22 }, { batchSize: 4 }), "dataset fields disagree");
    // a batch larger than the dataset without dropLast: one batch of everything
    const big = new Loader(ds, { batchSize: 100 });
    assertEquals((await epochIndices(big)).map((x) => x.length), [23]);
  },
});

Deno.test({
  name: "loader: a saved state resumes the same batches, mid-epoch and at an epoch",
  ...gpuTest,
  fn: async () => {
    const ds = toy(17);
    const opts = { batchSize: 4, seed: 11 };
    const ref = new Loader(ds, opts);
    const seq: number[][] = [];
    for (let i = 0; i < 15; i++) {
      const b = await ref.next();
      seq.push(Array.from(b.indices));
      b.images.dispose();
      b.labels.dispose();
    }
    const run = new Loader(ds, opts);
    for (let i = 0; i < 7; i++) {
      const b = await run.next();
      b.images.dispose();
      b.labels.dispose();
    }
    const saved = JSON.parse(JSON.stringify(run.state()));
    assertEquals(saved, { seed: 11, epoch: 1, position: 8 });
    const resumed = new Loader(ds, opts);
    resumed.setState(saved);
    for (let i = 7; i < 14; i++) {
      const b = await resumed.next();
      assertEquals(Array.from(b.indices), seq[i], `batch ${i} after resume`);
      assertEquals([b.epoch, b.step], [i < 5 ? 0 : i < 10 ? 1 : 2, i % 5]);
      b.images.dispose();
      b.labels.dispose();
    }
    // starting directly at epoch 2 gives epoch 2's batches
    const at2 = new Loader(ds, opts);
    at2.setState({ seed: 11, epoch: 2, position: 0 });
    assertEquals(await epochIndices(at2), seq.slice(10, 15));
    // a state from elsewhere is refused, naming the field
    assertThrows(() => at2.setState({ seed: 12, epoch: 0, position: 0 }), "field 'seed' is 12");
    assertThrows(
      () => at2.setState({ seed: 11, epoch: 0, position: 3 }),
      "field 'position' 3 is not a batch boundary",
    );
    assertThrows(
      () => at2.setState({ seed: 11, epoch: -1, position: 0 }),
      "state field 'epoch' must be an integer >= 0",
    );
  },
});

Deno.test({
  name: "loader: the embedded dataset streams; GPU buffers do not grow across batches",
  ...gpuTest,
  fn: async () => {
    const ds = await embedded("test");
    const l = new Loader(ds, { batchSize: 128, seed: 0, dropLast: true });
    const step = async () => {
      const b = await l.next();
      assertEquals(b.images.shape, [128, 1, 28, 28]);
      b.images.dispose();
      b.labels.dispose();
    };
    await step();
    await sync();
    const before = gpuStats();
    for (let i = 0; i < 10; i++) await step();
    await sync();
    assertEquals([gpuStats().buffers, gpuStats().inUse], [before.buffers, before.inUse]);
  },
});

Deno.test({
  name: "loader: an image folder source is decoded in workers, prefetched, errors surface",
  ...gpuTest,
  fn: async () => {
    await using dir = await tempDir();
    for (let i = 0; i < 10; i++) {
      const v = i * 20;
      await put(dir.path, `c${i % 2}/${i}.png`, encodePng(rgba(5, 3, () => [v, v, v, 255]), 5, 3));
    }
    const folder = await ImageFolder.open(dir.path, { channels: 1, workers: 2 });
    try {
      const l = new Loader(folder, { batchSize: 3, seed: 2 });
      const b = await l.next();
      assertEquals(b.images.shape, [3, 1, 3, 5]);
      const x = await b.images.toArray();
      const y = await b.labels.toArray();
      b.indices.forEach((idx, j) => {
        const v = Number(folder.files[idx].match(/(\d+)\.png$/)![1]) * 20;
        assertEquals(x[j * 15], Math.fround(v / 255), folder.files[idx]);
        assertEquals(y[j], folder.labels[idx]);
      });
      b.images.dispose();
      b.labels.dispose();
      // break a file of batch 2 (batch 1 is being prefetched): the error names it when
      // batch 2 is asked for
      const victim = folder.files[l.order(0)[6]];
      await Deno.writeFile(victim, new TextEncoder().encode("broken"));
      const n1 = await l.next();
      n1.images.dispose();
      n1.labels.dispose();
      await assertRejects(() => l.next(), `image ${victim}: not a PNG or JPEG file`);
    } finally {
      folder.close();
    }
  },
});
