/**
 * Subplot bookkeeping for the figure builders: plotly's axis names for subplot k and the
 * paper-coordinate domains of a rows x cols grid (what plotly.py's `make_subplots` computes;
 * here by hand, as plotly.js has no such helper for explicit axes).
 */

/**
 * Axis names of subplot `k` (0-based): trace references (`x`, `x2`, …) and layout keys
 * (`xaxis`, `xaxis2`, …).
 *
 * @example
 * ```ts
 * axisNames(1); // { x: "x2", y: "y2", xaxis: "xaxis2", yaxis: "yaxis2" }
 * ```
 */
export function axisNames(k: number): { x: string; y: string; xaxis: string; yaxis: string } {
  const s = k === 0 ? "" : String(k + 1);
  return { x: `x${s}`, y: `y${s}`, xaxis: `xaxis${s}`, yaxis: `yaxis${s}` };
}

/**
 * Domains of cell (row, col) in a rows x cols grid, row 0 at the top; `gapX`/`gapY` are the
 * spaces between cells as shares of the figure.
 *
 * @example
 * ```ts
 * cellDomain(0, 0, 2, 1, 0, 0.1); // { x: [0, 1], y: [0.55, 1] }
 * ```
 */
export function cellDomain(
  row: number,
  col: number,
  rows: number,
  cols: number,
  gapX: number,
  gapY: number,
): { x: [number, number]; y: [number, number] } {
  const w = (1 - gapX * (cols - 1)) / cols;
  const h = (1 - gapY * (rows - 1)) / rows;
  const x0 = col * (w + gapX);
  const y1 = 1 - row * (h + gapY);
  const r = (v: number) => Math.round(v * 1e6) / 1e6;
  return { x: [r(x0), r(Math.min(1, x0 + w))], y: [r(Math.max(0, y1 - h)), r(y1)] };
}
