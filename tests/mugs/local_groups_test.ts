// The local-group explorer's library: a memory encoded from training images holds each image's
// mean patch token with its dataset index; exploring it returns the cosine top-k of the
// queries (the mean of the last block's tokens before the final norm) against a float64
// reference; a training checkpoint gives both networks with their relation transformers
// (attention rows sum to 1); a run folder lists checkpoint.prev before checkpoint, and only
// when it holds an earlier step.
import { assert, assertClose, assertEquals, assertRejects, gpuTest, setup } from "../helpers.ts";
import {
  checkpointSnapshots,
  disposeSnapshot,
  encodeLocalGroups,
  exploreLocalGroups,
  loadLocalGroups,
} from "../../lib/mugs/local_groups.ts";
import { ViT } from "../../lib/nn/vit.ts";
import { tinyVit } from "./fixtures.ts";
import { tinyCheckpoint } from "../cli/fixtures.ts";
import { embedded } from "../../lib/data/embedded.ts";
import { subset } from "../../lib/data/dataset.ts";
import { uint8ToTensor } from "../../lib/data/convert.ts";
import { normalize } from "../../lib/augment/ops.ts";
import { noGrad } from "../../lib/tensor/tape.ts";
import { loadCheckpoint, saveCheckpoint } from "../../lib/io/checkpoint.ts";

await setup();

const MEAN = [0.286], STD = [0.353];

Deno.test({
  name:
    "local groups: an encoded memory holds each image's mean patch token; queries get its cosine top-k",
  ...gpuTest,
  fn: async () => {
    const test = await embedded("test");
    const train = subset(test, Array.from({ length: 40 }, (_, i) => 100 + i));
    const held = subset(test, Array.from({ length: 6 }, (_, i) => 500 + 7 * i));
    const vit = new ViT(tinyVit(1, 0), 3).eval();
    const snap = encodeLocalGroups(vit, train, {
      size: 30,
      k: 5,
      mean: MEAN,
      std: STD,
      label: "x",
    });
    const mem = snap.nets[0].memory;
    assertEquals([mem.size, mem.filled, snap.k], [30, 30, 5]);
    assertEquals(Array.from(mem.sources), Array.from({ length: 30 }, (_, i) => i), "sources");
    const encode = (ds: typeof train, n: number) =>
      noGrad(() =>
        vit.encode(
          normalize(uint8ToTensor(ds.images.subarray(0, n * 784), [n, 1, 28, 28]), MEAN, STD),
        )
      );
    const direct = encode(train, 30);
    assertClose((await mem.state()).data, await direct.mean.toArray(), { atol: 1e-6, rtol: 1e-5 });
    const [e] = await exploreLocalGroups(snap, held);
    assertEquals([e.n, e.k, e.attention, e.heads], [6, 5, undefined, 0], "no relation transformer");
    // float64 reference: cosine of the pre-norm token mean against the entries
    const q = await encode(held, 6).pre.mean(1).toArray();
    const m = await direct.mean.toArray();
    const D = 32;
    const unit = (x: ArrayLike<number>, i: number) => {
      const v = Array.from({ length: D }, (_, j) => x[i * D + j]);
      const n = Math.hypot(...v);
      return v.map((a) => a / n);
    };
    for (let b = 0; b < 6; b++) {
      const u = unit(q, b);
      const sims = Array.from(
        { length: 30 },
        (_, r) => unit(m, r).reduce((a, v, j) => a + v * u[j], 0),
      );
      const kth = [...sims].sort((x, y) => y - x)[4];
      for (let j = 0; j < 5; j++) {
        const row = e.rows[b * 5 + j];
        assertEquals(e.images[b * 5 + j], row, "image = source of the row");
        assert(Math.abs(e.similarities[b * 5 + j] - sims[row]) < 1e-5, `query ${b}: similarity`);
        assert(sims[row] >= kth - 1e-5, `query ${b}: row ${row} is among the top 5`);
      }
    }
    disposeSnapshot(snap);
  },
});

Deno.test({
  name:
    "local groups: a checkpoint gives both networks with their relation transformers; runs list prev first",
  ...gpuTest,
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "mugs-local-groups-" });
    try {
      await tinyCheckpoint(dir);
      // one checkpoint so far: a copy as checkpoint.prev at the same step is not listed
      await Deno.copyFile(
        `${dir}/checkpoint/checkpoint.json`,
        `${dir}/checkpoint/checkpoint.prev.json`,
      );
      await Deno.copyFile(
        `${dir}/checkpoint/checkpoint.safetensors`,
        `${dir}/checkpoint/checkpoint.prev.safetensors`,
      );
      assertEquals(await checkpointSnapshots(dir), [`${dir}/checkpoint/checkpoint.json`]);
      const snap = await loadLocalGroups(`${dir}/checkpoint/checkpoint.json`);
      assertEquals(snap.nets.map((n) => n.network), ["teacher", "student"]);
      assertEquals([snap.label, snap.k], ["step 3 (1 epochs)", 4]);
      const test = await embedded("test");
      const found = await exploreLocalGroups(snap, test, [3, 1]);
      for (const e of found) {
        assertEquals([e.n, e.k, e.heads, e.attention!.length], [2, 4, 2, 1]);
        assert(e.images.every((v) => v === -1), "an untrained state's memory images are unknown");
        for (let r = 0; r < 2 * 2; r++) {
          const row = e.attention![0].subarray(r * 5, (r + 1) * 5);
          assertClose([row.reduce((a, v) => a + v, 0)], [1], { atol: 1e-5, rtol: 0 }, "sums to 1");
        }
      }
      disposeSnapshot(snap);
      // a list: entries in the order given; a later step in checkpoint.prev is not "earlier"
      const list = await checkpointSnapshots(
        `${dir}/checkpoint/checkpoint.json, ${dir}/checkpoint/checkpoint.prev.json`,
      );
      assertEquals(list.length, 2);
      await assertRejects(
        () => checkpointSnapshots(`${dir}/nope`),
        `--checkpoint ${dir}/nope: no such`,
      );
      await assertRejects(() => checkpointSnapshots(`${dir},`), "an empty entry");
      await Deno.writeTextFile(`${dir}/w.safetensors`, "");
      await assertRejects(() => checkpointSnapshots(`${dir}/w.safetensors`), "holds no memory");
      // a checkpoint without the memories' dataset indices cannot be explored
      const ck = await loadCheckpoint(`${dir}/checkpoint/checkpoint.json`);
      const tensors = new Map([...ck.tensors].filter(([n]) => n !== "student_memory.sources"));
      await saveCheckpoint(`${dir}/old`, { tensors, meta: ck.meta });
      await assertRejects(
        () => loadLocalGroups(`${dir}/old/checkpoint.json`),
        "the student memory does not record which images",
      );
      const teacherOnly = await loadLocalGroups(`${dir}/old/checkpoint.json`, {
        networks: ["teacher"],
      });
      assertEquals(teacherOnly.nets.length, 1);
      disposeSnapshot(teacherOnly);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
