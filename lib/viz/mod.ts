/**
 * Plotly figure builders: training curves from `metrics.jsonl`, k-NN accuracy against k,
 * t-SNE scatters with images on hover, attention-map grids, confusion matrices and the
 * local-group explorer's neighbour grids. Figures
 * are plain `{ data, layout }` JSON; `display` renders one in a Deno Jupyter kernel (and a
 * cell that evaluates to a figure renders it), `writeHtml` writes self-contained HTML.
 *
 * @example
 * ```ts
 * import { lossCurves, writeHtml } from "./lib/viz/mod.ts";
 * import { readMetrics } from "./lib/io/metrics_log.ts";
 * await writeHtml(lossCurves(await readMetrics("runs/mugs")), "runs/mugs/loss.html");
 * ```
 * @module
 */
export {
  display,
  type Figure,
  figure,
  figureJson,
  type HtmlOptions,
  htmlPage,
  inJupyter,
  JUPYTER_DISPLAY,
  type Layout,
  type MediaBundle,
  mimeBundle,
  PLOTLY_MIME,
  PLOTLY_VERSION,
  plotlyBundle,
  type Trace,
  writeHtml,
} from "./figure.ts";
export {
  checkImages,
  type ImageBatch,
  imageBytes,
  imagesFromDataset,
  imagesFromTensor,
  pngDataUrl,
} from "./images.ts";
export {
  type CurveOptions,
  healthCurves,
  lossCurves,
  runCurves,
  scheduleCurves,
} from "./curves.ts";
export { knnCurve, type KnnCurveOptions, type KnnSeries } from "./knn.ts";
export { tsneScatter, type TsneScatterOptions } from "./tsne.ts";
export { attentionGrid, type AttentionGridOptions } from "./attention.ts";
export { confusionFigure, type ConfusionOptions } from "./confusion.ts";
export { neighbourGrid, type NeighbourRow, purityBars, relationAttention } from "./neighbours.ts";
export { ablationFigures, type AblationRow, ablationTableFigures } from "./ablation.ts";
