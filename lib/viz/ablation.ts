/**
 * The ablation table as figures (scripts/ablation.ts): accuracy per run (weighted k-NN and the
 * linear probe, grouped bars with the untrained network's k-NN dashed when given), and
 * neighbour purity per run (the training memories' and the encoded memory's).
 */
import { type AblationTable, summariseAblation } from "../io/ablation_table.ts";
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
  /** Standard deviations over seeds (the values above are then means), drawn as error bars. */
  sd?: Partial<Record<Measure, number | null>>;
}

type Measure = "knn" | "linear" | "purityTeacher" | "purityStudent" | "purityEncoded";

function bars(rows: AblationRow[], series: [Measure, string][]): Trace[] {
  return series.map(([key, name]) => {
    const sd = rows.map((r) => r.sd?.[key] ?? null);
    return {
      type: "bar",
      name,
      x: rows.map((r) => r.name),
      y: rows.map((r) => r[key]),
      hovertemplate: `%{x}: %{y:.3f}<extra>${name}</extra>`,
      ...(sd.some((v) => v !== null)
        ? { error_y: { type: "data", array: sd.map((v) => v ?? 0), visible: true } }
        : {}),
    };
  });
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
 * The figures of a whole `ablation.json` table (lib/io/ablation_table.ts): its runs (means
 * with sd error bars when they have several seeds), the untrained network's k-NN (from
 * `mugs`, else the first run), its budget in the title;
 * `chance`: the chance purity of the training labels (`purityChance`).
 *
 * @example
 * ```ts
 * const table = await readAblationTable("docs/ablation_long.json");
 * for (const fig of ablationTableFigures(table)) await display(fig); // display takes one figure
 * ```
 */
export function ablationTableFigures(
  table: AblationTable,
  opts: { chance?: number } = {},
): Figure[] {
  if (table.rows.length === 0) throw new Error("ablationTableFigures: the table has no rows");
  const runs = summariseAblation(table.rows);
  const rows: AblationRow[] = runs.map((r) => ({
    name: r.name,
    knn: r.knn.mean,
    linear: r.linear.mean,
    purityTeacher: r.purityTeacher?.mean ?? null,
    purityStudent: r.purityStudent?.mean ?? null,
    purityEncoded: r.purityEncoded.mean,
    sd: {
      knn: r.knn.sd,
      linear: r.linear.sd,
      purityTeacher: r.purityTeacher?.sd ?? null,
      purityStudent: r.purityStudent?.sd ?? null,
      purityEncoded: r.purityEncoded.sd,
    },
  }));
  const seeds = Math.max(...runs.map((r) => r.knn.n));
  return ablationFigures(rows, {
    untrainedKnn: (runs.find((r) => r.name === "mugs") ?? runs[0]).knnUntrained.mean,
    chance: opts.chance,
    title: `ablation: accuracy (${table.budget}${
      seeds > 1 ? `; mean and sd over up to ${seeds} seeds` : ""
    })`,
  });
}
