import { assert, assertClose, assertEquals, gpuTest, setup } from "../helpers.ts";
import { extractFeatures, rawPixelFeatures } from "../../lib/eval/features.ts";
import { knnClassify } from "../../lib/eval/knn.ts";
import { embedded } from "../../lib/data/embedded.ts";
import { subset } from "../../lib/data/dataset.ts";
import { ViT, vitConfig } from "../../lib/nn/vit.ts";
import { uint8ToTensor } from "../../lib/data/convert.ts";
import { assertRejects } from "../helpers.ts";

await setup();

Deno.test({
  name: "eval features: batched extraction equals one forward; raw pixels are value/255",
  ...gpuTest,
  fn: async () => {
    const test = await embedded("test");
    const small = subset(test, Array.from({ length: 37 }, (_, i) => i * 13));
    const vit = new ViT(vitConfig("vit_micro_28", { depth: 1 }), 0);
    const feats = await extractFeatures(vit, small, { batchSize: 16, mean: [0.5], std: [0.25] });
    assertEquals(feats.shape, [37, 64]);
    const x = uint8ToTensor(small.images, [37, 1, 28, 28]).sub(0.5).div(0.25);
    const want = await vit.eval().forward(x).cls.toArray();
    assertClose(await feats.toArray(), want, { atol: 1e-5, rtol: 1e-5 }, "features");
    const both = await extractFeatures(vit, small, { avgPool: true });
    assertEquals(both.shape, [37, 128]);
    const raw = await rawPixelFeatures(small).toArray();
    assertEquals(raw.length, 37 * 784);
    assert(raw.every((v, i) => v === Math.fround(small.images[i] / 255)), "raw pixels");
    const rgb = new ViT(vitConfig("vit_micro_32"), 0);
    await assertRejects(
      () => extractFeatures(rgb, small),
      "the data has 1 channels but the model expects 3",
    );
  },
});

Deno.test({
  name:
    "eval features: the last n blocks' class tokens (+ mean patch token), as DINO's linear eval",
  ...gpuTest,
  fn: async () => {
    const test = await embedded("test");
    const small = subset(test, Array.from({ length: 9 }, (_, i) => i * 31));
    const vit = new ViT(vitConfig("vit_micro_28", { depth: 2 }), 3);
    const f = await extractFeatures(vit, small, { nLastBlocks: 2, avgPool: true });
    assertEquals(f.shape, [9, 3 * 64]);
    const got = await f.toArray();
    const col = (lo: number) =>
      Array.from({ length: 9 * 64 }, (_, i) => got[Math.floor(i / 64) * 192 + lo + (i % 64)]);
    const x = uint8ToTensor(small.images, [9, 1, 28, 28]);
    const full = vit.eval().forward(x);
    // block 1 (the last) through the final norm: the plain class token and patch mean
    assertClose(col(64), await full.cls.toArray(), { atol: 1e-5, rtol: 1e-5 }, "last block cls");
    assertClose(col(128), await full.mean.toArray(), { atol: 1e-5, rtol: 1e-5 }, "patch mean");
    // block 0 through the final norm: a depth-1 ViT with the same first block and norm
    const one = new ViT(vitConfig("vit_micro_28", { depth: 1 }), 0);
    one.loadStateDict(vit.stateDict(), { strict: false });
    const first = await one.eval().forward(x).cls.toArray();
    assertClose(col(0), first, { atol: 1e-5, rtol: 1e-5 }, "block 0 cls");
    await assertRejects(() => extractFeatures(vit, small, { nLastBlocks: 3 }), "1..2, got 3");
  },
});

Deno.test({
  name: "eval features: raw-pixel k-NN on the embedded split (the baseline train reports)",
  ...gpuTest,
  fn: async () => {
    const train = await embedded("train");
    const test = await embedded("test");
    const res = await knnClassify({
      trainFeatures: rawPixelFeatures(train),
      trainLabels: train.labels,
      testFeatures: rawPixelFeatures(test),
      testLabels: test.labels,
      ks: [20],
    });
    // published raw-pixel k-NN on full Fashion-MNIST is about 85%; 6 000 training images give less
    console.log(`raw-pixel 20-NN top-1 on the embedded split: ${res[0].top1}%`);
    assert(res[0].top1 > 70 && res[0].top1 < 95, `raw-pixel 20-NN top-1 ${res[0].top1}`);
  },
});
