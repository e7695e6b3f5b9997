import { assert, assertEquals, assertRejects, gpuTest, setup } from "../helpers.ts";
import { loadCheckpoint } from "../../lib/io/checkpoint.ts";
import { type TrainerConfig, trainMugs } from "../../lib/mugs/trainer.ts";
import { TINY_HEADS, tinyCrops, tinyVit } from "./fixtures.ts";
import { embedded } from "../../lib/data/embedded.ts";
import { type Dataset, subset } from "../../lib/data/dataset.ts";
import { purityChance } from "../../lib/memory/purity.ts";

await setup();

async function smallRun(out: string): Promise<{ cfg: TrainerConfig; tr: Dataset; te: Dataset }> {
  const train = await embedded("train");
  const test = await embedded("test");
  const tr = subset(train, Array.from({ length: 48 }, (_, i) => i * 97));
  const te = subset(test, Array.from({ length: 24 }, (_, i) => i * 37));
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
  return { cfg, tr, te };
}

Deno.test({
  name: "mugs trainer: an epoch on a small subset logs, evaluates, checkpoints, and resumes",
  ...gpuTest,
  fn: async () => {
    const out = await Deno.makeTempDir({ prefix: "mugs-train-" });
    const { cfg, tr, te } = await smallRun(out);
    const lines: string[] = [];
    const records: Record<string, unknown>[] = [];
    const r = await trainMugs(cfg, tr, te, (l) => lines.push(l), {
      onRecord: (x) => records.push(x),
    });
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
    // the untrained network is read out like every epoch: a baseline for each epoch's bank
    const bases = records.filter((x) => x.kind === "baseline" && typeof x.knn_top1 === "number");
    assert(bases.every((x) => typeof x.effectiveRank === "number"), "baselines with health");
    for (const e of records.filter((x) => x.kind === "epoch")) {
      assert(
        bases.some((x) => x.knn_train_images === e.knn_train_images),
        `a baseline on the epoch's bank of ${e.knn_train_images} images`,
      );
    }
    const full = bases.find((x) => x.knn_train_images === tr.n);
    assertEquals(full?.knn_top1, r.knn_top1_untrained);
    // the student is read out next to the teacher
    assert(
      records.some((x) =>
        x.kind === "epoch" && typeof x.knn_top1_student === "number" &&
        typeof x.student_effectiveRank === "number"
      ),
      "epoch record with the student's k-NN and effective rank",
    );
    // neighbour purity of both memories over the epoch's last batches, next to its chance level
    const ep = records.find((x) => x.kind === "epoch")!;
    for (const m of ["teacher", "student"]) {
      const v = ep[`neighbour_purity_${m}`] as number;
      assert(typeof v === "number" && v >= 0 && v <= 1, `neighbour_purity_${m} = ${v}`);
    }
    assertEquals(ep.neighbour_purity_chance, purityChance(tr.labels), "chance level");
    assert(lines.some((l) => l.includes("neighbour purity teacher")), "purity logged");
    assert((await Deno.stat(`${out}/checkpoint/checkpoint.json`)).isFile, "checkpoint written");
    // the checkpoint records what the memories' dataset indices refer to
    const ck = await loadCheckpoint(`${out}/checkpoint`);
    const config = ck.meta.config as { trainImages: number };
    assertEquals(config.trainImages, tr.n, "training images");
    const sources = ck.tensors.get("teacher_memory.sources")!.data;
    assert(sources.some((v) => v >= 0) && sources.every((v) => v < tr.n), "the images it holds");
    // resume: a second epoch continues from the checkpoint
    const r2 = await trainMugs({ ...cfg, epochs: 2, resume: true }, tr, te, (l) => lines.push(l));
    assertEquals(r2.steps, 6);
    assert(lines.some((l) => l.startsWith("resumed from")), "resume logged");
    await Deno.remove(out, { recursive: true });
  },
});

Deno.test({
  name: "mugs trainer: every epoch reads out on one fixed bank; the last also on all images",
  ...gpuTest,
  fn: async () => {
    const out = await Deno.makeTempDir({ prefix: "mugs-bank-" });
    const { cfg, tr, te } = await smallRun(out);
    const records: Record<string, unknown>[] = [];
    const r = await trainMugs(
      { ...cfg, epochs: 2, epochImages: 16, knnBank: 32 },
      tr,
      te,
      () => {},
      {
        onRecord: (x) => records.push(x),
      },
    );
    const epochs = records.filter((x) => x.kind === "epoch");
    assertEquals(epochs.map((x) => x.knn_train_images), [32, 32]);
    assertEquals(epochs.map((x) => typeof x.knn_top1_all_images), ["undefined", "number"]);
    assertEquals(r.knn_top1, epochs[1].knn_top1_all_images);
    const bases = records.filter((x) => x.kind === "baseline" && typeof x.knn_top1 === "number");
    assertEquals(bases.map((x) => x.knn_train_images).sort(), [32, tr.n].sort());
    await Deno.remove(out, { recursive: true });
  },
});

Deno.test({
  name: "mugs trainer: an interrupt saves mid-epoch and --resume ends bit-equal to a straight run",
  ...gpuTest,
  fn: async () => {
    const outA = await Deno.makeTempDir({ prefix: "mugs-straight-" });
    const outB = await Deno.makeTempDir({ prefix: "mugs-interrupted-" });
    const { cfg, tr, te } = await smallRun(outA);
    const straight = await trainMugs({ ...cfg, logEvery: 1 }, tr, te, () => {});
    assertEquals([straight.steps, straight.interrupted], [3, false]);
    // stop after step 1 of 3 (as Ctrl-C does through the CLI's AbortController)
    const stop = new AbortController();
    const lines: string[] = [];
    const cut = await trainMugs({ ...cfg, out: outB, logEvery: 1 }, tr, te, (l) => lines.push(l), {
      signal: stop.signal,
      onRecord: (r) => r.kind === "step" && r.step === 1 && stop.abort(),
    });
    assertEquals([cut.steps, cut.interrupted], [1, true]);
    assert(lines.some((l) => l.startsWith("interrupted at step 1")), lines.join("\n"));
    assertEquals((await loadCheckpoint(`${outB}/checkpoint`)).meta.step, 1);
    const resumed = await trainMugs(
      { ...cfg, out: outB, logEvery: 1, resume: true },
      tr,
      te,
      () => {},
    );
    assertEquals([resumed.steps, resumed.interrupted], [3, false]);
    const a = await loadCheckpoint(`${outA}/checkpoint`);
    const b = await loadCheckpoint(`${outB}/checkpoint`);
    assertEquals([...b.tensors.keys()].sort(), [...a.tensors.keys()].sort());
    for (const [name, t] of a.tensors) {
      assertEquals(b.tensors.get(name)!.data, t.data, `${name} differs after the resume`);
    }
    assertEquals(resumed.knn_top1, straight.knn_top1);
    for (const d of [outA, outB]) await Deno.remove(d, { recursive: true });
  },
});

Deno.test({
  name: "mugs trainer: a NaN loss stops the run naming the step and the last good checkpoint",
  ...gpuTest,
  fn: async () => {
    const out = await Deno.makeTempDir({ prefix: "mugs-nan-" });
    const { cfg, tr, te } = await smallRun(out);
    await trainMugs(cfg, tr, te, () => {}); // epoch 0 ends with a good checkpoint
    const before = (await loadCheckpoint(`${out}/checkpoint`)).meta.step;
    // an absurd learning rate in epoch 1 overflows the weights, so the loss becomes NaN
    await assertRejects(
      () => trainMugs({ ...cfg, epochs: 2, lr: 1e38, resume: true, logEvery: 1 }, tr, te, () => {}),
      `(epoch 1); last good checkpoint: ${out}/checkpoint`,
    );
    // the good checkpoint was not overwritten by the diverged state
    assertEquals((await loadCheckpoint(`${out}/checkpoint`)).meta.step, before);
    await Deno.remove(out, { recursive: true });
  },
});
