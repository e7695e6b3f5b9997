// MultiCrop: shapes per preset and data preset; the views against the per-image float64 loop
// (multiCropReference) for every preset on 1 and 3 channels; flags (teacher always weak, the
// student's global pair shares one flag per image, weak_flag, strong rates near 0.5, MSCN
// masks); the reference layout (Mugs: fresh student crops; DINO: the teacher's crops);
// determinism by seed; no leaks; bad inputs naming the field.
// Tolerance: normalised views (values scaled by 1 / std, up to 4.4) atol 6e-5 + rtol 1e-5.
import { assert, assertClose, assertEquals, assertThrows, gpuTest, setup } from "../helpers.ts";
import { tensor } from "../../lib/tensor/tensor.ts";
import { Generator } from "../../lib/tensor/rng.ts";
import { gpuStats, sync, useKernels } from "../../lib/gpu/device.ts";
import {
  DATA_PRESETS,
  MultiCrop,
  MULTICROP_PRESETS,
  multiCropConfig,
  multiCropReference,
} from "../../lib/augment/multicrop.ts";

await setup();

const TOL = { atol: 6e-5, rtol: 1e-5 };

function images(b: number, c: number, h: number, w: number, seed: number) {
  const g = new Generator(seed);
  const data = new Float32Array(b * c * h * w).map(() => g.uniform());
  return { data, x: tensor(data, [b, c, h, w]) };
}

Deno.test("every preset matches the per-image reference loop", gpuTest, async () => {
  for (const preset of MULTICROP_PRESETS) {
    for (const [data, c, h] of [["fashion-mnist", 1, 28], ["cifar10", 3, 32]] as const) {
      const b = 6;
      const { data: host, x } = images(b, c, h, h + 3, h);
      const mc = MultiCrop.preset(preset, data);
      const params = mc.sample(new Generator(42), b, c, h, h + 3);
      const views = mc.render(x, params);
      const want = multiCropReference(mc, host, params);
      const G = mc.config.global.size;
      const L = mc.config.local.size;
      assertEquals(views.teacher.shape, [2 * b, c, G, G], `${preset} teacher shape`);
      assertEquals(views.studentGlobal.shape, [2 * b, c, G, G], `${preset} student shape`);
      if (mc.config.local.count === 0) {
        assertEquals(views.local, null, `${preset}: no local crops`);
      } else {
        assertEquals(
          views.local!.shape,
          [mc.config.local.count * b, c, L, L],
          `${preset} local shape`,
        );
      }
      assertClose(await views.teacher.toArray(), want.teacher, TOL, `${preset}/${data} teacher`);
      assertClose(
        await views.studentGlobal.toArray(),
        want.studentGlobal,
        TOL,
        `${preset}/${data} student`,
      );
      if (views.local) {
        assertClose(await views.local.toArray(), want.local, TOL, `${preset}/${data} local`);
      }
      views.dispose();
      x.dispose();
    }
  }
});

Deno.test("GPU-shaped kernels (one pixel per invocation) agree too", gpuTest, async () => {
  const prev = useKernels("gpu");
  try {
    for (
      const [preset, data, c, h] of [["mugs", "cifar10", 3, 32], [
        "mscn",
        "fashion-mnist",
        1,
        28,
      ]] as const
    ) {
      const { data: host, x } = images(4, c, h, h, 9);
      const mc = MultiCrop.preset(preset, data);
      const params = mc.sample(new Generator(8), 4, c, h, h);
      const views = mc.render(x, params);
      const want = multiCropReference(mc, host, params);
      assertClose(
        await views.teacher.toArray(),
        want.teacher,
        TOL,
        `${preset} teacher (gpu kernels)`,
      );
      assertClose(
        await views.studentGlobal.toArray(),
        want.studentGlobal,
        TOL,
        `${preset} student (gpu kernels)`,
      );
      assertClose(await views.local!.toArray(), want.local, TOL, `${preset} local (gpu kernels)`);
      views.dispose();
      x.dispose();
    }
  } finally {
    useKernels(prev);
  }
});

Deno.test("preset sizes and the reference layouts", () => {
  const sizes = DATA_PRESETS.map((d) => {
    const c = multiCropConfig("mugs", d);
    return [d, c.global.size, c.local.size, c.mean.length];
  });
  assertEquals(sizes, [["imagenet", 224, 96, 3], ["fashion-mnist", 28, 12, 1], [
    "cifar10",
    32,
    16,
    3,
  ]], "sizes");
  const mugs = multiCropConfig("mugs");
  assertEquals([mugs.global.scale, mugs.local.scale, mugs.local.count], [
    [0.25, 1],
    [0.05, 0.25],
    10,
  ], "mugs crops");
  assertEquals([mugs.studentGlobals, mugs.strongProb], ["independent", 0.5], "mugs student views");
  const dino = multiCropConfig("dino");
  assertEquals([dino.global.scale, dino.local.scale, dino.local.count, dino.studentGlobals], [
    [0.4, 1],
    [0.05, 0.4],
    8,
    "shared",
  ], "dino");
  const swav = multiCropConfig("swav");
  assertEquals([
    swav.global.scale,
    swav.local.scale,
    swav.local.count,
    swav.interpolation,
    swav.weak.blurKernel,
  ], [
    [0.14, 1],
    [0.05, 0.14],
    6,
    "bilinear",
    23,
  ], "swav");
  assertEquals([swav.weak.global2.solarize, swav.weak.local.blur], [0, 0.5], "swav blur/solarize");
  assertEquals(multiCropConfig("mscn").mscn?.views, "all", "mscn masks the student views");
  const fm = multiCropConfig("dino", "fashion-mnist");
  assert(Math.abs(fm.weak.blurSigma[1] - 2 * 28 / 224) < 1e-12, "small presets scale sigma");
});

Deno.test("flags: teacher weak, global pairs share a flag, strong rates near 0.5", () => {
  const mc = MultiCrop.preset("mugs", "fashion-mnist");
  const b = 2000;
  const p = mc.sample(new Generator(3), b, 1, 28, 28);
  assert(p.teacher.every((v) => !v.strong), "teacher views are weak");
  let pairs = 0;
  for (let i = 0; i < b; i++) {
    assertEquals(p.studentGlobal[i].strong, p.studentGlobal[b + i].strong, `pair ${i}`);
    if (p.studentGlobal[i].strong) pairs++;
    assert(p.studentGlobal[i] !== p.teacher[i], "fresh student crops (Mugs)");
  }
  const strongLocal = p.local.filter((v) => v.strong).length;
  const within = (k: number, n: number) => Math.abs(k / n - 0.5) < 5 * Math.sqrt(0.25 / n);
  assert(within(pairs, b), `strong pair rate ${pairs / b}`);
  assert(within(strongLocal, p.local.length), `strong local rate ${strongLocal / p.local.length}`);
  // strong views carry RandAugment and no weak colour ops; weak views the reverse
  for (const v of [...p.studentGlobal, ...p.local]) {
    if (v.strong) {
      assert(v.randAugment && !v.jitter && v.blurSigma === 0 && !v.solarize, "strong view");
    } else assert(!v.randAugment && !v.erase, "weak view");
  }
  // blur / solarize by view kind: first global always blurred, second rarely, locals half
  const blurRate = (vs: typeof p.teacher) => vs.filter((v) => v.blurSigma > 0).length / vs.length;
  assertEquals(blurRate(p.teacher.slice(0, b)), 1, "first global: blur p 1.0");
  assert(Math.abs(blurRate(p.teacher.slice(b)) - 0.1) < 0.04, "second global: blur p 0.1");
  assert(p.teacher.slice(0, b).every((v) => !v.solarize), "first global: no solarization");
  const sol = p.teacher.slice(b).filter((v) => v.solarize).length / b;
  assert(Math.abs(sol - 0.2) < 0.05, `second global: solarize p 0.2, got ${sol}`);
  const dino = MultiCrop.preset("dino", "fashion-mnist").sample(new Generator(4), 50, 1, 28, 28);
  assert(dino.studentGlobal.every((v, i) => v === dino.teacher[i]), "dino: the teacher's crops");
  assert([...dino.studentGlobal, ...dino.local].every((v) => !v.strong), "dino: no strong views");
});

Deno.test("rendered flags and weak_flag; MSCN masks the student views", gpuTest, async () => {
  const { x } = images(8, 3, 32, 32, 1);
  const v = MultiCrop.preset("mugs", "cifar10").apply(x, 7);
  assertEquals(Array.from(v.strong.teacher), new Array(16).fill(0), "teacher flags");
  for (let i = 0; i < 8; i++) {
    assertEquals(v.weakFlag[i], 1 - v.strong.studentGlobal[i], `weak_flag ${i}`);
    assertEquals(v.strong.studentGlobal[i], v.strong.studentGlobal[8 + i], `pair flag ${i}`);
  }
  assertEquals(v.strong.local.length, 80, "local flags");
  assertEquals(Array.from(v.masked.studentGlobal), new Array(16).fill(0), "no MSCN in mugs");
  v.dispose();
  const m = MultiCrop.preset("mscn", "cifar10").apply(x, 7);
  assertEquals(
    Array.from(m.masked.studentGlobal),
    new Array(16).fill(1),
    "mscn masks every student view",
  );
  const t = await m.teacher.toArray();
  const s = await m.studentGlobal.toArray();
  assert(t.some((val, i) => val !== s[i]), "masked student views differ from the teacher's");
  m.dispose();
  const d = MultiCrop.preset("dino", "cifar10").apply(x, 7);
  assertEquals(
    Array.from(await d.studentGlobal.toArray()),
    Array.from(await d.teacher.toArray()),
    "dino",
  );
  d.dispose();
  x.dispose();
});

Deno.test("determinism by seed; no leaks across batches", gpuTest, async () => {
  const { x } = images(4, 1, 28, 28, 2);
  const mc = MultiCrop.preset("mugs", "fashion-mnist");
  const run = async (seed: number) => {
    const v = mc.apply(x, seed);
    const out = [
      await v.teacher.toArray(),
      await v.studentGlobal.toArray(),
      await v.local!.toArray(),
    ];
    v.dispose();
    return out.map((a) => Array.from(a));
  };
  const a = await run(5);
  const b = await run(5);
  const c = await run(6);
  for (let k = 0; k < 3; k++) assertEquals(b[k], a[k], `same seed, part ${k}`);
  assert(JSON.stringify(a) !== JSON.stringify(c), "different seeds differ");
  // the same parameters allocate nothing new; new parameters (other strong-view counts, so
  // other intermediate sizes) may add pool buffers, but every buffer is handed back
  await sync();
  const before = gpuStats();
  for (let i = 0; i < 3; i++) mc.apply(x, 5).dispose();
  await sync();
  assertEquals(gpuStats().buffers, before.buffers, "pool buffers after three identical batches");
  for (let i = 0; i < 3; i++) mc.apply(x, 10 + i).dispose();
  await sync();
  assertEquals(gpuStats().inUse, before.inUse, "buffers in use after three batches");
  x.dispose();
});

Deno.test("bad inputs name the field", gpuTest, () => {
  assertThrows(
    () => MultiCrop.preset("byol"),
    'preset must be one of "mugs", "dino", "swav", "mscn"',
  );
  assertThrows(() => MultiCrop.preset("mugs", "mnist"), "data");
  const base = multiCropConfig("mugs", "fashion-mnist");
  assertThrows(() => new MultiCrop({ ...base, strongProb: 1.5 }), "strongProb");
  assertThrows(
    () => new MultiCrop({ ...base, local: { ...base.local, scale: [0.3, 0.1] } }),
    "local.scale",
  );
  assertThrows(
    () => new MultiCrop({ ...base, local: { ...base.local, count: -1 } }),
    "local.count",
  );
  assertThrows(() => new MultiCrop({ ...base, weak: { ...base.weak, flip: 2 } }), "weak.flip");
  assertThrows(
    () =>
      new MultiCrop({ ...base, weak: { ...base.weak, global2: { blur: 0.1, solarize: -0.2 } } }),
    "weak.global2.solarize",
  );
  assertThrows(
    () => new MultiCrop({ ...base, weak: { ...base.weak, jitter: { hue: 0.9 } } }),
    "weak.jitter",
  );
  assertThrows(
    () =>
      new MultiCrop({
        ...base,
        strong: { ...base.strong, erasing: { ...base.strong.erasing, p: 7 } },
      }),
    "strong.erasing",
  );
  assertThrows(
    () => new MultiCrop({ ...base, strong: { ...base.strong, randAugment: { magnitude: -3 } } }),
    "strong.randAugment",
  );
  assertThrows(() => new MultiCrop({ ...base, mscn: { views: "some" as "all" } }), "mscn.views");
  assertThrows(
    () => new MultiCrop({ ...base, locals: 3 } as typeof base),
    "locals is not an option",
  );
  assertThrows(() => new MultiCrop({ ...base, mean: [0.5, 0.5] }), "mean");
  const mc = new MultiCrop(base);
  const x3 = tensor(new Float32Array(2 * 3 * 28 * 28), [2, 3, 28, 28]);
  assertThrows(() => mc.apply(x3, 0), "mean has 1 entries but the images have 3 channel(s)");
  assertThrows(() => mc.apply(tensor(new Float32Array(28 * 28), [28, 28]), 0), "4-D");
  const x1 = tensor(new Float32Array(2 * 28 * 28), [2, 1, 28, 28]);
  const p = mc.sample(new Generator(0), 3, 1, 28, 28);
  assertThrows(() => mc.render(x1, p), "params");
  x1.dispose();
  x3.dispose();
});
