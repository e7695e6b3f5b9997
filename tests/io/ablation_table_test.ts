/**
 * ablation.json read back: the shipped tables validate and plot their own numbers; a table
 * with a wrong field, an unknown field or no file is refused naming the file and the field.
 */
import { assert, assertEquals, assertRejects } from "../helpers.ts";
import { readAblationTable } from "../../lib/io/ablation_table.ts";
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
