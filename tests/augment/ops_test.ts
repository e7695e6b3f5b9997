// Each GPU transform against its float64 reference (lib/augment/reference.ts) on fixed
// parameters, odd sizes (7x13, 13x7, 50x37 and crops to 11x9, 5x17) and 1 and 3 channels.
// Tolerances, on [0, 1] inputs: atol 1e-5 + rtol 1e-5 for every transform (flips: exact). The
// kernels compute in float32: source coordinates up to 50 carry rounding of ~4e-6 px, which a
// real GPU's fused multiply-adds round differently from the reference (on llvmpipe the
// results agree to ~1e-7), blur weights use the GPU's exp (approximate on NVIDIA: 3e-6 seen
// on an H100), hue and contrast means are float32. The fused pipeline with normalisation
// (values scaled by 1 / std, about 4.4): atol 6e-5 + rtol 1e-5.
import { assertClose, assertEquals, assertThrows, gpuTest, setup } from "../helpers.ts";
import { type Tensor, tensor } from "../../lib/tensor/tensor.ts";
import { Generator } from "../../lib/tensor/rng.ts";
import {
  blurRadius,
  type CropBox,
  type JitterParams,
  plainView,
  sampleColorJitter,
  sampleErasing,
  sampleResizedCrop,
  type ViewParams,
} from "../../lib/augment/params.ts";
import {
  colorJitter,
  gaussianBlur,
  grayscale,
  horizontalFlip,
  normalize,
  randomErase,
  renderViews,
  resizedCrop,
  solarize,
} from "../../lib/augment/ops.ts";
import * as ref from "../../lib/augment/reference.ts";
import { sampleRandAugment } from "../../lib/augment/randaugment.ts";
import { gpuStats, sync } from "../../lib/gpu/device.ts";

await setup();

const F32 = { atol: 1e-5, rtol: 1e-5 };
const EXACT = F32;
const NORM = { atol: 6e-5, rtol: 1e-5 };

const SHAPES: [number, number, number][] = [[3, 7, 13], [2, 13, 7], [2, 50, 37]];

function batch(b: number, c: number, h: number, w: number, seed: number) {
  const g = new Generator(seed);
  const data = new Float32Array(b * c * h * w);
  for (let i = 0; i < data.length; i++) data[i] = g.uniform();
  return { data, x: tensor(data, [b, c, h, w]) };
}

/** GPU output vs the per-image reference images, concatenated. */
async function compare(
  out: Tensor,
  want: ref.Image[],
  tol: { atol: number; rtol: number },
  what: string,
) {
  const got = await out.toArray();
  const flat = new Float64Array(want.reduce((s, im) => s + im.data.length, 0));
  let o = 0;
  for (const im of want) {
    flat.set(im.data, o);
    o += im.data.length;
  }
  assertEquals(
    JSON.stringify(out.shape),
    JSON.stringify([want.length, want[0].c, want[0].h, want[0].w]),
    `${what} shape`,
  );
  assertClose(got, flat, tol, what);
  out.dispose();
}

Deno.test(
  "resized crop (bilinear, bicubic) + flip match torchvision's algorithm",
  gpuTest,
  async () => {
    for (const c of [1, 3]) {
      for (const [b, h, w] of SHAPES) {
        const { data, x } = batch(b, c, h, w, 10 * c + h);
        const g = new Generator(h * w);
        const boxes: CropBox[] = [
          { top: 0, left: 0, height: h, width: w }, // whole image
          { top: h - 1, left: w - 1, height: 1, width: 1 }, // one pixel
          ...Array.from({ length: 4 }, () => sampleResizedCrop(g, h, w, [0.1, 1])),
        ];
        for (const size of [[11, 9], [5, 17], [h, w]] as [number, number][]) {
          for (const interp of ["bilinear", "bicubic"] as const) {
            const specs = boxes.map((box, i) => ({ src: i % b, box, flip: i % 2 === 1 }));
            const want = specs.map((s) =>
              ref.refResizedCrop(ref.imageAt(data, s.src, c, h, w), s.box, size, interp, s.flip)
            );
            await compare(
              resizedCrop(x, specs, size, interp),
              want,
              interp === "bicubic" ? F32 : EXACT,
              `crop C=${c} ${h}x${w} -> ${size} ${interp}`,
            );
          }
        }
        x.dispose();
      }
    }
  },
);

Deno.test("horizontal flip", gpuTest, async () => {
  for (const c of [1, 3]) {
    const { data, x } = batch(3, c, 7, 13, 2);
    const flags = [true, false, true];
    const want = flags.map((f, i) => {
      const im = ref.imageAt(data, i, c, 7, 13);
      return f ? ref.refFlip(im) : im;
    });
    await compare(horizontalFlip(x, flags), want, { atol: 0, rtol: 0 }, `flip C=${c}`);
    x.dispose();
  }
});

Deno.test(
  "colour jitter in the sampled order (1 channel: saturation/hue are no-ops)",
  gpuTest,
  async () => {
    for (const c of [1, 3]) {
      for (const [b, h, w] of SHAPES) {
        const { data, x } = batch(b, c, h, w, 3 + c);
        const g = new Generator(b * h);
        const params: (JitterParams | null)[] = Array.from(
          { length: b },
          (_, i) =>
            i === 0
              ? { order: [3, 2, 1, 0], brightness: 1.7, contrast: 0.3, saturation: 1.9, hue: -0.5 }
              : sampleColorJitter(g, {
                brightness: 0.8,
                contrast: 0.8,
                saturation: 0.8,
                hue: 0.5,
                p: 1,
              }),
        );
        if (b > 2) {
          params[2] = null;
        }
        const want = params.map((p, i) => {
          const im = ref.imageAt(data, i, c, h, w);
          return p ? ref.refColorJitter(im, p) : im;
        });
        await compare(colorJitter(x, params), want, F32, `jitter C=${c} ${h}x${w}`);
        // some ops disabled (torchvision's None factors)
        const partial = params.map((p) => p && { ...p, contrast: null, hue: null });
        const want2 = partial.map((p, i) => {
          const im = ref.imageAt(data, i, c, h, w);
          return p ? ref.refColorJitter(im, p) : im;
        });
        await compare(colorJitter(x, partial), want2, F32, `partial jitter C=${c} ${h}x${w}`);
        x.dispose();
      }
    }
  },
);

Deno.test("grayscale (identity on 1 channel)", gpuTest, async () => {
  for (const c of [1, 3]) {
    const { data, x } = batch(2, c, 13, 7, 5);
    const want = [ref.refGrayscale(ref.imageAt(data, 0, c, 13, 7)), ref.imageAt(data, 1, c, 13, 7)];
    await compare(grayscale(x, [true, false]), want, EXACT, `grayscale C=${c}`);
    x.dispose();
  }
});

Deno.test("Gaussian blur: separable, reflect padding, radius rules", gpuTest, async () => {
  for (const c of [1, 3]) {
    for (const [b, h, w] of SHAPES) {
      const { data, x } = batch(b, c, h, w, 7 + c);
      const sigmas = [1.3, 0, 2.9, 0.4].slice(0, b);
      for (const kernel of ["3sigma", 23] as const) {
        const want = sigmas.map((s, i) =>
          ref.refGaussianBlur(
            ref.imageAt(data, i, c, h, w),
            Math.fround(s),
            blurRadius(s, Math.min(h, w), kernel),
          )
        );
        await compare(
          gaussianBlur(x, sigmas, kernel),
          want,
          EXACT,
          `blur C=${c} ${h}x${w} ${kernel}`,
        );
      }
      x.dispose();
    }
  }
});

Deno.test("solarize, erase, normalize", gpuTest, async () => {
  for (const c of [1, 3]) {
    const [b, h, w] = [3, 13, 7];
    const { data, x } = batch(b, c, h, w, 11);
    const img = (i: number) => ref.imageAt(data, i, c, h, w);
    for (const t of [0.5, 0.3]) {
      await compare(
        solarize(x, [true, false, true], t),
        [ref.refSolarize(img(0), Math.fround(t)), img(1), ref.refSolarize(img(2), Math.fround(t))],
        EXACT,
        `solarize C=${c} t=${t}`,
      );
    }
    const g = new Generator(1);
    const boxes = [sampleErasing(g, h, w, { p: 1 }), null, {
      top: 0,
      left: 0,
      height: h,
      width: w,
    }];
    await compare(
      randomErase(x, boxes, 0.25),
      boxes.map((bx, i) => (bx ? ref.refErase(img(i), bx, 0.25) : img(i))),
      EXACT,
      `erase constant C=${c}`,
    );
    const seeds = [11, 22, 33];
    await compare(
      randomErase(x, boxes, "pixel", seeds),
      boxes.map((bx, i) => (bx ? ref.refErase(img(i), bx, "pixel", seeds[i]) : img(i))),
      { atol: 2e-5, rtol: 2e-5 },
      `erase noise C=${c}`,
    );
    const mean = [0.485, 0.456, 0.406].slice(0, c);
    const std = [0.229, 0.224, 0.225].slice(0, c);
    await compare(
      normalize(x, mean, std),
      [0, 1, 2].map((i) => ref.refNormalize(img(i), mean, std)),
      EXACT,
      `normalize C=${c}`,
    );
    x.dispose();
  }
});

/** Random weak and strong views of a [b, c, h, w] batch. */
function randomViews(
  g: Generator,
  b: number,
  c: number,
  h: number,
  w: number,
  size: number,
): ViewParams[] {
  return Array.from({ length: 12 }, (_, i) => {
    const v = plainView(i % b, sampleResizedCrop(g, h, w, [0.1, 1]));
    v.flip = g.uniform() < 0.5;
    v.seed = g.nextU32();
    if (g.uniform() < 0.8) v.erase = sampleErasing(g, size, size, { p: 0.5 });
    if (i % 3 === 2) {
      v.strong = true;
      v.randAugment = i === 2 ? [] : sampleRandAugment(g, { prob: 1 }, c);
    } else {
      v.jitter = sampleColorJitter(g, {
        brightness: 0.4,
        contrast: 0.4,
        saturation: 0.2,
        hue: 0.1,
        p: 0.8,
      });
      v.grayscale = g.uniform() < 0.3;
      v.blurSigma = g.uniform() < 0.6 ? Math.fround(g.range(0.1, 2)) : 0;
      v.solarize = g.uniform() < 0.3;
    }
    return v;
  });
}

Deno.test(
  "fused pipeline (weak and strong views) matches the per-view reference",
  gpuTest,
  async () => {
    for (const c of [1, 3]) {
      for (const [h, w, size] of [[13, 17, 11], [28, 28, 28], [50, 37, 9]]) {
        const b = 3;
        const { data, x } = batch(b, c, h, w, h + c);
        const g = new Generator(100 + h);
        const views = randomViews(g, b, c, h, w, size);
        const mean = [0.485, 0.456, 0.406].slice(0, c);
        const std = [0.229, 0.224, 0.225].slice(0, c);
        for (
          const erase of [{ value: "pixel" as const, beforeNormalize: true }, {
            value: 0,
            beforeNormalize: false,
          }]
        ) {
          const opts = { size, interpolation: "bicubic" as const, mean, std, erase, fill: mean };
          const want = views.map((v) => ref.refView(ref.imageAt(data, v.src, c, h, w), v, opts));
          await compare(
            renderViews(x, views, opts),
            want,
            NORM,
            `pipeline C=${c} ${h}x${w}->${size}`,
          );
        }
        x.dispose();
      }
    }
  },
);

Deno.test("ops release their temporaries", gpuTest, async () => {
  const { x } = batch(2, 3, 13, 17, 1);
  const views = randomViews(new Generator(5), 2, 3, 13, 17, 11);
  renderViews(x, views, { size: 11 }).dispose();
  await sync();
  const before = gpuStats().buffers;
  for (let i = 0; i < 3; i++) renderViews(x, views, { size: 11 }).dispose();
  await sync();
  assertEquals(gpuStats().buffers, before, "pool buffers after repeated renders");
  x.dispose();
});

Deno.test("bad inputs give errors naming the field", gpuTest, () => {
  const { x } = batch(2, 3, 7, 13, 1);
  const full = { top: 0, left: 0, height: 7, width: 13 };
  assertThrows(
    () => resizedCrop(tensor(new Float32Array(3 * 7 * 13), [3, 7, 13]), [{ box: full }], 5),
    "4-D",
  );
  assertThrows(
    () => resizedCrop(tensor(new Float32Array(2 * 2 * 7 * 13), [2, 2, 7, 13]), [{ box: full }], 5),
    "1 or 3 channels",
  );
  assertThrows(() => resizedCrop(x, [{ box: { ...full, height: 8 } }], 5), "crops[0].box");
  assertThrows(() => resizedCrop(x, [{ box: full, src: 2 }], 5), "crops[0].src");
  assertThrows(() => resizedCrop(x, [{ box: full }], 0), "size");
  assertThrows(() => resizedCrop(x, [{ box: full }], 5, "nearest" as "bilinear"), "interpolation");
  assertThrows(() => horizontalFlip(x, [true]), "flags");
  assertThrows(
    () =>
      colorJitter(x, [
        { order: [0, 0, 1, 2], brightness: 1, contrast: 1, saturation: 1, hue: 0 },
        null,
      ]),
    "params[0].jitter.order",
  );
  assertThrows(
    () =>
      colorJitter(x, [
        { order: [0, 1, 2, 3], brightness: 1, contrast: 1, saturation: 1, hue: 0.9 },
        null,
      ]),
    "hue",
  );
  assertThrows(() => normalize(x, [0.5], [0.2]), "mean");
  assertThrows(() => normalize(x, [0.5, 0.5, 0.5], [0.2, 0, 0.2]), "std");
  assertThrows(
    () => randomErase(x, [{ top: 5, left: 0, height: 5, width: 2 }, null]),
    "boxes[0].erase",
  );
  assertThrows(() => gaussianBlur(x, [-1, 0]), "sigmas[0].blurSigma");
  assertThrows(() => gaussianBlur(x, [1, 0], 4), "kernel");
  x.dispose();
});
