// RandAugment: every op on the GPU against its float64 reference (PIL geometry, torchvision /
// PIL float semantics), on 13x17 and 28x28 images, 1 and 3 channels, flipped input, bilinear
// and bicubic; two-op chains; the compacted layers that renderViews uses; the sampling
// (Mugs' rand-m9-mstd0.5-inc1: distinct ops, p 0.5 each, magnitude in [0, 10], argument
// ranges) and bad inputs. Tolerance: atol 1e-5 + rtol 1e-5 on [0, 1] values (float32
// coordinates and sums against float64); quantising ops (posterize, equalize) agree exactly.
import { assert, assertClose, assertEquals, assertThrows, gpuTest, setup } from "../helpers.ts";
import { tensor } from "../../lib/tensor/tensor.ts";
import { Generator } from "../../lib/tensor/rng.ts";
import {
  MUGS_RA_OPS,
  RA_OPS,
  raAffine,
  randAugmentImages,
  randAugmentLayers,
  raOpsFor,
  type RAStep,
  sampleRandAugment,
} from "../../lib/augment/randaugment.ts";
import * as ref from "../../lib/augment/reference.ts";

await setup();

const TOL = { atol: 1e-5, rtol: 1e-5 };

function argFor(op: string): number {
  if (op.startsWith("Posterize")) return 3;
  if (op === "SolarizeAdd") return 99;
  if (op.startsWith("Solarize")) return 100;
  if (op === "Rotate") return -23;
  if (op.startsWith("Shear")) return 0.21;
  if (op.startsWith("Translate")) return -0.31;
  return 1.63;
}

Deno.test("every RandAugment op matches its reference", gpuTest, async () => {
  for (const [c, h, w] of [[1, 13, 17], [3, 13, 17], [1, 28, 28], [3, 28, 28]]) {
    const g = new Generator(c * h);
    const b = 2;
    const data = new Float32Array(b * c * h * w).map(() => g.uniform());
    const x = tensor(data, [b, c, h, w]);
    const fill = [0.2, 0.5, 0.7].slice(0, c);
    for (const op of RA_OPS) {
      const interps = raAffine({ op, magnitude: 9, arg: 1, interpolation: "bilinear" }, h, w)
        ? (["bilinear", "bicubic"] as const)
        : (["bilinear"] as const);
      for (const interpolation of interps) {
        for (const flip of [false, true]) {
          const step: RAStep = { op, magnitude: 9, arg: Math.fround(argFor(op)), interpolation };
          const out = randAugmentImages(x, [{ src: 1, flip, steps: [step] }], { fill });
          let im = ref.imageAt(data, 1, c, h, w);
          if (flip) im = ref.refFlip(im);
          const want = ref.refRandAugmentStep(im, step, fill);
          assertClose(
            await out.toArray(),
            want.data,
            TOL,
            `${op} ${interpolation} flip=${flip} C=${c} ${h}x${w}`,
          );
          out.dispose();
        }
      }
    }
    x.dispose();
  }
});

Deno.test("degenerate inputs: constant channels, few levels, tiny images", gpuTest, async () => {
  const c = 3;
  const [h, w] = [5, 2]; // sharpness keeps images with a side <= 2
  const data = new Float32Array(c * h * w);
  for (let i = 0; i < data.length; i++) data[i] = i < h * w ? 0.25 : (i % 3) / 2; // channel 0 constant
  const x = tensor(data, [1, c, h, w]);
  for (const op of ["AutoContrast", "Equalize", "Sharpness", "Contrast"] as const) {
    const step: RAStep = { op, magnitude: 5, arg: 1.5, interpolation: "bilinear" };
    const out = randAugmentImages(x, [{ src: 0, flip: false, steps: [step] }]);
    const want = ref.refRandAugmentStep(ref.imageAt(data, 0, c, h, w), step, [0.5, 0.5, 0.5]);
    assertClose(await out.toArray(), want.data, TOL, `${op} degenerate`);
    out.dispose();
  }
  x.dispose();
});

Deno.test("two-op chains and the compacted layers agree with the reference", gpuTest, async () => {
  const [b, c, h, w] = [3, 3, 17, 13];
  const g = new Generator(7);
  const data = new Float32Array(b * c * h * w).map(() => g.uniform());
  const x = tensor(data, [b, c, h, w]);
  const fill = [0.4, 0.4, 0.4];
  const chains: RAStep[][] = [
    [
      { op: "Rotate", magnitude: 9, arg: 25, interpolation: "bicubic" },
      { op: "ContrastIncreasing", magnitude: 9, arg: Math.fround(0.3), interpolation: "bilinear" },
    ],
    [
      { op: "Equalize", magnitude: 9, arg: 0, interpolation: "bilinear" },
      { op: "TranslateYRel", magnitude: 9, arg: Math.fround(0.2), interpolation: "bilinear" },
    ],
    [{ op: "SharpnessIncreasing", magnitude: 9, arg: Math.fround(1.8), interpolation: "bilinear" }],
    [],
  ];
  const items = chains.map((steps, k) => ({ src: k % b, flip: k % 2 === 0, steps }));
  const want = items.map((it) => {
    let im = ref.imageAt(data, it.src, c, h, w);
    if (it.flip) im = ref.refFlip(im);
    for (const st of it.steps) im = ref.refRandAugmentStep(im, st, fill);
    return im;
  });
  const out = randAugmentImages(x, items, { fill });
  const got = await out.toArray();
  const n = c * h * w;
  want.forEach((im, k) =>
    assertClose(got.subarray(k * n, (k + 1) * n), im.data, TOL, `chain ${k}`)
  );
  out.dispose();
  const { layers, place } = randAugmentLayers(x, items, { fill });
  assertEquals(place.map((p) => p.layer), [2, 2, 1, 0], "layers");
  assertEquals(layers.map((t) => t.shape[0]), [3, 2], "layer sizes");
  for (let k = 0; k < 3; k++) {
    const t = await layers[place[k].layer - 1].toArray();
    const i = place[k].index;
    assertClose(t.subarray(i * n, (i + 1) * n), want[k].data, TOL, `layered ${k}`);
  }
  layers.forEach((t) => t.dispose());
  x.dispose();
});

Deno.test("sampling follows rand-m9-mstd0.5-inc1", () => {
  const g = new Generator(11);
  const counts = new Map<string, number>();
  let applied = 0;
  const n = 6000;
  for (let i = 0; i < n; i++) {
    const steps = sampleRandAugment(g, {}, 3);
    assert(steps.length <= 2, "at most 2 ops");
    if (steps.length === 2) {
      assert(steps[0].op !== steps[1].op, "ops are distinct (Mugs: replace=False)");
    }
    applied += steps.length;
    for (const s of steps) {
      counts.set(s.op, (counts.get(s.op) ?? 0) + 1);
      assert(MUGS_RA_OPS.includes(s.op), `op ${s.op} in Mugs' list`);
      assert(s.magnitude >= 0 && s.magnitude <= 10, `magnitude ${s.magnitude}`);
      const l = s.magnitude / 10;
      switch (s.op) {
        case "Rotate":
          assert(Math.abs(Math.abs(s.arg) - Math.fround(l * 30)) < 1e-4, "rotate degrees");
          break;
        case "ShearX":
        case "ShearY":
          assert(Math.abs(s.arg) <= 0.3 + 1e-6, "shear");
          break;
        case "TranslateXRel":
        case "TranslateYRel":
          assert(Math.abs(s.arg) <= 0.45 + 1e-6, "translate");
          break;
        case "PosterizeIncreasing":
          assertEquals(s.arg, 4 - Math.trunc(l * 4), "bits");
          break;
        case "SolarizeIncreasing":
          assertEquals(s.arg, 256 - Math.trunc(l * 256), "threshold");
          break;
        case "SolarizeAdd":
          assertEquals(s.arg, Math.trunc(l * 110), "add");
          break;
        case "ColorIncreasing":
        case "ContrastIncreasing":
        case "BrightnessIncreasing":
        case "SharpnessIncreasing":
          assert(Math.abs(Math.abs(s.arg - 1) - Math.fround(l * 0.9)) < 1e-4, "enhance factor");
          break;
      }
    }
  }
  // each of 2 chosen ops applied with p 0.5: 1 op per image on average
  const sd = Math.sqrt(n * 2 * 0.25);
  assert(Math.abs(applied - n) < 5 * sd, `applied ${applied}, want ${n}`);
  // 15 ops chosen uniformly
  for (const op of MUGS_RA_OPS) {
    const k = counts.get(op) ?? 0;
    assert(Math.abs(k - applied / 15) < 5 * Math.sqrt(applied / 15), `${op} chosen ${k} times`);
  }
  // magnitudes concentrate near 9 (std 0.5)
  const m = [...Array(200)].flatMap(() => sampleRandAugment(g, { prob: 1 }, 3)).map((s) =>
    s.magnitude
  );
  const mean = m.reduce((a, b) => a + b, 0) / m.length;
  assert(Math.abs(mean - 9) < 0.15, `mean magnitude ${mean}`);
});

Deno.test("op list per channel count, determinism, bad options", () => {
  assert(!raOpsFor({}, 1).includes("ColorIncreasing"), "no colour op on 1 channel");
  assert(raOpsFor({}, 3).includes("ColorIncreasing"), "colour op on 3 channels");
  const a = JSON.stringify(sampleRandAugment(new Generator(3), {}, 3));
  assertEquals(
    JSON.stringify(sampleRandAugment(new Generator(3), {}, 3)),
    a,
    "same seed, same ops",
  );
  const g = new Generator(0);
  assertThrows(() => sampleRandAugment(g, { ops: ["Blur" as "Invert"] }, 3), "ops[0]");
  assertThrows(() => sampleRandAugment(g, { prob: 2 }, 3), "RandAugment: prob");
  assertThrows(() => sampleRandAugment(g, { magnitude: -1 }, 3), "magnitude");
  assertThrows(() => sampleRandAugment(g, { numOps: 3, ops: ["Invert", "Equalize"] }, 3), "numOps");
  assertThrows(() => sampleRandAugment(g, { ops: ["Color"] }, 1), "ops");
});

Deno.test("randAugmentImages bad inputs", gpuTest, () => {
  const x = tensor(new Float32Array(2 * 28 * 28), [2, 1, 28, 28]);
  assertThrows(() => randAugmentImages(x, []), "items");
  assertThrows(() => randAugmentImages(x, [{ src: 5, flip: false, steps: [] }]), "items[0].src");
  assertThrows(
    () =>
      randAugmentImages(x, [{
        src: 0,
        flip: false,
        steps: [{ op: "Nope" as "Invert", magnitude: 1, arg: 0, interpolation: "bilinear" }],
      }]),
    "items[0].steps[0].op",
  );
  assertThrows(
    () => randAugmentImages(x, [{ src: 0, flip: false, steps: [] }], { fill: [0, 0] }),
    "fill",
  );
  x.dispose();
});
