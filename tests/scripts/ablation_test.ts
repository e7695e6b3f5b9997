/**
 * scripts/ablation.ts: every run's configuration is the base with one change (checked field
 * by field, no GPU), the budget and teacher-momentum flags reach the right runs, the table's
 * differences and its agreement with the paper follow the numbers, and a tiny two-run ablation
 * through the command line writes its table, JSON and page (rows of earlier invocations kept),
 * while rows of another command are refused.
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

Deno.test({
  name: "ablation: a tiny two-run ablation through the command line writes its table",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "mugs-ablation-" });
    try {
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
      const r = await new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", SCRIPT, ...args],
        stdout: "piped",
        stderr: "piped",
      }).output();
      const dec = new TextDecoder();
      assert(r.success, dec.decode(r.stderr).slice(-1000));
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
