/**
 * The configuration of a training run: one zod schema (`TrainConfig`), the defaults of the
 * kit's small run, the four presets, and `resolveLayers`, which stacks preset defaults, a JSON
 * config file and command-line overrides (in that order) and validates the result. Every
 * error names where the bad value came from (the file path or the `--flag`), the field, and
 * what is allowed, and is raised before any GPU work.
 *
 * Defaults are for the kit's small run (embedded Fashion-MNIST subset, `vit_micro_28`, 2-core
 * machine with Mesa's llvmpipe, `deno task train` under 10 minutes including the k-NN
 * read-outs). The published recipe, scaled down, does not learn in the ~120 steps this allows
 * (docs/recipes.md: its k-NN stays at or below the untrained network's), so the small run
 * keeps the three Mugs supervisions, the heads and the memories, and changes the schedule,
 * the views and the predictor. Changes from the ImageNet recipe of DESIGN.md §5, and why:
 *
 * | field | ImageNet | here | why |
 * | --- | --- | --- | --- |
 * | epochs x epochImages | 100–800 x 1.28 M | 3 x 5 120 (120 steps) | time budget: the step runs ~40 images/s on llvmpipe at this shape; each epoch is a fresh seeded sample of the 6 000 images |
 * | batchSize | 1 024 (ViT-S runs) | 128 | more in-batch negatives per step; images/s on llvmpipe barely depends on it |
 * | lr (base, x batch/256) | 0.0008 | 0.002 | a peak of 1e-3, as the SimCLR baseline that learns in this budget |
 * | warmupEpochs | 10 | 0.75 | 30 warm-up steps of 120 |
 * | weightDecay -> End | 0.04 -> 0.2 | 0.05 -> 0.05 | no decay ramp in a run this short |
 * | heads.bn (`use_bn_in_head`) | false | true | BatchNorm1d after each hidden projector layer (the official option): the one change that makes a 120-step run learn, in every seed (docs/recipes.md §2c: `simclr` +4.6 -> +18.1, this recipe +14.6 on seed 0) |
 * | instanceLoss | InfoNCE against the teacher and a queue | NT-Xent between the student's two views (in-batch negatives) | the one-sided InfoNCE sits at chance in runs this short (docs/recipes.md §2b); the local-group branch keeps its queue |
 * | momentumTeacher -> End | 0.996 -> 1.0 | 0.9 -> 0.99 | the teacher (local-group and group targets) must follow a student that moves this fast; at 0 (a copy of the student) those two losses collapse the features (§2b) |
 * | groupWarmupEpochs | 0 | 1.5 | the local-group and group weights rise from 0 over the first 60 steps, while the instance loss shapes the features |
 * | negatives | queue | queue + batch | the batch's own teacher targets join the queue's (MoCo v3), so the first steps, whose queue holds random or stale keys, have real negatives |
 * | heads.predHidden | 4 096 | 0 (no predictor) | a random predictor must first learn to undo its own random map; with negatives no predictor is needed to avoid collapse |
 * | views, strongProb, localCrops | Mugs (RandAugment/erasing p 0.5, 10 local crops) | simclr, 0, 0 | the Mugs views on 28-px grey images leave positives the untrained network cannot match; two SimCLR views (crop 0.35–1, flip, brightness/contrast) learn |
 * | dropPath, patchEmbedLrScale | 0.1, 0.2 | 0, 1 | no regularisation and a full-speed patch embedding in a 120-step run |
 * | heads hidden / out / bottleneck | 2048 / 256 / 256 | 256 / 128 / 128 | heads scaled with the 64-wide backbone |
 * | prototypes | 65 536 | 1 024 | scaled with the data (10 classes, 6 000 images) |
 * | queueSize, memorySize | 65 536 | 2 048 | official: 5 % of ImageNet; a queue near the dataset's size holds stale copies of the positives as negatives, and a memory that size returns an image's own old entries as its neighbours; 2 048 is a third of the 6 000 images |
 *
 * Everything else is the recipe's value (min lr 1e-6, teacher temperature 0.04 without
 * warm-up, student 0.1, InfoNCE 0.2, clipping 3.0, last layer frozen for 1 epoch, k = 8,
 * weights 1/1/1). `--config configs/mugs_official_scaled.json` gives the published recipe at
 * this scale, `configs/mugs_long.json` the hour-long run.
 *
 * The presets change only the losses and views (and SimCLR's predictor and teacher), so
 * ablations share one recipe:
 *
 * | preset | weights (instance, localGroup, group) | group loss | views |
 * | --- | --- | --- | --- |
 * | mugs | 1, 1, 1 | DINO-style (centring + sharpening) | the small run's: SimCLR's two views (`--views mugs --strong-prob 0.5 --local-crops 10`: the paper's) |
 * | dino | 0, 0, 1 | DINO-style, DINO pairing | DINO (shared globals, weak aug only) |
 * | moco | 1, 0, 0 (InfoNCE against the teacher and the queue) | (off) | as mugs |
 * | swav | 0, 0, 1 | SwAV's swapped prediction with Sinkhorn codes | SwAV |
 * | simclr | 1, 0, 0 (NT-Xent, no teacher, no predictor) | (off) | SimCLR (2 weak views, no local crops) |
 */
import { z } from "npm:zod@4.6.7";
import { VIT_PRESETS } from "../nn/vit.ts";
import { MULTICROP_PRESETS } from "../augment/multicrop.ts";
import { TOPK_MAX } from "../tensor/ops/index.ts";

/**
 * The training presets.
 *
 * @example
 * ```ts
 * TRAIN_PRESETS.includes("dino"); // true
 * ```
 */
export const TRAIN_PRESETS = ["mugs", "dino", "moco", "swav", "simclr"] as const;

/**
 * A training preset name.
 *
 * @example
 * ```ts
 * const p: TrainPreset = "moco";
 * ```
 */
export type TrainPreset = typeof TRAIN_PRESETS[number];

/**
 * The group-discrimination losses: `"dino"` (Mugs' own: cross-entropy against the centred,
 * sharpened teacher) or `"swav"` (SwAV's swapped prediction with Sinkhorn-Knopp codes).
 *
 * @example
 * ```ts
 * GROUP_LOSSES[1]; // "swav"
 * ```
 */
export const GROUP_LOSSES = ["dino", "swav"] as const;

const VIT_NAMES = Object.keys(VIT_PRESETS) as [string, ...string[]];
const int = (min: number) => z.int().min(min);
const positive = () => z.number().positive();
const nonNegative = () => z.number().min(0);
const unit = () => z.number().min(0).max(1);

/**
 * Loss weights (a 0 removes that branch's compute).
 *
 * @example
 * ```ts
 * LossWeightsSchema.parse({ instance: 1, localGroup: 0, group: 1 });
 * ```
 */
export const LossWeightsSchema = z.strictObject({
  instance: nonNegative().describe("instance discrimination (InfoNCE with a queue)"),
  localGroup: nonNegative().describe("local-group discrimination (InfoNCE with a queue)"),
  group: nonNegative().describe("group discrimination (prototypes)"),
});

/**
 * Head and memory sizes (the fields of `MugsHeadConfig`).
 *
 * @example
 * ```ts
 * const heads = HeadsSchema.parse(TRAIN_DEFAULTS.heads); // a MugsHeadConfig
 * ```
 */
export const HeadsSchema = z.strictObject({
  hidden: int(1).describe("projector hidden width"),
  out: int(1).describe("instance / local-group output width"),
  predHidden: int(0).describe("student predictor hidden width (0: no predictor)"),
  bottleneck: int(1).describe("group-head bottleneck width"),
  prototypes: int(1).describe("number of prototypes"),
  k: int(1).max(TOPK_MAX).describe("neighbours from the local-group memory"),
  relationDepth: int(1).describe("blocks of the local-group transformer"),
  normLastLayer: z.boolean().describe("fix the prototype norms (norm_last_layer)"),
  residualPred: z.boolean().describe(
    "residual predictors, zero at init (a kit option, not in the official code)",
  ),
  bn: z.boolean().describe("BatchNorm1d in the three projectors (use_bn_in_head)"),
});

const SHAPE = {
  preset: z.enum(TRAIN_PRESETS).describe("losses and views: mugs, or a baseline"),
  data: z.string().min(1).describe(
    '"embedded" (the shipped Fashion-MNIST subset), or a path: IDX dir, CIFAR-10 dir, image folder',
  ),
  epochs: int(1).describe("training epochs"),
  batchSize: int(1).describe("images per step"),
  epochImages: int(0).describe(
    "images per epoch: a fresh seeded random sample of the training set (0: all of it)",
  ),
  out: z.string().min(1).describe("output folder: checkpoints, metrics.jsonl"),
  resume: z.boolean().describe("continue from the checkpoint in the output folder"),
  seed: int(0).describe("seed of weights, views, data order"),
  vit: z.enum(VIT_NAMES).describe("backbone preset"),
  lr: positive().describe("base learning rate (peak lr = lr * batchSize / 256)"),
  minLr: nonNegative().describe("final learning rate of the cosine decay"),
  warmupEpochs: nonNegative().describe(
    "linear lr warm-up epochs (fractions allowed: 0.5 of a 60-step epoch is 30 steps)",
  ),
  weightDecay: nonNegative().describe("weight decay at the start (cosine schedule)"),
  weightDecayEnd: nonNegative().describe("weight decay at the end"),
  groupWarmupEpochs: nonNegative().describe(
    "epochs over which the local-group and group weights rise linearly from 0 (the instance loss leads)",
  ),
  momentumTeacher: unit().describe("teacher EMA momentum at the start (cosine to the end value)"),
  momentumTeacherEnd: unit().describe("teacher EMA momentum at the end (DINO and Mugs: 1.0)"),
  teacherTemp: positive().describe("teacher temperature of the group loss"),
  warmupTeacherTemp: positive().describe("teacher temperature at epoch 0 of its warm-up"),
  warmupTeacherTempEpochs: int(0).describe("teacher temperature warm-up epochs"),
  studentTemp: positive().describe("student temperature of the group loss"),
  infoNceTemp: positive().describe("InfoNCE temperature (instance, local-group)"),
  instanceLoss: z.enum(["infonce", "ntxent"]).describe(
    "instance loss: infonce (student predictions vs teacher targets and a queue) or ntxent (SimCLR: the student's two views, in-batch negatives, no teacher)",
  ),
  negatives: z.enum(["queue", "queue+batch", "batch"]).describe(
    "InfoNCE negatives: the queue, the queue and the batch's other teacher targets, or the batch's alone",
  ),
  centerMomentum: unit().describe("EMA momentum of the teacher centre"),
  clipGrad: nonNegative().describe("per-parameter gradient-norm clipping (0: off)"),
  freezeLastLayer: int(0).describe("epochs with the prototype layer frozen"),
  dropPath: z.number().min(0).lt(1).describe("stochastic depth rate"),
  patchEmbedLrScale: nonNegative().describe("lr multiplier of the patch embedding"),
  localCrops: int(0).describe("local crops per image"),
  strongProb: unit().describe("probability that a student view is strongly augmented"),
  weights: LossWeightsSchema.describe("loss weights"),
  groupLoss: z.enum(GROUP_LOSSES).describe("group loss: dino (centring) or swav (Sinkhorn)"),
  pairing: z.enum(["mugs", "dino"]).describe(
    "multi-crop pair averaging: mugs (large/small separately) or dino (plain mean)",
  ),
  views: z.enum(MULTICROP_PRESETS).describe("multi-crop view preset"),
  heads: HeadsSchema.describe("head sizes"),
  queueSize: int(1).describe("InfoNCE queue length (instance and local-group)"),
  memorySize: int(1).describe("local-group memory length (teacher and student)"),
  knnK: int(1).max(256).describe("neighbours of the k-NN evaluation"),
  knnBank: int(0).describe(
    "training images in every epoch's k-NN bank (the first ones; 0: all); the last epoch also uses all",
  ),
  knnTemp: positive().describe("temperature of the weighted k-NN vote"),
};

/**
 * The training-run schema without the checks that relate fields (its `shape` lists every
 * field with its `description`; `--help` is generated from it).
 *
 * @example
 * ```ts
 * Object.keys(TrainConfigObject.shape); // ["preset", "data", "epochs", ...]
 * ```
 */
export const TrainConfigObject = z.strictObject(SHAPE);

/**
 * The validated configuration of a training run (strict: unknown fields are errors; the
 * cross-field checks are lr and teacher-temperature warm-ups <= epochs, a positive loss weight,
 * a group warm-up only with an instance loss to lead it, k <= memory).
 *
 * @example
 * ```ts
 * const cfg: TrainConfig = TrainConfig.parse(presetDefaults("dino"));
 * ```
 */
export const TrainConfig = TrainConfigObject.superRefine((c, ctx) => {
  // (a group warm-up longer than the run is allowed: `--epochs 1` with the default 1.5 ends
  // with the local-group and group weights at 2/3, as `group_scale` in the log shows)
  for (const f of ["warmupEpochs", "warmupTeacherTempEpochs"] as const) {
    if (c[f] > c.epochs) {
      ctx.addIssue({
        code: "custom",
        path: [f],
        message: `must be <= epochs = ${c.epochs}`,
        input: c[f],
      });
    }
  }
  if (c.weights.instance + c.weights.localGroup + c.weights.group <= 0) {
    ctx.addIssue({
      code: "custom",
      path: ["weights"],
      message: "must have at least one loss weight > 0",
      input: c.weights,
    });
  }
  if (c.groupWarmupEpochs > 0 && c.weights.instance <= 0) {
    ctx.addIssue({
      code: "custom",
      path: ["groupWarmupEpochs"],
      message:
        "needs weights.instance > 0 (the instance loss alone leads the warm-up); set it to 0",
      input: c.groupWarmupEpochs,
    });
  }
  if (c.heads.k > c.memorySize) {
    ctx.addIssue({
      code: "custom",
      path: ["heads", "k"],
      message: `must be <= memorySize (${c.memorySize})`,
      input: c.heads.k,
    });
  }
});

/**
 * A validated training configuration.
 *
 * @example
 * ```ts
 * function peakLr(c: TrainConfig): number { return c.lr * c.batchSize / 256; }
 * ```
 */
export type TrainConfig = z.infer<typeof TrainConfigObject>;

/**
 * What one source (file, command line) may set: any subset of the fields, nested objects too.
 *
 * @example
 * ```ts
 * const p: PartialTrainConfig = { epochs: 5, weights: { localGroup: 0 } };
 * ```
 */
export type PartialTrainConfig =
  & Partial<Omit<TrainConfig, "weights" | "heads">>
  & { weights?: Partial<TrainConfig["weights"]>; heads?: Partial<TrainConfig["heads"]> };

const LayerSchema = TrainConfigObject.partial().extend({
  weights: LossWeightsSchema.partial().optional(),
  heads: HeadsSchema.partial().optional(),
});

/**
 * The defaults of the `mugs` preset for the kit's small run (see the module doc for what was
 * changed from the ImageNet recipe and why).
 *
 * @example
 * ```ts
 * TRAIN_DEFAULTS.batchSize; // 64
 * ```
 */
export const TRAIN_DEFAULTS: Readonly<TrainConfig> = Object.freeze({
  preset: "mugs",
  data: "embedded",
  epochs: 3,
  batchSize: 128,
  epochImages: 5120,
  out: "runs/mugs",
  resume: false,
  seed: 0,
  vit: "vit_micro_28",
  lr: 0.002,
  minLr: 1e-6,
  warmupEpochs: 0.75,
  weightDecay: 0.05,
  weightDecayEnd: 0.05,
  groupWarmupEpochs: 1.5,
  momentumTeacher: 0.9,
  momentumTeacherEnd: 0.99,
  teacherTemp: 0.04,
  warmupTeacherTemp: 0.04,
  warmupTeacherTempEpochs: 0,
  studentTemp: 0.1,
  infoNceTemp: 0.2,
  instanceLoss: "ntxent",
  negatives: "queue+batch",
  centerMomentum: 0.9,
  clipGrad: 3.0,
  freezeLastLayer: 1,
  dropPath: 0,
  patchEmbedLrScale: 1,
  localCrops: 0,
  strongProb: 0,
  weights: Object.freeze({ instance: 1, localGroup: 1, group: 1 }),
  groupLoss: "dino",
  pairing: "mugs",
  views: "simclr",
  heads: Object.freeze({
    hidden: 256,
    out: 128,
    predHidden: 0,
    bottleneck: 128,
    prototypes: 1024,
    k: 8,
    relationDepth: 1,
    normLastLayer: true,
    residualPred: false,
    bn: true,
  }),
  queueSize: 2048,
  memorySize: 2048,
  knnK: 20,
  knnBank: 2000,
  knnTemp: 0.07,
}) as TrainConfig;

/**
 * What each preset changes from `TRAIN_DEFAULTS`.
 *
 * @example
 * ```ts
 * PRESET_OVERRIDES.moco.weights; // { instance: 1, localGroup: 0, group: 0 }
 * ```
 */
export const PRESET_OVERRIDES: Readonly<Record<TrainPreset, PartialTrainConfig>> = Object.freeze({
  mugs: {},
  dino: {
    weights: { instance: 0, localGroup: 0, group: 1 },
    groupWarmupEpochs: 0,
    views: "dino",
    pairing: "dino",
    strongProb: 0,
  },
  moco: { weights: { instance: 1, localGroup: 0, group: 0 }, instanceLoss: "infonce" },
  swav: {
    weights: { instance: 0, localGroup: 0, group: 1 },
    groupWarmupEpochs: 0,
    groupLoss: "swav",
    views: "swav",
    pairing: "dino",
    strongProb: 0,
  },
  simclr: {
    weights: { instance: 1, localGroup: 0, group: 0 },
    instanceLoss: "ntxent",
    views: "simclr",
    localCrops: 0,
    strongProb: 0,
    heads: { predHidden: 0 },
  },
});

/**
 * The full default configuration of a preset.
 *
 * @example
 * ```ts
 * presetDefaults("swav").groupLoss; // "swav"
 * ```
 */
export function presetDefaults(preset: TrainPreset = "mugs"): TrainConfig {
  const base = structuredClone(TRAIN_DEFAULTS) as TrainConfig;
  return merge(base, { ...structuredClone(PRESET_OVERRIDES[preset]), preset }) as TrainConfig;
}

/**
 * One source of values: `source` names it in errors (a file path, "command line");
 * `flags` maps a top-level field to the flag that set it ("batchSize" -> "--batch-size"),
 * which is then named instead.
 *
 * @example
 * ```ts
 * const cli: ConfigLayer = { source: "command line", values: { epochs: 5 }, flags: { epochs: "--epochs" } };
 * ```
 */
export interface ConfigLayer {
  source: string;
  values: unknown;
  flags?: Readonly<Record<string, string>>;
}

/**
 * A configuration error, naming where the value came from and the field.
 *
 * @example
 * ```ts
 * try { resolveConfig({ epochs: -3 }, "run.json"); } catch (e) { if (e instanceof ConfigError) console.log(e.source, e.field); }
 * ```
 */
export class ConfigError extends Error {
  /**
   * @example
   * ```ts
   * throw new ConfigError("--epochs", "epochs", "--epochs: 'epochs' must be >= 1 (got -3)");
   * ```
   */
  constructor(readonly source: string, readonly field: string, message: string) {
    super(message);
    this.name = "ConfigError";
  }
}

/**
 * Validate one partial configuration on top of its preset's defaults (the preset is the one
 * it names, else `mugs`); errors name `source`.
 *
 * @example
 * ```ts
 * const cfg = resolveConfig({ preset: "dino", epochs: 5 }, "run.json");
 * ```
 */
export function resolveConfig(partial: unknown = {}, source = "config"): TrainConfig {
  return resolveLayers([{ source, values: partial }]);
}

/**
 * Stack the layers on the preset's defaults (later layers win; nested `weights` and `heads`
 * merge field by field) and validate. The preset is the last one a layer names, else `mugs`.
 * Each layer is checked on its own first (unknown fields, types, ranges), then the merged
 * configuration (fields that relate); an error names the layer (or flag) that set the field.
 *
 * @example
 * ```ts
 * const cfg = resolveLayers([
 *   { source: "run.json", values: JSON.parse(await Deno.readTextFile("run.json")) },
 *   { source: "command line", values: { epochs: 5 }, flags: { epochs: "--epochs" } },
 * ]);
 * ```
 */
export function resolveLayers(layers: readonly ConfigLayer[]): TrainConfig {
  const origins = new Map<string, string>();
  const parsed: PartialTrainConfig[] = [];
  let preset: TrainPreset = "mugs";
  for (const layer of layers) {
    const v = layer.values;
    if (v === null || typeof v !== "object" || Array.isArray(v)) {
      throw new ConfigError(
        layer.source,
        "",
        `${layer.source}: a configuration must be a JSON object of fields, got ${describe(v)}`,
      );
    }
    const r = LayerSchema.safeParse(v);
    if (!r.success) throw fromIssue(r.error.issues[0], v, (f) => sourceOf(layer, f));
    parsed.push(r.data as PartialTrainConfig);
    if (r.data.preset !== undefined) preset = r.data.preset;
  }
  let merged = presetDefaults(preset) as unknown as Record<string, unknown>;
  for (const [i, p] of parsed.entries()) {
    merged = merge(merged, p);
    for (const path of leafPaths(p)) origins.set(path, sourceOf(layers[i], path));
  }
  const r = TrainConfig.safeParse(merged);
  if (!r.success) {
    const origin = (f: string) =>
      origins.get(f) ?? [...origins].find(([k]) => k.startsWith(`${f}.`))?.[1] ??
        `preset ${preset} defaults`;
    let issue = r.error.issues[0];
    if (issue.code === "custom" && issue.message.startsWith("must be <= epochs")) {
      issue = { ...issue, message: `${issue.message} from ${origin("epochs")}` };
    }
    throw fromIssue(issue, merged, origin);
  }
  return r.data;
}

/**
 * Read a JSON config file (errors name the path: missing, unreadable, not JSON).
 *
 * @example
 * ```ts
 * const values = await readConfigFile("configs/small.json");
 * ```
 */
export async function readConfigFile(path: string): Promise<unknown> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (e) {
    const why = e instanceof Deno.errors.NotFound ? "no such file" : (e as Error).message;
    throw new ConfigError(path, "", `${path}: cannot read the config file (${why})`);
  }
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new ConfigError(path, "", `${path}: not valid JSON (${(e as Error).message})`);
  }
}

/**
 * The closest of `known` to `word` (case-insensitive edit distance, `-`/`_` ignored), or
 * undefined when nothing is close.
 *
 * @example
 * ```ts
 * closest("batch_size", ["batch-size", "seed"]); // "batch-size"
 * ```
 */
export function closest(word: string, known: readonly string[]): string | undefined {
  const norm = (s: string) => s.toLowerCase().replace(/[-_]/g, "");
  const w = norm(word);
  let best: string | undefined;
  let bestD = Infinity;
  for (const k of known) {
    const d = editDistance(w, norm(k));
    if (d < bestD) [best, bestD] = [k, d];
  }
  return bestD <= Math.max(2, Math.floor(w.length / 3)) ? best : undefined;
}

function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      cur[j] = Math.min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    prev = cur;
  }
  return prev[b.length];
}

function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === "object" && !Array.isArray(v);
}

function merge(base: Record<string, unknown>, over: object): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(over)) {
    if (v === undefined) continue;
    out[k] = isObject(v) && isObject(out[k]) ? merge(out[k] as Record<string, unknown>, v) : v;
  }
  return out;
}

function leafPaths(v: object, prefix = ""): string[] {
  return Object.entries(v).flatMap(([k, x]) =>
    x === undefined ? [] : isObject(x) ? leafPaths(x, `${prefix}${k}.`) : [`${prefix}${k}`]
  );
}

function sourceOf(layer: ConfigLayer, field: string): string {
  return layer.flags?.[field.split(".")[0]] ?? layer.source;
}

function describe(v: unknown): string {
  if (v === undefined) return "nothing";
  if (Array.isArray(v)) return "an array";
  return JSON.stringify(v);
}

function at(v: unknown, path: readonly PropertyKey[]): unknown {
  let x = v;
  for (const k of path) x = isObject(x) ? x[String(k)] : undefined;
  return x;
}

function knownFields(path: readonly PropertyKey[]): string[] {
  if (path.length === 0) return Object.keys(SHAPE);
  if (path[0] === "weights") return Object.keys(LossWeightsSchema.shape);
  if (path[0] === "heads") return Object.keys(HeadsSchema.shape);
  return [];
}

function fromIssue(
  issue: z.core.$ZodIssue,
  values: unknown,
  sourceFor: (field: string) => string,
): ConfigError {
  if (issue.code === "unrecognized_keys") {
    const key = issue.keys[0];
    const field = [...issue.path.map(String), key].join(".");
    const known = knownFields(issue.path);
    const hint = closest(key, known);
    const src = issue.path.length ? sourceFor(field) : sourceFor("");
    return new ConfigError(
      src,
      field,
      `${src}: unknown field '${field}'${hint ? ` (did you mean '${hint}'?)` : ""}; known: ` +
        known.join(", "),
    );
  }
  const field = issue.path.map(String).join(".");
  const src = sourceFor(field);
  const got = describe(at(values, issue.path));
  let what: string;
  switch (issue.code) {
    case "invalid_value":
      what = `must be one of ${issue.values.map(String).join(", ")}`;
      break;
    case "too_small":
      what = `must be ${issue.inclusive ? ">=" : ">"} ${issue.minimum}`;
      break;
    case "too_big":
      what = `must be ${issue.inclusive ? "<=" : "<"} ${issue.maximum}`;
      break;
    case "invalid_type":
      what = issue.expected === "int"
        ? "must be an integer"
        : issue.expected === "object"
        ? `must be an object with fields ${knownFields(issue.path).join(", ")}`
        : `must be a ${issue.expected}`;
      break;
    default:
      what = issue.message;
  }
  if (issue.code === "too_small" && issue.origin === "string") what = "must not be empty";
  return new ConfigError(src, field, `${src}: '${field}' ${what} (got ${got})`);
}
