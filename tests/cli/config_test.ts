// Training config and command line (no GPU): the defaults and each preset validate; a config
// file is layered over the preset and flags over the file; bad values are errors that name the
// source (file path or --flag) and the field; --help lists every option with its default.
import { assert, assertEquals, assertRejects, assertThrows } from "../helpers.ts";
import {
  ConfigError,
  PRESET_OVERRIDES,
  presetDefaults,
  resolveConfig,
  resolveLayers,
  TRAIN_DEFAULTS,
  TRAIN_PRESETS,
  TrainConfig,
  TrainConfigObject,
} from "../../lib/mugs/config.ts";
import { parseTrainArgs, TRAIN_OPTIONS, type TrainArgs } from "../../lib/cli/args.ts";

async function config(argv: string[]): Promise<TrainConfig> {
  const a: TrainArgs = await parseTrainArgs(argv);
  if (a.help) throw new Error("unexpected help");
  return a.config;
}

async function withFile<T>(values: unknown, fn: (path: string) => Promise<T>): Promise<T> {
  const path = await Deno.makeTempFile({ suffix: ".json" });
  try {
    await Deno.writeTextFile(path, typeof values === "string" ? values : JSON.stringify(values));
    return await fn(path);
  } finally {
    await Deno.remove(path);
  }
}

Deno.test("config: the defaults validate and are the small run's", async () => {
  assertEquals(TrainConfig.parse(TRAIN_DEFAULTS), TRAIN_DEFAULTS, "defaults");
  const c = await config([]);
  assertEquals(c, TRAIN_DEFAULTS, "no arguments");
  assertEquals(c.preset, "mugs", "preset");
  assertEquals(c.vit, "vit_micro_28", "vit");
  assertEquals(c.data, "embedded", "data");
  assertEquals(c.batchSize, 128, "batch");
  assertEquals(c.weights, { instance: 1, localGroup: 1, group: 1 }, "weights");
  assertEquals(
    [c.heads.hidden, c.heads.out, c.heads.predHidden, c.heads.bottleneck, c.heads.prototypes],
    [256, 128, 0, 128, 1024],
    "heads (no predictor)",
  );
  assertEquals([c.queueSize, c.memorySize, c.heads.k, c.localCrops], [2048, 2048, 8, 0], "sizes");
  assertEquals(
    [c.minLr, c.weightDecay, c.weightDecayEnd, c.teacherTemp, c.studentTemp, c.infoNceTemp],
    [1e-6, 0.05, 0.05, 0.04, 0.1, 0.2],
    "recipe",
  );
  assertEquals([c.clipGrad, c.freezeLastLayer, c.dropPath, c.patchEmbedLrScale], [3, 1, 0, 1]);
  assertEquals(
    [c.momentumTeacher, c.momentumTeacherEnd, c.negatives, c.views, c.strongProb],
    [0.9, 0.99, "queue+batch", "simclr", 0],
    "the small-run recipe (docs/recipes.md)",
  );
  assertEquals(
    [c.instanceLoss, c.groupWarmupEpochs, c.heads.bn],
    ["ntxent", 1.5, true],
    "NT-Xent instance loss, group warm-up, BatchNorm in the heads (docs/recipes.md §2c)",
  );
  // a run shorter than the group warm-up is valid: its weights end below 1
  assertEquals((await config(["--epochs", "1"])).groupWarmupEpochs, 1.5, "--epochs 1");
  assert(c.epochs >= 3 && c.epochs <= 5, "3 to 5 epochs");
  assertEquals(resolveConfig(), TRAIN_DEFAULTS, "resolveConfig()");
});

Deno.test("config: each preset", async () => {
  const want = {
    mugs: { weights: [1, 1, 1], groupLoss: "dino", views: "simclr" },
    dino: { weights: [0, 0, 1], groupLoss: "dino", views: "dino" },
    moco: { weights: [1, 0, 0], groupLoss: "dino", views: "simclr" },
    swav: { weights: [0, 0, 1], groupLoss: "swav", views: "swav" },
    simclr: { weights: [1, 0, 0], groupLoss: "dino", views: "simclr" },
  };
  for (const p of TRAIN_PRESETS) {
    const c = await config(["--preset", p]);
    assertEquals(c, presetDefaults(p), `${p} = presetDefaults`);
    assertEquals(TrainConfig.parse(c), c, `${p} validates`);
    assertEquals(c.preset, p, `${p} preset`);
    const w = c.weights;
    assertEquals([w.instance, w.localGroup, w.group], want[p].weights, `${p} weights`);
    assertEquals([c.groupLoss, c.views], [want[p].groupLoss, want[p].views], `${p} loss, views`);
    // the recipe itself is shared (SimCLR has no predictor)
    const heads = p === "simclr"
      ? { ...TRAIN_DEFAULTS.heads, predHidden: 0 }
      : TRAIN_DEFAULTS.heads;
    assertEquals([c.lr, c.epochs, c.heads], [TRAIN_DEFAULTS.lr, TRAIN_DEFAULTS.epochs, heads], p);
  }
  assertEquals(presetDefaults("simclr").instanceLoss, "ntxent", "simclr: NT-Xent");
  // flags override what the preset sets, field by field
  const c = await config(["--preset", "dino", "--weights", "instance=0.5"]);
  assertEquals(c.weights, { instance: 0.5, localGroup: 0, group: 1 }, "dino + --weights");
  assertEquals(PRESET_OVERRIDES.mugs, {}, "mugs is the defaults");
});

Deno.test("config: preset < config file < flags", async () => {
  const file = {
    preset: "moco",
    epochs: 5,
    batchSize: 32,
    seed: 7,
    weights: { localGroup: 2 },
    heads: { prototypes: 1024 },
  };
  await withFile(file, async (path) => {
    const c = await config(["--config", path, "--epochs", "4", "--weights", "group=0.5"]);
    assertEquals(c.preset, "moco", "preset from the file");
    assertEquals(c.epochs, 4, "flag beats file");
    assertEquals([c.batchSize, c.seed], [32, 7], "file beats default");
    assertEquals(c.weights, { instance: 1, localGroup: 2, group: 0.5 }, "weights merge in order");
    assertEquals(c.heads.prototypes, 1024, "nested file field");
    assertEquals(c.heads.hidden, 256, "nested default kept");
    const d = await config(["--config", path, "--preset", "dino"]);
    assertEquals(d.weights, { instance: 0, localGroup: 2, group: 1 }, "--preset beats the file");
    const args = await parseTrainArgs(["--config", path]);
    assert(!args.help && args.configFile === path, "configFile reported");
  });
  const c = resolveLayers([
    { source: "a.json", values: { epochs: 5, lr: 0.001 } },
    { source: "command line", values: { epochs: 4 }, flags: { epochs: "--epochs" } },
  ]);
  assertEquals([c.epochs, c.lr], [4, 0.001], "resolveLayers order");
});

Deno.test("config: bad values name the source and the field", async () => {
  const cases: [string[], string[]][] = [
    [["--epochs", "-3"], ["--epochs", "'epochs'", ">= 1", "-3"]],
    [["--epochs=-3"], ["--epochs", "'epochs'", ">= 1"]],
    [["--epochs", "abc"], ["--epochs", "number", "'abc'"]],
    [["--epochs", "2.5"], ["--epochs", "'epochs'", "integer"]],
    [["--lr", "0"], ["--lr", "'lr'", "> 0"]],
    [["--lr", "1e-3x"], ["--lr", "number"]],
    [["--preset", "byol"], ["--preset", "'preset'", "mugs, dino, moco, swav, simclr", "byol"]],
    [["--vit", "vit_huge"], ["--vit", "vit_micro_28"]],
    [["--weights", "instance1"], ["--weights", "KEY=VALUE", "instance="]],
    [["--weights", "instance=1,,group=1"], ["--weights", "KEY=VALUE"]],
    [["--weights", "instanse=1"], ["--weights", "'instanse'", "did you mean 'instance'"]],
    [["--weights", "group=abc"], ["--weights", "number", "'abc'"]],
    [["--weights", "group=-1"], ["--weights", "'weights.group'", ">= 0"]],
    [["--weights", "instance=0,localGroup=0,group=0"], ["--weights", "at least one"]],
    [["--epochs", "1", "--warmup-epochs", "2"], ["--warmup-epochs", "<= epochs = 1", "--epochs"]],
    [["--epochs", "1", "--warmup-teacher-temp-epochs", "3"], ["warmupTeacherTempEpochs"]],
    [
      ["--group-warmup-epochs", "1", "--weights", "instance=0"],
      ["groupWarmupEpochs", "weights.instance > 0"],
    ],
    [["--memory-size", "4"], ["heads.k", "<= memorySize"]],
    [["--heads", "k=300"], ["--heads", "'heads.k'", "<= 256"]],
    [["--heads", "normLastLayer=yes"], ["--heads", "true or false"]],
    [["--epoch", "3"], ["'--epoch'", "did you mean --epochs?"]],
    [["--batch_size", "8"], ["'--batch_size'", "did you mean --batch-size?"]],
    [["--localcrops", "8"], ["did you mean --local-crops?"]],
    [["--epochs"], ["--epochs needs a value"]],
    [["--resume=yes"], ["--resume takes no value"]],
    [["run.json"], ["unexpected argument 'run.json'"]],
    [["--data", ""], ["--data", "'data'", "empty"]],
    [["--config", "/nonexistent/run.json"], ["/nonexistent/run.json", "cannot read"]],
  ];
  for (const [argv, parts] of cases) {
    const e = await assertRejects(() => parseTrainArgs(argv), parts[0]);
    assert(e instanceof ConfigError, `${argv.join(" ")}: a ConfigError`);
    for (const p of parts) {
      assert(e.message.includes(p), `${argv.join(" ")}: '${e.message}' lacks '${p}'`);
    }
  }
});

Deno.test("config: bad config files name the file and the field", async () => {
  const cases: [unknown, string[]][] = [
    [{ epochs: -1 }, ["'epochs'", ">= 1"]],
    [{ preset: "byol" }, ["'preset'", "mugs, dino, moco, swav"]],
    [{ epoch: 3 }, ["unknown field 'epoch'", "did you mean 'epochs'", "known: preset"]],
    [{ heads: { protos: 10 } }, ["unknown field 'heads.protos'", "known: hidden"]],
    [{ weights: { instance: "1" } }, ["'weights.instance'", "number"]],
    [{ weights: [1, 1, 1] }, ["'weights'", "object"]],
    [{ resume: "yes" }, ["'resume'", "boolean"]],
    [[1, 2], ["JSON object"]],
    ["{ epochs: 3 }", ["not valid JSON"]],
  ];
  for (const [values, parts] of cases) {
    await withFile(values, async (path) => {
      const e = await assertRejects(() => parseTrainArgs(["--config", path]), path);
      assert(e instanceof ConfigError && e.source === path, `${path}: source`);
      for (const p of parts) assert(e.message.includes(p), `'${e.message}' lacks '${p}'`);
    });
  }
  // a file's value that only the merged config rejects is blamed on the file
  await withFile({ warmupEpochs: 4 }, async (path) => {
    await assertRejects(() => parseTrainArgs(["--config", path]), `${path}: 'warmupEpochs'`);
  });
  // without a CLI: resolveConfig names its source
  const e = assertThrows(() => resolveConfig({ localCrops: -1 }, "my.json"), "my.json");
  assert(e instanceof ConfigError && e.field === "localCrops", "field of the error");
});

Deno.test("config: --help lists every option with its default", async () => {
  const a = await parseTrainArgs(["--help"]);
  assert(a.help, "--help gives help");
  assertEquals((await parseTrainArgs(["-h"])).help, true, "-h");
  // help wins even next to a bad value: nothing is validated
  assertEquals((await parseTrainArgs(["--epochs", "0", "--help"])).help, true, "help first");
  const text = a.text;
  const fields = Object.keys(TrainConfigObject.shape);
  const withField = TRAIN_OPTIONS.filter((o) => o.field !== null);
  assertEquals(withField.map((o) => o.field), fields, "one flag per schema field");
  for (const flag of ["--data", "--epochs", "--batch-size", "--preset", "--config", "--out"]) {
    assert(TRAIN_OPTIONS.some((o) => o.flag === flag), `${flag} exists`);
  }
  for (const flag of ["--resume", "--seed", "--lr", "--vit", "--local-crops", "--weights"]) {
    assert(TRAIN_OPTIONS.some((o) => o.flag === flag), `${flag} exists`);
  }
  // a break after a comma in a key=value list prints no space there
  const unwrapped = text.replace(/,\n +/g, ",").replace(/\n +/g, " ");
  for (const o of TRAIN_OPTIONS) {
    assert(new RegExp(`^  ${o.flag}\\b`, "m").test(text), `help lists ${o.flag}`);
    if (o.field === null) continue;
    const v = TRAIN_DEFAULTS[o.field];
    const shown = typeof v === "object"
      ? Object.entries(v).map(([k, x]) => `${k}=${x}`).join(",")
      : String(v);
    assert(unwrapped.includes(`[default: ${shown}`), `help shows ${o.flag}'s default ${shown}`);
  }
  for (const p of TRAIN_PRESETS) assert(new RegExp(`^  ${p} `, "m").test(text), `preset ${p}`);
  for (const line of text.split("\n")) assert(line.length <= 160, `long help line: ${line}`);
});
