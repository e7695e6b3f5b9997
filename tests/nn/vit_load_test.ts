/**
 * `ViT.load` of weight files written elsewhere: `__metadata__.config` in the official/timm
 * constructor names loads and gives the reference forward; the kit's own names still load; a
 * file that does not record the head count is refused with the way to pass it; bad metadata
 * is an error naming the field.
 */
import {
  assert,
  assertClose,
  assertEquals,
  assertRejects,
  assertThrows,
  gpuTest,
  randArray,
  setup,
} from "../helpers.ts";
import { metadataConfig, ViT, type ViTConfig } from "../../lib/nn/vit.ts";
import { tensor } from "../../lib/tensor/tensor.ts";
import { toHost } from "../../lib/io/weights.ts";
import { serializeSafetensors } from "../../lib/io/safetensors.ts";
import { vitForward, type Weights } from "./reference.ts";

await setup();

// vit_micro_28's width and head count (64 wide, 4 heads: width / 64 would say 1), small grid
const CFG: ViTConfig = {
  imgSize: 12,
  patchSize: 4,
  inChans: 1,
  embedDim: 64,
  depth: 1,
  numHeads: 4,
  mlpRatio: 2,
  qkvBias: true,
  dropPathRate: 0,
  eps: 1e-6,
};

const OFFICIAL = {
  img_size: 12,
  patch_size: 4,
  in_chans: 1,
  embed_dim: 64,
  depth: 1,
  num_heads: 4,
  mlp_ratio: 2,
  qkv_bias: true,
  num_classes: 0,
};

/** The model's weights (random, LayerNorm weights near 1) as a PyTorch export would hold them. */
async function exportFile(
  vit: ViT,
): Promise<Record<string, { shape: number[]; data: Float32Array }>> {
  const state = new Map<string, { shape: number[]; data: Float32Array }>();
  let s = 3;
  for (const [n, p] of vit.namedParameters()) {
    const norm = n.includes("norm") && n.endsWith("weight");
    const data = Float32Array.from(randArray(p.size, s++, norm ? 0.5 : -0.5, norm ? 1.5 : 0.5));
    state.set(n, { shape: [...p.shape], data });
  }
  vit.loadStateDict(state);
  const out: Record<string, { shape: number[]; data: Float32Array }> = {};
  for (const [n, t] of await toHost(vit.stateDict())) {
    out[n] = { shape: t.shape, data: Float32Array.from(t.data) };
  }
  return out;
}

Deno.test({
  name: "vit load: official constructor names in __metadata__.config load and match the reference",
  ...gpuTest,
  fn: async () => {
    const vit = new ViT(CFG, 1).eval();
    const tensors = await exportFile(vit);
    const dir = await Deno.makeTempDir();
    const official = `${dir}/official.safetensors`;
    await Deno.writeFile(
      official,
      serializeSafetensors(tensors, { format: "pt", config: JSON.stringify(OFFICIAL) }),
    );
    const loaded = (await ViT.load(official)).eval();
    assertEquals(loaded.config, CFG, "config from the official names");
    const B = 2;
    const xs = Float32Array.from(randArray(B * 12 * 12, 9, 0, 1));
    const x = tensor(xs, [B, 1, 12, 12]);
    const got = await loaded.forward(x).cls.toArray();
    assertEquals(Array.from(got), Array.from(await vit.forward(x).cls.toArray()), "same as saved");
    // the float64 reference with 4 heads (what PyTorch's ViT computes), not with 1
    const w: Weights = new Map(
      Object.entries(tensors).map((
        [n, t],
      ) => [n, { shape: t.shape, data: Float64Array.from(t.data) }]),
    );
    const cls = (heads: number) => {
      const ref = vitForward(w, { ...CFG, numHeads: heads }, Float64Array.from(xs), B, 12).tokens;
      const T = 10;
      return [...ref.slice(0, 64), ...ref.slice(T * 64, T * 64 + 64)];
    };
    assertClose(got, cls(4), { atol: 2e-5, rtol: 2e-5 }, "cls against the 4-head reference");
    const oneHead = cls(1);
    assert(got.some((v, i) => Math.abs(v - oneHead[i]) > 1e-3), "1 head would differ");

    // the kit's own names still load (ViT.save writes them)
    await vit.save(`${dir}/kit.safetensors`);
    assertEquals((await ViT.load(`${dir}/kit.safetensors`)).config, CFG);

    // no head count in the file: refused, saying how to pass it; given, it loads
    const plain = `${dir}/plain.safetensors`;
    await Deno.writeFile(plain, serializeSafetensors(tensors, { format: "pt" }));
    const e = await assertRejects(
      () => ViT.load(plain),
      "the attention head count is not in the file",
    );
    assert(e.message.includes("ViT.load(path, { numHeads: N })"), e.message);
    assert(e.message.includes("--num-heads N"), e.message);
    const withHeads = (await ViT.load(plain, { numHeads: 4 })).eval();
    assertEquals(Array.from(await withHeads.forward(x).cls.toArray()), Array.from(got));
    const { num_heads: _, ...noHeads } = OFFICIAL;
    await Deno.writeFile(
      `${dir}/noheads.safetensors`,
      serializeSafetensors(tensors, { config: JSON.stringify(noHeads) }),
    );
    await assertRejects(() => ViT.load(`${dir}/noheads.safetensors`), "pass it: ViT.load");
    await assertRejects(
      () => ViT.load(plain, { numHeads: 5 }),
      "numHeads 5 does not divide the width 64",
    );
    // metadata that contradicts the tensors is named
    await Deno.writeFile(
      `${dir}/wrong.safetensors`,
      serializeSafetensors(tensors, { config: JSON.stringify({ ...OFFICIAL, embed_dim: 128 }) }),
    );
    await assertRejects(
      () => ViT.load(`${dir}/wrong.safetensors`),
      "says embedDim 128 but the tensors have 64",
    );
    await Deno.remove(dir, { recursive: true });
  },
});

Deno.test("vit load: __metadata__.config is validated, naming the field", () => {
  const src = "w.safetensors";
  assertEquals(metadataConfig({ format: "pt" }, src), {});
  assertEquals(metadataConfig({ config: JSON.stringify(OFFICIAL) }, src).numHeads, 4);
  assertEquals(
    metadataConfig({ config: JSON.stringify({ img_size: [32, 32], num_heads: 3 }) }, src),
    { imgSize: 32, numHeads: 3 },
  );
  assertThrows(
    () => metadataConfig({ config: JSON.stringify({ ...OFFICIAL, num_heads: "four" }) }, src),
    "__metadata__.config.num_heads",
  );
  assertThrows(
    () => metadataConfig({ config: JSON.stringify({ ...OFFICIAL, num_head: 4 }) }, src),
    "num_head",
  );
  assertThrows(
    () => metadataConfig({ config: JSON.stringify({ embed_dim: 64, numHeads: 4 }) }, src),
    "mixes the kit's names (numHeads) with the official ones (embed_dim)",
  );
  assertThrows(() => metadataConfig({ config: "{not json" }, src), "not valid JSON");
  assertThrows(() => metadataConfig({ config: "[1, 2]" }, src), "must be a JSON object");
  assertThrows(
    () => metadataConfig({ config: JSON.stringify({ img_size: [32, 28] }) }, src),
    "is not square",
  );
});
