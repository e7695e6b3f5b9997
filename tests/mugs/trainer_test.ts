import { assert, assertEquals, gpuTest, setup } from "../helpers.ts";
import { type TrainerConfig, trainMugs } from "../../lib/mugs/trainer.ts";
import { TINY_HEADS, tinyCrops, tinyVit } from "./fixtures.ts";
import { embedded } from "../../lib/data/embedded.ts";
import { subset } from "../../lib/data/dataset.ts";

await setup();

Deno.test({
  name: "mugs trainer: an epoch on a small subset logs, evaluates, checkpoints, and resumes",
  ...gpuTest,
  fn: async () => {
    const train = await embedded("train");
    const test = await embedded("test");
    const tr = subset(train, Array.from({ length: 48 }, (_, i) => i * 97));
    const te = subset(test, Array.from({ length: 24 }, (_, i) => i * 37));
    const out = await Deno.makeTempDir({ prefix: "mugs-train-" });
    const cfg: TrainerConfig = {
      epochs: 1,
      batchSize: 16,
      seed: 0,
      lr: 5e-4,
      minLr: 1e-6,
      warmupEpochs: 0,
      weightDecay: 0.04,
      weightDecayEnd: 0.2,
      momentumTeacher: 0.996,
      teacherTemp: 0.04,
      warmupTeacherTemp: 0.04,
      warmupTeacherTempEpochs: 0,
      patchEmbedLrScale: 0.2,
      vit: tinyVit(1, 0.1),
      heads: { ...TINY_HEADS },
      crops: tinyCrops(),
      step: {
        weights: { instance: 1, localGroup: 1, group: 1 },
        queueSize: 32,
        memorySize: 32,
        temperature: 0.2,
        clip: 3,
        freezeLastLayer: 1,
      },
      out,
      resume: false,
      logEvery: 2,
      mean: [0.286],
      std: [0.353],
    };
    const lines: string[] = [];
    const records: Record<string, unknown>[] = [];
    const r = await trainMugs(cfg, tr, te, (l) => lines.push(l), (x) => records.push(x));
    assertEquals(r.steps, 3);
    for (
      const k of [
        "knn_top1",
        "knn_top1_raw_pixels",
        "knn_top1_untrained",
        "images_per_s",
        "seconds",
      ] as const
    ) {
      assert(Number.isFinite(r[k]), `${k} = ${r[k]}`);
    }
    assert(records.some((x) => x.kind === "step" && typeof x.lr === "number"), "step records");
    assert(
      records.some((x) =>
        x.kind === "epoch" && typeof x.teacherEntropy === "number" &&
        typeof x.effectiveRank === "number"
      ),
      "epoch record with health signals",
    );
    assert((await Deno.stat(`${out}/checkpoint/checkpoint.json`)).isFile, "checkpoint written");
    // resume: a second epoch continues from the checkpoint
    const r2 = await trainMugs({ ...cfg, epochs: 2, resume: true }, tr, te, (l) => lines.push(l));
    assertEquals(r2.steps, 6);
    assert(lines.some((l) => l.startsWith("resumed from")), "resume logged");
    await Deno.remove(out, { recursive: true });
  },
});
