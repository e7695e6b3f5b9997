/**
 * The multi-crop configuration's zod schema: presets pass, and every failure reads
 * `MultiCrop: <field> <what was expected>, got <value>`, as the hand-written checks did.
 */
import { assertEquals, assertThrows } from "../helpers.ts";
import { MULTICROP_PRESETS, multiCropConfig } from "../../lib/augment/multicrop.ts";
import { MultiCropConfigSchema, validateMultiCrop } from "../../lib/augment/config_schema.ts";
import { checkInt, checkProb, checkRange } from "../../lib/augment/validate.ts";

Deno.test("validate: every preset passes the multi-crop schema", () => {
  for (const p of MULTICROP_PRESETS) {
    for (const d of ["imagenet", "fashion-mnist", "cifar10"]) {
      assertEquals(
        MultiCropConfigSchema.safeParse(multiCropConfig(p, d)).success,
        true,
        `${p}/${d}`,
      );
    }
  }
});

Deno.test("validate: messages name the field, what was expected and the value", () => {
  const base = multiCropConfig("mugs", "fashion-mnist");
  const bad = (c: unknown, msg: string) =>
    assertThrows(() => validateMultiCrop(c as typeof base), msg);
  bad(
    { ...base, weak: { ...base.weak, flip: 2 } },
    "MultiCrop: weak.flip must be a probability in [0, 1], got 2",
  );
  bad(
    { ...base, strongProb: "half" },
    'MultiCrop: strongProb must be a probability in [0, 1], got "half"',
  );
  bad(
    { ...base, local: { ...base.local, count: 2.5 } },
    "MultiCrop: local.count must be an integer in [0, 64], got 2.5",
  );
  bad(
    { ...base, global: { ...base.global, scale: [0, 1] } },
    "MultiCrop: global.scale must be [min, max] with 0 < min <= max <= 1, got [0,1]",
  );
  bad({ ...base, locals: 3 }, "MultiCrop: locals is not an option (known: name, global, local,");
  bad(
    { ...base, weak: { ...base.weak, jitter: { hue: 0.9 } } },
    "MultiCrop: weak.jitter is invalid: ColorJitter: hue",
  );
  bad(
    { ...base, weak: { ...base.weak, blurKernel: 4 } },
    "MultiCrop: weak.blurKernel is invalid: GaussianBlur: kernel",
  );
  bad(
    { ...base, interpolation: "nearest" },
    'MultiCrop: interpolation must be one of "bilinear", "bicubic", got "nearest"',
  );
  bad({ ...base, std: [0.3, 0.3, 0.3] }, "MultiCrop: std must have 1 entries, as mean has");
  bad(
    { ...base, mscn: { views: "all", gridRatio: 3 } },
    "MultiCrop: mscn is invalid: MSCN: gridRatio must be a probability",
  );
  bad(
    { ...base, strong: { ...base.strong, eraseBeforeNormalize: 1 } },
    "MultiCrop: strong.eraseBeforeNormalize must be true or false, got 1",
  );
  assertThrows(
    () => checkProb("X", "p", Number.NaN),
    "X: p must be a probability in [0, 1], got null",
  );
  assertThrows(() => checkInt("X", "n", 3, 0, 2), "X: n must be an integer in [0, 2], got 3");
  assertEquals(checkRange("X", "r", [1, 2]), [1, 2]);
});
