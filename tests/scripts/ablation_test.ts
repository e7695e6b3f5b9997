/**
 * scripts/ablation.ts: every run's configuration is the base with one change (checked field
 * by field, no GPU), the budget and teacher-momentum flags reach the right runs, the table's
 * differences and its agreement with the paper follow the numbers, and a tiny two-run ablation
 * through the command line writes its table, JSON and page (rows of earlier invocations kept),
 * while rows of another command are refused; with --seeds each run trains once per seed and
 * the table gives means, sample sds and standard errors.
 */
import { assert, assertEquals, assertRejects, assertThrows } from "../helpers.ts";
import {
  ABLATION_RUNS,
  ablationConfigs,
  AblationOptions,
  ablationTable,
  runAblation,
  tableCommand,
} from "../../scripts/ablation.ts";
import { PRESET_OVERRIDES, resolveConfig, TRAIN_DEFAULTS } from "../../lib/mugs/config.ts";
import { tinyIdx } from "../cli/fixtures.ts";
import { fileURLToPath } from "node:url";

const SCRIPT = fileURLToPath(new URL("../../scripts/ablation.ts", import.meta.url));
const opts = (o: Record<string, unknown> = {}) => AblationOptions.parse(o);

Deno.test("ablation: each run is the base configuration with one change", () => {
  const base = { lr: 0.003, batchSize: 64, memorySize: 1024, heads: { prototypes: 512 } };
  const runs = ablationConfigs(base, "base.json", opts());
  assertEquals(runs.map((r) => r.run.name), [
    "mugs",
    "no-instance",
    "no-local-group",
    "no-group",
    "dino",
    "moco",
    "simclr",
  ]);
  const mugs = resolveConfig(base, "base.json");
  const by = Object.fromEntries(runs.map((r) => [r.run.name, r.config]));
  assertEquals(by.mugs, { ...mugs, out: "runs/ablation/mugs" }, "mugs = the base");
  for (
    const [name, key] of [["no-instance", "instance"], ["no-local-group", "localGroup"], [
      "no-group",
      "group",
    ]] as const
  ) {
    assertEquals(by[name].weights, { ...mugs.weights, [key]: 0 }, `${name} weights`);
    // without the instance loss there is nothing to lead the group warm-up: it is dropped
    const warmup = name === "no-instance" ? 0 : mugs.groupWarmupEpochs;
    assertEquals(by[name].groupWarmupEpochs, warmup, `${name} group warm-up`);
    assertEquals(
      {
        ...by[name],
        weights: mugs.weights,
        out: mugs.out,
        groupWarmupEpochs: mugs.groupWarmupEpochs,
      },
      mugs,
      `${name}: nothing else`,
    );
  }
  for (const p of ["dino", "moco", "simclr"] as const) {
    const c = by[p];
    assertEquals(c.preset, p);
    for (const [k, v] of Object.entries(PRESET_OVERRIDES[p])) {
      const want = k === "heads" ? { ...mugs.heads, ...(v as object) } : v;
      assertEquals(c[k as keyof typeof c], want, `${p}.${k} is the preset's`);
    }
    // the recipe itself (schedule, sizes) is the base's
    assertEquals([c.lr, c.batchSize, c.memorySize, c.heads.prototypes], [0.003, 64, 1024, 512], p);
    assertEquals(c.momentumTeacher, TRAIN_DEFAULTS.momentumTeacher, `${p} inherits the momentum`);
  }
});

Deno.test("ablation: budgets, teacher momentum, forced changes and bad flags", () => {
  const steps = ablationConfigs(
    { batchSize: 32 },
    "b.json",
    opts({ steps: 6, every: 3, only: "mugs,dino" }),
  );
  assertEquals(steps.map((r) => [r.run.name, r.config.epochs, r.config.epochImages]), [
    ["mugs", 2, 96],
    ["dino", 2, 96],
  ]);
  const ep = ablationConfigs({}, undefined, opts({ epochs: 7, seed: 3, out: "o", only: "moco" }));
  assertEquals([ep[0].config.epochs, ep[0].config.seed, ep[0].config.out], [7, 3, "o/moco"]);
  const m = ablationConfigs({}, undefined, opts({ teacherMomentum: [0.996, 1] }));
  for (const { run, config } of m) {
    const want = run.name === "dino" ? [0.996, 1] : [0.9, 0.99];
    assertEquals([config.momentumTeacher, config.momentumTeacherEnd], want, run.name);
  }
  const m2 = ablationConfigs(
    {},
    undefined,
    opts({ teacherMomentum: [0.99], teacherMomentumFor: "moco,mugs" }),
  );
  assertEquals(
    m2.filter((r) => r.config.momentumTeacher === 0.99).map((r) => r.run.name),
    ["mugs", "moco"],
  );
  // a group warm-up needs the instance loss to lead: the run without it has none, and says so
  const w = ablationConfigs(
    { epochs: 4, groupWarmupEpochs: 1 },
    "w.json",
    opts({ only: "no-instance,mugs" }),
  );
  assertEquals(w.map((r) => [r.run.name, r.config.groupWarmupEpochs, r.note !== undefined]), [
    ["mugs", 1, false],
    ["no-instance", 0, true],
  ]);
  assertThrows(
    () => ablationConfigs({}, undefined, opts({ steps: 4 })),
    "--steps and --every go together",
  );
  assertThrows(
    () => ablationConfigs({}, undefined, opts({ steps: 4, every: 3 })),
    "multiple of --every 3",
  );
  assertThrows(
    () => ablationConfigs({}, undefined, opts({ epochs: 2, steps: 4, every: 2 })),
    "not both",
  );
  assertThrows(
    () => ablationConfigs({}, undefined, opts({ only: "mugs,byol" })),
    "--only: no run 'byol'",
  );
  assertThrows(() => ablationConfigs({ lr: -1 }, "bad.json", opts()), "bad.json: 'lr'");
  assertEquals(ABLATION_RUNS.filter((r) => r.removes).length, 3, "three supervisions");
  // --seeds: each run once per seed, each into its own folder
  const seeds = ablationConfigs(
    {},
    undefined,
    opts({ seeds: [0, 2], out: "o", only: "dino,mugs" }),
  );
  assertEquals(seeds.map((r) => [r.run.name, r.seed, r.config.seed, r.config.out]), [
    ["mugs", 0, 0, "o/mugs/seed0"],
    ["mugs", 2, 2, "o/mugs/seed2"],
    ["dino", 0, 0, "o/dino/seed0"],
    ["dino", 2, 2, "o/dino/seed2"],
  ]);
  assertEquals(ep[0].seed, undefined, "one seed: no seed on the run");
  assertThrows(
    () => ablationConfigs({}, undefined, opts({ seed: 1, seeds: [0, 1] })),
    "give --seed or --seeds, not both",
  );
  assertThrows(
    () => ablationConfigs({}, undefined, opts({ seeds: [0, 1, 0] })),
    "--seeds 0,1,0: a seed is repeated",
  );
  assertThrows(() => opts({ seeds: [3] }), "");
});

Deno.test("ablation: a table filled over several --only invocations keeps one command, and refuses another's rows", async () => {
  const cmd = "deno run -A scripts/ablation.ts --config c.json --out o";
  assertEquals(tableCommand(`${cmd} --only mugs,no-group`), cmd);
  assertEquals(
    tableCommand(`deno run -A scripts/ablation.ts --only=simclr --out o`),
    `deno run -A scripts/ablation.ts --out o`,
  );
  const dir = await Deno.makeTempDir({ prefix: "mugs-ablation-" });
  try {
    const json = `${dir}/ablation.json`;
    const before = JSON.stringify({
      command: `${cmd} --steps 4 --every 2 --only mugs`,
      budget: "4 steps, read out every 2",
      base: "c.json",
      rows: [],
    });
    await Deno.writeTextFile(json, before);
    const o = opts({ out: dir, steps: 2, every: 1, only: "dino" });
    await assertRejects(
      () => runAblation(o, `${cmd} --steps 2 --every 1 --only dino`, () => {}),
      `${json} holds rows measured by \`${cmd} --steps 4 --every 2\``,
    );
    await Deno.writeTextFile(json, "{ not json");
    await assertRejects(() => runAblation(o, cmd, () => {}), `${json}: not JSON`);
    assertEquals(await Deno.readTextFile(json), "{ not json", "nothing overwritten");
    const shipped = JSON.parse(await Deno.readTextFile("docs/ablation_long.json"));
    shipped.rows[1].knn_top1 = "78.2";
    const bad = JSON.stringify(shipped);
    await Deno.writeTextFile(json, bad);
    await assertRejects(
      () => runAblation(o, shipped.command, () => {}),
      `${json}: not an ablation table: field 'rows[1].knn_top1'`,
    );
    assertEquals(await Deno.readTextFile(json), bad, "nothing overwritten");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("ablation: the table's differences and its agreement with the paper follow the numbers", () => {
  const row = (
    name: string,
    knn: number,
    linear: number,
    removes?: "instance" | "localGroup" | "group",
  ) => ({
    name,
    change: name,
    removes,
    knn_top1: knn,
    linear_top1: linear,
    neighbour_purity_teacher: removes === "localGroup" ? null : 0.4,
    neighbour_purity_student: removes === "localGroup" ? null : 0.35,
    neighbour_purity_encoded: 0.3,
    knn_top1_untrained: 49,
    train_seconds: 100,
    steps: 120,
    network: "teacher",
  });
  const md = ablationTable(
    [
      row("mugs", 60, 70),
      row("no-instance", 55, 65, "instance"),
      row("no-local-group", 61, 69, "localGroup"),
      row("no-group", 62, 71, "group"),
    ],
    "deno run -A scripts/ablation.ts --steps 120 --every 40",
    "120 steps",
  );
  assert(md.includes("| no-instance | no-instance | 55.0 | -5.0 | 65.0 | -5.0 |"), md);
  assert(
    md.includes("| no-local-group | no-local-group | 61.0 | +1.0 | 69.0 | -1.0 | – / – |"),
    md,
  );
  assert(md.includes("without instance: k-NN -5.0, linear -5.0 points: agrees."), md);
  assert(md.includes("without localGroup: k-NN +1.0, linear -1.0 points: agrees in part."), md);
  assert(md.includes("without group: k-NN +2.0, linear +1.0 points: disagrees."), md);
  assert(md.includes("Untrained network: k-NN 49.0%."), md);
  assert(md.trim().endsWith("`deno run -A scripts/ablation.ts --steps 120 --every 40`"), md);
});

Deno.test("ablation: with several seeds the table gives mean ± sd and judges differences by 2 SE", () => {
  const row = (
    name: string,
    seed: number,
    knn: number,
    linear: number,
    removes?: "instance" | "localGroup" | "group",
  ) => ({
    name,
    seed,
    change: name,
    removes,
    knn_top1: knn,
    linear_top1: linear,
    neighbour_purity_teacher: 0.4,
    neighbour_purity_student: 0.35,
    neighbour_purity_encoded: 0.3,
    knn_top1_untrained: 49,
    train_seconds: 100 + seed,
    steps: 120,
    network: "teacher",
  });
  const md = ablationTable(
    [
      // mugs: k-NN 60 ± 1, linear 70 ± 1 (sd 1, so SE of a difference to sd-1 runs: sqrt(2/3))
      ...[[59, 69], [60, 70], [61, 71]].map(([k, l], s) => row("mugs", s, k, l)),
      // both far lower: agrees
      ...[[49, 59], [50, 60], [51, 61]].map(([k, l], s) => row("no-instance", s, k, l, "instance")),
      // k-NN 0.5 higher (within 2 SE), linear far lower: agrees in part
      ...[[59.5, 64], [60.5, 65], [61.5, 66]].map(([k, l], s) =>
        row("no-local-group", s, k, l, "localGroup")
      ),
      // k-NN far higher: disagrees, whatever the linear probe says
      ...[[64, 60], [65, 61], [66, 62]].map(([k, l], s) => row("no-group", s, k, l, "group")),
    ],
    "deno run -A scripts/ablation.ts --seeds 0,1,2",
    "120 steps",
  );
  assert(md.includes("mean ± sample standard deviation over each run's seeds"), md);
  assert(md.includes("| mugs | mugs | 0, 1, 2 | 60.0 ± 1.0 |  | 70.0 ± 1.0 |  |"), md);
  assert(md.includes("| no-instance | no-instance | 0, 1, 2 | 50.0 ± 1.0 | -10.0 ± 0.8 |"), md);
  assert(md.includes("| 0.400 ± 0.000 / 0.350 ± 0.000 | 0.300 ± 0.000 | 101 |"), md);
  assert(
    md.includes(
      "- without instance: k-NN -10.0 ± 0.8 (lower), linear -10.0 ± 0.8 (lower): agrees.",
    ),
    md,
  );
  assert(
    md.includes(
      "- without localGroup: k-NN +0.5 ± 0.8 (within 2 SE), linear -5.0 ± 0.8 (lower): agrees in part.",
    ),
    md,
  );
  assert(
    md.includes("- without group: k-NN +5.0 ± 0.8 (higher), linear -9.0 ± 0.8 (lower): disagrees."),
    md,
  );
  const close = ablationTable(
    [
      row("mugs", 0, 60, 70),
      row("mugs", 1, 62, 72),
      row("no-group", 0, 59, 71, "group"),
      row("no-group", 1, 61, 69, "group"),
    ],
    "c",
    "b",
  );
  assert(
    close.includes(
      "- without group: k-NN -1.0 ± 1.4 (within 2 SE), linear -1.0 ± 1.4 (within 2 SE): not resolved at these seeds.",
    ),
    close,
  );
});

/** A tiny IDX dataset in `dir` and a training config for it (one step per 16 images). */
async function tinySetup(dir: string): Promise<string> {
  await tinyIdx(dir, 96, 24);
  const config = `${dir}/tiny.json`;
  await Deno.writeTextFile(
    config,
    JSON.stringify({
      batchSize: 16,
      epochImages: 32,
      queueSize: 48,
      memorySize: 48,
      warmupEpochs: 0,
      knnBank: 0,
      heads: { hidden: 32, out: 16, bottleneck: 16, prototypes: 32, k: 4 },
    }),
  );
  return config;
}

/** Run the script; fails with its stderr's tail. */
async function runScript(args: string[]): Promise<void> {
  const r = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", SCRIPT, ...args],
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert(r.success, new TextDecoder().decode(r.stderr).slice(-1000));
}

Deno.test({
  name: "ablation: a tiny two-run ablation through the command line writes its table",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "mugs-ablation-" });
    try {
      const config = await tinySetup(dir);
      const out = `${dir}/out`;
      // a row of an earlier invocation, which this one does not repeat, is kept
      await Deno.mkdir(out);
      const earlier = {
        name: "dino",
        change: "earlier",
        knn_top1: 1,
        linear_top1: 2,
        neighbour_purity_teacher: null,
        neighbour_purity_student: null,
        neighbour_purity_encoded: 0.1,
        knn_top1_untrained: 30,
        train_seconds: 1,
        steps: 1,
        network: "teacher",
      };
      const args = [
        ...["--config", config, "--data", dir, "--epochs", "1", "--only", "no-local-group,mugs"],
        ...["--linear-epochs", "2", "--purity-images", "24", "--out", out],
      ];
      // the table's command reproduces every row: the invocation without --only
      const full = args.filter((a, i) => a !== "--only" && args[i - 1] !== "--only");
      await Deno.writeTextFile(
        `${out}/ablation.json`,
        JSON.stringify({
          command: `deno run -A scripts/ablation.ts ${full.join(" ")} --only dino`,
          budget: "1 epochs of 32 images",
          base: config,
          rows: [earlier],
        }),
      );
      await runScript(args);
      const json = JSON.parse(await Deno.readTextFile(`${out}/ablation.json`));
      assertEquals(json.rows.map((x: { name: string }) => x.name), [
        "mugs",
        "no-local-group",
        "dino",
      ]);
      const [mugs, noLg] = json.rows;
      for (const x of [mugs, noLg]) {
        assert(x.knn_top1 >= 0 && x.knn_top1 <= 100 && x.linear_top1 >= 0, JSON.stringify(x));
        assert(
          x.neighbour_purity_encoded >= 0 && x.neighbour_purity_encoded <= 1,
          "encoded purity",
        );
        assertEquals(x.steps, 2, "one epoch of 32 images at batch 16");
        // the table's k-NN is deno task eval's, written next to the run
        const ev = JSON.parse(await Deno.readTextFile(`${out}/${x.name}/eval/eval.json`));
        assertEquals(x.knn_top1, ev.knn_top1["20"]);
        assertEquals(x.linear_top1, ev.linear_top1);
      }
      assert(
        mugs.neighbour_purity_teacher >= 0 && mugs.neighbour_purity_student >= 0,
        "mugs purity",
      );
      assertEquals([noLg.neighbour_purity_teacher, noLg.neighbour_purity_student], [null, null]);
      const md = await Deno.readTextFile(`${out}/ablation.md`);
      assert(md.includes("| no-local-group | weights.localGroup = 0 |"), md);
      assert(md.includes(`Command: \`deno run -A scripts/ablation.ts ${full.join(" ")}\``), md);
      assert(md.includes("without localGroup: k-NN"), md);
      const html = await Deno.readTextFile(`${out}/ablation.html`);
      assert(html.includes("ablation: accuracy") && html.includes("neighbour purity"), "the page");
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "ablation: --seeds through the command line trains each run per seed and tables the means",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "mugs-ablation-seeds-" });
    try {
      const config = await tinySetup(dir);
      const out = `${dir}/out`;
      await runScript([
        ...["--config", config, "--data", dir, "--epochs", "1", "--seeds", "0,1"],
        ...["--only", "mugs", "--linear-epochs", "2", "--purity-images", "24", "--out", out],
      ]);
      const json = JSON.parse(await Deno.readTextFile(`${out}/ablation.json`));
      assertEquals(json.rows.map((x: { name: string; seed: number }) => [x.name, x.seed]), [
        ["mugs", 0],
        ["mugs", 1],
      ]);
      for (const x of json.rows) {
        const ev = JSON.parse(await Deno.readTextFile(`${out}/mugs/seed${x.seed}/eval/eval.json`));
        assertEquals(x.knn_top1, ev.knn_top1["20"], `seed ${x.seed}: its own folder's read-out`);
      }
      const [a, b] = json.rows;
      assert(a.knn_top1 !== b.knn_top1 || a.linear_top1 !== b.linear_top1, "two seeds, two runs");
      const mean = (a.knn_top1 + b.knn_top1) / 2;
      const sd = Math.abs(a.knn_top1 - b.knn_top1) / Math.sqrt(2);
      const md = await Deno.readTextFile(`${out}/ablation.md`);
      assert(
        md.includes(
          `| mugs | the base configuration | 0, 1 | ${mean.toFixed(1)} ± ${sd.toFixed(1)} |`,
        ),
        md,
      );
      const html = await Deno.readTextFile(`${out}/ablation.html`);
      assert(html.includes("over up to 2 seeds"), "the page says the bars are means");
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
