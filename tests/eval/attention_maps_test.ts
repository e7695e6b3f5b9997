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
import {
  attentionMaps,
  thresholdMask,
  upsampleBilinear,
  upsampleNearest,
} from "../../lib/eval/attention_maps.ts";
import { ViT, type ViTConfig } from "../../lib/nn/vit.ts";
import { tensor } from "../../lib/tensor/tensor.ts";
import { toHost } from "../../lib/io/weights.ts";
import { vitForward, type Weights } from "../nn/reference.ts";

await setup();

/** 12x12 images, patch 4: an odd 3x3 grid, 10 tokens, 2 heads. */
const TINY: ViTConfig = {
  imgSize: 12,
  patchSize: 4,
  inChans: 1,
  embedDim: 16,
  depth: 2,
  numHeads: 2,
  mlpRatio: 2,
  qkvBias: true,
  dropPathRate: 0,
  eps: 1e-6,
};

/** Random weights (LayerNorm weights near 1) so the attention is far from uniform. */
function randomise(vit: ViT, seed: number): void {
  let s = seed;
  const state = new Map<string, { shape: number[]; data: Float32Array }>();
  for (const [n, p] of vit.namedParameters()) {
    const norm = n.includes("norm") && n.endsWith("weight");
    const data = Float32Array.from(randArray(p.size, s++, norm ? 0.5 : -0.6, norm ? 1.5 : 0.6));
    state.set(n, { shape: [...p.shape], data });
  }
  vit.loadStateDict(state);
}

async function hostWeights(vit: ViT): Promise<Weights> {
  const w: Weights = new Map();
  for (const [n, t] of await toHost(vit.stateDict())) {
    w.set(n, { shape: t.shape, data: Float64Array.from(t.data) });
  }
  return w;
}

Deno.test({
  name: "attentionMaps: class-token rows match a float64 ViT and sum to one per head",
  ...gpuTest,
  fn: async () => {
    const vit = new ViT(TINY, 3);
    randomise(vit, 40);
    const B = 3, S = 12, H = 2, G = 3, L = G * G, T = L + 1;
    const img = randArray(B * S * S, 7);
    const x = tensor(Float32Array.from(img), [B, 1, S, S]);
    vit.train(); // attentionMaps must switch to eval and back
    const m = await attentionMaps(vit, x, { batchSize: 2 }); // two chunks: 2 + 1 images
    assert(vit.training, "the model's training mode was not restored");
    assertEquals(
      [m.n, m.heads, m.gridH, m.gridW, m.height, m.width, m.patchSize],
      [B, H, G, G, S, S, 4],
      "sizes",
    );
    assertEquals(m.upsample, "nearest", "default upsampling");
    assert(m.masks === undefined && m.threshold === undefined, "masks without a threshold");

    const { maps } = vitForward(await hostWeights(vit), TINY, img, B, S); // [B, H, T, T]
    const wantCls = new Float64Array(B * H);
    const wantPatch = new Float64Array(B * H * L);
    for (let r = 0; r < B * H; r++) {
      wantCls[r] = maps[r * T * T];
      for (let i = 0; i < L; i++) wantPatch[r * L + i] = maps[r * T * T + 1 + i];
    }
    const tol = { atol: 2e-6, rtol: 1e-4 };
    assertClose(m.cls, wantCls, tol, "class token -> itself");
    assertClose(m.patch, wantPatch, tol, "class token -> patches");
    // not trivially uniform: the reference maps are peaked
    let spread = 0;
    for (const v of wantPatch) spread = Math.max(spread, Math.abs(v - 1 / T));
    assert(spread > 0.05, `the test maps are too close to uniform (max deviation ${spread})`);

    // the class-token row over all tokens (cls included) sums to 1 per image and head; the
    // patch part alone sums to 1 - cls (the share DINO's maps and masks are made from)
    for (let r = 0; r < B * H; r++) {
      let s = 0;
      for (let i = 0; i < L; i++) s += m.patch[r * L + i];
      assert(Math.abs(m.cls[r] + s - 1) < 1e-5, `row ${r}: cls + patches = ${m.cls[r] + s}`);
      assert(m.cls[r] > 0 && m.cls[r] < 1, `row ${r}: cls share ${m.cls[r]}`);
    }
    x.dispose();
  },
});

Deno.test({
  name: "attentionMaps: nearest upsampling indexes the patch grid; masks follow DINO's threshold",
  ...gpuTest,
  fn: async () => {
    const vit = new ViT({ ...TINY, depth: 1 }, 5);
    randomise(vit, 80);
    const B = 2, Hh = 12, W = 8, p = 4, gh = 3, gw = 2, L = gh * gw; // non-square: 3x2 grid
    const x = tensor(Float32Array.from(randArray(B * Hh * W, 9)), [B, 1, Hh, W]);
    const m = await attentionMaps(vit, x, { threshold: 0.6 });
    assertEquals([m.gridH, m.gridW, m.height, m.width], [gh, gw, Hh, W], "non-square sizes");
    assertEquals(m.upsampled.length, B * 2 * Hh * W, "upsampled length");
    for (let r = 0; r < B * 2; r++) {
      let s = m.cls[r];
      for (let i = 0; i < L; i++) s += m.patch[r * L + i];
      assert(Math.abs(s - 1) < 1e-5, `row ${r} sums to ${s}`);
      for (let y = 0; y < Hh; y++) {
        for (let xx = 0; xx < W; xx++) {
          const cell = Math.floor(y / p) * gw + Math.floor(xx / p);
          const got = m.upsampled[(r * Hh + y) * W + xx];
          if (got !== m.patch[r * L + cell]) {
            throw new Error(`map ${r} pixel (${y}, ${xx}): ${got} is not cell ${cell}`);
          }
          if (m.masksUpsampled![(r * Hh + y) * W + xx] !== m.masks![r * L + cell]) {
            throw new Error(`mask ${r} pixel (${y}, ${xx}) is not cell ${cell}`);
          }
        }
      }
      // the mask: the largest patches whose share of the patch mass first reaches 0.6
      const vals = Array.from(m.patch.subarray(r * L, (r + 1) * L));
      const mask = m.masks!.subarray(r * L, (r + 1) * L);
      checkMassProperty(vals, mask, 0.6, `head row ${r}`);
    }
    assertEquals(m.threshold, 0.6, "threshold recorded");
    const bil = await attentionMaps(vit, x, { upsample: "bilinear" });
    assertClose(bil.patch, m.patch, { atol: 0, rtol: 0 }, "patch maps do not depend on upsampling");
    assertClose(
      bil.upsampled,
      upsampleBilinear(m.patch, B * 2, gh, gw, p),
      { atol: 0, rtol: 0 },
      "bilinear upsampled maps",
    );
    x.dispose();
  },
});

Deno.test({
  name: "attentionMaps: bad input is a clear error",
  ...gpuTest,
  fn: async () => {
    const vit = new ViT({ ...TINY, depth: 1 }, 1);
    const x3 = tensor(new Float32Array(2 * 12 * 12), [2, 12, 12]);
    await assertRejects(() => attentionMaps(vit, x3), "images must be [B, 1, H, W]");
    const odd = tensor(new Float32Array(1 * 10 * 12), [1, 1, 10, 12]);
    await assertRejects(() => attentionMaps(vit, odd), "not a multiple of the patch size 4");
    const ok = tensor(new Float32Array(1 * 12 * 12), [1, 1, 12, 12]);
    await assertRejects(() => attentionMaps(vit, ok, { threshold: 1.5 }), "threshold must be in");
    await assertRejects(() => attentionMaps(vit, ok, { threshold: 0 }), "threshold must be in");
    await assertRejects(
      // @ts-expect-error: a bad mode on purpose
      () => attentionMaps(vit, ok, { upsample: "bicubic" }),
      'upsample must be "nearest" or "bilinear"',
    );
    await assertRejects(() => attentionMaps(vit, ok, { batchSize: 0 }), "batchSize");
    for (const t of [x3, odd, ok]) t.dispose();
  },
});

/** Kept mass >= t, kept mass without its smallest entry < t, every kept value >= every dropped. */
function checkMassProperty(vals: number[], mask: Uint8Array, t: number, what: string): void {
  const sum = vals.reduce((a, b) => a + b, 0);
  let kept = 0, minKept = Infinity, maxDropped = -Infinity;
  vals.forEach((v, i) => {
    if (mask[i]) {
      kept += v / sum;
      minKept = Math.min(minKept, v);
    } else maxDropped = Math.max(maxDropped, v);
  });
  assert(kept >= t - 1e-12, `${what}: kept mass ${kept} < ${t}`);
  assert(kept - minKept / sum < t, `${what}: the mask is not the smallest set (${kept})`);
  assert(minKept >= maxDropped, `${what}: kept ${minKept} < dropped ${maxDropped}`);
}

Deno.test("thresholdMask: DINO's cumulative-mass rule on hand-made and random maps", () => {
  // sorted ascending 0.1, 0.15, 0.25, 0.5 -> cumsum 0.1, 0.25, 0.5, 1.0; keep cumsum > 0.4
  assertEquals([...thresholdMask([0.1, 0.5, 0.15, 0.25], 0.6)], [0, 1, 0, 1], "example");
  // not normalised: the rule works on shares of the sum (2 + 1 of 4 = 0.75 >= 0.7)
  assertEquals([...thresholdMask([2, 0.5, 1, 0.5], 0.7)], [1, 0, 1, 0], "unnormalised");
  assertEquals([...thresholdMask([1, 1, 1, 1], 1)], [1, 1, 1, 1], "threshold 1 keeps all");
  // ties are ordered by index: the later of two equal values is kept first
  assertEquals([...thresholdMask([1, 1, 1, 1], 0.5)], [0, 0, 1, 1], "ties");
  assertEquals([...thresholdMask([1, 1, 1, 1], 0.2)], [0, 0, 0, 1], "ties, less mass");
  assertEquals([...thresholdMask([0, 0, 0], 0.6)], [0, 0, 0], "zero mass keeps nothing");
  for (let s = 0; s < 40; s++) {
    const n = 5 + (s % 13) * 7;
    const vals = Array.from(randArray(n, 100 + s, 0, 1), (v) => v ** 3);
    const t = [0.1, 0.3, 0.6, 0.9, 0.99][s % 5];
    checkMassProperty(vals, thresholdMask(vals, t), t, `random map ${s}`);
  }
  assertThrows(() => thresholdMask([1, -1], 0.5), "finite and >= 0");
  assertThrows(() => thresholdMask([1, NaN], 0.5), "finite and >= 0");
  assertThrows(() => thresholdMask([1, 2], 0), "threshold must be in (0, 1]");
});

Deno.test("upsampleNearest / upsampleBilinear: PyTorch's interpolate on small grids", () => {
  // nearest, scale 2 on one 2x3 map and the same as uint8
  const g = Float32Array.of(1, 2, 3, 4, 5, 6);
  assertEquals(
    [...upsampleNearest(g, 1, 2, 3, 2)],
    [1, 1, 2, 2, 3, 3, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 4, 4, 5, 5, 6, 6],
    "nearest",
  );
  const u8 = upsampleNearest(Uint8Array.of(0, 1), 1, 1, 2, 3);
  assert(u8 instanceof Uint8Array, "nearest keeps the array type");
  assertEquals([...u8], [0, 0, 0, 1, 1, 1, 0, 0, 0, 1, 1, 1, 0, 0, 0, 1, 1, 1], "nearest u8");
  // bilinear, align_corners=False: [0, 3, 6] x2 -> [0, .75, 2.25, 3.75, 5.25, 6] (torch)
  const row = upsampleBilinear(Float32Array.of(0, 3, 6), 1, 1, 3, 2);
  assertClose(row, [0, 0.75, 2.25, 3.75, 5.25, 6, 0, 0.75, 2.25, 3.75, 5.25, 6], {
    atol: 1e-6,
    rtol: 0,
  }, "bilinear row");
  // separable: a 2x2 map x4 equals the outer product of the two 1-D interpolations
  const a = [1, 5], b = [2, -1];
  const m = Float32Array.of(a[0] * b[0], a[0] * b[1], a[1] * b[0], a[1] * b[1]);
  const up = upsampleBilinear(m, 1, 2, 2, 4);
  const ua = upsampleBilinear(Float32Array.from(a), 1, 1, 2, 4).subarray(0, 8);
  const ub = upsampleBilinear(Float32Array.from(b), 1, 1, 2, 4).subarray(0, 8);
  const outer: number[] = [];
  for (let y = 0; y < 8; y++) for (let x = 0; x < 8; x++) outer.push(ua[y] * ub[x]);
  assertClose(up, outer, { atol: 1e-5, rtol: 0 }, "bilinear 2-D");
  assertThrows(() => upsampleNearest(g, 1, 2, 2, 2), "expected count x gh x gw = 4");
  assertThrows(() => upsampleBilinear(g, 1, 2, 3, 0), "scale must be a positive integer");
});
