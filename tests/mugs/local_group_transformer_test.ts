import {
  assert,
  assertClose,
  assertEquals,
  assertThrows,
  gpuTest,
  randArray,
  setup,
} from "../helpers.ts";
import { LocalGroupTransformer } from "../../lib/mugs/local_group_transformer.ts";
import { LocalGroupHead } from "../../lib/mugs/heads.ts";
import { ViT, type ViTConfig } from "../../lib/nn/vit.ts";
import { LayerNorm } from "../../lib/nn/layernorm.ts";
import { toHost } from "../../lib/io/weights.ts";
import { block, get, instanceHead, localGroupTransformer } from "./reference.ts";
import { attention, layerNorm } from "../nn/reference.ts";
import { gpu, gradCheck, hostWeights, randomise } from "./util.ts";

await setup();

// tiny odd sizes: width 9 in 3 heads of 3, k = 4 neighbours, batch 3
const D = 9;
const H = 3;
const K = 4;
const B = 3;
const EPS = 1e-6;

const FWD = { atol: 2e-5, rtol: 2e-5 };
const BWD = { atol: 2e-4, rtol: 2e-3 };

const TINY: ViTConfig = {
  imgSize: 8,
  patchSize: 4,
  inChans: 1,
  embedDim: D,
  depth: 1,
  numHeads: H,
  mlpRatio: 2,
  qkvBias: true,
  dropPathRate: 0,
  eps: EPS,
};

/** The transformer's weights plus the backbone norm under `norm.*`, as the reference reads. */
async function weights(lgt: LocalGroupTransformer, norm: LayerNorm) {
  const w = await hostWeights(lgt);
  return hostWeights(norm, "norm.", w);
}

Deno.test({
  name: "local-group transformer: names are relation_blocks.N.*, the backbone norm is not copied",
  ...gpuTest,
  fn: () => {
    const vit = new ViT(TINY);
    const lgt = new LocalGroupTransformer({ dim: D, heads: H, mlpRatio: 2 }, vit.norm);
    assertEquals(lgt.namedParameters().map(([n, p]) => `${n}:${p.shape.join("x")}`), [
      "relation_blocks.0.norm1.weight:9",
      "relation_blocks.0.norm1.bias:9",
      "relation_blocks.0.attn.qkv.weight:27x9",
      "relation_blocks.0.attn.qkv.bias:27",
      "relation_blocks.0.attn.proj.weight:9x9",
      "relation_blocks.0.attn.proj.bias:9",
      "relation_blocks.0.norm2.weight:9",
      "relation_blocks.0.norm2.bias:9",
      "relation_blocks.0.mlp.fc1.weight:18x9",
      "relation_blocks.0.mlp.fc1.bias:18",
      "relation_blocks.0.mlp.fc2.weight:9x18",
      "relation_blocks.0.mlp.fc2.bias:9",
    ], "one official relation block");
    assert(lgt.norm === vit.norm, "the final norm is the backbone's module itself");
    const two = new LocalGroupTransformer({ dim: D, heads: H, depth: 2 }, vit.norm);
    assertEquals(two.blocks.length, 2);
    assert(two.namedParameters().some(([n]) => n.startsWith("relation_blocks.1.")), "block 1");
    assertEquals(
      new LocalGroupTransformer({ dim: D, heads: H, depth: 2, dropPath: [0, 0.05] }, vit.norm)
        .blocks.items.map((b) => b.dropPath.p),
      [0, 0.05],
      "per-block drop-path rates",
    );
  },
});

Deno.test({
  name: "local-group transformer: output equals reference blocks + final norm on token 0",
  ...gpuTest,
  fn: async () => {
    for (const depth of [1, 2]) {
      const vit = new ViT(TINY, 1);
      randomise(vit, 200);
      const lgt = new LocalGroupTransformer(
        { dim: D, heads: H, depth, mlpRatio: 2, seed: 5 },
        vit.norm,
      )
        .eval();
      randomise(lgt, 300);
      const w = await weights(lgt, vit.norm);
      const q = randArray(B * D, 1);
      const nb = randArray(B * K * D, 2);
      const out = lgt.forward(gpu(q, [B, D]), gpu(nb, [B, K, D]));
      assertEquals(out.shape, [B, D], "output shape");
      const want = localGroupTransformer(w, q, nb, B, K, D, H, EPS);
      assertClose(await out.toArray(), want, FWD, `depth ${depth}`);
      // forwardTokens on the concatenated sequence is the same thing
      const seq = new Float64Array(B * (K + 1) * D);
      for (let b = 0; b < B; b++) {
        seq.set(q.subarray(b * D, (b + 1) * D), b * (K + 1) * D);
        seq.set(nb.subarray(b * K * D, (b + 1) * K * D), (b * (K + 1) + 1) * D);
      }
      assertClose(
        await lgt.forwardTokens(gpu(seq, [B, K + 1, D])).toArray(),
        want,
        FWD,
        "forwardTokens",
      );
    }
  },
});

Deno.test({
  name:
    "local-group transformer: forwardWithAttention gives the same feature and token 0's attention of each block (float64 reference)",
  ...gpuTest,
  fn: async () => {
    for (const depth of [1, 2]) {
      const vit = new ViT(TINY, 1);
      randomise(vit, 210);
      const lgt = new LocalGroupTransformer(
        { dim: D, heads: H, depth, mlpRatio: 2, seed: 6 },
        vit.norm,
      ).eval();
      randomise(lgt, 310);
      const w = await weights(lgt, vit.norm);
      const q = randArray(B * D, 5);
      const nb = randArray(B * K * D, 6);
      const { out, attention: att } = lgt.forwardWithAttention(gpu(q, [B, D]), gpu(nb, [B, K, D]));
      assertClose(
        await out.toArray(),
        localGroupTransformer(w, q, nb, B, K, D, H, EPS),
        FWD,
        `depth ${depth}: the same feature`,
      );
      assertEquals(att.length, depth, "one map per block");
      // the reference: each block's input, its first norm, attention, token 0's row
      const T = K + 1;
      let x: Float64Array = new Float64Array(B * T * D);
      for (let b = 0; b < B; b++) {
        x.set(q.subarray(b * D, (b + 1) * D), b * T * D);
        x.set(nb.subarray(b * K * D, (b + 1) * K * D), (b * T + 1) * D);
      }
      for (let i = 0; i < depth; i++) {
        const g = (n: string) => get(w, `relation_blocks.${i}.${n}`);
        const h1 = layerNorm(x, B * T, D, g("norm1.weight"), g("norm1.bias"), EPS);
        const { maps } = attention(
          h1,
          B,
          T,
          D,
          H,
          g("attn.qkv.weight"),
          g("attn.qkv.bias"),
          g("attn.proj.weight"),
          g("attn.proj.bias"),
        );
        const want = new Float64Array(B * H * T);
        for (let b = 0; b < B; b++) {
          for (let h = 0; h < H; h++) {
            for (let j = 0; j < T; j++) want[(b * H + h) * T + j] = maps[((b * H + h) * T) * T + j];
          }
        }
        assertEquals(att[i].shape, [B, H, T], "[B, heads, 1 + k]");
        assertClose(await att[i].toArray(), want, FWD, `depth ${depth}, block ${i} attention`);
        x = block(w, `relation_blocks.${i}.`, x, B, T, D, H, EPS);
      }
    }
  },
});

Deno.test({
  name: "local-group transformer: no position embedding, so token 0 ignores the neighbours' order",
  ...gpuTest,
  fn: async () => {
    const norm = new LayerNorm(D, EPS);
    const lgt = new LocalGroupTransformer({ dim: D, heads: H, seed: 2 }, norm).eval();
    randomise(lgt, 400);
    const q = randArray(B * D, 3);
    const nb = randArray(B * K * D, 4);
    const rev = new Float64Array(nb.length);
    for (let b = 0; b < B; b++) {
      for (let j = 0; j < K; j++) {
        rev.set(nb.subarray((b * K + j) * D, (b * K + j + 1) * D), (b * K + K - 1 - j) * D);
      }
    }
    const a = await lgt.forward(gpu(q, [B, D]), gpu(nb, [B, K, D])).toArray();
    const r = await lgt.forward(gpu(q, [B, D]), gpu(rev, [B, K, D])).toArray();
    assertClose(r, a, { atol: 1e-5, rtol: 1e-5 }, "reversed neighbours");
    // the query alone (no neighbours) through forwardTokens
    const alone = lgt.forwardTokens(gpu(q, [B, 1, D]));
    assertEquals(alone.shape, [B, D], "a one-token sequence");
  },
});

Deno.test({
  name:
    "local-group transformer: gradients (blocks, backbone norm, query, neighbours) match finite differences",
  ...gpuTest,
  fn: async () => {
    const vit = new ViT(TINY, 2);
    randomise(vit, 500);
    const lgt = new LocalGroupTransformer(
      { dim: D, heads: H, depth: 2, mlpRatio: 2, seed: 7 },
      vit.norm,
    )
      .eval();
    randomise(lgt, 600);
    const w = await weights(lgt, vit.norm);
    const q = randArray(B * D, 5);
    const nb = randArray(B * K * D, 6);
    const qt = gpu(q, [B, D], true);
    const nt = gpu(nb, [B, K, D], true);
    const out = lgt.forward(qt, nt);
    await gradCheck(
      "LocalGroupTransformer",
      out,
      () => localGroupTransformer(w, q, nb, B, K, D, H, EPS),
      [
        ...lgt.namedParameters().map(([name, t]) => ({ name, t, data: get(w, name) })),
        { name: "norm.weight", t: vit.norm.weight, data: get(w, "norm.weight") },
        { name: "norm.bias", t: vit.norm.bias, data: get(w, "norm.bias") },
        { name: "query", t: qt, data: q },
        { name: "neighbours", t: nt, data: nb },
      ],
      BWD,
    );
  },
});

Deno.test({
  name: "local-group branch: transformer -> LocalGroupHead matches the composed reference",
  ...gpuTest,
  fn: async () => {
    const norm = new LayerNorm(D, EPS);
    randomise(norm, 700);
    const lgt = new LocalGroupTransformer({ dim: D, heads: H, seed: 3 }, norm).eval();
    randomise(lgt, 800);
    const head = new LocalGroupHead({
      inDim: D,
      hiddenDim: 11,
      outDim: 5,
      predHiddenDim: 13,
      seed: 4,
    });
    randomise(head, 900);
    const w = await weights(lgt, norm);
    const hw = await hostWeights(head);
    const q = randArray(B * D, 7);
    const nb = randArray(B * K * D, 8);
    const qt = gpu(q, [B, D], true);
    const out = head.forward(lgt.forward(qt, gpu(nb, [B, K, D])));
    const ref = () =>
      instanceHead(hw, localGroupTransformer(w, q, nb, B, K, D, H, EPS), B, { predict: true });
    assertClose(await out.toArray(), ref(), FWD, "local-group prediction");
    await gradCheck(
      "local-group branch",
      out,
      ref,
      [
        { name: "query", t: qt, data: q },
        ...lgt.namedParameters().slice(0, 4).map(([name, t]) => ({ name, t, data: get(w, name) })),
      ],
      BWD,
    );
  },
});

Deno.test({
  name:
    "local-group transformer: blocks start like the backbone's (trunc normal 0.02, zero biases, LN 1/0)",
  ...gpuTest,
  fn: async () => {
    const lgt = new LocalGroupTransformer({ dim: 96, heads: 4 }, new LayerNorm(96));
    const sd = await toHost(lgt.stateDict());
    const w = sd.get("relation_blocks.0.mlp.fc1.weight")!.data;
    let m = 0;
    let v = 0;
    for (const a of w) m += a / w.length;
    for (const a of w) v += (a - m) ** 2 / w.length;
    assert(Math.abs(Math.sqrt(v) - 0.02) < 0.002, `fc1 std ${Math.sqrt(v)}`);
    assert(sd.get("relation_blocks.0.attn.qkv.bias")!.data.every((a) => a === 0), "zero bias");
    assert(sd.get("relation_blocks.0.norm1.weight")!.data.every((a) => a === 1), "LN weight 1");
    assert(sd.get("relation_blocks.0.norm2.bias")!.data.every((a) => a === 0), "LN bias 0");
  },
});

Deno.test({
  name: "local-group transformer: shape errors name the module and the shapes",
  ...gpuTest,
  fn: () => {
    const norm = new LayerNorm(D);
    const lgt = new LocalGroupTransformer({ dim: D, heads: H }, norm);
    assertThrows(
      () =>
        lgt.forward(
          gpu(new Float64Array(B * 4), [B, 4]),
          gpu(new Float64Array(B * K * D), [B, K, D]),
        ),
      "LocalGroupTransformer: expected query [B, 9], got [3,4]",
    );
    assertThrows(
      () =>
        lgt.forward(
          gpu(new Float64Array(B * D), [B, D]),
          gpu(new Float64Array(2 * K * D), [2, K, D]),
        ),
      "expected neighbours [3, k, 9] for query [3,9], got [2,4,9]",
    );
    assertThrows(
      () => lgt.forwardTokens(gpu(new Float64Array(B * D), [B, D])),
      "LocalGroupTransformer: expected tokens [B, T, 9], got [3,9]",
    );
    assertThrows(
      () => new LocalGroupTransformer({ dim: 8, heads: 2 }, norm),
      "the final norm has width 9, the blocks 8",
    );
    assertThrows(
      () => new LocalGroupTransformer({ dim: D, heads: H, depth: 0 }, norm),
      "depth must be an integer >= 1",
    );
    assertThrows(
      () => new LocalGroupTransformer({ dim: D, heads: H, depth: 2, dropPath: [0.1] }, norm),
      "1 drop-path rates for 2 blocks",
    );
  },
});
