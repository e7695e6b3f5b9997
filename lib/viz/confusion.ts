/**
 * A confusion matrix (scikit-learn's `confusion_matrix` layout: rows are the true classes,
 * columns the predicted ones, as `confusionMatrix` of lib/eval/confusion.ts builds it) as a
 * heatmap with the counts written in the cells, as scikit-learn's `ConfusionMatrixDisplay`
 * draws it; optionally coloured by the row share (per-class recall) while still showing
 * counts.
 */
import { type Figure, figure } from "./figure.ts";

/**
 * Options of `confusionFigure`.
 *
 * @example
 * ```ts
 * const opts: ConfusionOptions = { normalize: true, title: "linear probe" };
 * ```
 */
export interface ConfusionOptions {
  /** Colour by the share of each true class (row) instead of the count; cells still show counts. */
  normalize?: boolean;
  title?: string;
  /** Plotly colour scale (default "Blues"). */
  colorscale?: string;
}

/**
 * Heatmap of a confusion matrix (`[K][K]` nested, or flat row-major with K*K entries),
 * rows = true class, columns = predicted class, counts in the cells; the title gives the
 * accuracy (trace / total).
 *
 * @example
 * ```ts
 * // confusionMatrix(pred, labels, numClasses) from lib/eval/confusion.ts
 * const fig = confusionFigure(confusionMatrix(predictions, test.labels, 10), test.classes);
 * ```
 */
export function confusionFigure(
  matrix: number[][] | ArrayLike<number>,
  classNames: string[],
  opts: ConfusionOptions = {},
): Figure {
  if (!Array.isArray(classNames) || classNames.length === 0) {
    throw new Error("confusionFigure: classNames must be a non-empty array of names");
  }
  const K = classNames.length;
  if (new Set(classNames).size !== K) {
    throw new Error("confusionFigure: classNames must be distinct (they label the axes)");
  }
  let rows: number[][];
  if (Array.isArray(matrix) && Array.isArray(matrix[0])) {
    rows = matrix as number[][];
    if (rows.length !== K || rows.some((r) => !Array.isArray(r) || r.length !== K)) {
      throw new Error(`confusionFigure: matrix must be ${K}x${K} for ${K} class names`);
    }
  } else {
    const flat = matrix as ArrayLike<number>;
    if (flat?.length !== K * K) {
      throw new Error(
        `confusionFigure: a flat matrix must hold ${
          K * K
        } entries for ${K} classes, got ${flat?.length}`,
      );
    }
    rows = Array.from(
      { length: K },
      (_, t) => Array.from({ length: K }, (_, p) => flat[t * K + p]),
    );
  }
  let total = 0, diag = 0;
  rows.forEach((r, t) =>
    r.forEach((v, p) => {
      if (!Number.isFinite(v) || v < 0) {
        throw new Error(`confusionFigure: entry [${t}][${p}] = ${v} is not a count`);
      }
      total += v;
      if (t === p) diag += v;
    })
  );
  const counts = rows.map((r) => r.map(Number));
  const z = opts.normalize
    ? counts.map((r) => {
      const s = r.reduce((a, b) => a + b, 0);
      return r.map((v) => (s > 0 ? Number((v / s).toPrecision(6)) : 0));
    })
    : counts;
  const acc = total > 0 ? ` (accuracy ${(100 * diag / total).toFixed(2)}%)` : "";
  return figure([{
    type: "heatmap",
    x: classNames,
    y: classNames,
    z,
    text: counts.map((r) => r.map(String)),
    texttemplate: "%{text}",
    colorscale: opts.colorscale ?? "Blues",
    hovertemplate: `true %{y}<br>predicted %{x}<br>count %{text}${
      opts.normalize ? "<br>share of the row %{z:.3f}" : ""
    }<extra></extra>`,
    colorbar: { title: { text: opts.normalize ? "row share" : "count" } },
  }], {
    title: { text: `${opts.title ?? "confusion matrix"}${acc}` },
    xaxis: { title: { text: "predicted" }, type: "category", side: "bottom" },
    yaxis: { title: { text: "true" }, type: "category", autorange: "reversed" },
    width: Math.max(420, 60 * K + 200),
    height: Math.max(400, 50 * K + 180),
  });
}
