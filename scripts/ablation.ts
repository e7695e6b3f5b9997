/**
 * The ablation in miniature (the Mugs paper's Table 7): train, on one budget and seed, `mugs`,
 * `mugs` with each supervision removed (its loss weight set to 0), and the `dino`, `moco` and
 * `simclr` presets, all stacked on one base configuration; read each out the same way and write
 * one table.
 *
 *   deno run -A scripts/ablation.ts [--config FILE] [--epochs N | --steps S --every E]
 *                                   [--out runs/ablation] [--only mugs,no-group,...]
 *                                   [--seed S | --seeds S1,S2,...]
 *                                   [--teacher-momentum START,END] [--list]
 *
 * Each run's configuration is `--config FILE` (the kit's defaults without it), then the run's
 * change (a weight set to 0, or a preset's losses and views, `PRESET_OVERRIDES`), then the
 * budget and output folder. The budget is the base configuration's unless `--epochs N`, or
 * `--steps S --every E` (as scripts/recipes.ts: `epochs = S / E` read-out intervals of
 * `E * batchSize` images, so warm-ups are counted in intervals). The presets inherit the base's
 * teacher momentum (0 in the kit's defaults: teacher = student); `--teacher-momentum START,END`
 * gives the runs named by `--teacher-momentum-for` (default `dino`, whose method is an EMA
 * teacher) their own.
 *
 * Read-outs, per run: the weighted k-NN top-1 and the linear probe top-1 of the evaluated
 * network (the teacher, or the student for SimCLR) as `deno task eval` measures them (all
 * training images as the k-NN bank), neighbour purity (the training memories' over the last
 * epoch's last batches, from metrics.jsonl; absent without the local-group branch; and the
 * purity of a memory encoded with the final backbone, held-out images as queries, comparable
 * across every run), and the training seconds. Each run's files go to `OUT/NAME/` (metrics,
 * checkpoints, curves.html, eval/); `OUT/ablation.json`, `OUT/ablation.md` (the table, the
 * differences to `mugs`, whether the ordering agrees with the paper's, and the command) and
 * `OUT/ablation.html` are rewritten after each run, keeping rows of earlier invocations whose
 * runs this one does not repeat (so `--only` can add or redo one run; the table's command is the
 * invocation without `--only`, and rows of a different command are refused).
 *
 * With `--seeds` every run trains once per seed (into `OUT/NAME/seedS/`), each row carries its
 * seed, and the table gives per run the mean ± sample standard deviation, the difference of
 * means to `mugs` ± its standard error, and judges the paper's ordering only on differences
 * beyond two standard errors.
 */
import { z } from "npm:zod@4.6.7";
import {
  type ConfigLayer,
  PRESET_OVERRIDES,
  readConfigFile,
  resolveLayers,
  type TrainConfig,
  type TrainPreset,
} from "../lib/mugs/config.ts";
import { flagsMain, runMain } from "../lib/cli/flags.ts";
import { runTraining } from "../lib/cli/train.ts";
import { EvalOptions, runEval } from "../lib/cli/eval.ts";
import { readMetrics } from "../lib/io/metrics_log.ts";
import { writeTextAtomic } from "../lib/io/atomic.ts";
import { loadBackbone } from "../lib/eval/backbone.ts";
import { disposeSnapshot, encodeLocalGroups, heldOutPurity } from "../lib/mugs/local_groups.ts";
import { purityChance, purityValue } from "../lib/memory/purity.ts";
import { ablationTableFigures } from "../lib/viz/ablation.ts";
import {
  type AblationRecord,
  type AblationTable,
  meanDifference,
  readAblationTable,
  type SeedStat,
  summariseAblation,
} from "../lib/io/ablation_table.ts";
import { writeHtml } from "../lib/viz/mod.ts";

/** A run of the ablation: its name, what it changes, and what the paper expects of it. */
interface AblationRun {
  name: string;
  /** The change, in words, for the table. */
  change: string;
  /** Fields layered on the base configuration. */
  values: Record<string, unknown>;
  /** A Mugs supervision removed (the paper: accuracy drops). */
  removes?: "instance" | "localGroup" | "group";
}

const preset = (p: TrainPreset): Record<string, unknown> => ({
  preset: p,
  ...structuredClone(PRESET_OVERRIDES[p]),
});

/**
 * The runs, in table order.
 *
 * @example
 * ```ts
 * ABLATION_RUNS.map((r) => r.name); // ["mugs", "no-instance", ..., "simclr"]
 * ```
 */
export const ABLATION_RUNS: readonly AblationRun[] = Object.freeze([
  { name: "mugs", change: "the base configuration", values: {} },
  {
    name: "no-instance",
    change: "weights.instance = 0",
    values: { weights: { instance: 0 } },
    removes: "instance",
  },
  {
    name: "no-local-group",
    change: "weights.localGroup = 0",
    values: { weights: { localGroup: 0 } },
    removes: "localGroup",
  },
  {
    name: "no-group",
    change: "weights.group = 0",
    values: { weights: { group: 0 } },
    removes: "group",
  },
  { name: "dino", change: "preset dino (group loss alone, DINO views)", values: preset("dino") },
  { name: "moco", change: "preset moco (instance loss alone)", values: preset("moco") },
  { name: "simclr", change: "preset simclr (NT-Xent, no teacher)", values: preset("simclr") },
]);

const NAMES = ABLATION_RUNS.map((r) => r.name);

/**
 * The options of the script.
 *
 * @example
 * ```ts
 * AblationOptions.parse({ steps: 200, every: 50 }).out; // "runs/ablation"
 * ```
 */
export const AblationOptions = z.strictObject({
  config: z.string().min(1).optional().describe(
    "base configuration (a deno task train JSON file) [default: the kit's defaults]",
  ),
  epochs: z.number().int().min(1).optional().describe("epochs of every run [default: the base's]"),
  steps: z.number().int().min(1).optional().describe(
    "steps of every run, in --every-step read-out intervals (with --every)",
  ),
  every: z.number().int().min(1).optional().describe("steps per read-out interval (with --steps)"),
  out: z.string().min(1).default("runs/ablation").describe("output folder"),
  only: z.string().min(1).optional().describe(
    `runs to train, comma-separated (${NAMES.join(",")})`,
  ),
  seed: z.number().int().min(0).optional().describe("seed of every run [default: the base's]"),
  seeds: z.array(z.number().int().min(0)).min(2).optional().describe(
    "train every run once per seed, comma-separated; the table gives mean ± sd and each " +
      "difference's standard error (instead of --seed)",
  ),
  data: z.string().min(1).optional().describe("data of every run [default: the base's]"),
  teacherMomentum: z.array(z.number().min(0).max(1)).min(1).max(2).optional().describe(
    "teacher momentum START[,END] of the runs in --teacher-momentum-for [default: the base's]",
  ),
  teacherMomentumFor: z.string().min(1).default("dino").describe(
    "runs that take --teacher-momentum, comma-separated",
  ),
  linearEpochs: z.number().int().min(1).default(100).describe("epochs of the linear probe"),
  purityImages: z.number().int().min(1).default(1000).describe(
    "held-out queries of the encoded-memory purity",
  ),
  list: z.boolean().default(false).describe("print each run's configuration and exit"),
});

/** The validated options. */
export type AblationOptions = z.infer<typeof AblationOptions>;

function names(flag: string, list: string): string[] {
  const out = list.split(",").map((s) => s.trim());
  for (const n of out) {
    if (!NAMES.includes(n)) {
      throw new Error(`${flag}: no run '${n}'; the runs are ${NAMES.join(", ")}`);
    }
  }
  return out;
}

/** One training of the ablation: a run, its configuration, and its seed under `--seeds`. */
interface AblationItem {
  run: AblationRun;
  config: TrainConfig;
  /** A change the run's change forced. */
  note?: string;
  /** The seed, in a table of several seeds. */
  seed?: number;
}

/**
 * Each run's validated configuration, one per seed under `--seeds` (errors name the layer and
 * field at fault), with a note when the run's change forced another (the instance loss leads
 * the group warm-up, so a run without it has none).
 *
 * @example
 * ```ts
 * const runs = ablationConfigs({}, undefined, AblationOptions.parse({ steps: 2, every: 1 }));
 * ```
 */
export function ablationConfigs(
  base: unknown,
  baseSource: string | undefined,
  o: AblationOptions,
): AblationItem[] {
  checkBudgetFlags(o);
  const baseLayer: ConfigLayer[] = baseSource ? [{ source: baseSource, values: base }] : [];
  const ctx = {
    o,
    baseLayer,
    baseConfig: resolveLayers(baseLayer),
    momentumFor: names("--teacher-momentum-for", o.teacherMomentumFor),
  };
  const chosen = o.only ? names("--only", o.only) : NAMES;
  const seeds: (number | undefined)[] = o.seeds ?? [o.seed];
  return ABLATION_RUNS.filter((r) => chosen.includes(r.name))
    .flatMap((run) => seeds.map((seed) => runConfig(run, seed, ctx)));
}

/** The flags of the budget and seeds that only make sense together, or apart. */
function checkBudgetFlags(o: AblationOptions): void {
  if (o.seed !== undefined && o.seeds !== undefined) {
    throw new Error("give --seed or --seeds, not both");
  }
  if (o.seeds && new Set(o.seeds).size !== o.seeds.length) {
    throw new Error(`--seeds ${o.seeds.join(",")}: a seed is repeated`);
  }
  if ((o.steps === undefined) !== (o.every === undefined)) {
    throw new Error("--steps and --every go together");
  }
  if (o.steps !== undefined && o.epochs !== undefined) {
    throw new Error("give --epochs or --steps/--every, not both");
  }
  if (o.steps !== undefined && o.steps % o.every! !== 0) {
    throw new Error(`--steps ${o.steps} must be a multiple of --every ${o.every}`);
  }
}

/** One run's configuration: the base, the run's change, then the budget and seed. */
function runConfig(
  run: AblationRun,
  seed: number | undefined,
  { o, baseLayer, baseConfig, momentumFor }: {
    o: AblationOptions;
    baseLayer: ConfigLayer[];
    baseConfig: TrainConfig;
    momentumFor: string[];
  },
): AblationItem {
  const values: Record<string, unknown> = structuredClone(run.values);
  let note: string | undefined;
  if (run.removes === "instance" && baseConfig.groupWarmupEpochs > 0) {
    values.groupWarmupEpochs = 0;
    note = "no group warm-up (it needs the instance loss to lead)";
  }
  const layers: ConfigLayer[] = [
    ...baseLayer,
    { source: `ablation run '${run.name}' (${run.change})`, values },
  ];
  const first = resolveLayers(layers);
  const budget: Record<string, unknown> = {
    out: o.seeds ? `${o.out}/${run.name}/seed${seed}` : `${o.out}/${run.name}`,
    resume: false,
    ...(seed === undefined ? {} : { seed }),
    ...(o.data === undefined ? {} : { data: o.data }),
    ...(o.epochs === undefined ? {} : { epochs: o.epochs }),
    ...(o.steps === undefined
      ? {}
      : { epochs: o.steps / o.every!, epochImages: o.every! * first.batchSize }),
  };
  if (o.teacherMomentum && momentumFor.includes(run.name)) {
    const [start, end] = o.teacherMomentum;
    budget.momentumTeacher = start;
    budget.momentumTeacherEnd = end ?? start;
  }
  layers.push({
    source: "ablation budget (--epochs/--steps/--every/--out/--seed(s)/--data)",
    values: budget,
  });
  return { run, config: resolveLayers(layers), note, ...(o.seeds ? { seed } : {}) };
}

/** One measured run. */
type Measured = AblationRecord;

const fmt = (v: number | null | undefined, d = 1) =>
  v === null || v === undefined || !Number.isFinite(v) ? "–" : v.toFixed(d);
const signed = (v: number) => `${v >= 0 ? "+" : ""}${v.toFixed(1)}`;

/**
 * The table as Markdown: one row per run, the differences to `mugs`, and for each removed
 * supervision whether it agrees with the paper (removing it lowers both accuracies).
 *
 * @example
 * ```ts
 * await Deno.writeTextFile("ablation.md", ablationTable(rows, "deno run -A scripts/ablation.ts", "200 steps"));
 * ```
 */
export function ablationTable(rows: Measured[], command: string, budget: string): string {
  if (rows.some((r) => r.seed !== undefined)) return seedsTable(rows, command, budget);
  const ref = rows.find((r) => r.name === "mugs");
  const lines = [
    `Ablation (${budget}): weighted 20-NN and linear-probe top-1 (%) of the evaluated network on the`,
    "held-out split, all training images as the k-NN bank; neighbour purity of the training memories",
    "(teacher / student, the last epoch's last batches) and of a memory encoded with the final",
    "backbone (held-out queries); Δ against `mugs`.",
    "",
    "| run | change | k-NN | Δ | linear | Δ | purity (teacher / student) | purity (encoded) | train s |",
    "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
  ];
  for (const r of rows) {
    const d = (
      v: number,
      w: number | undefined,
    ) => (ref && r !== ref && w !== undefined ? signed(v - w) : "");
    lines.push(
      `| ${r.name} | ${r.change}${r.note ? ` (${r.note})` : ""} | ${fmt(r.knn_top1)} | ${
        d(r.knn_top1, ref?.knn_top1)
      } | ${fmt(r.linear_top1)} | ${d(r.linear_top1, ref?.linear_top1)} | ${
        fmt(r.neighbour_purity_teacher, 3)
      } / ${fmt(r.neighbour_purity_student, 3)} | ${fmt(r.neighbour_purity_encoded, 3)} | ${
        r.train_seconds.toFixed(0)
      } |`,
    );
  }
  const untrained = rows.find((r) => r.name === "mugs")?.knn_top1_untrained ??
    rows[0]?.knn_top1_untrained;
  lines.push("", `Untrained network: k-NN ${fmt(untrained)}%.`);
  if (ref) {
    const removed = rows.filter((r) => r.removes);
    if (removed.length) {
      lines.push("", "The paper: removing any supervision lowers accuracy. Here:");
      for (const r of removed) {
        const dk = r.knn_top1 - ref.knn_top1, dl = r.linear_top1 - ref.linear_top1;
        const agrees = dk < 0 && dl < 0
          ? "agrees"
          : dk < 0 || dl < 0
          ? "agrees in part"
          : "disagrees";
        lines.push(
          `- without ${r.removes}: k-NN ${signed(dk)}, linear ${signed(dl)} points: ${agrees}.`,
        );
      }
    }
  }
  lines.push("", `Command: \`${command}\``, "");
  return lines.join("\n");
}

const pm = (st: SeedStat | null, d = 1) =>
  st === null ? "–" : st.sd === null ? fmt(st.mean, d) : `${fmt(st.mean, d)} ± ${fmt(st.sd, d)}`;

type Difference = { delta: number; se: number | null };

/** A difference of means as `+d ± se` (`+d` without an error). */
const plusMinus = ({ delta, se }: Difference) =>
  se === null ? signed(delta) : `${signed(delta)} ± ${se.toFixed(1)}`;

/** -1 or +1 for a difference beyond two standard errors, 0 within them or without an error. */
const sideOf = ({ delta, se }: Difference) =>
  se === null || Math.abs(delta) <= 2 * se ? 0 : Math.sign(delta);

/** A difference of means in words: its size, standard error, and whether it passes 2 SE. */
function differenceText(d: Difference): string {
  if (d.se === null) return `${signed(d.delta)} (one seed: no error)`;
  return `${plusMinus(d)} (${["lower", "within 2 SE", "higher"][sideOf(d) + 1]})`;
}

/**
 * The table of several seeds: per run the mean ± sample sd over its seeds, the difference
 * of means to `mugs` ± its standard error, and for each removed supervision whether it
 * agrees with the paper where the differences pass two standard errors.
 *
 * @example
 * ```ts
 * ablationTable(rowsWithSeeds, command, "920 steps"); // the rows carry `seed`
 * ```
 */
function seedsTable(rows: Measured[], command: string, budget: string): string {
  const runs = summariseAblation(rows);
  const ref = runs.find((r) => r.name === "mugs");
  const lines = [
    `Ablation (${budget}), mean ± sample standard deviation over each run's seeds: weighted`,
    "20-NN and linear-probe top-1 (%) of the evaluated network on the held-out split, all training",
    "images as the k-NN bank; neighbour purity of the training memories (teacher / student, the",
    "last epoch's last batches) and of a memory encoded with the final backbone (held-out",
    "queries); Δ: the difference of means against `mugs` ± its standard error.",
    "",
    "| run | change | seeds | k-NN | Δ | linear | Δ | purity (teacher / student) | purity (encoded) | train s |",
    "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
  ];
  const diff = (a: SeedStat, b: SeedStat | undefined, self: boolean) =>
    !b || self ? "" : plusMinus(meanDifference(a, b));
  for (const r of runs) {
    const self = r === ref;
    lines.push(
      `| ${r.name} | ${r.change}${r.note ? ` (${r.note})` : ""} | ${r.seeds.join(", ")} | ` +
        `${pm(r.knn)} | ${diff(r.knn, ref?.knn, self)} | ${pm(r.linear)} | ` +
        `${diff(r.linear, ref?.linear, self)} | ${pm(r.purityTeacher, 3)} / ` +
        `${pm(r.purityStudent, 3)} | ${pm(r.purityEncoded, 3)} | ${
          r.trainSeconds.mean.toFixed(0)
        } |`,
    );
  }
  lines.push("", `Untrained network: k-NN ${pm((ref ?? runs[0]).knnUntrained)}%.`);
  const removed = ref ? runs.filter((r) => r.removes) : [];
  if (removed.length) {
    lines.push(
      "",
      "The paper: removing any supervision lowers accuracy. Here (2 SE: two standard errors):",
    );
    for (const r of removed) {
      const dk = meanDifference(r.knn, ref!.knn), dl = meanDifference(r.linear, ref!.linear);
      const [sk, sl] = [sideOf(dk), sideOf(dl)];
      const verdict = sk > 0 || sl > 0
        ? "disagrees"
        : sk < 0 && sl < 0
        ? "agrees"
        : sk < 0 || sl < 0
        ? "agrees in part"
        : "not resolved at these seeds";
      lines.push(
        `- without ${r.removes}: k-NN ${differenceText(dk)}, linear ${
          differenceText(dl)
        }: ${verdict}.`,
      );
    }
  }
  lines.push("", `Command: \`${command}\``, "");
  return lines.join("\n");
}

/** Train one run and read it out as `deno task eval` does; also returns the chance purity. */
async function measureRun(
  o: AblationOptions,
  { run, config, note, seed }: AblationItem,
  log: (line: string) => void,
): Promise<{ row: Measured; chance: number }> {
  const tag = seed === undefined ? `[${run.name}]` : `[${run.name} seed ${seed}]`;
  log(`${tag} ${run.change}${note ? ` (${note})` : ""}: training into ${config.out}`);
  const { result, train, test } = await runTraining(config, {
    log: (l) => {
      if (!l.includes(" step ")) log(`${tag} ${l}`);
    },
  });
  // the standard read-outs of the evaluated network (deno task eval --knn --linear)
  const ev = await runEval(
    EvalOptions.parse({
      checkpoint: config.out,
      data: config.data,
      knn: true,
      linear: true,
      ks: [config.knnK],
      knnTemp: config.knnTemp,
      linearEpochs: o.linearEpochs,
      fractions: [],
      seed: config.seed,
    }),
    (l) => log(`${tag} ${l}`),
  );
  // purity of a memory encoded with the final backbone: comparable across every run
  const bb = await loadBackbone(config.out);
  const snap = encodeLocalGroups(bb.vit, train, {
    size: config.memorySize,
    k: config.heads.k,
    mean: bb.mean!,
    std: bb.std!,
    label: run.name,
  });
  const [{ purity }] = await heldOutPurity(snap, train, test, o.purityImages);
  disposeSnapshot(snap);
  const epochs = await readMetrics(config.out, { kind: "epoch" });
  const lastEpoch = epochs[epochs.length - 1] ?? {};
  const num = (v: unknown) => (typeof v === "number" ? v : null);
  const row: Measured = {
    name: run.name,
    ...(seed === undefined ? {} : { seed }),
    change: run.change,
    ...(note ? { note } : {}),
    ...(run.removes ? { removes: run.removes } : {}),
    knn_top1: (ev.knn_top1 as Record<string, number>)[String(config.knnK)],
    linear_top1: ev.linear_top1 as number,
    neighbour_purity_teacher: num(lastEpoch.neighbour_purity_teacher),
    neighbour_purity_student: num(lastEpoch.neighbour_purity_student),
    neighbour_purity_encoded: purityValue(purity),
    knn_top1_untrained: result.knn_top1_untrained,
    train_seconds: result.seconds,
    steps: result.steps,
    network: String(ev.network),
  };
  return { row, chance: purityChance(train.labels) };
}

/** Rewrite ablation.json, ablation.md and ablation.html from the rows so far. */
async function writeAblation(
  o: AblationOptions,
  rows: Measured[],
  head: { command: string; budget: string; chance: number },
): Promise<string> {
  const { command, budget, chance } = head;
  const table = ablationTable(rows, command, budget);
  const base = o.config ?? "kit defaults";
  await writeTextAtomic(
    `${o.out}/ablation.json`,
    JSON.stringify({ command, budget, base, rows }, null, 2) + "\n",
  );
  await writeTextAtomic(`${o.out}/ablation.md`, table);
  await writeHtml(
    ablationTableFigures({ command, budget, base, rows }, { chance }),
    `${o.out}/ablation.html`,
    { title: `Ablation: ${budget}` },
  );
  return table;
}

/**
 * The command that reproduces every row of a table: the invocation without `--only` (a table
 * filled over several invocations, each with its `--only`, has one such command).
 *
 * @example
 * ```ts
 * tableCommand("deno run -A scripts/ablation.ts --only mugs,dino --epochs 2"); // "... --epochs 2"
 * ```
 */
export function tableCommand(command: string): string {
  return command.replace(/\s--only(=|\s+)\S+/g, "").trim();
}

/**
 * The rows an earlier invocation wrote to `path` (none when it does not exist). Rows measured
 * by a different command (beyond `--only`) would not compare, so that is an error, as is a file
 * that does not parse: neither is overwritten.
 */
async function earlierRows(path: string, command: string): Promise<Measured[]> {
  let prior: AblationTable;
  try {
    prior = await readAblationTable(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return [];
    throw new Error(`${(e as Error).message}; move it away or give another --out`);
  }
  if (tableCommand(prior.command) !== command) {
    throw new Error(
      `${path} holds rows measured by \`${tableCommand(prior.command)}\`; this invocation is ` +
        `\`${command}\` (besides --only), so its rows would not compare: give another --out`,
    );
  }
  return prior.rows;
}

/** Train and read out every chosen run; returns the table (exported for tests). */
export async function runAblation(
  o: AblationOptions,
  command: string,
  log: (line: string) => void = console.log,
): Promise<string> {
  const base = o.config === undefined ? {} : await readConfigFile(o.config);
  const runs = ablationConfigs(base, o.config, o); // every configuration validates first
  if (o.list) {
    for (const { run, config, note } of runs) {
      log(
        `${run.name}: ${run.change}${note ? ` (${note})` : ""}; preset ${config.preset}, weights ${
          JSON.stringify(config.weights)
        }, ${config.epochs} epochs of ${
          config.epochImages || "all"
        } images, batch ${config.batchSize}, ` +
          `teacher momentum ${config.momentumTeacher} -> ${config.momentumTeacherEnd}, out ${config.out}`,
      );
    }
    return "";
  }
  const full = tableCommand(command);
  const rows0 = await earlierRows(`${o.out}/ablation.json`, full);
  await Deno.mkdir(o.out, { recursive: true });
  let rows = rows0;
  const budget = o.steps !== undefined
    ? `${o.steps} steps, read out every ${o.every}`
    : `${runs[0].config.epochs} epochs of ${runs[0].config.epochImages || "all"} images`;
  let table = "";
  for (const r of runs) {
    const { row, chance } = await measureRun(o, r, log);
    const same = (x: Measured) => x.name === row.name && x.seed === row.seed;
    rows = [...rows.filter((x) => !same(x)), row].sort((a, b) =>
      NAMES.indexOf(a.name) - NAMES.indexOf(b.name) || (a.seed ?? 0) - (b.seed ?? 0)
    );
    table = await writeAblation(o, rows, { command: full, budget, chance });
  }
  log(table);
  return table;
}

/** Run the command line; returns the exit code. */
export const main: (argv: string[]) => Promise<number> = flagsMain(
  AblationOptions,
  "deno run -A scripts/ablation.ts [--config FILE] [--epochs N | --steps S --every E] [--out DIR] [--only a,b] [--seeds 0,1,2]",
  "The ablation in miniature: mugs, mugs without each supervision, dino, moco and simclr on one budget and seed (or several, --seeds).",
  (o, argv) => runAblation(o, `deno run -A scripts/ablation.ts ${argv.join(" ")}`.trim()),
);

if (import.meta.main) await runMain("ablation", main);
