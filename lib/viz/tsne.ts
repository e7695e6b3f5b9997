/**
 * A 2-D embedding (t-SNE) as a scatter plot coloured by class: one trace per class (so the
 * legend toggles classes), the point's index and class in the hover text, and optionally
 * the point's image on hover. The images travel as PNG data URLs in the traces'
 * `customdata`; the HTML page written by `writeHtml` shows the hovered one, while the
 * Jupyter bundle leaves them out (see figure.ts).
 */
import { type Figure, figure, type Trace } from "./figure.ts";
import { checkImages, type ImageBatch, pngDataUrl } from "./images.ts";

/**
 * Options of `tsneScatter`.
 *
 * @example
 * ```ts
 * const opts: TsneScatterOptions = { classNames: ds.classes, images: imagesFromDataset(ds) };
 * ```
 */
export interface TsneScatterOptions {
  /** Name of class k (default "class k"). Label -1 is "unlabeled". */
  classNames?: string[];
  /** One image per point, shown on hover in the HTML output. */
  images?: ImageBatch;
  title?: string;
  /** Use WebGL (`scattergl`); default: when there are more than 5000 points. */
  gl?: boolean;
  /** Marker size in px (default 5). */
  markerSize?: number;
}

function escapeText(s: string): string {
  return s.replace(/[&<>]/g, (c) => (c === "&" ? "&amp;" : c === "<" ? "&lt;" : "&gt;"));
}

/**
 * Scatter of `coords` ([N, 2]: flat `x0, y0, x1, y1, …` or `[[x, y], …]`) coloured by
 * `labels` (N class indices, -1 for unlabeled).
 *
 * @example
 * ```ts
 * const fig = tsneScatter(coords, test.labels, {
 *   classNames: test.classes,
 *   images: imagesFromDataset(test),
 * });
 * await writeHtml(fig, "tsne.html");
 * ```
 */
export function tsneScatter(
  coords: ArrayLike<number> | number[][],
  labels: ArrayLike<number>,
  opts: TsneScatterOptions = {},
): Figure {
  if (!coords || typeof coords !== "object" || typeof coords.length !== "number") {
    throw new Error("tsneScatter: coords must be [N, 2] (flat or nested)");
  }
  const nested = coords.length > 0 && Array.isArray((coords as number[][])[0]);
  const n = nested ? coords.length : coords.length / 2;
  if (!Number.isInteger(n)) {
    throw new Error(`tsneScatter: flat coords must hold 2 numbers per point, got ${coords.length}`);
  }
  const xy = (i: number): [number, number] => {
    let p: [number, number];
    if (nested) {
      const q = (coords as number[][])[i];
      if (!Array.isArray(q) || q.length !== 2) {
        throw new Error(`tsneScatter: coords[${i}] must be [x, y]`);
      }
      p = [q[0], q[1]];
    } else {
      const c = coords as ArrayLike<number>;
      p = [c[2 * i], c[2 * i + 1]];
    }
    if (!Number.isFinite(p[0]) || !Number.isFinite(p[1])) {
      throw new Error(`tsneScatter: point ${i} is (${p}), not finite`);
    }
    return p;
  };
  if (!labels || labels.length !== n) {
    throw new Error(
      `tsneScatter: labels must hold ${n} entries (one per point), got ${labels?.length}`,
    );
  }
  const names = opts.classNames;
  if (opts.images) {
    const { n: ni } = checkImages(opts.images, "tsneScatter: images");
    if (ni !== n) throw new Error(`tsneScatter: ${ni} images for ${n} points`);
  }
  const groups = new Map<number, number[]>();
  for (let i = 0; i < n; i++) {
    const l = labels[i];
    if (!Number.isInteger(l) || l < -1) {
      throw new Error(`tsneScatter: labels[${i}] = ${l} is not a class index (or -1)`);
    }
    if (names && l >= names.length) {
      throw new Error(`tsneScatter: labels[${i}] = ${l} but classNames has ${names.length} names`);
    }
    let g = groups.get(l);
    if (!g) groups.set(l, g = []);
    g.push(i);
  }
  const gl = opts.gl ?? n > 5000;
  const data: Trace[] = [...groups.keys()].sort((a, b) => (a < 0 ? 1 : b < 0 ? -1 : a - b)).map(
    (l) => {
      const idx = groups.get(l)!;
      const name = l < 0 ? "unlabeled" : names?.[l] ?? `class ${l}`;
      const pts = idx.map(xy);
      const t: Trace = {
        type: gl ? "scattergl" : "scatter",
        mode: "markers",
        name,
        x: pts.map((p) => p[0]),
        y: pts.map((p) => p[1]),
        text: idx.map((i) => `#${i}`),
        hovertemplate: `%{text} ${escapeText(name)}<extra></extra>`,
        marker: { size: opts.markerSize ?? 5, ...(l < 0 ? { color: "#999" } : {}) },
      };
      if (opts.images) {
        t.customdata = idx.map((i) => pngDataUrl(opts.images!, i));
        t.meta = { hoverImages: true };
      }
      return t;
    },
  );
  return figure(data, {
    title: { text: opts.title ?? "t-SNE" },
    xaxis: { showticklabels: false, zeroline: false, title: { text: "" } },
    yaxis: { showticklabels: false, zeroline: false, scaleanchor: "x" },
    legend: { itemsizing: "constant" },
    hovermode: "closest",
  });
}
