/**
 * Plotly figures as plain JSON (`{ data, layout }`, plotly.js's figure format), shown two
 * ways:
 *
 * - in a Deno Jupyter kernel through the display protocol: `display(fig)` calls
 *   `Deno.jupyter.display` with the `application/vnd.plotly.v1+json` MIME type (the one
 *   JupyterLab's plotly renderer and nbconvert keep), and figures made by `figure()` carry a
 *   `[Symbol.for("Jupyter.display")]` method, so a cell that evaluates to one renders it
 *   (in notebooks run headless prefer `await display(fig)`: `jupyter nbconvert` now and then
 *   misses the execute_result message of Deno's kernel, never a display_data one);
 * - from the command line as a self-contained HTML page (`writeHtml`): plotly.js from the
 *   pinned npm package `plotly.js-dist-min` is inlined (no external `<script src>`), each
 *   figure's JSON sits in a `<script type="application/json">` block, and a small inline
 *   script draws them and shows a hovered point's image when its `customdata` is an image
 *   data URL (the t-SNE scatter's images on hover).
 *
 * Outside Jupyter `display` throws an error that points to `writeHtml` (a silent no-op
 * would hide a lost figure). In Jupyter, hover images are left out of the bundle (plotly's
 * MIME renderer runs no page script, and they would bloat the notebook); the hover text
 * still names the point.
 */
import { writeTextAtomic } from "../io/atomic.ts";

/** The plotly.js version inlined by `writeHtml` (npm `plotly.js-dist-min`). */
export const PLOTLY_VERSION = "4.1.2";

/** Jupyter's MIME type for plotly figures. */
export const PLOTLY_MIME = "application/vnd.plotly.v1+json";

/**
 * The Jupyter display-protocol symbol, `Symbol.for("Jupyter.display")` (the same symbol
 * as `Deno.jupyter.$display`).
 *
 * @example
 * ```ts
 * const bundle = fig[JUPYTER_DISPLAY]!(); // { "application/vnd.plotly.v1+json": …, "text/plain": … }
 * ```
 */
export const JUPYTER_DISPLAY: unique symbol = Symbol.for("Jupyter.display") as never;

/**
 * One plotly trace (`type` plus its attributes, see plotly.js's reference).
 *
 * @example
 * ```ts
 * const t: Trace = { type: "scatter", x: [1, 2], y: [3, 4], name: "loss" };
 * ```
 */
export interface Trace {
  type?: string;
  [key: string]: unknown;
}

/**
 * A plotly layout object.
 *
 * @example
 * ```ts
 * const l: Layout = { title: { text: "loss" }, xaxis: { title: { text: "step" } } };
 * ```
 */
export type Layout = Record<string, unknown>;

/**
 * What a display-protocol method returns: MIME type to content.
 *
 * @example
 * ```ts
 * const b: MediaBundle = { "text/plain": "a figure" };
 * ```
 */
export type MediaBundle = Record<string, unknown>;

/**
 * A plotly figure: `data` (traces), `layout` and optionally plotly's `config`. Figures made
 * by `figure()` (and so by every builder in `lib/viz`) also carry non-enumerable
 * `[JUPYTER_DISPLAY]` and `toJSON` methods (`JSON.stringify(fig)` equals `figureJson(fig)`).
 *
 * @example
 * ```ts
 * const fig: Figure = { data: [{ type: "bar", x: ["a"], y: [1] }], layout: {} };
 * ```
 */
export interface Figure {
  data: Trace[];
  layout: Layout;
  config?: Record<string, unknown>;
  [JUPYTER_DISPLAY]?: () => MediaBundle;
}

/**
 * Make a figure from traces and a layout, with the Jupyter display method attached.
 *
 * @example
 * ```ts
 * const fig = figure([{ type: "scatter", x: [0, 1], y: [1, 0] }], { title: { text: "a line" } });
 * fig; // as a notebook cell's last expression, this renders the plot
 * ```
 */
export function figure(
  data: Trace[],
  layout: Layout = {},
  config?: Record<string, unknown>,
): Figure {
  if (!Array.isArray(data)) throw new Error("figure: data must be an array of traces");
  data.forEach((t, i) => {
    if (t === null || typeof t !== "object" || Array.isArray(t)) {
      throw new Error(`figure: data[${i}] must be a trace object`);
    }
  });
  if (layout === null || typeof layout !== "object" || Array.isArray(layout)) {
    throw new Error("figure: layout must be an object");
  }
  const fig: Figure = config ? { data, layout, config } : { data, layout };
  Object.defineProperty(fig, JUPYTER_DISPLAY, { value: () => mimeBundle(fig), enumerable: false });
  // JSON.stringify(fig) then writes typed arrays as arrays, as figureJson does
  Object.defineProperty(fig, "toJSON", {
    value: () => JSON.parse(figureJson(fig)),
    enumerable: false,
  });
  return fig;
}

function checkFigure(fig: unknown, what: string): asserts fig is Figure {
  const f = fig as Figure;
  if (f === null || typeof f !== "object" || !Array.isArray(f.data)) {
    throw new Error(`${what}: expected a figure { data: [...], layout: {...} }`);
  }
  if (f.layout !== undefined && (f.layout === null || typeof f.layout !== "object")) {
    throw new Error(`${what}: the figure's layout must be an object`);
  }
}

/**
 * The figure as plain JSON text: typed arrays become arrays, NaN and infinities `null`
 * (plotly draws gaps there), symbols and functions are dropped. With `jupyter`, hover
 * images (`customdata` of traces marked `meta.hoverImages`) are left out.
 *
 * @example
 * ```ts
 * const json = figureJson(fig); // '{"data":[…],"layout":{…}}'
 * ```
 */
export function figureJson(fig: Figure, opts: { jupyter?: boolean } = {}): string {
  checkFigure(fig, "figureJson");
  const plain = {
    data: fig.data.map((t) => {
      const meta = t.meta as { hoverImages?: boolean } | undefined;
      if (!opts.jupyter || !meta?.hoverImages) return t;
      const { customdata: _drop, ...rest } = t;
      return rest;
    }),
    layout: fig.layout ?? {},
    ...(fig.config ? { config: fig.config } : {}),
  };
  try {
    return JSON.stringify(
      plain,
      (_key, v) =>
        ArrayBuffer.isView(v) && !(v instanceof DataView)
          ? Array.from(v as unknown as ArrayLike<number | bigint>, Number)
          : v,
    );
  } catch (e) {
    throw new Error(
      `figureJson: the figure cannot be written as JSON (${e instanceof Error ? e.message : e})`,
    );
  }
}

/** A one-line description of a figure for `text/plain`. */
function describe(fig: Figure): string {
  const t = (fig.layout ?? {}).title as string | { text?: string } | undefined;
  const title = typeof t === "string" ? t : t?.text;
  const counts = new Map<string, number>();
  for (const tr of fig.data) {
    const k = tr.type ?? "scatter";
    counts.set(k, (counts.get(k) ?? 0) + 1);
  }
  const kinds = [...counts].map(([k, n]) => `${n} ${k}`).join(", ");
  return `plotly figure${title ? ` "${title}"` : ""}: ${fig.data.length} trace${
    fig.data.length === 1 ? "" : "s"
  }${kinds ? ` (${kinds})` : ""}`;
}

/**
 * The Jupyter MIME bundle of a figure: the plotly JSON and a `text/plain` summary.
 *
 * @example
 * ```ts
 * const bundle = mimeBundle(fig);
 * bundle["application/vnd.plotly.v1+json"]; // { data, layout }
 * ```
 */
export function mimeBundle(fig: Figure): MediaBundle {
  checkFigure(fig, "mimeBundle");
  return {
    [PLOTLY_MIME]: JSON.parse(figureJson(fig, { jupyter: true })),
    "text/plain": describe(fig),
  };
}

interface JupyterApi {
  display(obj: unknown, options?: { raw?: boolean }): Promise<void>;
}

/** `Deno.jupyter` when running in a Deno Jupyter kernel, else null (its getter throws). */
function jupyterApi(): JupyterApi | null {
  try {
    const j = (Deno as unknown as { jupyter?: JupyterApi }).jupyter;
    return j && typeof j.display === "function" ? j : null;
  } catch {
    return null;
  }
}

/**
 * Whether this code runs in a Deno Jupyter kernel (`Deno.jupyter` is available).
 *
 * @example
 * ```ts
 * if (inJupyter()) await display(fig); else await writeHtml(fig, "fig.html");
 * ```
 */
export function inJupyter(): boolean {
  return jupyterApi() !== null;
}

/**
 * Render a figure in the notebook (`Deno.jupyter.display` with the plotly MIME type, raw).
 * Outside a Deno Jupyter kernel it throws, naming `writeHtml` as the way out.
 *
 * @example
 * ```ts
 * await display(lossCurves(await readMetrics("runs/mugs")));
 * ```
 */
export async function display(fig: Figure): Promise<void> {
  const bundle = mimeBundle(fig);
  const j = jupyterApi();
  if (!j) {
    throw new Error(
      "display: not running in a Deno Jupyter kernel (Deno.jupyter exists only under " +
        "`deno jupyter`); write the figure to a file with writeHtml(fig, 'figure.html') instead",
    );
  }
  await j.display(bundle, { raw: true });
}

let bundleCache: Promise<string> | null = null;

/**
 * The minified plotly.js bundle (npm `plotly.js-dist-min@4.1.2`, MIT), loaded once as a
 * text module: part of the module graph, so `deno cache` and `deno compile` carry it.
 *
 * @example
 * ```ts
 * const js = await plotlyBundle(); // about 4.8 MB of JavaScript
 * ```
 */
export function plotlyBundle(): Promise<string> {
  bundleCache ??= import("npm:plotly.js-dist-min@4.1.2/plotly.min.js", { with: { type: "text" } })
    .then((m) => {
      const text = (m as { default: unknown }).default;
      if (typeof text !== "string" || !text.includes(`plotly.js v${PLOTLY_VERSION}`)) {
        throw new Error("the module is not the expected plotly.js bundle");
      }
      return text;
    })
    .catch((e) => {
      bundleCache = null;
      throw new Error(
        `cannot load plotly.js (npm:plotly.js-dist-min@${PLOTLY_VERSION}/plotly.min.js): ${
          e instanceof Error ? e.message : e
        }; it is fetched from npm once and then cached (run with network access, or pass ` +
          `the bundle's text as the 'plotly' option)`,
      );
    });
  return bundleCache;
}

/**
 * Options of `htmlPage` and `writeHtml`.
 *
 * @example
 * ```ts
 * const opts: HtmlOptions = { title: "Mugs run" };
 * ```
 */
export interface HtmlOptions {
  /** Page title (also a heading). Default "figures". */
  title?: string;
  /** The plotly.js source to inline; default: `plotlyBundle()`. */
  plotly?: string;
}

function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** Make JavaScript safe inside an inline <script>: no `</script` and no `<!--` in it. */
function inlineScript(js: string): string {
  return js.replace(/<(\/script|!--)/gi, "\\x3C$1");
}

const PAGE_SCRIPT = `(function () {
  var box = document.getElementById("kit-hover");
  var img = box.querySelector("img");
  var figs = document.querySelectorAll("div.kit-figure");
  for (var i = 0; i < figs.length; i++) {
    (function (div) {
      var fig = JSON.parse(document.getElementById(div.id + "-json").textContent);
      var config = Object.assign({ responsive: true, displaylogo: false }, fig.config || {});
      Plotly.newPlot(div, fig.data, fig.layout, config).then(function () {
        div.on("plotly_hover", function (ev) {
          var p = ev.points && ev.points[0];
          var u = p && p.customdata;
          if (typeof u !== "string" || u.indexOf("data:image/") !== 0) return;
          img.src = u;
          box.style.display = "block";
          var e = ev.event;
          if (e) {
            box.style.left = Math.min(e.clientX + 16, window.innerWidth - 150) + "px";
            box.style.top = Math.min(e.clientY + 16, window.innerHeight - 150) + "px";
          }
        });
        div.on("plotly_unhover", function () { box.style.display = "none"; });
      });
    })(figs[i]);
  }
})();`;

/**
 * A self-contained HTML page showing the figures: plotly.js inlined, no external scripts.
 * `opts.plotly` must hold the plotly.js source (`writeHtml` loads it for you).
 *
 * @example
 * ```ts
 * const html = htmlPage([loss, knn], { title: "run 3", plotly: await plotlyBundle() });
 * ```
 */
export function htmlPage(figs: Figure | Figure[], opts: HtmlOptions & { plotly: string }): string {
  const list = Array.isArray(figs) ? figs : [figs];
  if (list.length === 0) throw new Error("htmlPage: no figures given");
  list.forEach((f, i) => checkFigure(f, `htmlPage: figure ${i}`));
  if (typeof opts.plotly !== "string" || opts.plotly.length === 0) {
    throw new Error("htmlPage: opts.plotly must hold the plotly.js source");
  }
  const title = escapeHtml(opts.title ?? "figures");
  const blocks = list.map((f, i) => {
    // '<' escaped as \u003c: JSON stays valid and cannot close the script element
    const json = figureJson(f).replace(/</g, "\\u003c");
    return `<div id="fig-${i}" class="kit-figure"></div>\n` +
      `<script type="application/json" id="fig-${i}-json">${json}</script>`;
  });
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${title}</title>
<style>
body { font-family: system-ui, sans-serif; margin: 16px; }
div.kit-figure { margin-bottom: 24px; }
#kit-hover { display: none; position: fixed; z-index: 10; pointer-events: none;
  background: #fff; border: 1px solid #888; padding: 2px; }
#kit-hover img { width: 128px; height: 128px; object-fit: contain; image-rendering: pixelated; }
</style>
<script>/* plotly.js v${PLOTLY_VERSION} (MIT), inlined from npm plotly.js-dist-min */
${inlineScript(opts.plotly)}
</script>
</head>
<body>
<h1>${title}</h1>
${blocks.join("\n")}
<div id="kit-hover"><img alt="hovered image"></div>
<script>
${PAGE_SCRIPT}
</script>
</body>
</html>
`;
}

/**
 * Write figures as one self-contained HTML page (atomically: temporary file + rename).
 *
 * @example
 * ```ts
 * await writeHtml([lossCurves(records), healthCurves(records)], "runs/mugs/report.html", {
 *   title: "Mugs on Fashion-MNIST",
 * });
 * ```
 */
export async function writeHtml(
  figs: Figure | Figure[],
  path: string,
  opts: HtmlOptions = {},
): Promise<void> {
  if (typeof path !== "string" || path.length === 0) {
    throw new Error(`writeHtml: path must be a non-empty string, got ${String(path)}`);
  }
  const plotly = opts.plotly ?? await plotlyBundle();
  await writeTextAtomic(path, htmlPage(figs, { ...opts, plotly }));
}
