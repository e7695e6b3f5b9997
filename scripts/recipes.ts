/**
 * The recipe study: train a list of configurations for one fixed step budget on the same data
 * and seed, read each out every `--every` steps (teacher and student k-NN on one fixed bank,
 * effective rank, losses), and write one table.
 *
 *   deno run -A scripts/recipes.ts --steps 200 --every 50 [--only a,b] [--out runs/recipes]
 *                                  [--configs FILE] [--seed 0]
 *
 * A configuration is a name and a partial training configuration (the fields of
 * `deno task train`, camelCase, nested `weights`/`heads`), stacked on the `mugs` defaults;
 * `--configs FILE` reads a JSON object `{ name: fields, ... }` instead of the built-in list.
 * The step budget sets `epochs = steps / every` and `epochImages = every * batchSize`, so each
 * "epoch" is one read-out interval and warm-ups are counted in intervals. Each run's
 * `metrics.jsonl` goes to `OUT/NAME/`; `OUT/results.jsonl` gets one line per read-out as it
 * is made, and `OUT/table.md` the table, rewritten after each configuration.
 */
import { parseArgs } from "node:util";
import { resolveLayers, type TrainConfig } from "../lib/mugs/config.ts";
import { loadData } from "../lib/cli/data.ts";
import { trainerConfig } from "../lib/cli/train.ts";
import { init } from "../lib/gpu/device.ts";
import { trainMugs } from "../lib/mugs/trainer.ts";
import { MetricsLog } from "../lib/io/metrics_log.ts";

/**
 * The built-in study (docs/recipes.md): the kit's defaults (`A`) and one change each, the
 * published recipe scaled to this size, and the SimCLR baseline.
 */
export const STUDY: Record<string, Record<string, unknown>> = {
  // the published recipe as the kit scaled it before (configs/mugs_official_scaled.json)
  published: {
    batchSize: 64,
    warmupEpochs: 1,
    weightDecay: 0.04,
    weightDecayEnd: 0.2,
    momentumTeacher: 0.96,
    momentumTeacherEnd: 1,
    negatives: "queue",
    dropPath: 0.1,
    patchEmbedLrScale: 0.2,
    views: "mugs",
    localCrops: 4,
    strongProb: 0.5,
    heads: { predHidden: 512, prototypes: 4096 },
  },
  // the defaults: teacher = student (momentum 0), queue + batch negatives, no predictor,
  // SimCLR views, batch 128, peak lr 1e-3
  A: {},
  B: { momentumTeacherEnd: 0.99 }, // an EMA teacher growing towards 0.99
  C: { weights: { instance: 1, localGroup: 0.5, group: 0.2 } },
  D: { lr: 0.004 }, // peak lr 2e-3
  E: { weights: { instance: 1, localGroup: 1, group: 3 } },
  F: { negatives: "batch" }, // no queue
  I: { preset: "moco" }, // the instance loss alone
  J: { heads: { predHidden: 512, residualPred: true } }, // a predictor that starts as identity
  K: { lr: 0.001 }, // peak lr 5e-4
  L: { instanceLoss: "ntxent" }, // SimCLR's loss for the instance branch, the other two on
  simclr: { preset: "simclr" },
  // second study (docs/recipes.md §2b)
  M: { groupWarmupEpochs: 2 }, // local-group and group weights ramp from 0 over 80 of 120 steps
  // an EMA teacher (0.9 -> 0.99) for the local-group and group targets, both ramped in over 60
  // steps, with the instance loss as NT-Xent (N) or as A's InfoNCE (N2)
  N: {
    instanceLoss: "ntxent",
    momentumTeacher: 0.9,
    momentumTeacherEnd: 0.99,
    groupWarmupEpochs: 1.5,
  },
  N2: { momentumTeacher: 0.9, momentumTeacherEnd: 0.99, groupWarmupEpochs: 1.5 },
  // batch 64 at the same peak lr: twice the steps for the images (run with --steps 240 --every 80)
  A64: { batchSize: 64, lr: 0.004 },
  simclr64: { preset: "simclr", batchSize: 64, lr: 0.004 },
};

function parse() {
  const { values } = parseArgs({
    options: {
      steps: { type: "string", default: "200" },
      every: { type: "string", default: "50" },
      only: { type: "string" },
      out: { type: "string", default: "runs/recipes" },
      configs: { type: "string" },
      seed: { type: "string", default: "0" },
      data: { type: "string", default: "embedded" },
    },
  });
  const int = (flag: string, v: string) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 1) throw new Error(`--${flag}: want an integer >= 1, got ${v}`);
    return n;
  };
  const steps = int("steps", values.steps!);
  const every = int("every", values.every!);
  if (steps % every) throw new Error(`--steps ${steps} must be a multiple of --every ${every}`);
  return { ...values, steps, every, seed: Number(values.seed) };
}

interface Row {
  name: string;
  step: number;
  knn: number;
  knnStudent?: number;
  rank?: number;
  rankStudent?: number;
  loss?: number;
  instance?: number | null;
  localGroup?: number | null;
  group?: number | null;
  seconds: number;
}

function table(rows: Row[], untrained: number, raw: number, cmd: string): string {
  const names = [...new Set(rows.map((r) => r.name))];
  const steps = [...new Set(rows.map((r) => r.step))].sort((a, b) => a - b);
  const f = (x: number | undefined | null, d = 1) => (x == null ? "–" : x.toFixed(d));
  const lines = [
    `k-NN top-1 (%) of the teacher (student) every ${steps[0]} steps, bank fixed across runs;`,
    `untrained network ${untrained.toFixed(2)}%, raw pixels ${raw.toFixed(2)}% (same bank).`,
    "",
    `| config | ${
      steps.map((s) => `k-NN @${s}`).join(" | ")
    } | eff. rank (student) | losses (inst / lg / group) | s |`,
    `| --- | ${steps.map(() => "---").join(" | ")} | --- | --- | --- |`,
  ];
  for (const n of names) {
    const rs = rows.filter((r) => r.name === n);
    const last = rs[rs.length - 1];
    const cell = (s: number) => {
      const r = rs.find((x) => x.step === s);
      return r ? `${f(r.knn)} (${f(r.knnStudent)})` : "";
    };
    lines.push(
      `| ${n} | ${steps.map(cell).join(" | ")} | ${f(last.rank)} (${f(last.rankStudent)}) | ` +
        `${f(last.instance, 2)} / ${f(last.localGroup, 2)} / ${f(last.group, 2)} | ${
          last.seconds.toFixed(0)
        } |`,
    );
  }
  lines.push("", `Command: \`${cmd}\``, "");
  return lines.join("\n");
}

if (import.meta.main) {
  const a = parse();
  const all: Record<string, Record<string, unknown>> = a.configs
    ? JSON.parse(await Deno.readTextFile(a.configs))
    : STUDY;
  const names = a.only ? a.only.split(",") : Object.keys(all);
  for (const n of names) if (!(n in all)) throw new Error(`--only: no configuration '${n}'`);
  await Deno.mkdir(a.out!, { recursive: true });
  const info = await init();
  console.log(`adapter: ${info.adapter}`);
  const rows: Row[] = [];
  let untrained = NaN;
  let raw = NaN;
  const cmd = `deno run -A scripts/recipes.ts ${Deno.args.join(" ")}`;
  for (const name of names) {
    const fields = all[name];
    // the interval is counted in steps of the configuration's own batch (its preset's default
    // when it names none)
    const batch = resolveLayers([{ source: `configuration ${name}`, values: fields }]).batchSize;
    const c: TrainConfig = resolveLayers([
      { source: `configuration ${name}`, values: fields },
      {
        source: "study",
        values: {
          data: a.data,
          seed: a.seed,
          epochs: a.steps / a.every,
          epochImages: a.every * batch,
          out: `${a.out}/${name}`,
          knnBank: (fields.knnBank as number | undefined) ?? 2000,
        },
      },
    ]);
    const { train, test, preset } = await loadData(c.data);
    const cfg = trainerConfig(c, train, preset);
    const log = await MetricsLog.open(c.out, { append: false });
    const t0 = performance.now();
    let lastStep: Record<string, unknown> = {};
    await trainMugs(cfg, train, test, (line) => {
      if (!line.includes(" step ")) console.log(`[${name}] ${line}`);
    }, {
      onRecord: (rec) => {
        void log.record(rec); // metrics.jsonl as deno task train writes it
        if (rec.kind === "step") {
          lastStep = rec;
        } else if (rec.kind === "epoch") {
          const row: Row = {
            name,
            step: rec.step as number,
            knn: rec.knn_top1 as number,
            knnStudent: rec.knn_top1_student as number | undefined,
            rank: rec.effectiveRank as number | undefined,
            rankStudent: rec.student_effectiveRank as number | undefined,
            loss: lastStep.loss as number | undefined,
            instance: lastStep.instance as number | null,
            localGroup: lastStep.local_group as number | null,
            group: lastStep.group as number | null,
            seconds: (performance.now() - t0) / 1000,
          };
          rows.push(row);
          Deno.writeTextFileSync(`${a.out}/results.jsonl`, JSON.stringify(row) + "\n", {
            append: true,
          });
        } else {
          if (typeof rec.knn_top1_raw_pixels === "number") raw = rec.knn_top1_raw_pixels;
          if (rec.knn_train_images === c.knnBank && typeof rec.knn_top1 === "number") {
            untrained = rec.knn_top1;
          }
        }
      },
    });
    await log.close();
    await Deno.writeTextFile(`${a.out}/table.md`, table(rows, untrained, raw, cmd));
  }
  console.log(table(rows, untrained, raw, cmd));
}
