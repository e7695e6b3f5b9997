import { assert, assertEquals, assertRejects, assertThrows } from "../helpers.ts";
import {
  display,
  type Figure,
  figure,
  figureJson,
  htmlPage,
  inJupyter,
  JUPYTER_DISPLAY,
  mimeBundle,
  PLOTLY_MIME,
  PLOTLY_VERSION,
  plotlyBundle,
  writeHtml,
} from "../../lib/viz/figure.ts";

const PLOTLY_TYPE = "application/vnd.plotly.v1+json";

function sample(): Figure {
  return figure(
    [
      { type: "scatter", x: Float32Array.of(1, 2, 3), y: [0.5, NaN, 2], name: "loss" },
      { type: "bar", x: ["a", "b"], y: Int32Array.of(3, 4) },
    ],
    { title: { text: 'a </script><script src="https://evil.example/x.js"> test' } },
  );
}

/** The <script> elements of a page: attributes and body. */
function scripts(html: string): { attrs: string; body: string }[] {
  return [...html.matchAll(/<script\b([^>]*)>([\s\S]*?)<\/script>/gi)].map((m) => ({
    attrs: m[1],
    body: m[2],
  }));
}

Deno.test("figure: the Jupyter display symbol gives the plotly MIME bundle, and JSON ignores it", () => {
  assert(
    JUPYTER_DISPLAY === Symbol.for("Jupyter.display"),
    "JUPYTER_DISPLAY is the protocol symbol",
  );
  assertEquals(PLOTLY_MIME, PLOTLY_TYPE, "MIME type");
  const fig = sample();
  assertEquals(Object.keys(fig), ["data", "layout"], "enumerable keys");
  const method = (fig as unknown as Record<symbol, () => Record<string, unknown>>)[
    Symbol.for("Jupyter.display")
  ];
  assert(typeof method === "function", "no display method");
  const bundle = method();
  const plot = bundle[PLOTLY_TYPE] as { data: Record<string, unknown>[]; layout: unknown };
  assert(plot !== undefined, `bundle lacks ${PLOTLY_TYPE}: ${Object.keys(bundle)}`);
  assertEquals(plot.data[0].x, [1, 2, 3], "typed arrays become arrays");
  assertEquals(plot.data[0].y, [0.5, null, 2], "NaN becomes null (a gap)");
  assertEquals(plot.data[1].y, [3, 4], "Int32Array");
  assertEquals(plot.layout, fig.layout, "layout");
  assertEquals(
    bundle["text/plain"],
    `plotly figure "${(fig.layout.title as { text: string }).text}": 2 traces (1 scatter, 1 bar)`,
    "text/plain",
  );
  // the bundle is plain JSON (Deno serialises it for the kernel)
  assertEquals(JSON.parse(JSON.stringify(bundle)), bundle, "bundle round-trips through JSON");
  assertEquals(JSON.parse(JSON.stringify(fig)), JSON.parse(figureJson(fig)), "JSON.stringify(fig)");
});

Deno.test("figure: hover images stay out of the Jupyter bundle but not out of figureJson", () => {
  const fig = figure([{
    type: "scatter",
    x: [0],
    y: [0],
    customdata: ["data:image/png;base64,AAAA"],
    meta: { hoverImages: true },
  }, { type: "scatter", x: [1], y: [1], customdata: [7] }]);
  const b = mimeBundle(fig)[PLOTLY_TYPE] as { data: Record<string, unknown>[] };
  assert(!("customdata" in b.data[0]), "hover images were not dropped");
  assertEquals(b.data[1].customdata, [7], "other customdata is kept");
  assertEquals(JSON.parse(figureJson(fig)).data[0].customdata.length, 1, "figureJson keeps them");
});

Deno.test("figure: bad input and display outside Jupyter are clear errors", async () => {
  assertThrows(() => figure({} as never), "data must be an array");
  assertThrows(() => figure([1 as never]), "data[0] must be a trace object");
  assertThrows(() => figure([], [] as never), "layout must be an object");
  assertThrows(() => mimeBundle({ layout: {} } as never), "expected a figure");
  const cyclic: Record<string, unknown> = {};
  cyclic.self = cyclic;
  assertThrows(() => figureJson(figure([], cyclic)), "cannot be written as JSON");
  assert(!inJupyter(), "deno test is not a Jupyter kernel");
  await assertRejects(() => display(sample()), "not running in a Deno Jupyter kernel");
  await assertRejects(() => display(sample()), "writeHtml");
});

Deno.test("htmlPage/writeHtml: plotly inlined, figure JSON valid, no external script src", async () => {
  const bundle = await plotlyBundle();
  assert(bundle.length > 1_000_000, `plotly bundle is only ${bundle.length} chars`);
  assert(bundle.includes(`plotly.js v${PLOTLY_VERSION}`), "bundle version");
  const dir = await Deno.makeTempDir({ prefix: "viz-html-" });
  try {
    const figs = [sample(), figure([{ type: "heatmap", z: [[1, 2], [3, 4]] }], {})];
    const path = `${dir}/report.html`;
    await writeHtml(figs, path, { title: "run <3> & co" });
    const html = await Deno.readTextFile(path);
    assertEquals([...Deno.readDirSync(dir)].map((e) => e.name), ["report.html"], "no temp files");
    assert(html.startsWith("<!DOCTYPE html>"), "doctype");
    assert(html.includes("<title>run &#60;3&#62; &#38; co</title>"), "title is escaped");
    const all = scripts(html);
    // every script is inline: no src attribute anywhere, and no stray "<script src" text
    for (const s of all) assert(!/\bsrc\s*=/i.test(s.attrs), `external script: ${s.attrs}`);
    assert(!/<script[^>]*\ssrc\s*=/i.test(html), "an external <script src> is in the page");
    // 1 plotly + 2 figure JSON blocks + 1 page script
    assertEquals(all.length, 4, "script elements");
    const inlined = all[0].body.replaceAll("\\x3C!--", "<!--").replaceAll(
      "\\x3C/script",
      "</script",
    );
    assert(inlined.includes(bundle), "the whole plotly bundle is inlined");
    new Function(all[0].body); // the escaped bundle is still valid JavaScript (parse only)
    const json = all.filter((s) => /type="application\/json"/.test(s.attrs));
    assertEquals(json.length, 2, "figure JSON blocks");
    json.forEach((s, i) => {
      const parsed = JSON.parse(s.body);
      assertEquals(parsed, JSON.parse(figureJson(figs[i])), `figure ${i} JSON`);
      assert(!s.body.includes("<"), `figure ${i} JSON holds a raw '<'`);
    });
    assertEquals(
      JSON.parse(json[0].body).layout.title.text,
      (figs[0].layout.title as { text: string }).text,
      "a title with </script> survives",
    );
    await runPageScript(all[3].body, json.map((s) => JSON.parse(s.body)));

    // a single figure; an existing file is replaced
    await writeHtml(figs[1], path, { plotly: "/* fake plotly */" });
    const small = await Deno.readTextFile(path);
    assert(small.length < 10_000 && small.includes("/* fake plotly */"), "plotly option");
    await assertRejects(() => writeHtml(figs, `${dir}/missing/x.html`), "does not exist");
    assertThrows(() => htmlPage([], { plotly: "x" }), "no figures");
    assertThrows(() => htmlPage(figs, { plotly: "" }), "plotly.js source");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

/**
 * Run the page's own script against a fake DOM and a fake Plotly: it must plot every figure
 * from its JSON block and show a hovered point's image data URL (and only those).
 */
async function runPageScript(code: string, figs: unknown[]): Promise<void> {
  const plotted: unknown[] = [];
  const handlers: Record<string, (ev: unknown) => void>[] = [];
  const img = { src: "" };
  const box = { style: { display: "none", left: "", top: "" }, querySelector: () => img };
  const divs = figs.map((_, i) => {
    const h: Record<string, (ev: unknown) => void> = {};
    handlers.push(h);
    return { id: `fig-${i}`, on: (name: string, fn: (ev: unknown) => void) => (h[name] = fn) };
  });
  const document = {
    getElementById: (id: string) =>
      id === "kit-hover"
        ? box
        : { textContent: JSON.stringify(figs[Number(/fig-(\d+)-json/.exec(id)![1])]) },
    querySelectorAll: () => divs,
  };
  const Plotly = {
    newPlot: (div: unknown, data: unknown, layout: unknown, config: unknown) => {
      plotted.push({ div, data, layout, config });
      return Promise.resolve();
    },
  };
  const window = { innerWidth: 1000, innerHeight: 800 };
  new Function("document", "Plotly", "window", code)(document, Plotly, window);
  await Promise.resolve();
  await Promise.resolve();
  assertEquals(plotted.length, figs.length, "figures plotted");
  const first = plotted[0] as { data: unknown; config: { responsive: boolean } };
  assertEquals(first.data, (figs[0] as { data: unknown }).data, "plotted data");
  assert(first.config.responsive, "responsive config");
  const ev = (customdata: unknown) => ({
    points: [{ customdata }],
    event: { clientX: 5, clientY: 9 },
  });
  handlers[0].plotly_hover(ev(42));
  assertEquals(box.style.display, "none", "a non-image customdata shows nothing");
  handlers[0].plotly_hover(ev("data:image/png;base64,QUJD"));
  assertEquals([box.style.display, img.src], ["block", "data:image/png;base64,QUJD"], "preview");
  assertEquals([box.style.left, box.style.top], ["21px", "25px"], "preview position");
  handlers[0].plotly_unhover({});
  assertEquals(box.style.display, "none", "hidden on unhover");
}
