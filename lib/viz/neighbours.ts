/**
 * Figures of the local-group explorer (lib/mugs/local_groups.ts): the neighbours a memory
 * returns for each query as a grid of images (a row per query and snapshot, the query first,
 * each neighbour framed green when its image has the query's label, red when not, grey when its
 * image is unknown), the relation transformer's attention of the query over itself and its
 * neighbours as a heatmap, and neighbour purity per class as grouped bars.
 */
import { type Figure, figure, type Trace } from "./figure.ts";
import { checkImages, type ImageBatch, pngDataUrl } from "./images.ts";

/**
 * One row of `neighbourGrid`: a query image and its neighbours, by index into the figure's
 * image batch (-1: the neighbour's image is unknown).
 *
 * @example
 * ```ts
 * const row: NeighbourRow = {
 *   title: "#12 Ankle boot, epoch 2", query: 0,
 *   neighbours: [{ image: 1, similarity: 0.93, match: true, text: "train #345 Ankle boot" }],
 * };
 * ```
 */
export interface NeighbourRow {
  title: string;
  query: number;
  neighbours: {
    image: number;
    similarity: number;
    /** Same label as the query (null: unknown). */
    match: boolean | null;
    /** Hover text (the image's dataset index and class). */
    text: string;
  }[];
}

const FRAME = { true: "#2ca02c", false: "#d62728", null: "#999999" };

/**
 * Rows of images: the query, then its neighbours with their similarity above them.
 *
 * @example
 * ```ts
 * const fig = neighbourGrid(images, rows, { title: "teacher memory" });
 * await writeHtml(fig, "neighbours.html");
 * ```
 */
export function neighbourGrid(
  images: ImageBatch,
  rows: NeighbourRow[],
  opts: { title?: string; cellSize?: number } = {},
): Figure {
  const { n } = checkImages(images, "neighbourGrid: images");
  if (!Array.isArray(rows) || rows.length === 0) {
    throw new Error("neighbourGrid: give at least one row");
  }
  const k = Math.max(...rows.map((r) => r.neighbours.length));
  const check = (i: number, what: string, unknown: boolean) => {
    if (!Number.isInteger(i) || i < (unknown ? -1 : 0) || i >= n) {
      throw new Error(`neighbourGrid: ${what} is image ${i}, outside 0..${n - 1}`);
    }
  };
  const R = rows.length;
  const y = (r: number) => R - 1 - r; // row 0 on top
  const layoutImages: unknown[] = [];
  const shapes: unknown[] = [];
  const annotations: unknown[] = [];
  const hx: number[] = [], hy: number[] = [], htext: string[] = [];
  const urls = new Map<number, string>();
  const url = (i: number) => urls.get(i) ?? urls.set(i, pngDataUrl(images, i)).get(i)!;
  const place = (i: number, col: number, r: number) =>
    layoutImages.push({
      source: url(i),
      xref: "x",
      yref: "y",
      x: col - 0.42,
      y: y(r) + 0.42,
      sizex: 0.84,
      sizey: 0.84,
      xanchor: "left",
      yanchor: "top",
      sizing: "stretch",
      layer: "above",
    });
  const frame = (col: number, r: number, color: string, width: number) =>
    shapes.push({
      type: "rect",
      xref: "x",
      yref: "y",
      x0: col - 0.46,
      x1: col + 0.46,
      y0: y(r) - 0.46,
      y1: y(r) + 0.46,
      line: { color, width },
    });
  rows.forEach((row, r) => {
    check(row.query, `row ${r}'s query`, false);
    place(row.query, 0, r);
    frame(0, r, "#1f77b4", 3);
    hx.push(0), hy.push(y(r)), htext.push(row.title);
    row.neighbours.forEach((nb, j) => {
      check(nb.image, `row ${r}'s neighbour ${j + 1}`, true);
      if (nb.image >= 0) place(nb.image, j + 1, r);
      frame(j + 1, r, FRAME[String(nb.match) as "true" | "false" | "null"], 3);
      annotations.push({
        x: j + 1,
        y: y(r) + 0.5,
        xref: "x",
        yref: "y",
        text: nb.similarity.toFixed(2),
        showarrow: false,
        yanchor: "bottom",
        font: { size: 10 },
      });
      hx.push(j + 1),
        hy.push(y(r)),
        htext.push(`${nb.text}<br>similarity ${nb.similarity.toFixed(4)}`);
    });
  });
  const cell = opts.cellSize ?? 64;
  const hover: Trace = {
    type: "scatter",
    mode: "markers",
    x: hx,
    y: hy,
    text: htext,
    hovertemplate: "%{text}<extra></extra>",
    marker: { size: cell * 0.8, opacity: 0, symbol: "square" },
    showlegend: false,
  };
  return figure([hover], {
    title: { text: opts.title ?? "memory neighbours" },
    width: Math.max(400, 260 + (k + 1) * cell),
    height: 120 + R * cell * 1.15,
    margin: { l: 240, r: 20, t: 90, b: 20 },
    xaxis: {
      range: [-0.5, k + 0.5],
      side: "top",
      tickvals: Array.from({ length: k + 1 }, (_, j) => j),
      ticktext: ["query", ...Array.from({ length: k }, (_, j) => `${j + 1}`)],
      showgrid: false,
      zeroline: false,
    },
    yaxis: {
      range: [-0.55, R - 0.45],
      scaleanchor: "x", // square cells
      tickvals: rows.map((_, r) => y(r)),
      ticktext: rows.map((row) => row.title),
      showgrid: false,
      zeroline: false,
    },
    images: layoutImages,
    shapes,
    annotations,
    hovermode: "closest",
  });
}

/**
 * The relation transformer's attention of the query token, one row per query (and snapshot),
 * over [query, neighbour_1, …, neighbour_k] (e.g. the mean over heads of the last block).
 *
 * @example
 * ```ts
 * const fig = relationAttention([{ title: "#12, epoch 2", weights: [0.4, 0.2, 0.1, 0.3] }]);
 * ```
 */
export function relationAttention(
  rows: { title: string; weights: ArrayLike<number> }[],
  opts: { title?: string } = {},
): Figure {
  if (!Array.isArray(rows) || rows.length === 0) {
    throw new Error("relationAttention: give at least one row");
  }
  const T = rows[0].weights.length;
  rows.forEach((r, i) => {
    if (r.weights.length !== T) {
      throw new Error(`relationAttention: row ${i} has ${r.weights.length} weights, row 0 ${T}`);
    }
  });
  const x = ["query", ...Array.from({ length: T - 1 }, (_, j) => `neighbour ${j + 1}`)];
  const z = rows.map((r) => Array.from(r.weights, (v) => Number(v.toPrecision(4)))).reverse();
  return figure([{
    type: "heatmap",
    z,
    x,
    y: rows.map((r) => r.title).reverse(),
    zmin: 0, // attention weights: the scale starts at 0
    zmax: Math.max(...z.flat(), 1e-6),
    colorscale: "Viridis",
    colorbar: { title: { text: "attention" } },
    hovertemplate: "%{y}<br>%{x}: %{z:.3f}<extra></extra>",
  }], {
    title: { text: opts.title ?? "relation transformer: what the query attends to" },
    height: 160 + 26 * rows.length,
    margin: { l: 240, r: 20, t: 60, b: 60 },
  });
}

/**
 * Neighbour purity per class, one bar group per class (and "all"), one bar per series (a
 * snapshot's memory), with the chance level dashed.
 *
 * @example
 * ```ts
 * const fig = purityBars([{ name: "teacher, epoch 2", perClass: { "T-shirt": 0.6 }, overall: 0.6 }], { chance: 0.1 });
 * ```
 */
export function purityBars(
  series: { name: string; perClass: Record<string, number>; overall: number }[],
  opts: { title?: string; chance?: number } = {},
): Figure {
  if (!Array.isArray(series) || series.length === 0) {
    throw new Error("purityBars: give at least one series");
  }
  const classes = [...new Set(series.flatMap((s) => Object.keys(s.perClass)))];
  const x = [...classes, "all"];
  const data: Trace[] = series.map((s) => ({
    type: "bar",
    name: s.name,
    x,
    y: [...classes.map((c) => s.perClass[c] ?? null), s.overall],
    hovertemplate: `%{x}: %{y:.3f}<extra>${s.name}</extra>`,
  }));
  if (opts.chance !== undefined && Number.isFinite(opts.chance)) {
    data.push({
      type: "scatter",
      mode: "lines",
      name: "chance",
      x,
      y: x.map(() => opts.chance),
      line: { dash: "dash", color: "#555" },
    });
  }
  return figure(data, {
    title: { text: opts.title ?? "neighbour purity per class" },
    barmode: "group",
    yaxis: { title: { text: "share of neighbours with the query's label" }, range: [0, 1] },
    legend: { orientation: "h" },
  });
}
