import { assert, assertEquals, assertRejects, assertThrows } from "../helpers.ts";
import {
  formatRecord,
  METRICS_FILE,
  MetricsLog,
  parseRecord,
  readMetrics,
} from "../../lib/io/metrics_log.ts";

async function tmp(): Promise<string> {
  return await Deno.makeTempDir({ prefix: "metrics_log_test_" });
}

Deno.test("metrics log: step and epoch records round-trip, kind and time first", async () => {
  const dir = await tmp();
  try {
    let ms = 1_700_000_000_000;
    const log = await MetricsLog.open(`${dir}/run`, { now: () => (ms += 500) });
    assertEquals(log.path, `${dir}/run/${METRICS_FILE}`, "path");
    await log.step({ step: 0, epoch: 0, loss: 3.25, lr: 5e-4, wd: 0.04, momentum: 0.996 });
    // Not awaited: writes stay in call order.
    const pending = [
      log.step({ step: 1, epoch: 0, loss: 3.0, teacher_temp: 0.04 }),
      log.epoch({ epoch: 0, knn_top1: 0.41, health: { rank: 12.5 }, per_class: [0.5, 0.25] }),
      log.log("event", { message: "checkpoint written", skipped: undefined }),
    ];
    await Promise.all(pending);
    await log.close();
    await log.close(); // idempotent

    const text = await Deno.readTextFile(log.path);
    const lines = text.split("\n");
    assertEquals(lines.length, 5, "4 lines and a final newline");
    assertEquals(lines[4], "", "ends with a newline");
    assert(lines[0].startsWith('{"kind":"step","time":1700000000.5,"step":0,'), lines[0]);
    assert(!lines[3].includes("skipped"), "undefined fields are left out");

    const all = await readMetrics(log.path);
    assertEquals(all.map((r) => r.kind), ["step", "step", "epoch", "event"], "kinds");
    assertEquals(all[0], {
      kind: "step",
      time: 1700000000.5,
      step: 0,
      epoch: 0,
      loss: 3.25,
      lr: 5e-4,
      wd: 0.04,
      momentum: 0.996,
    }, "first step");
    assertEquals(all[2].health, { rank: 12.5 }, "nested object");
    assertEquals(all[2].per_class, [0.5, 0.25], "array");
    const epochs = await readMetrics(`${dir}/run`, { kind: "epoch" }); // the folder works too
    assertEquals(epochs.length, 1, "kind filter");
    assertEquals(epochs[0].knn_top1, 0.41, "knn_top1");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("metrics log: NaN and infinities are written as strings and read back as numbers", async () => {
  const dir = await tmp();
  try {
    const log = await MetricsLog.open(dir, { durable: true });
    await log.step({ step: 7, loss: NaN, grad_norm: Infinity, lo: -Infinity, v: [1, NaN] });
    await log.close();
    const line = (await Deno.readTextFile(log.path)).trim();
    assert(line.includes('"loss":"NaN"'), line);
    assert(line.includes('"grad_norm":"Infinity"'), line);
    assert(line.includes('"lo":"-Infinity"'), line);
    assert(line.includes('"v":[1,"NaN"]'), line);
    JSON.parse(line); // plain JSON
    const [r] = await readMetrics(log.path);
    assert(Number.isNaN(r.loss), "loss NaN");
    assertEquals(r.grad_norm, Infinity, "Infinity");
    assertEquals(r.lo, -Infinity, "-Infinity");
    assert(Array.isArray(r.v) && r.v[0] === 1 && Number.isNaN(r.v[1]), "NaN in an array");
    assertEquals(
      formatRecord("step", 1.5, { step: 1, loss: NaN }),
      '{"kind":"step","time":1.5,"step":1,"loss":"NaN"}\n',
      "formatRecord",
    );
    assert(Number.isNaN(parseRecord('{"kind":"step","time":1,"step":0,"loss":"NaN"}').loss), "");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("metrics log: a corrupt line is named by its line number", async () => {
  const dir = await tmp();
  try {
    const path = `${dir}/${METRICS_FILE}`;
    const good = '{"kind":"step","time":1,"step":0,"loss":1}';
    const cases: [string, string][] = [
      [`${good}\n{"kind":"step","time":2,"step":1,"loss":\n${good}\n`, ":2: not valid JSON"],
      [`${good}\n\n${good}\n[1, 2]\n`, ":4: not a JSON object"],
      [`{"time":1,"step":0}\n`, ':1: "kind" must be a non-empty string'],
      [`${good}\n{"kind":"step","time":"x","step":1}\n`, ':2: "time" must be a finite number'],
      [`{"kind":"step","time":1,"step":-1}\n`, ':1: a step record needs "step"'],
      [`{"kind":"epoch","time":1,"step":3}\n`, ':1: a epoch record needs "epoch"'],
      [`${good}\n{"kind":"st`, ":2: not valid JSON"],
    ];
    for (const [text, want] of cases) {
      await Deno.writeTextFile(path, text);
      const e = await assertRejects(() => readMetrics(path), want);
      assert(e.message.startsWith(path), `names the file: ${e.message}`);
    }
    assert(
      (await assertRejects(() => readMetrics(path), "torn last line")).message.includes(":2:"),
      "a torn last line is called that",
    );
    // Blank lines and CRLF are fine.
    await Deno.writeTextFile(path, `${good}\r\n\n${good}\n`);
    assertEquals((await readMetrics(path)).length, 2, "blank lines skipped");
    await assertRejects(() => readMetrics(`${dir}/missing.jsonl`), "does not exist");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("metrics log: appending after a crash drops the torn line; append: false starts over", async () => {
  const dir = await tmp();
  try {
    const path = `${dir}/${METRICS_FILE}`;
    const good = '{"kind":"step","time":1,"step":0,"loss":1}\n';
    await Deno.writeTextFile(path, good + '{"kind":"step","time":2,"st');
    const log = await MetricsLog.open(dir);
    await log.step({ step: 1, loss: 0.5 });
    await log.close();
    const rs = await readMetrics(path);
    assertEquals(rs.map((r) => r.step), [0, 1], "torn line dropped, new line appended");

    // A file that is one torn line with no newline at all is emptied.
    await Deno.writeTextFile(path, '{"kind":"ste');
    const log2 = await MetricsLog.open(dir);
    await log2.epoch({ epoch: 0, knn_top1: 0.1 });
    await log2.close();
    assertEquals((await readMetrics(path)).length, 1, "only the new line");

    const log3 = await MetricsLog.open(dir, { append: false });
    await log3.step({ step: 0, loss: 2 });
    await log3.close();
    const r3 = await readMetrics(path);
    assertEquals(r3.length, 1, "truncated");
    assertEquals(r3[0].kind, "step", "fresh log");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("metrics log: bad records are rejected before anything is written", async () => {
  const dir = await tmp();
  try {
    const log = await MetricsLog.open(dir);
    const bad = (r: unknown) => r as { step: number };
    assertThrows(() => log.step(bad({ loss: 1 })), "record.step must be an integer >= 0");
    assertThrows(() => log.step(bad({ step: 1.5 })), "record.step must be an integer >= 0");
    assertThrows(() => log.epoch({ epoch: -1 }), "record.epoch must be an integer >= 0");
    assertThrows(() => log.step(bad({ step: 1, kind: "x" })), '"kind" is set by the log');
    assertThrows(() => log.step(bad({ step: 1, time: 3 })), '"time" is set by the log');
    assertThrows(() => log.step(bad({ step: 1, big: 1n })), "step.big is a bigint");
    assertThrows(() => log.step(bad({ step: 1, t: new Map() })), "step.t is a Map");
    const loop: Record<string, unknown> = { step: 1 };
    loop.self = loop;
    assertThrows(() => log.step(bad(loop)), "refers to itself");
    assertThrows(() => log.log("two words", {}), "kind must be a name");
    await log.close();
    assertEquals(await Deno.readTextFile(log.path), "", "nothing written");
    assertThrows(() => log.step({ step: 1 }), "is closed");
    await assertRejects(() => MetricsLog.open(""), "outDir must be a non-empty string");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("metrics log: record() writes a record under the kind it names", async () => {
  const dir = await tmp();
  try {
    const log = await MetricsLog.open(dir, { now: () => 0 });
    await log.record({ kind: "step", step: 3, epoch: 0, loss: 1.5 });
    await log.record({ kind: "epoch", epoch: 0, step: 3, knn_top1: 50 });
    await log.record({ kind: "baseline", knn_top1: 49 });
    await assertRejects(() => log.record({ kind: "step", loss: 1 }), "record.step");
    await log.close();
    const recs = await readMetrics(dir);
    assertEquals(recs.map((r) => [r.kind, r.step ?? null, r.knn_top1 ?? null]), [
      ["step", 3, null],
      ["epoch", 3, 50],
      ["baseline", null, 49],
    ]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
