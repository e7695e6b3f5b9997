import {
  assert,
  assertClose,
  assertEquals,
  assertThrows,
  gpuTest,
  randArray,
  setup,
} from "../helpers.ts";
import { ViT, type ViTConfig, vitConfig } from "../../lib/nn/vit.ts";
import { tensor } from "../../lib/tensor/tensor.ts";
import { toHost } from "../../lib/io/weights.ts";
import { serializeSafetensors } from "../../lib/io/safetensors.ts";
import { vitForward, type Weights } from "./reference.ts";
import { Linear } from "../../lib/nn/linear.ts";
import { DropPath } from "../../lib/nn/block.ts";
import { Generator } from "../../lib/tensor/rng.ts";
import { linear } from "./reference.ts";
import { bicubicRef, geo } from "../references/bicubic.ts";

await setup();

const TINY: ViTConfig = {
  imgSize: 8,
  patchSize: 4,
  inChans: 2,
  embedDim: 8,
  depth: 2,
  numHeads: 2,
  mlpRatio: 2,
  qkvBias: true,
  dropPathRate: 0,
  eps: 1e-6,
};

async function hostWeights(vit: ViT): Promise<Weights> {
  const w: Weights = new Map();
  for (const [n, t] of await toHost(vit.stateDict())) {
    w.set(n, { shape: t.shape, data: Float64Array.from(t.data) });
  }
  return w;
}

/** Give every parameter random values (LayerNorm weights near 1) so the check is not trivial. */
function randomise(vit: ViT, seed: number): void {
  let s = seed;
  const state = new Map<string, { shape: number[]; data: Float32Array }>();
  for (const [n, p] of vit.namedParameters()) {
    const lo = n.includes("norm") && n.endsWith("weight") ? 0.5 : -0.5;
    const hi = n.includes("norm") && n.endsWith("weight") ? 1.5 : 0.5;
    state.set(n, { shape: [...p.shape], data: Float32Array.from(randArray(p.size, s++, lo, hi)) });
  }
  vit.loadStateDict(state);
}

Deno.test({
  name: "vit: parameter names and shapes follow DINO/timm",
  ...gpuTest,
  fn: () => {
    const vit = new ViT({ ...TINY, depth: 1 });
    const names = vit.namedParameters().map(([n, p]) => `${n}:${p.shape.join("x")}`);
    assertEquals(names, [
      "cls_token:1x1x8",
      "pos_embed:1x5x8",
      "patch_embed.proj.weight:8x2x4x4",
      "patch_embed.proj.bias:8",
      "blocks.0.norm1.weight:8",
      "blocks.0.norm1.bias:8",
      "blocks.0.attn.qkv.weight:24x8",
      "blocks.0.attn.qkv.bias:24",
      "blocks.0.attn.proj.weight:8x8",
      "blocks.0.attn.proj.bias:8",
      "blocks.0.norm2.weight:8",
      "blocks.0.norm2.bias:8",
      "blocks.0.mlp.fc1.weight:16x8",
      "blocks.0.mlp.fc1.bias:16",
      "blocks.0.mlp.fc2.weight:8x16",
      "blocks.0.mlp.fc2.bias:8",
      "norm.weight:8",
      "norm.bias:8",
    ], "parameters in PyTorch's named_parameters() order");
    for (
      const p of [
        "vit_tiny",
        "vit_small",
        "vit_base",
        "vit_micro_28",
        "vit_mini_28",
        "vit_micro_32",
      ]
    ) {
      assert(vitConfig(p).embedDim > 0);
    }
    assertThrows(() => vitConfig("vit_huge"), "unknown ViT preset 'vit_huge'");
  },
});

Deno.test({
  name: "vit: init statistics follow DINO (trunc normal 0.02, zero biases, LayerNorm 1/0)",
  ...gpuTest,
  fn: async () => {
    const vit = new ViT(vitConfig("vit_micro_28"), 3);
    const sd = await toHost(vit.stateDict());
    const qkv = sd.get("blocks.0.attn.qkv.weight")!.data;
    let m = 0;
    let v = 0;
    for (const x of qkv) m += x / qkv.length;
    for (const x of qkv) v += (x - m) ** 2 / qkv.length;
    assert(Math.abs(Math.sqrt(v) - 0.02) < 0.002, `qkv std ${Math.sqrt(v)}`);
    assert(sd.get("blocks.0.attn.qkv.bias")!.data.every((x) => x === 0), "biases start at zero");
    assert(sd.get("norm.weight")!.data.every((x) => x === 1), "LayerNorm weight starts at one");
    const pe = sd.get("patch_embed.proj.weight")!.data;
    const bound = 1 / Math.sqrt(1 * 4 * 4);
    assert(pe.every((x) => Math.abs(x) <= bound), "patch embedding uses PyTorch's conv init");
  },
});

Deno.test({
  name: "vit: Linear forward matches the float64 reference on odd sizes",
  ...gpuTest,
  fn: async () => {
    for (const [R, I, O] of [[1, 1, 1], [7, 13, 5], [50, 64, 257]]) {
      const lin = new Linear(I, O);
      const wb = new Map([
        ["weight", { shape: [O, I], data: Float32Array.from(randArray(O * I, 1)) }],
        ["bias", { shape: [O], data: Float32Array.from(randArray(O, 2)) }],
      ]);
      lin.loadStateDict(wb);
      const x = randArray(R * I, 3);
      const y = await lin.forward(tensor(Float32Array.from(x), [R, I])).toArray();
      const want = linear(
        x,
        R,
        I,
        Float64Array.from(wb.get("weight")!.data),
        Float64Array.from(wb.get("bias")!.data),
        O,
      );
      assertClose(y, want, { atol: 1e-5, rtol: 1e-5 }, `Linear ${R}x${I}->${O}`);
    }
  },
});

Deno.test({
  name:
    "vit: whole forward (cls, patch tokens, mean, last attention) matches the float64 reference",
  ...gpuTest,
  fn: async () => {
    const vit = new ViT(TINY, 1).eval();
    randomise(vit, 10);
    const w = await hostWeights(vit);
    const B = 3;
    const img = randArray(B * 2 * 8 * 8, 99);
    const { tokens, maps } = vitForward(w, TINY, img, B, 8);
    const x = tensor(Float32Array.from(img), [B, 2, 8, 8]);
    const out = vit.forward(x);
    const T = 5;
    const D = 8;
    const cls = new Float64Array(B * D);
    const patch = new Float64Array(B * (T - 1) * D);
    const mean = new Float64Array(B * D);
    for (let b = 0; b < B; b++) {
      for (let d = 0; d < D; d++) {
        cls[b * D + d] = tokens[b * T * D + d];
        for (let t = 1; t < T; t++) {
          patch[(b * (T - 1) + t - 1) * D + d] = tokens[(b * T + t) * D + d];
          mean[b * D + d] += tokens[(b * T + t) * D + d] / (T - 1);
        }
      }
    }
    const tol = { atol: 2e-5, rtol: 2e-5 };
    assertClose(await out.cls.toArray(), cls, tol, "cls");
    assertClose(await out.patch.toArray(), patch, tol, "patch tokens");
    assertClose(await out.mean.toArray(), mean, tol, "token mean");
    const attn = vit.lastAttention(x);
    assertEquals(attn.shape, [B, 2, T, T], "attention shape");
    assertClose(await attn.toArray(), maps, tol, "last attention");
  },
});

Deno.test({
  name: "vit: gradients of a tiny ViT match finite differences of the float64 reference",
  ...gpuTest,
  fn: async () => {
    const vit = new ViT(TINY, 2).eval();
    randomise(vit, 30);
    const w = await hostWeights(vit);
    const B = 2;
    const img = randArray(B * 2 * 8 * 8, 5);
    const gcls = randArray(B * 8, 6);
    const gmean = randArray(B * 8, 7);
    const lossRef = (ww: Weights) => {
      const { tokens } = vitForward(ww, TINY, img, B, 8);
      let s = 0;
      for (let b = 0; b < B; b++) {
        for (let d = 0; d < 8; d++) {
          s += gcls[b * 8 + d] * tokens[b * 5 * 8 + d];
          let m = 0;
          for (let t = 1; t < 5; t++) m += tokens[(b * 5 + t) * 8 + d] / 4;
          s += gmean[b * 8 + d] * m;
        }
      }
      return s;
    };
    const out = vit.forward(tensor(Float32Array.from(img), [B, 2, 8, 8]));
    const loss = out.cls.mul(tensor(Float32Array.from(gcls), [B, 8])).sum()
      .add(out.mean.mul(tensor(Float32Array.from(gmean), [B, 8])).sum());
    loss.backward();
    const eps = 1e-5;
    for (const [name, p] of vit.namedParameters()) {
      const got = await p.grad!.toArray();
      const ref = w.get(name)!.data;
      const idx = [0, Math.floor(p.size / 2), p.size - 1];
      for (const j of idx) {
        const orig = ref[j];
        ref[j] = orig + eps;
        const up = lossRef(w);
        ref[j] = orig - eps;
        const dn = lossRef(w);
        ref[j] = orig;
        const fd = (up - dn) / (2 * eps);
        assertClose([got[j]], [fd], { atol: 2e-4, rtol: 2e-3 }, `d loss / d ${name}[${j}]`);
      }
    }
  },
});

Deno.test({
  name: "vit: save -> load gives identical outputs; a hand-built PyTorch-layout file loads",
  ...gpuTest,
  fn: async () => {
    const vit = new ViT(TINY, 4).eval();
    randomise(vit, 50);
    const dir = await Deno.makeTempDir();
    const path = `${dir}/vit.safetensors`;
    await vit.save(path);
    const back = (await ViT.load(path)).eval();
    assertEquals(back.config, vit.config, "config from metadata");
    const x = tensor(Float32Array.from(randArray(2 * 2 * 8 * 8, 8)), [2, 2, 8, 8]);
    assertEquals(
      Array.from(await back.forward(x).cls.toArray()),
      Array.from(await vit.forward(x).cls.toArray()),
      "cls",
    );
    // a file without our metadata, as a PyTorch export would be (plus a classifier head)
    const w = await hostWeights(vit);
    const plain: Record<string, { shape: number[]; data: Float32Array }> = {};
    for (const [n, t] of w) plain[n] = { shape: t.shape, data: Float32Array.from(t.data) };
    plain["head.weight"] = { shape: [3, 8], data: new Float32Array(24) };
    const bytes = serializeSafetensors(plain);
    await Deno.writeFile(`${dir}/plain.safetensors`, bytes);
    const fromPlain = (await ViT.load(`${dir}/plain.safetensors`, { numHeads: 2 })).eval();
    assertEquals(fromPlain.config.embedDim, 8);
    assertEquals(fromPlain.config.depth, 2);
    assertEquals(fromPlain.config.imgSize, 8);
    const ref = vitForward(w, TINY, Float64Array.from(await x.toArray()), 2, 8).tokens;
    const cls = await fromPlain.forward(x).cls.toArray();
    assertClose(
      cls,
      [...ref.slice(0, 8), ...ref.slice(40, 48)],
      { atol: 2e-5, rtol: 2e-5 },
      "cls from plain file",
    );
    // a wrong shape names the tensor
    plain["norm.weight"] = { shape: [9], data: new Float32Array(9) };
    await Deno.writeFile(`${dir}/bad.safetensors`, serializeSafetensors(plain));
    let msg = "";
    try {
      await ViT.load(`${dir}/bad.safetensors`, { numHeads: 2 });
    } catch (e) {
      msg = (e as Error).message;
    }
    assert(msg.includes("'norm.weight' has shape [9]"), `error was: ${msg}`);
    // a missing tensor is named
    plain["norm.weight"] = { shape: [8], data: new Float32Array(8) };
    delete plain["norm.bias"];
    await Deno.writeFile(`${dir}/missing.safetensors`, serializeSafetensors(plain));
    msg = "";
    try {
      await ViT.load(`${dir}/missing.safetensors`, { numHeads: 2 });
    } catch (e) {
      msg = (e as Error).message;
    }
    assert(msg.includes("missing [norm.bias]"), `error was: ${msg}`);
    // and by URL, from a local HTTP server
    const server = Deno.serve(
      { hostname: "127.0.0.1", port: 0, onListen: () => {} },
      async () => new Response(await Deno.readFile(path)),
    );
    try {
      const { port } = server.addr as Deno.NetAddr;
      const byUrl = (await ViT.load(`http://127.0.0.1:${port}/vit.safetensors`)).eval();
      assertEquals(
        Array.from(await byUrl.forward(x).cls.toArray()),
        Array.from(await vit.forward(x).cls.toArray()),
        "by URL",
      );
    } finally {
      await server.shutdown();
    }
    await Deno.remove(dir, { recursive: true });
  },
});

Deno.test({
  name: "vit: stochastic depth drops whole samples at the block's rate and rescales the rest",
  ...gpuTest,
  fn: async () => {
    const dp = new DropPath(0.25, new Generator(7));
    const B = 4000;
    const ones = tensor(new Float32Array(B * 3).fill(1), [B, 3]);
    const out = await dp.forward(ones).toArray();
    let dropped = 0;
    for (let b = 0; b < B; b++) {
      const v = out[b * 3];
      assert(
        out[b * 3 + 1] === v && out[b * 3 + 2] === v,
        "a sample is dropped or kept as a whole",
      );
      if (v === 0) dropped++;
      else assertClose([v], [1 / 0.75], { atol: 1e-6, rtol: 0 }, "survivors are scaled by 1/(1-p)");
    }
    assert(Math.abs(dropped / B - 0.25) < 0.03, `drop rate ${dropped / B}`);
    dp.eval();
    assertEquals(
      Array.from(await dp.forward(ones).toArray()).every((v) => v === 1),
      true,
      "identity in eval",
    );
    // the ViT's rates rise linearly from 0 to dropPathRate over the blocks
    const vit = new ViT({ ...TINY, depth: 3, dropPathRate: 0.2 });
    assertEquals(vit.blocks.items.map((b) => b.dropPath.p), [0, 0.1, 0.2]);
  },
});

Deno.test({
  name: "vit: position embeddings resize bicubically with DINO's (n + 0.1) / N scale factor",
  ...gpuTest,
  fn: async () => {
    // a 7x7 grid (28 px, patch 4) resized for 12-px crops (3x3) and 36-px crops (9x9)
    const vit = new ViT({ ...TINY, imgSize: 28, patchSize: 4, inChans: 1 });
    const D = 8;
    const pos = randArray(50 * D, 77);
    vit.loadStateDict(
      new Map([["pos_embed", { shape: [1, 50, D], data: Float32Array.from(pos) }]]),
      {
        strict: false,
      },
    );
    for (const g of [3, 9, 5]) {
      const got = await vit.posEncoding(g, g).toArray();
      // reference: the patch part as [D, 7, 7] planes, PyTorch's interpolate with scale_factor
      const planes = new Float64Array(D * 49);
      for (let t = 0; t < 49; t++) {
        for (let d = 0; d < D; d++) planes[d * 49 + t] = pos[(1 + t) * D + d];
      }
      const geom = geo([1, D, 7, 7], { scaleFactor: [(g + 0.1) / 7, (g + 0.1) / 7] });
      assertEquals([geom.outH, geom.outW], [g, g], "grid size");
      const out = bicubicRef(planes, geom);
      const want = new Float64Array((1 + g * g) * D);
      for (let d = 0; d < D; d++) want[d] = pos[d]; // the class token's embedding is kept
      for (let t = 0; t < g * g; t++) {
        for (let d = 0; d < D; d++) want[(1 + t) * D + d] = out[d * g * g + t];
      }
      assertClose(got, want, { atol: 1e-5, rtol: 1e-5 }, `pos_embed resized to ${g}x${g}`);
      if (g === 3) {
        // the scale factor matters: size=(3, 3) maps coordinates with 7/3 and gives other values
        const bySize = bicubicRef(planes, geo([1, D, 7, 7], { size: [3, 3] }));
        let diff = 0;
        for (let i = 0; i < out.length; i++) diff = Math.max(diff, Math.abs(out[i] - bySize[i]));
        assert(diff > 0.05, `scale-factor and size resizes should differ, max diff ${diff}`);
      }
    }
    // at the training size the table is used as is
    assert(vit.posEncoding(7, 7) === vit.posEmbed, "the training-size table is used as is");
  },
});
