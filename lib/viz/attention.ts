/**
 * Attention-map grids in the manner of DINO's `visualize_attention.py`: per image a row
 * with the image and the class token's last-block attention of each head (heatmaps over
 * the image), and optionally a second row with each head's thresholded mask laid over the
 * image (DINO's `display_instances`). Nearest-upsampled maps are drawn as the patch grid
 * with cells `patchSize` pixels wide, which is the same picture at a fraction of the JSON;
 * bilinear maps are drawn at full resolution.
 */
import type { AttentionMaps } from "../eval/attention_maps.ts";
import { type Figure, figure, type Layout, type Trace } from "./figure.ts";
import { checkImages, type ImageBatch, pngDataUrl } from "./images.ts";
import { axisNames, cellDomain } from "./grid.ts";

/**
 * Options of `attentionGrid`.
 *
 * @example
 * ```ts
 * const opts: AttentionGridOptions = { heads: [0, 2], indices: [0, 1, 2], masks: true };
 * ```
 */
export interface AttentionGridOptions {
  /** Heads to show (default all). */
  heads?: number[];
  /** Images to show, by index into the batch (default all). */
  indices?: number[];
  /** Add a row per image with each head's mask over the image (needs `maps.masks`). */
  masks?: boolean;
  /** Plotly colour scale of the maps (default "Viridis", matplotlib's default as in DINO). */
  colorscale?: string;
  /** Mask colour (default a translucent orange). */
  maskColor?: string;
  title?: string;
  /** Width of one panel in px (default 150). */
  panelSize?: number;
}

const round = (v: number) => Number(v.toPrecision(5));

/**
 * A grid of attention maps: rows are images (plus a mask row each with `masks`), columns
 * the image and then one panel per head.
 *
 * @example
 * ```ts
 * const maps = await attentionMaps(vit, x, { threshold: 0.6 });
 * const fig = attentionGrid(await imagesFromTensor(raw), maps, { masks: true });
 * ```
 */
export function attentionGrid(
  images: ImageBatch,
  maps: AttentionMaps,
  opts: AttentionGridOptions = {},
): Figure {
  const { H, W, heads, indices, withMasks } = checkGridArgs(images, maps, opts);
  const per = withMasks ? 2 : 1;
  const rows = indices.length * per;
  const cols = 1 + heads.length;
  const panel = opts.panelSize ?? 150;
  const layout: Layout = {
    title: { text: opts.title ?? "class-token attention, last block" },
    width: Math.round(cols * panel * (1 + GAP_X)) + 80,
    height: Math.round(rows * panel * (H / W) * (1 + GAP_Y)) + 100,
    margin: { l: 40, r: 20, t: 80, b: 20 },
    showlegend: false,
  };
  const g = panels(layout, rows, cols, H, W);
  const data: Trace[] = [];
  const colorscale = opts.colorscale ?? "Viridis";
  const maskColor = opts.maskColor ?? "rgba(255, 120, 0, 0.55)";
  indices.forEach((i, r) => {
    const url = pngDataUrl(images, i);
    const row = r * per;
    const img = g.cell(row, 0);
    data.push({
      type: "image",
      source: url,
      xaxis: img.ax.x,
      yaxis: img.ax.y,
      hovertemplate: `image #${i} (%{x}, %{y})<extra></extra>`,
    });
    g.label(`#${i}`, img.dom.x[0] - 0.005, (img.dom.y[0] + img.dom.y[1]) / 2, "left");
    if (r === 0) g.label("image", (img.dom.x[0] + img.dom.x[1]) / 2, img.dom.y[1], "top");
    heads.forEach((h, j) => {
      const { ax, dom } = g.cell(row, 1 + j);
      data.push(headMap(maps, i, h, ax, colorscale));
      if (r === 0) g.label(`head ${h}`, (dom.x[0] + dom.x[1]) / 2, dom.y[1], "top");
      if (withMasks) data.push(...maskPanel(maps, i, h, g.cell(row + 1, 1 + j).ax, url, maskColor));
    });
    if (withMasks) {
      const d = cellDomain(row + 1, 0, rows, cols, GAP_X, GAP_Y);
      g.annotations.push({
        text: `masks:<br>${Math.round(maps.threshold! * 100)}% of<br>the mass`,
        xref: "paper",
        yref: "paper",
        x: (d.x[0] + d.x[1]) / 2,
        y: (d.y[0] + d.y[1]) / 2,
        showarrow: false,
      });
    }
  });
  layout.annotations = g.annotations;
  return figure(data, layout);
}

const GAP_X = 0.01, GAP_Y = 0.03;

/** Check the images, the maps and the chosen heads and images against each other. */
function checkGridArgs(images: ImageBatch, maps: AttentionMaps, opts: AttentionGridOptions) {
  const { n, h: H, w: W } = checkImages(images, "attentionGrid: images");
  if (!maps || !(maps.patch instanceof Float32Array)) {
    throw new Error("attentionGrid: maps must be the result of attentionMaps()");
  }
  if (n !== maps.n || H !== maps.height || W !== maps.width) {
    throw new Error(
      `attentionGrid: images [${images.shape}] do not match the maps (${maps.n} images of ` +
        `${maps.height}x${maps.width})`,
    );
  }
  const heads = opts.heads ?? Array.from({ length: maps.heads }, (_, i) => i);
  for (const h of heads) {
    if (!Number.isInteger(h) || h < 0 || h >= maps.heads) {
      throw new Error(`attentionGrid: head ${h} is outside 0..${maps.heads - 1}`);
    }
  }
  const indices = opts.indices ?? Array.from({ length: n }, (_, i) => i);
  for (const i of indices) {
    if (!Number.isInteger(i) || i < 0 || i >= n) {
      throw new Error(`attentionGrid: image index ${i} is outside 0..${n - 1}`);
    }
  }
  if (heads.length === 0 || indices.length === 0) {
    throw new Error("attentionGrid: heads and indices must not be empty");
  }
  const withMasks = opts.masks ?? false;
  if (withMasks && !maps.masks) {
    throw new Error(
      "attentionGrid: masks requested but the maps have none (give attentionMaps a threshold)",
    );
  }
  return { H, W, heads, indices, withMasks };
}

type Axes = ReturnType<typeof axisNames>;

/**
 * The grid's panels: `cell` adds a panel's hidden axes (image pixel ranges, y downwards) to
 * `layout`; `label` adds a column title or row label to `annotations`.
 */
function panels(layout: Layout, rows: number, cols: number, H: number, W: number) {
  const annotations: unknown[] = [];
  const cell = (row: number, col: number) => {
    const ax = axisNames(row * cols + col);
    const dom = cellDomain(row, col, rows, cols, GAP_X, GAP_Y);
    layout[ax.xaxis] = { domain: dom.x, anchor: ax.y, visible: false, range: [-0.5, W - 0.5] };
    layout[ax.yaxis] = {
      domain: dom.y,
      anchor: ax.x,
      visible: false,
      range: [H - 0.5, -0.5],
      scaleanchor: ax.x,
    };
    return { ax, dom };
  };
  const label = (text: string, x: number, y: number, side: "top" | "left") =>
    annotations.push({
      text,
      xref: "paper",
      yref: "paper",
      x,
      y,
      showarrow: false,
      xanchor: side === "top" ? "center" : "right",
      yanchor: side === "top" ? "bottom" : "middle",
      ...(side === "left" ? { textangle: -90 } : {}),
    });
  return { cell, label, annotations };
}

/** Image `i`, head `h`'s [gridH, gridW] values of `src` as heatmap rows. */
function gridZ(
  maps: AttentionMaps,
  src: Float32Array | Uint8Array,
  i: number,
  h: number,
  f: (v: number) => number | null,
) {
  const { gridH: gh, gridW: gw } = maps;
  const off = (i * maps.heads + h) * gh * gw;
  return Array.from(
    { length: gh },
    (_, y) => Array.from({ length: gw }, (_, x) => f(src[off + y * gw + x])),
  );
}

/** Grid-cell centres in pixels: a cell covers pixels [j*p - 0.5, (j+1)*p - 0.5]. */
const cellPlacement = (p: number) => ({ x0: (p - 1) / 2, dx: p, y0: (p - 1) / 2, dy: p });

/** One head's attention over image `i`: the patch grid (nearest) or the upsampled map. */
function headMap(maps: AttentionMaps, i: number, h: number, ax: Axes, colorscale: string): Trace {
  const common = {
    type: "heatmap",
    xaxis: ax.x,
    yaxis: ax.y,
    colorscale,
    showscale: false,
    hovertemplate: `%{z:.4g}<extra>image #${i}, head ${h}</extra>`,
  };
  if (maps.upsample === "nearest") {
    return { ...common, z: gridZ(maps, maps.patch, i, h, round), ...cellPlacement(maps.patchSize) };
  }
  const { height: H, width: W } = maps;
  const off = (i * maps.heads + h) * H * W;
  const z = Array.from(
    { length: H },
    (_, y) => Array.from(maps.upsampled.subarray(off + y * W, off + (y + 1) * W), round),
  );
  return { ...common, z, x0: 0, dx: 1, y0: 0, dy: 1 };
}

/** The image with head `h`'s thresholded mask over it, in one colour. */
function maskPanel(
  maps: AttentionMaps,
  i: number,
  h: number,
  m: Axes,
  url: string,
  maskColor: string,
): Trace[] {
  return [
    { type: "image", source: url, xaxis: m.x, yaxis: m.y, hoverinfo: "skip" },
    {
      type: "heatmap",
      xaxis: m.x,
      yaxis: m.y,
      z: gridZ(maps, maps.masks!, i, h, (v) => (v ? 1 : null)),
      ...cellPlacement(maps.patchSize),
      zmin: 0,
      zmax: 1,
      colorscale: [[0, maskColor], [1, maskColor]],
      showscale: false,
      hoverinfo: "skip",
    },
  ];
}
