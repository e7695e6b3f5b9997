import { assert, assertEquals, assertThrows } from "../helpers.ts";
import { MetricsLog, type MetricsRecord, readMetrics } from "../../lib/io/metrics_log.ts";
import { healthCurves, lossCurves, scheduleCurves } from "../../lib/viz/curves.ts";
import { type Figure, figureJson, type Trace } from "../../lib/viz/figure.ts";

/** A log as lib/cli/train.ts writes it from the trainer's records, with a resumed run. */
async function writeRun(dir: string): Promise<MetricsRecord[]> {
  let t = 0;
  const log = await MetricsLog.open(dir, { append: false, now: () => 1000 * t++ });
  const step = (s: number, loss: number, instance: number | null) =>
    log.step({
      epoch: Math.floor((s - 1) / 2),
      step: s,
      loss,
      total: loss,
      instance,
      local_group: null, // a run without the local-group branch
      group: loss / 2,
      lr: 1e-4 * s,
      wd: 0.04 + 0.01 * s,
      momentum: 0.996,
      teacher_temp: 0.04,
    });
  await step(1, 3.0, 1.0);
  await step(2, 2.5, 0.9);
  await log.epoch({
    epoch: 0,
    step: 2,
    knn_top1: 40,
    knn_train_images: 100,
    teacherEntropy: 3.1,
    teacherEntropyMax: 4.1,
    teacherKLFromUniform: 1.0,
    batchMeanEntropy: 3.9,
    featureStd: 0.1,
    featureStdIsotropic: 0.125,
    effectiveRank: 20,
    effectiveRankMax: 63,
    neighbour_purity_teacher: 0.3,
    neighbour_purity_student: 0.25,
    neighbour_purity_chance: 0.1,
  });
  await step(3, NaN, 0.8); // a NaN is logged as "NaN" and drawn as a gap
  await step(4, 2.0, 0.7);
  // resumed from the epoch-0 checkpoint: steps 3 and 4 are logged again
  await step(3, 2.2, 0.75);
  await step(4, 1.9, 0.65);
  await log.epoch({
    epoch: 1,
    step: 4,
    knn_top1: 55,
    featureStd: 0.11,
    effectiveRank: 25,
    neighbour_purity_teacher: 0.5,
    neighbour_purity_student: 0.45,
    neighbour_purity_chance: 0.1,
  });
  await log.close();
  return await readMetrics(dir);
}

function trace(fig: Figure, name: string): Trace {
  const t = fig.data.find((d) => d.name === name);
  if (!t) throw new Error(`no trace "${name}" in ${fig.data.map((d) => d.name)}`);
  return t;
}

Deno.test("curves: loss, schedule and health figures from a real metrics.jsonl", async () => {
  const dir = await Deno.makeTempDir({ prefix: "viz-curves-" });
  try {
    const records = await writeRun(dir);
    assertEquals(records.length, 8, "records read back");

    const loss = lossCurves(records);
    assertEquals(loss.data.map((d) => d.name), ["total", "instance", "group"], "loss traces");
    const total = trace(loss, "total");
    assertEquals(total.x, [1, 2, 3, 4], "steps, sorted, one per step");
    assertEquals(total.type, "scatter", "trace type");
    const json = JSON.parse(figureJson(loss));
    // the resumed run's values win; NaN would be null, but step 3 was re-logged as 2.2
    assertEquals(json.data[0].y, [3, 2.5, 2.2, 1.9], "total loss");
    assertEquals(json.data[1].y, [1, 0.9, 0.75, 0.65], "instance loss");
    assertEquals(json.layout.xaxis.title.text, "step", "x title");

    // without the resumed lines, the NaN step is a gap
    const early = records.slice(0, 5);
    assertEquals(JSON.parse(figureJson(lossCurves(early))).data[0].y, [3, 2.5, null, 2], "gap");
    const picked = lossCurves(records, { keys: ["group"], title: "group only" });
    assertEquals(picked.data.map((d) => d.name), ["group"], "keys option");
    assertEquals((picked.layout.title as { text: string }).text, "group only", "title option");

    const sched = scheduleCurves(records);
    assertEquals(
      sched.data.map((d) => [d.name, d.xaxis, d.yaxis]),
      [
        ["learning rate", "x", "y"],
        ["weight decay", "x2", "y2"],
        ["teacher momentum", "x3", "y3"],
        ["teacher temperature", "x4", "y4"],
      ],
      "one panel per schedule",
    );
    assertEquals(trace(sched, "learning rate").y, [1, 2, 3, 4].map((s) => 1e-4 * s), "lr values");
    for (const k of ["xaxis2", "xaxis3", "xaxis4"]) {
      assertEquals((sched.layout[k] as { matches: string }).matches, "x", `${k} shares x`);
    }
    // panels stack top to bottom without overlapping
    const doms = ["yaxis", "yaxis2", "yaxis3", "yaxis4"].map((k) =>
      (sched.layout[k] as { domain: [number, number] }).domain
    );
    for (let i = 1; i < 4; i++) assert(doms[i][1] < doms[i - 1][0], `panel ${i} overlaps`);

    const health = healthCurves(records);
    assertEquals(
      health.data.map((d) => [d.name, d.yaxis]),
      [
        ["k-NN top-1", "y"],
        ["per-row entropy", "y2"],
        ["entropy of the batch mean", "y2"],
        ["KL from uniform", "y2"],
        ["log m (uniform)", "y2"],
        ["feature std", "y3"],
        ["1/sqrt(D) (isotropic)", "y3"],
        ["effective rank", "y4"],
        ["max possible", "y4"],
        ["teacher memory", "y5"],
        ["student memory", "y5"],
        ["chance (sum of squared class shares)", "y5"],
      ],
      "health panels",
    );
    assertEquals(trace(health, "teacher memory").y, [0.3, 0.5], "purity of the teacher memory");
    assertEquals(trace(health, "student memory").y, [0.25, 0.45], "and of the student's");
    assertEquals(trace(health, "k-NN top-1").x, [0, 1], "epochs");
    assertEquals(trace(health, "k-NN top-1").y, [40, 55], "k-NN values");
    assertEquals(trace(health, "per-row entropy").y, [3.1, null], "missing value is a gap");
    assertEquals(trace(health, "log m (uniform)").line, { dash: "dash" }, "reference dashed");
    const only = healthCurves(records, { keys: ["featureStd"] });
    assertEquals(only.data.map((d) => d.y), [[0.1, 0.11]], "keys option");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("curves: missing records or fields are clear errors", () => {
  const step: MetricsRecord = { kind: "step", time: 0, step: 0, lr: 0.1 };
  const epoch: MetricsRecord = { kind: "epoch", time: 0, epoch: 0, knn_train_images: 10 };
  assertThrows(() => lossCurves([epoch]), 'no "step" records');
  assertThrows(() => lossCurves([step]), "hold no loss values");
  assertThrows(() => healthCurves([step]), 'no "epoch" records');
  assertThrows(() => healthCurves([epoch]), "no k-NN or health values");
  assertThrows(() => scheduleCurves([{ ...step, lr: undefined }]), "hold none of lr");
  assertThrows(() => lossCurves("x" as never), "records must be an array");
  assertThrows(() => lossCurves([step], { keys: "lr" as never }), "keys must be an array");
  // a panel with only nulls is left out rather than drawn empty
  const s2: MetricsRecord = { kind: "step", time: 0, step: 1, loss: 1, instance: null };
  assertEquals(lossCurves([s2]).data.map((d) => d.name), ["total"], "all-null field dropped");
});
