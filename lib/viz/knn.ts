/**
 * Weighted k-NN accuracy against k (DINO's evaluation reports k in {10, 20, 100, 200}),
 * one line per series (a model, or the raw-pixel and untrained baselines), k on a log axis.
 */
import { type Figure, figure, type Trace } from "./figure.ts";

/**
 * One series: `{ k: top1 }` or `knnClassify`'s results (`{ k, top1 }[]`).
 *
 * @example
 * ```ts
 * const s: KnnSeries = { 10: 81.2, 20: 82.0, 100: 80.1 };
 * ```
 */
export type KnnSeries =
  | Record<number, number>
  | { k: number; top1: number; [field: string]: unknown }[];

/**
 * Options of `knnCurve`.
 *
 * @example
 * ```ts
 * const opts: KnnCurveOptions = { title: "k-NN on Fashion-MNIST", logX: false };
 * ```
 */
export interface KnnCurveOptions {
  title?: string;
  /** k on a log axis (default true). */
  logX?: boolean;
  /** The y axis title (default "top-1 accuracy (%)"). */
  yTitle?: string;
}

function points(s: unknown, what: string): [number, number][] {
  let pts: [number, number][];
  if (Array.isArray(s)) {
    pts = s.map((r, i) => {
      if (r === null || typeof r !== "object") {
        throw new Error(`${what}[${i}] must be { k, top1 }`);
      }
      return [(r as { k: number }).k, (r as { top1: number }).top1];
    });
  } else if (s !== null && typeof s === "object") {
    pts = Object.entries(s).map(([k, v]) => [Number(k), v as number]);
  } else {
    throw new Error(`${what} must be { k: top1 } or an array of { k, top1 }`);
  }
  if (pts.length === 0) throw new Error(`${what} is empty`);
  for (const [k, v] of pts) {
    if (!Number.isInteger(k) || k < 1) {
      throw new Error(`${what}: k must be a positive integer, got ${k}`);
    }
    if (typeof v !== "number" || !Number.isFinite(v)) {
      throw new Error(`${what}: the accuracy at k=${k} must be a finite number, got ${v}`);
    }
  }
  return pts.sort((a, b) => a[0] - b[0]);
}

/** True for `{ k: top1 }` and arrays: one series rather than named ones. */
function isSeries(v: unknown): boolean {
  return Array.isArray(v) ||
    (v !== null && typeof v === "object" &&
      Object.values(v).every((x) => typeof x === "number"));
}

/**
 * Top-1 accuracy against k: one series (`{ k: top1 }` or `{ k, top1 }[]`), or named series
 * (`{ "Mugs": {...}, "raw pixels": {...} }`).
 *
 * @example
 * ```ts
 * const fig = knnCurve({ trained: { 10: 82.1, 20: 82.5 }, "raw pixels": { 10: 78.0, 20: 77.6 } });
 * const one = knnCurve(await knnClassify({ ...inputs, ks: [10, 20, 100, 200] }));
 * ```
 */
export function knnCurve(
  input: KnnSeries | Record<string, KnnSeries>,
  opts: KnnCurveOptions = {},
): Figure {
  const single = isSeries(input);
  const named: [string, unknown][] = single
    ? [["k-NN", input]]
    : Object.entries(input as Record<string, KnnSeries>);
  if (named.length === 0) throw new Error("knnCurve: no series given");
  const ks = new Set<number>();
  const data: Trace[] = named.map(([name, s]) => {
    const pts = points(s, single ? "knnCurve: input" : `knnCurve: series "${name}"`);
    pts.forEach(([k]) => ks.add(k));
    return {
      type: "scatter",
      mode: "lines+markers",
      name,
      x: pts.map(([k]) => k),
      y: pts.map(([, v]) => v),
      hovertemplate: `k=%{x}: %{y:.2f}<extra>${name}</extra>`,
    };
  });
  const tickvals = [...ks].sort((a, b) => a - b);
  return figure(data, {
    title: { text: opts.title ?? "weighted k-NN accuracy" },
    xaxis: {
      title: { text: "k" },
      type: opts.logX ?? true ? "log" : "linear",
      tickvals,
      ticktext: tickvals.map(String),
    },
    yaxis: { title: { text: opts.yTitle ?? "top-1 accuracy (%)" } },
    showlegend: data.length > 1,
  });
}
