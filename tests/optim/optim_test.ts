import {
  assert,
  assertClose,
  assertEquals,
  assertThrows,
  gpuTest,
  randArray,
  setup,
} from "../helpers.ts";
import { tensor } from "../../lib/tensor/tensor.ts";
import { AdamW, paramGroups } from "../../lib/optim/adamw.ts";
import { cosineSchedule } from "../../lib/optim/schedule.ts";
import { emaUpdate } from "../../lib/optim/ema.ts";
import { cancelGradients, clipGradients } from "../../lib/optim/clip.ts";
import { ViT, vitConfig } from "../../lib/nn/vit.ts";
import { Linear } from "../../lib/nn/linear.ts";

await setup();

/** PyTorch's AdamW step in float64. */
function adamwRef(
  p: number[],
  grads: number[][],
  lr: number,
  wd: number,
  b1: number,
  b2: number,
  eps: number,
  clip = 0,
) {
  let m = p.map(() => 0);
  let v = p.map(() => 0);
  let x = [...p];
  grads.forEach((g0, t0) => {
    const t = t0 + 1;
    let g = g0;
    if (clip > 0) {
      const n = Math.sqrt(g.reduce((a, b) => a + b * b, 0));
      const c = clip / (n + 1e-6);
      if (c < 1) g = g.map((q) => q * c);
    }
    x = x.map((q) => q * (1 - lr * wd));
    m = m.map((q, i) => b1 * q + (1 - b1) * g[i]);
    v = v.map((q, i) => b2 * q + (1 - b2) * g[i] * g[i]);
    const bc1 = 1 - b1 ** t;
    const bc2 = 1 - b2 ** t;
    x = x.map((q, i) => q - (lr / bc1) * m[i] / (Math.sqrt(v[i]) / Math.sqrt(bc2) + eps));
  });
  return x;
}

Deno.test({
  name: "optim: AdamW matches PyTorch's update over several steps, with and without clipping",
  ...gpuTest,
  fn: async () => {
    for (const clip of [0, 0.5]) {
      const n = 13;
      const p0 = Array.from(randArray(n, 1));
      const grads = [0, 1, 2, 3].map((s) => Array.from(randArray(n, 10 + s, -2, 2)));
      const p = tensor(Float32Array.from(p0), [n], { requiresGrad: true });
      const opt = new AdamW([{ name: "g", params: [p], names: ["p"], decay: true, lrScale: 1 }], {
        lr: 0.01,
        weightDecay: 0.04,
      });
      for (const g of grads) {
        p.grad = tensor(Float32Array.from(g), [n]);
        opt.step({ clip: clip || undefined });
        opt.zeroGrad();
      }
      const want = adamwRef(p0, grads, 0.01, 0.04, 0.9, 0.999, 1e-8, clip);
      assertClose(await p.toArray(), want, { atol: 1e-6, rtol: 1e-5 }, `AdamW clip=${clip}`);
      assertEquals(opt.slot(p).step, 4, "step count");
    }
  },
});

Deno.test({
  name:
    "optim: parameter groups (no decay on biases/1-D, patch-embedding LR multiplier) and skipped parameters",
  ...gpuTest,
  fn: async () => {
    const vit = new ViT(vitConfig("vit_micro_28", { depth: 1 }));
    const groups = paramGroups(vit.namedParameters(), { patchEmbedLrScale: 0.2 });
    const byName = new Map(groups.flatMap((g) => g.names.map((n) => [n, g] as const)));
    assertEquals(byName.get("blocks.0.attn.qkv.weight")!.decay, true);
    assertEquals(byName.get("blocks.0.attn.qkv.bias")!.decay, false);
    assertEquals(byName.get("norm.weight")!.decay, false);
    assertEquals(byName.get("patch_embed.proj.weight")!.lrScale, 0.2);
    assertEquals(byName.get("patch_embed.proj.bias")!.lrScale, 0.2);
    assertEquals(byName.get("pos_embed")!.decay, true, "pos_embed is 3-D, so DINO decays it");
    assertEquals(groups.reduce((a, g) => a + g.params.length, 0), vit.parameters().length);
    // a cancelled gradient means no update at all (no decay, no moment)
    const lin = new Linear(4, 3);
    const named = lin.namedParameters().map(([n, p]) =>
      [`last_layer.${n}`, p] as [string, typeof p]
    );
    const before = Array.from(await lin.weight.toArray());
    lin.weight.grad = tensor(new Float32Array(12).fill(1), [3, 4]);
    cancelGradients(named, "last_layer");
    assertEquals(lin.weight.grad, null);
    const opt = new AdamW(paramGroups(named), { lr: 0.1, weightDecay: 0.5 });
    opt.step();
    assertEquals(Array.from(await lin.weight.toArray()), before, "skipped parameter unchanged");
    assertEquals(opt.slot(lin.weight).step, 0);
  },
});

Deno.test({
  name: "optim: per-parameter clipping scales only gradients above the bound",
  ...gpuTest,
  fn: async () => {
    const a = tensor([0, 0], [2], { requiresGrad: true });
    const b = tensor([0, 0], [2], { requiresGrad: true });
    a.grad = tensor([3, 4], [2]); // norm 5
    b.grad = tensor([0.3, 0.4], [2]); // norm 0.5
    clipGradients([a, b], 1);
    assertClose(await a.grad.toArray(), [3 / (5 + 1e-6), 4 / (5 + 1e-6)], {
      atol: 1e-7,
      rtol: 1e-6,
    }, "clipped");
    assertClose(await b.grad.toArray(), [0.3, 0.4], { atol: 0, rtol: 1e-7 }, "unchanged");
  },
});

Deno.test({
  name: "optim: EMA of a module follows the closed form",
  ...gpuTest,
  fn: async () => {
    const s = new Linear(5, 3);
    const t = new Linear(5, 3);
    const s0 = await s.weight.toArray();
    const sw = Float32Array.from(randArray(15, 4));
    s.loadStateDict({
      weight: { shape: [3, 5], data: sw },
      bias: { shape: [3], data: new Float32Array(3) },
    });
    const t0 = await t.weight.toArray();
    emaUpdate(t, s, 0.9);
    emaUpdate(t, s, 0.9);
    const want = Array.from(t0, (x, i) => 0.81 * x + (1 - 0.81) * sw[i]);
    assertClose(
      await t.weight.toArray(),
      want,
      { atol: 1e-6, rtol: 1e-6 },
      "teacher after two EMA steps",
    );
    assert(s0.length === 15);
    const other = new Linear(5, 4);
    assertThrows(
      () => emaUpdate(other, s, 0.9),
      "'weight' is [4,5] in the teacher but [3,5] in the student",
    );
  },
});

Deno.test({
  name: "optim: cosine schedule with warm-up matches DINO's cosine_scheduler",
  fn: () => {
    const s = cosineSchedule({
      base: 1,
      final: 0.1,
      epochs: 4,
      itersPerEpoch: 5,
      warmupEpochs: 1,
      startWarmup: 0,
    });
    assertEquals(s.length, 20);
    assertClose(
      Array.from(s.slice(0, 5)),
      [0, 0.25, 0.5, 0.75, 1],
      { atol: 1e-12, rtol: 0 },
      "linear warm-up",
    );
    const n = 15;
    const want = Array.from(
      { length: n },
      (_, i) => 0.1 + 0.5 * 0.9 * (1 + Math.cos((Math.PI * i) / n)),
    );
    assertClose(Array.from(s.slice(5)), want, { atol: 1e-12, rtol: 0 }, "cosine part");
    const m = cosineSchedule({ base: 0.996, final: 1, epochs: 2, itersPerEpoch: 3 });
    assertEquals(m[0], 0.996);
    assert(m[5] > 0.999 && m[5] < 1, "momentum rises towards 1");
    assertThrows(
      () => cosineSchedule({ base: 1, final: 0, epochs: 1, itersPerEpoch: 2, warmupEpochs: 2 }),
      "exceed",
    );
  },
});
