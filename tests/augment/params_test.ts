// Parameter sampling on the host: the distributions torchvision defines (crop area and aspect
// ratio inside their ranges, coin rates, jitter ranges and orders, erasing boxes), Python's
// rounding, the hashed noise, determinism by seed, and errors that name the bad field.
// Rate checks use 10 000 draws and a 5-sigma band, so they fail by chance about once in 10^6.
import { assert, assertEquals, assertThrows } from "../helpers.ts";
import { Generator } from "../../lib/tensor/rng.ts";
import {
  blurRadius,
  gaussianInvNorm,
  noiseAt,
  pyRound,
  sampleBlurSigma,
  sampleCoin,
  sampleColorJitter,
  sampleErasing,
  sampleResizedCrop,
} from "../../lib/augment/params.ts";

const N = 10000;

function assertRate(hits: number, n: number, p: number, what: string) {
  const sd = Math.sqrt((p * (1 - p)) / n);
  const rate = hits / n;
  assert(Math.abs(rate - p) <= 5 * sd + 1e-12, `${what}: rate ${rate}, want ${p} +- ${5 * sd}`);
}

Deno.test("pyRound rounds half to even like Python 3", () => {
  const cases: [number, number][] = [
    [0.5, 0],
    [1.5, 2],
    [2.5, 2],
    [3.5, 4],
    [2.4, 2],
    [2.6, 3],
    [
      -0.5,
      0,
    ],
    [-1.5, -2],
    [7, 7],
  ];
  for (const [x, want] of cases) assertEquals(pyRound(x) + 0, want, `pyRound(${x})`);
});

Deno.test("resized crop: area fraction and aspect ratio in range, box inside the image", () => {
  for (
    const [h, w, scale] of [[224, 224, [0.25, 1]], [28, 28, [0.05, 0.25]], [13, 50, [
      0.3,
      0.9,
    ]]] as [
      number,
      number,
      [number, number],
    ][]
  ) {
    const g = new Generator(1);
    let fallbacks = 0;
    for (let i = 0; i < 3000; i++) {
      const b = sampleResizedCrop(g, h, w, scale, [3 / 4, 4 / 3]);
      assert(b.top >= 0 && b.left >= 0 && b.top + b.height <= h && b.left + b.width <= w, "inside");
      assert(b.height >= 1 && b.width >= 1, "non-empty");
      const frac = (b.height * b.width) / (h * w);
      // rounding w and h moves the area by up to about (w + h) / 2 + 1/4 pixels
      const slack = ((b.height + b.width) / 2 + 0.25) / (h * w);
      const ratio = b.width / b.height;
      const ok = frac >= scale[0] - slack && frac <= scale[1] + slack &&
        ratio >= (3 / 4) * (1 - 1 / b.height) - 1e-9 &&
        ratio <= (4 / 3) * (1 + 1 / b.height) + 1e-9;
      if (!ok) fallbacks++; // the central-crop fallback may leave the ranges
    }
    assert(fallbacks < 30, `${h}x${w}: ${fallbacks} crops outside the scale/ratio ranges`);
  }
});

Deno.test("resized crop: central-crop fallback when no attempt fits", () => {
  // a very wide image: ratios in [3/4, 4/3] with area 100% cannot fit; fallback keeps the
  // full height and width = round(h * 4/3), centred
  const b = sampleResizedCrop(new Generator(0), 10, 100, [1, 1], [3 / 4, 4 / 3]);
  assertEquals(
    b,
    { top: 0, left: Math.floor((100 - 13) / 2), height: 10, width: 13 },
    "fallback box",
  );
});

Deno.test("coins: flip rate near 0.5, grayscale near 0.2", () => {
  const g = new Generator(2);
  let flips = 0;
  let grays = 0;
  for (let i = 0; i < N; i++) {
    if (sampleCoin(g, 0.5)) flips++;
    if (sampleCoin(g, 0.2)) grays++;
  }
  assertRate(flips, N, 0.5, "flip");
  assertRate(grays, N, 0.2, "grayscale");
  assert(!sampleCoin(g, 0) && sampleCoin(g, 1), "p = 0 never, p = 1 always");
});

Deno.test("colour jitter: apply rate, factor ranges, uniform order, disabled ops", () => {
  const g = new Generator(3);
  const cfg = { brightness: 0.4, contrast: 0.4, saturation: 0.2, hue: 0.1, p: 0.8 };
  let applied = 0;
  const first = [0, 0, 0, 0];
  for (let i = 0; i < N; i++) {
    const j = sampleColorJitter(g, cfg);
    if (!j) continue;
    applied++;
    assertEquals([...j.order].sort().join(), "0,1,2,3", "order is a permutation");
    first[j.order[0]]++;
    assert(j.brightness! >= 0.6 && j.brightness! <= 1.4, `brightness ${j.brightness}`);
    assert(j.contrast! >= 0.6 && j.contrast! <= 1.4, `contrast ${j.contrast}`);
    assert(j.saturation! >= 0.8 && j.saturation! <= 1.2, `saturation ${j.saturation}`);
    assert(j.hue! >= -0.1 && j.hue! <= 0.1, `hue ${j.hue}`);
    assertEquals(Math.fround(j.hue!), j.hue, "factors are float32");
  }
  assertRate(applied, N, 0.8, "jitter applied");
  for (let k = 0; k < 4; k++) assertRate(first[k], applied, 0.25, `op ${k} first`);
  // brightness 1.5 clips its lower end at 0; hue 0 / brightness 0 disable the op (torchvision None)
  const j = sampleColorJitter(new Generator(4), { brightness: 1.5, hue: 0, p: 1 })!;
  assert(j.brightness! >= 0 && j.brightness! <= 2.5, "brightness range [0, 2.5]");
  assertEquals([j.contrast, j.saturation, j.hue], [null, null, null], "unset ops are null");
  const k = sampleColorJitter(new Generator(4), { brightness: [0.9, 1.1], contrast: 0, p: 1 })!;
  assert(k.brightness! >= 0.9 && k.brightness! <= 1.1 && k.contrast === null, "explicit ranges");
});

Deno.test("blur: rate, sigma range, radius rule and normaliser", () => {
  const g = new Generator(5);
  let blurred = 0;
  for (let i = 0; i < N; i++) {
    const s = sampleBlurSigma(g, 0.5, [0.1, 2.0]);
    if (s === 0) continue;
    blurred++;
    assert(s >= 0.1 && s <= 2.0, `sigma ${s}`);
  }
  assertRate(blurred, N, 0.5, "blur");
  assertEquals(blurRadius(2.0, 224), 6, "ceil(3 sigma)");
  assertEquals(blurRadius(5.0, 224), 11, "capped at 11 (torchvision's kernel 23)");
  assertEquals(blurRadius(2.0, 5), 4, "capped at size - 1 for reflect padding");
  assertEquals(blurRadius(0.3, 224, 23), 11, "fixed kernel 23");
  assertEquals(blurRadius(0, 224), 0, "sigma 0: no blur");
  let s = 0;
  for (let k = -6; k <= 6; k++) s += Math.exp(-0.5 * (k / 2) ** 2) * gaussianInvNorm(2, 6);
  assert(Math.abs(s - 1) < 1e-12, "weights sum to 1");
});

Deno.test("random erasing: rate, area fraction and ratio, box strictly inside", () => {
  const g = new Generator(6);
  let erased = 0;
  for (let i = 0; i < N; i++) {
    const b = sampleErasing(g, 96, 96, { p: 0.25 });
    if (!b) continue;
    erased++;
    assert(
      b.height < 96 && b.width < 96 && b.top + b.height <= 96 && b.left + b.width <= 96,
      "inside",
    );
    const frac = (b.height * b.width) / (96 * 96);
    const slack = ((b.height + b.width) / 2 + 0.25) / (96 * 96);
    assert(frac >= 0.02 - slack && frac <= 0.33 + slack, `area ${frac}`);
    const r = b.height / b.width;
    assert(
      r >= 0.3 * (1 - 1 / b.width) - 1e-9 && r <= 3.3 * (1 + 1 / b.width) + 1e-9,
      `ratio ${r}`,
    );
  }
  // a few draws give up after 10 attempts (boxes as tall as the image); p = 0.25 bounds it
  assert(erased <= 0.25 * N + 5 * Math.sqrt(N * 0.25 * 0.75), `erased ${erased}`);
  assert(erased >= 0.22 * N, `erased ${erased}`);
});

Deno.test("hashed noise: standard normal moments, deterministic", () => {
  let s = 0;
  let s2 = 0;
  const n = 100000;
  for (let i = 0; i < n; i++) {
    const z = noiseAt(12345, i);
    s += z;
    s2 += z * z;
  }
  assert(Math.abs(s / n) < 0.02, `mean ${s / n}`);
  assert(Math.abs(s2 / n - 1) < 0.03, `variance ${s2 / n}`);
  assertEquals(noiseAt(7, 3), noiseAt(7, 3), "deterministic");
  assert(noiseAt(7, 3) !== noiseAt(8, 3), "seed matters");
});

Deno.test("sampling is deterministic by seed", () => {
  const draw = (seed: number) => {
    const g = new Generator(seed);
    return JSON.stringify([
      sampleResizedCrop(g, 28, 28, [0.25, 1]),
      sampleColorJitter(g, { brightness: 0.4, contrast: 0.4, saturation: 0.2, hue: 0.1, p: 0.8 }),
      sampleBlurSigma(g, 0.5, [0.1, 2]),
      sampleErasing(g, 28, 28, { p: 1 }),
    ]);
  };
  assertEquals(draw(9), draw(9), "same seed");
  assert(draw(9) !== draw(10), "different seeds differ");
});

Deno.test("bad sampling options name the field", () => {
  const g = new Generator(0);
  assertThrows(() => sampleResizedCrop(g, 28, 28, [0.9, 0.2]), "scale");
  assertThrows(() => sampleResizedCrop(g, 28, 28, [0.2, 1], [0, 1]), "ratio");
  assertThrows(() => sampleColorJitter(g, { hue: 0.7 }), "hue");
  assertThrows(() => sampleColorJitter(g, { brightness: -1 }), "brightness");
  assertThrows(() => sampleColorJitter(g, { brightness: 0.4, p: 1.5 }), "ColorJitter: p");
  assertThrows(() => sampleBlurSigma(g, 2, [0.1, 2]), "GaussianBlur: p");
  assertThrows(() => sampleBlurSigma(g, 0.5, [2, 0.1]), "sigma");
  assertThrows(() => sampleErasing(g, 28, 28, { p: Number.NaN }), "RandomErasing: p");
  assertThrows(() => sampleErasing(g, 28, 28, { p: 0.5, scale: [0.5, 2] }), "scale");
  assertThrows(() => blurRadius(1, 28, 4), "kernel");
});
