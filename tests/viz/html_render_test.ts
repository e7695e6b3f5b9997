/**
 * The written HTML page, run in a DOM (jsdom, with the inlined plotly.js executing for real
 * and every external fetch recorded): each builder's figure must render with no script
 * error and no request leaving the page, Plotly.validate must find every trace and layout
 * attribute in plotly's schema, and the hover preview must show a t-SNE point's image.
 * jsdom has no canvas, so a do-nothing 2-D context stands in (plotly draws heatmaps through
 * one).
 */
import { assert, assertEquals } from "../helpers.ts";
import { JSDOM, ResourceLoader, VirtualConsole } from "npm:jsdom@24.1.0";
import type { MetricsRecord } from "../../lib/io/metrics_log.ts";
import type { AttentionMaps } from "../../lib/eval/attention_maps.ts";
import {
  ablationFigures,
  attentionGrid,
  confusionFigure,
  type Figure,
  figureJson,
  healthCurves,
  type ImageBatch,
  knnCurve,
  lossCurves,
  neighbourGrid,
  purityBars,
  relationAttention,
  scheduleCurves,
  tsneScatter,
  writeHtml,
} from "../../lib/viz/mod.ts";

function figures(): Figure[] {
  const step = (s: number, loss: number): MetricsRecord => ({
    kind: "step",
    time: s,
    epoch: 0,
    step: s,
    loss,
    total: loss,
    instance: loss / 3,
    local_group: loss / 3,
    group: loss / 3,
    lr: 1e-4 * s,
    wd: 0.04,
    momentum: 0.996,
    teacher_temp: 0.04,
  });
  const records: MetricsRecord[] = [step(1, 3), step(2, 2.5), {
    kind: "epoch",
    time: 3,
    epoch: 0,
    step: 2,
    knn_top1: 41.5,
    teacherEntropy: 3,
    teacherEntropyMax: 4.1,
    teacherKLFromUniform: 1.1,
    batchMeanEntropy: 3.9,
    featureStd: 0.1,
    featureStdIsotropic: 0.125,
    effectiveRank: 12,
    effectiveRankMax: 63,
  }];
  const images: ImageBatch = {
    data: Float32Array.from({ length: 4 * 3 * 8 * 8 }, (_, i) => (i % 17) / 16),
    shape: [4, 3, 8, 8],
  };
  const L = 4, heads = 2;
  const patch = Float32Array.from({ length: 4 * heads * L }, (_, i) => 0.05 + (i % 5) / 20);
  const maps: AttentionMaps = {
    n: 4,
    heads,
    gridH: 2,
    gridW: 2,
    height: 8,
    width: 8,
    patchSize: 4,
    upsample: "nearest",
    cls: new Float32Array(4 * heads).fill(0.1),
    patch,
    upsampled: new Float32Array(4 * heads * 64),
    threshold: 0.6,
    masks: Uint8Array.from({ length: 4 * heads * L }, (_, i) => i % 2),
    masksUpsampled: new Uint8Array(4 * heads * 64),
  };
  return [
    lossCurves(records),
    scheduleCurves(records),
    healthCurves(records),
    knnCurve({ trained: { 10: 80, 20: 81, 100: 79 }, "raw pixels": { 10: 75, 20: 74 } }),
    tsneScatter([0, 0, 1, 2, 3, 1, 2, 2], [0, 1, 0, -1], { images, classNames: ["a", "b"] }),
    tsneScatter([0, 0, 1, 2], [0, 1], { gl: true }),
    attentionGrid(images, maps, { masks: true }),
    attentionGrid(images, { ...maps, upsample: "bilinear" }, { indices: [1] }),
    confusionFigure([[5, 1], [2, 7]], ["a", "b"], { normalize: true }),
    // the local-group explorer's and the ablation's figures
    neighbourGrid(images, [
      {
        title: "#0 a, step 4",
        query: 0,
        neighbours: [
          { image: 1, similarity: 0.9, match: true, text: "training image #5, a" },
          { image: -1, similarity: 0.8, match: null, text: "unknown image" },
          { image: 2, similarity: 0.7, match: false, text: "training image #9, b" },
        ],
      },
      {
        title: "#0 a, step 8",
        query: 0,
        neighbours: [{ image: 3, similarity: 0.95, match: true, text: "training image #2, a" }],
      },
    ]),
    relationAttention([{ title: "#0, step 4", weights: [0.4, 0.3, 0.2, 0.1] }]),
    purityBars([{ name: "teacher, step 4", perClass: { a: 0.5, b: 0.25 }, overall: 0.4 }], {
      chance: 0.5,
    }),
    ...ablationFigures([
      {
        name: "mugs",
        knn: 60,
        linear: 70,
        purityTeacher: 0.4,
        purityStudent: 0.35,
        purityEncoded: 0.3,
      },
      {
        name: "no-local-group",
        knn: 58,
        linear: 69,
        purityTeacher: null,
        purityStudent: null,
        purityEncoded: 0.28,
        // means over seeds: error bars
        sd: { knn: 1.2, linear: 0.8, purityEncoded: 0.02 },
      },
    ], { untrainedKnn: 49, chance: 0.1 }),
  ];
}

/** The little of the DOM the test touches (Deno's type library has no DOM). */
interface El {
  style: Record<string, string>;
  querySelector(selector: string): El | null;
  getAttribute(name: string): string | null;
}
interface PlotDiv extends El {
  _fullData?: unknown[];
  data: Record<string, unknown>[];
  emit(name: string, ev: unknown): void;
}
interface Win {
  Plotly: { validate(data: unknown, layout: unknown): { msg: string }[] | undefined };
  document: {
    querySelectorAll(s: string): ArrayLike<unknown>;
    getElementById(id: string): El | null;
  };
  close(): void;
}

/** A 2-D context that accepts every call (jsdom has no canvas). */
function fakeContext(): unknown {
  const base: Record<string, unknown> = {
    createImageData: (w: number, h: number) => ({
      data: new Uint8ClampedArray(w * h * 4),
      width: w,
      height: h,
    }),
    getImageData: (_x: number, _y: number, w: number, h: number) => ({
      data: new Uint8ClampedArray(w * h * 4),
      width: w,
      height: h,
    }),
    measureText: () => ({ width: 10 }),
  };
  return new Proxy(base, {
    get: (t, k) => (typeof k === "string" && k in t ? t[k] : () => {}),
    set: () => true,
  });
}

Deno.test({
  name: "writeHtml: the page renders every figure offline with the inlined plotly.js",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const figs = figures();
    const dir = await Deno.makeTempDir({ prefix: "viz-render-" });
    try {
      const path = `${dir}/page.html`;
      await writeHtml(figs, path, { title: "render test" });
      const html = await Deno.readTextFile(path);
      const fetched: string[] = [];
      class Recorder extends ResourceLoader {
        fetch(url: string) {
          fetched.push(url);
          return null;
        }
      }
      const errors: string[] = [];
      const pageConsole = new VirtualConsole();
      pageConsole.on("jsdomError", (e: Error) => errors.push(e.message));
      const dom = new JSDOM(html, {
        runScripts: "dangerously",
        pretendToBeVisual: true,
        resources: new Recorder(),
        virtualConsole: pageConsole,
        beforeParse(w: Record<string, unknown>) {
          w.TextDecoder = TextDecoder;
          w.TextEncoder = TextEncoder;
          const canvas = (w.HTMLCanvasElement as { prototype: Record<string, unknown> }).prototype;
          canvas.getContext = fakeContext;
          canvas.toDataURL = () => "data:image/png;base64,";
        },
      });
      const w = dom.window as unknown as Win;
      const divs = Array.from(w.document.querySelectorAll("div.kit-figure")) as PlotDiv[];
      assertEquals(divs.length, figs.length, "figure divs");
      const t0 = Date.now();
      while (divs.some((d) => !d._fullData) && Date.now() - t0 < 30_000 && !errors.length) {
        await new Promise((r) => setTimeout(r, 50));
      }
      assertEquals(errors, [], "script errors in the page");
      divs.forEach((d, i) => {
        assert(d._fullData, `figure ${i} did not render`);
        assertEquals(d._fullData!.length, figs[i].data.length, `figure ${i} traces`);
        assert(d.querySelector("svg.main-svg"), `figure ${i} has no plot svg`);
        const f = JSON.parse(figureJson(figs[i]));
        const problems = w.Plotly.validate(f.data, f.layout);
        assertEquals(problems?.map((p) => p.msg) ?? [], [], `figure ${i} against plotly's schema`);
      });
      assertEquals(fetched, [], "requests made by the page");

      // hovering a t-SNE point shows its image
      const tsne = divs[4];
      const url = (tsne.data[1].customdata as string[])[0];
      assert(url.startsWith("data:image/png;base64,"), "t-SNE customdata is a PNG data URL");
      const box = w.document.getElementById("kit-hover")!;
      // the page wires its hover handlers once Plotly.newPlot's promise resolves
      const t1 = Date.now();
      while (box.style.display !== "block" && Date.now() - t1 < 10_000) {
        tsne.emit("plotly_hover", {
          points: [{ customdata: url, curveNumber: 1, pointNumber: 0 }],
          event: { clientX: 10, clientY: 20 },
        });
        await new Promise((r) => setTimeout(r, 20));
      }
      assertEquals(box.style.display, "block", "preview shown");
      assertEquals(box.querySelector("img")!.getAttribute("src"), url, "preview image");
      tsne.emit("plotly_unhover", {});
      assertEquals(box.style.display, "none", "preview hidden");
      w.close();
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
