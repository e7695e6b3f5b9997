import { assertEquals, assertRejects, gpuTest, setup } from "../helpers.ts";
import { loadBackbone } from "../../lib/eval/backbone.ts";
import { PRETRAINED } from "../../lib/eval/pretrained.ts";
import { ViT, vitConfig } from "../../lib/nn/vit.ts";

await setup();

Deno.test({
  name: "loadBackbone: a weight file's __metadata__ mean/std come back; a bad one names the field",
  ...gpuTest,
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "mugs-backbone-" });
    const vit = new ViT(vitConfig("vit_micro_28", { embedDim: 16, depth: 1, numHeads: 2 }), 3);
    await vit.save(`${dir}/a.safetensors`, { mean: "[0.25]", std: "[0.5]" });
    const bb = await loadBackbone(`${dir}/a.safetensors`);
    assertEquals([bb.mean, bb.std, bb.vit.config.numHeads], [[0.25], [0.5], 2]);
    await vit.save(`${dir}/b.safetensors`, { mean: "[0.1, 0.2, 0.3]", std: "[0.5]" });
    await assertRejects(
      () => loadBackbone(`${dir}/b.safetensors`),
      "__metadata__.mean must be a JSON array of 1 numbers",
    );
    await vit.save(`${dir}/c.safetensors`); // no normalisation recorded: none returned
    assertEquals((await loadBackbone(`${dir}/c.safetensors`)).mean, undefined);
    await Deno.remove(dir, { recursive: true });
  },
});

Deno.test({
  name: "the shipped backbone loads: vit_micro_28 with Fashion-MNIST's normalisation",
  ...gpuTest,
  fn: async () => {
    const bb = await loadBackbone(PRETRAINED);
    const c = bb.vit.config;
    assertEquals([c.imgSize, c.patchSize, c.embedDim, c.depth, c.numHeads], [28, 4, 64, 4, 4]);
    assertEquals(bb.mean?.length, 1);
    assertEquals(bb.std?.length, 1);
  },
});
