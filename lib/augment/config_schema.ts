/**
 * The zod schema of a multi-crop configuration (`MultiCropConfig`), as every other
 * configuration of the kit is checked. Fields are checked by the schema factories of
 * `validate.ts`; the sub-configurations with their own resolvers (colour jitter, blur kernel,
 * RandAugment, random erasing, MSCN masks) are refined by those resolvers, so each rule lives
 * in one place. `validateMultiCrop` reports the first issue as `MultiCrop: <field> <what was
 * expected>, got <value>`.
 */
import { z } from "npm:zod@4.6.7";
import {
  checkNumber,
  intSchema,
  numberSchema,
  oneOfSchema,
  optionsSchema,
  probSchema,
  rangeSchema,
  zodFail,
} from "./validate.ts";
import {
  type BlurKernel,
  blurRadius,
  type ErasingConfig,
  type JitterConfig,
  jitterSampler,
  sampleErasing,
} from "./params.ts";
import { type RandAugmentConfig, resolveRandAugment } from "./randaugment.ts";
import { type MscnConfig, resolveMscn } from "./mscn.ts";
import { Generator } from "../tensor/rng.ts";
import type { MultiCropConfig } from "./multicrop.ts";

/** A refinement running a resolver; its error becomes "is invalid: …" on the field. */
function resolvedBy<T>(resolve: (v: T) => unknown): (v: T, ctx: z.RefinementCtx) => void {
  return (v, ctx) => {
    try {
      resolve(v);
    } catch (e) {
      ctx.addIssue({ code: "custom", message: `is invalid: ${(e as Error).message}` });
    }
  };
}

const crop = {
  size: intSchema(1, 4096),
  scale: rangeSchema(0, 1, true),
  ratio: rangeSchema(0, Infinity, true),
};

const viewKind = optionsSchema({ blur: probSchema(), solarize: probSchema() });

// the factors' rules (a number >= 0 or a [min, max] range; hue within [-0.5, 0.5]) live with
// the sampler (jitterSampler), which refines the whole object
const factor = z.unknown().optional();

const weak = optionsSchema({
  flip: probSchema(),
  jitter: optionsSchema({
    brightness: factor,
    contrast: factor,
    saturation: factor,
    hue: factor,
    p: probSchema().optional(),
  }).superRefine(resolvedBy((j) => jitterSampler({ ...j, p: 0 } as JitterConfig))),
  grayscale: probSchema(),
  blurSigma: rangeSchema(0, Infinity, true),
  // "3sigma" or an odd positive integer (blurRadius)
  blurKernel: z.unknown().superRefine(resolvedBy((k) => blurRadius(1, 2, k as BlurKernel))),
  solarizeThreshold: numberSchema(),
  global1: viewKind,
  global2: viewKind,
  local: viewKind,
});

const erasing = optionsSchema({
  p: probSchema(),
  scale: rangeSchema(0, 1, true).optional(),
  ratio: rangeSchema(0, Infinity, true).optional(),
  value: z.unknown().optional(),
}).superRefine(resolvedBy((e) => {
  sampleErasing(new Generator(0), 8, 8, { ...e, p: 0 } as ErasingConfig);
  if (e.value !== undefined && e.value !== "pixel") checkNumber("RandomErasing", "value", e.value);
}));

const strong = optionsSchema({
  flip: probSchema(),
  // RandAugment's fields and their rules live with it (resolveRandAugment)
  randAugment: z.looseObject({}, { error: "must be an object" }).superRefine(
    resolvedBy((r) => resolveRandAugment(r as RandAugmentConfig)),
  ),
  erasing,
  eraseBeforeNormalize: z.boolean({ error: "must be true or false" }),
});

/** Per-channel constants: 1 or 3 finite numbers, each >= lo. */
function channels(lo = -Infinity): z.ZodType<number[]> {
  const msg = `must be 1 or 3 finite numbers (one per channel), each >= ${lo}`;
  return z.array(z.number({ error: msg }), { error: msg }).refine(
    (v) => (v.length === 1 || v.length === 3) && v.every((x) => Number.isFinite(x) && x >= lo),
    { error: msg },
  );
}

/**
 * The schema of a `MultiCropConfig` (strict: an unknown key is an error naming it).
 *
 * @example
 * ```ts
 * MultiCropConfigSchema.safeParse(multiCropConfig("mugs")).success; // true
 * ```
 */
export const MultiCropConfigSchema = optionsSchema({
  name: z.string({ error: "must be a string" }),
  global: optionsSchema(crop),
  local: optionsSchema({ ...crop, count: intSchema(0, 64) }),
  interpolation: oneOfSchema(["bilinear", "bicubic"]),
  studentGlobals: oneOfSchema(["independent", "shared"]),
  strongProb: probSchema(),
  weak,
  strong,
  mean: channels(),
  std: channels(1e-12),
  fill: channels().optional(),
  mscn: z.looseObject({ views: oneOfSchema(["global", "all"]) }, {
    error: "must be an MSCN configuration or null",
  }).superRefine(resolvedBy(({ views: _, ...rest }) => resolveMscn(rest as MscnConfig)))
    .nullable(),
}).superRefine((c, ctx) => {
  // std and fill have one entry per channel of mean
  for (const k of ["std", "fill"] as const) {
    const v = c[k];
    if (v && v.length !== c.mean.length) {
      ctx.addIssue({
        code: "custom",
        path: [k],
        message: `must have ${c.mean.length} entries, as mean has`,
      });
    }
  }
});

/**
 * Check a configuration (every field, naming the bad one); returns it.
 *
 * @example
 * ```ts
 * validateMultiCrop(multiCropConfig("dino"));
 * ```
 */
export function validateMultiCrop(c: MultiCropConfig): MultiCropConfig {
  const r = MultiCropConfigSchema.safeParse(c);
  if (!r.success) zodFail("MultiCrop", r.error, c);
  return c;
}
