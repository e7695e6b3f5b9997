/**
 * The ablation table as figures (scripts/ablation.ts): accuracy per run (weighted k-NN and the
 * linear probe, grouped bars with the untrained network's k-NN dashed when given), and
 * neighbour purity per run (the training memories' and the encoded memory's).
 */
import type { AblationTable } from "../io/ablation_table.ts";
import { type Figure, figure, type Trace } from "./figure.ts";

/**
 * One row of the ablation table (null: not measured for that run).
 *
 * @example
 * ```ts
 * const row: AblationRow = { name: "no-group", knn: 61.2, linear: 70.4, purityTeacher: 0.41, purityStudent: 0.4, purityEncoded: 0.38 };
 * ```
 */
export interface AblationRow {
  name: string;
  knn: number | null;
  linear: number | null;
  purityTeacher: number | null;
  purityStudent: number | null;
  purityEncoded: number | null;
}

function bars(rows: AblationRow[], series: [keyof AblationRow, string][]): Trace[] {
  return series.map(([key, name]) => ({
    type: "bar",
    name,
    x: rows.map((r) => r.name),
    y: rows.map((r) => r[key] as number | null),
    hovertemplate: `%{x}: %{y:.3f}<extra>${name}</extra>`,
  }));
}

/**
 * Two figures: top-1 accuracy per run (k-NN, linear probe) and neighbour purity per run.
 *
 * @example
 * ```ts
 * await writeHtml(ablationFigures(rows, { untrainedKnn: 49.0 }), "runs/ablation/ablation.html");
 * ```
 */
export function ablationFigures(
  rows: AblationRow[],
  opts: { untrainedKnn?: number; chance?: number; title?: string } = {},
): Figure[] {
  if (!Array.isArray(rows) || rows.length === 0) {
    throw new Error("ablationFigures: give at least one row");
  }
  const line = (y: number, name: string): Trace => ({
    type: "scatter",
    mode: "lines",
    name,
    x: rows.map((r) => r.name),
    y: rows.map(() => y),
    line: { dash: "dash", color: "#555" },
  });
  const acc = bars(rows, [["knn", "weighted k-NN top-1"], ["linear", "linear probe top-1"]]);
  if (opts.untrainedKnn !== undefined) acc.push(line(opts.untrainedKnn, "k-NN, untrained"));
  const purity = bars(rows, [
    ["purityTeacher", "teacher memory (training, last epoch)"],
    ["purityStudent", "student memory (training, last epoch)"],
    ["purityEncoded", "encoded memory (held-out queries)"],
  ]);
  if (opts.chance !== undefined) purity.push(line(opts.chance, "chance"));
  return [
    figure(acc, {
      title: { text: opts.title ?? "ablation: accuracy" },
      barmode: "group",
      yaxis: { title: { text: "top-1 (%)" } },
      legend: { orientation: "h" },
    }),
    figure(purity, {
      title: { text: "ablation: neighbour purity" },
      barmode: "group",
      yaxis: { title: { text: "share of neighbours with the query's label" }, range: [0, 1] },
      legend: { orientation: "h" },
    }),
  ];
}

/**
 * The figures of a whole `ablation.json` table (lib/io/ablation_table.ts): its rows, the
 * untrained network's k-NN (from the `mugs` row, else the first), its budget in the title;
 * `chance`: the chance purity of the training labels (`purityChance`).
 *
 * @example
 * ```ts
 * await display(ablationTableFigures(await readAblationTable("docs/ablation_long.json")));
 * ```
 */
export function ablationTableFigures(
  table: AblationTable,
  opts: { chance?: number } = {},
): Figure[] {
  if (table.rows.length === 0) throw new Error("ablationTableFigures: the table has no rows");
  const rows: AblationRow[] = table.rows.map((r) => ({
    name: r.name,
    knn: r.knn_top1,
    linear: r.linear_top1,
    purityTeacher: r.neighbour_purity_teacher,
    purityStudent: r.neighbour_purity_student,
    purityEncoded: r.neighbour_purity_encoded,
  }));
  const untrainedKnn = (table.rows.find((r) => r.name === "mugs") ?? table.rows[0])
    .knn_top1_untrained;
  return ablationFigures(rows, {
    untrainedKnn,
    chance: opts.chance,
    title: `ablation: accuracy (${table.budget})`,
  });
}
