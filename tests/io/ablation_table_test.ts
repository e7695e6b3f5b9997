/**
 * ablation.json read back: the shipped tables validate and plot their own numbers; a table
 * with a wrong field, an unknown field or no file is refused naming the file and the field;
 * several seeds summarise to means, sample sds and standard errors of differences.
 */
import { assert, assertClose, assertEquals, assertRejects } from "../helpers.ts";
import {
  meanDifference,
  readAblationTable,
  seedStat,
  summariseAblation,
} from "../../lib/io/ablation_table.ts";
import { ablationTableFigures } from "../../lib/viz/mod.ts";

Deno.test("ablation table: the shipped tables validate, and their figures carry their rows", async () => {
  for (const path of ["docs/ablation.json", "docs/ablation_long.json"]) {
    const t = await readAblationTable(path);
    const raw = JSON.parse(await Deno.readTextFile(path));
    assertEquals(
      t.rows.map((r) => r.knn_top1),
      raw.rows.map((r: { knn_top1: number }) => r.knn_top1),
      `${path} k-NN`,
    );
    assert(t.rows.some((r) => r.name === "mugs"), `${path}: a mugs row`);
    const [acc, purity] = ablationTableFigures(t, { chance: 0.1 });
    const trace = (f: typeof acc, name: string) => f.data.find((d) => d.name === name)!;
    assertEquals(trace(acc, "weighted k-NN top-1").y, t.rows.map((r) => r.knn_top1), "k-NN bars");
    assertEquals(
      trace(acc, "linear probe top-1").y,
      t.rows.map((r) => r.linear_top1),
      "linear bars",
    );
    const untrained = t.rows.find((r) => r.name === "mugs")!.knn_top1_untrained;
    assertEquals(trace(acc, "k-NN, untrained").y, t.rows.map(() => untrained), "untrained line");
    assertEquals(
      trace(purity, "encoded memory (held-out queries)").y,
      t.rows.map((r) => r.neighbour_purity_encoded),
      "encoded purity bars",
    );
    assert(JSON.stringify(acc.layout).includes(t.budget), "the budget in the title");
  }
});

Deno.test("ablation table: a wrong or unknown field, or no file, is refused by name", async () => {
  const dir = await Deno.makeTempDir({ prefix: "mugs-ablation-table-" });
  try {
    const good = JSON.parse(await Deno.readTextFile("docs/ablation_long.json"));
    const path = `${dir}/ablation.json`;
    const write = (v: unknown) => Deno.writeTextFile(path, JSON.stringify(v));
    await write({ ...good, rows: [{ ...good.rows[0], linear_top1: 177 }] });
    await assertRejects(
      () => readAblationTable(path),
      `${path}: not an ablation table: field 'rows[0].linear_top1'`,
    );
    await write({ ...good, rows: [{ ...good.rows[0], knn: 1 }] });
    await assertRejects(() => readAblationTable(path), "field 'rows[0].knn': unknown field");
    await write({ ...good, command: undefined });
    await assertRejects(() => readAblationTable(path), "field 'command'");
    await Deno.writeTextFile(path, "[1,");
    await assertRejects(() => readAblationTable(path), `${path}: not JSON`);
    const e = await assertRejects(
      () => readAblationTable(`${dir}/none.json`),
      `${dir}/none.json: no such ablation table`,
    );
    assert(e instanceof Deno.errors.NotFound, "NotFound, so a caller can start a new table");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

const f64 = { atol: 0, rtol: 1e-14 };

Deno.test("ablation table: runs over several seeds give means, sample sds and standard errors", async () => {
  const base = (await readAblationTable("docs/ablation_long.json")).rows[0];
  const row = (name: string, seed: number, knn: number, linear: number) => ({
    ...base,
    name,
    seed,
    knn_top1: knn,
    linear_top1: linear,
    neighbour_purity_teacher: name === "simclr" ? null : 0.5,
  });
  const rows = [
    row("mugs", 0, 70, 75),
    row("mugs", 1, 72, 77),
    row("mugs", 2, 74, 76),
    row("simclr", 0, 71, 70),
    row("simclr", 1, 75, 72),
  ];
  const [mugs, simclr] = summariseAblation(rows);
  assertEquals([mugs.name, mugs.seeds, simclr.seeds], ["mugs", [0, 1, 2], [0, 1]]);
  // mean 72, sd sqrt(((−2)² + 0 + 2²) / 2) = 2
  assertEquals([mugs.knn.mean, mugs.knn.sd, mugs.knn.n], [72, 2, 3]);
  assertEquals([mugs.linear.mean, mugs.linear.sd], [76, 1]);
  assertClose([simclr.knn.mean, simclr.knn.sd!], [73, Math.sqrt(8)], f64, "simclr k-NN");
  assertEquals(simclr.purityTeacher, null, "no memory: no purity");
  const d = meanDifference(simclr.knn, mugs.knn);
  assertEquals(d.delta, 1);
  assertClose([d.se!], [Math.sqrt(8 / 2 + 4 / 3)], f64, "sqrt(sd_a²/n_a + sd_b²/n_b)");
  assertEquals(meanDifference(seedStat([3])!, mugs.knn), { delta: -69, se: null }, "one seed");
  assertEquals(seedStat([null, null]), null);
  const [acc] = ablationTableFigures({ command: "c", budget: "b", base: "x", rows });
  const knn = acc.data.find((t) => t.name === "weighted k-NN top-1")!;
  assertEquals(knn.y, [72, 73], "bars at the means");
  assertClose((knn.error_y as { array: number[] }).array, [2, Math.sqrt(8)], f64, "sd error bars");
  assert(JSON.stringify(acc.layout).includes("over up to 3 seeds"), "the title says so");
});
