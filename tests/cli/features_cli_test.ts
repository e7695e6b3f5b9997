import { assertEquals, assertRejects, gpuTest, setup } from "../helpers.ts";
import { main } from "../../lib/cli/features.ts";
import { readNpy } from "../../lib/io/npy.ts";
import { tinyCheckpoint } from "./fixtures.ts";
import { ViT, vitConfig } from "../../lib/nn/vit.ts";

await setup();

async function quiet<T>(fn: () => Promise<T>): Promise<T> {
  const log = console.log;
  console.log = () => {};
  try {
    return await fn();
  } finally {
    console.log = log;
  }
}

Deno.test({
  name: "features cli: exports the test split's features and labels as .npy",
  ...gpuTest,
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "mugs-feat-" });
    await tinyCheckpoint(dir);
    const out = `${dir}/test.npy`;
    const code = await quiet(() =>
      main(["--checkpoint", dir, "--split", "test", "--out", out, "--n-last-blocks", "2"])
    );
    assertEquals(code, 0);
    const f = await readNpy(out);
    const l = await readNpy(`${dir}/test.labels.npy`);
    assertEquals([f.shape, f.dtype, l.shape, l.dtype], [[1000, 64], "<f4", [1000], "<i4"]);
    await Deno.remove(dir, { recursive: true });
  },
});

Deno.test({
  name: "features cli: bad flags and mismatched checkpoints name both sides",
  ...gpuTest,
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "mugs-feat-" });
    await assertRejects(() => main(["--checkpoint", dir, "--out", "x.txt"]), "--out: must end");
    await assertRejects(
      () => main(["--checkpoint", `${dir}/none`, "--out", `${dir}/f.npy`]),
      `--checkpoint ${dir}/none: no such file or folder`,
    );
    await assertRejects(() => main(["--chekpoint", dir]), "did you mean --checkpoint?");
    const rgb = `${dir}/rgb.safetensors`;
    await new ViT(vitConfig("vit_micro_32", { depth: 1 }), 0).save(rgb);
    await assertRejects(
      () => main(["--checkpoint", rgb, "--out", `${dir}/f.npy`]),
      `--checkpoint ${rgb} expects 3-channel images, but --data embedded has 1-channel images`,
    );
    await Deno.remove(dir, { recursive: true });
  },
});
