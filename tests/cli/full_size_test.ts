/**
 * A full-size split within the device's limits: a 60 000-image IDX folder (the size of the
 * official Fashion-MNIST train split; its raw pixels as f32 are 188 MB, more than llvmpipe's
 * 128 MiB storage-binding limit) goes through `--data`, trains for one step and is read out
 * (raw-pixel k-NN and the network's k-NN on the whole training set as bank). The ViT is made
 * tiny so the two feature passes over 60 000 images stay short; what is tested is that no
 * buffer grows with the dataset.
 */
import { assert, assertEquals, gpuTest, setup } from "../helpers.ts";
import { loadData } from "../../lib/cli/data.ts";
import { trainerConfig } from "../../lib/cli/train.ts";
import { presetDefaults } from "../../lib/mugs/config.ts";
import { TINY_HEADS } from "../mugs/fixtures.ts";
import { trainMugs } from "../../lib/mugs/trainer.ts";
import { embedded } from "../../lib/data/embedded.ts";
import { writeIdx } from "../../lib/data/idx.ts";
import { runtime } from "../../lib/gpu/device.ts";

await setup();

Deno.test({
  name: "full size: a 60 000-image IDX split trains for a step within the device limits",
  ...gpuTest,
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "mugs-full-size-" });
    try {
      const src = await embedded("train"); // 6 000 images, tiled 10 times
      const N = 60_000;
      const images = new Uint8Array(N * 784);
      const labels = new Uint8Array(N);
      for (let r = 0; r < 10; r++) {
        images.set(src.images, r * src.images.length);
        labels.set(src.labels, r * src.n);
      }
      await writeIdx(`${dir}/train-images-idx3-ubyte`, images, [N, 28, 28]);
      await writeIdx(`${dir}/train-labels-idx1-ubyte`, labels, [N]);
      const test = await embedded("test");
      const M = 200;
      await writeIdx(`${dir}/t10k-images-idx3-ubyte`, test.images.slice(0, M * 784), [M, 28, 28]);
      await writeIdx(`${dir}/t10k-labels-idx1-ubyte`, Uint8Array.from(test.labels.subarray(0, M)), [
        M,
      ]);
      const data = await loadData(dir);
      assertEquals([data.train.n, data.test.n], [N, M]);
      const limit = runtime().device.limits.maxStorageBufferBindingSize;
      const c = {
        ...presetDefaults("mugs"),
        epochs: 1,
        batchSize: 16,
        epochImages: 16,
        localCrops: 0,
        warmupEpochs: 0,
        queueSize: 64,
        memorySize: 64,
        out: `${dir}/run`,
      };
      c.heads = { ...c.heads, ...TINY_HEADS };
      const cfg = trainerConfig(c, data.train, data.preset);
      cfg.vit = { ...cfg.vit, patchSize: 7, embedDim: 16, depth: 1, numHeads: 2, mlpRatio: 2 };
      const lines: string[] = [];
      const r = await trainMugs(cfg, data.train, data.test, (l) => lines.push(l));
      assertEquals([r.steps, r.epochs], [1, 1], lines.join("\n"));
      for (const k of ["knn_top1", "knn_top1_raw_pixels", "knn_top1_untrained"] as const) {
        assert(Number.isFinite(r[k]) && r[k] > 10, `${k} = ${r[k]}`);
      }
      // the f32 pixels of the split would not fit one binding on llvmpipe: nothing held them
      assert(N * 784 * 4 > limit || limit > 2 ** 28, `limit ${limit}`);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
