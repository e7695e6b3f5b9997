/**
 * Training curves from `metrics.jsonl` (`readMetrics`, lib/io/metrics_log.ts): losses and
 * schedules per logged step, k-NN accuracy and collapse signals per epoch (the keys
 * `lib/mugs/trainer.ts` and `lib/mugs/health.ts` write). A resumed run logs some steps
 * again; the last record of a step (or epoch) wins. Fields a run did not log, or logged
 * only as null, get no trace; NaN values are drawn as gaps.
 */
import type { MetricsRecord } from "../io/metrics_log.ts";
import { type Figure, figure, type Layout, type Trace } from "./figure.ts";
import { axisNames, cellDomain } from "./grid.ts";

/**
 * Options of the curve builders.
 *
 * @example
 * ```ts
 * const opts: CurveOptions = { title: "run 3 losses", keys: ["loss", "group"] };
 * ```
 */
export interface CurveOptions {
  /** Figure title. */
  title?: string;
  /** The record fields to draw (default: each builder's own list). */
  keys?: string[];
}

/** The loss fields of the trainer's step records, in drawing order, with their names. */
const LOSS_NAMES: Record<string, string> = {
  loss: "total",
  total: "total",
  instance: "instance",
  local_group: "local group",
  group: "group",
};

/** Schedule fields of step records. */
const SCHEDULES: [string, string][] = [
  ["lr", "learning rate"],
  ["wd", "weight decay"],
  ["momentum", "teacher momentum"],
  ["teacher_temp", "teacher temperature"],
];

/** Health panels: title and (field, name, dashed reference line) per trace. */
const HEALTH_PANELS: { title: string; fields: [string, string, boolean][] }[] = [
  {
    title: "teacher entropy (nats)",
    fields: [
      ["teacherEntropy", "per-row entropy", false],
      ["batchMeanEntropy", "entropy of the batch mean", false],
      ["teacherKLFromUniform", "KL from uniform", false],
      ["teacherEntropyMax", "log m (uniform)", true],
    ],
  },
  {
    title: "feature std",
    fields: [
      ["featureStd", "feature std", false],
      ["student_featureStd", "student feature std", false],
      ["featureStdIsotropic", "1/sqrt(D) (isotropic)", true],
    ],
  },
  {
    title: "effective rank",
    fields: [
      ["effectiveRank", "effective rank", false],
      ["student_effectiveRank", "student effective rank", false],
      ["effectiveRankMax", "max possible", true],
    ],
  },
  {
    title: "neighbour purity (share of memory neighbours with the query's label)",
    fields: [
      ["neighbour_purity_teacher", "teacher memory", false],
      ["neighbour_purity_student", "student memory", false],
      ["neighbour_purity_chance", "chance (sum of squared class shares)", true],
    ],
  },
];

/** Records of one kind, one per counter value (the last wins), sorted by the counter. */
function latest(records: MetricsRecord[], kind: string, counter: string, what: string) {
  if (!Array.isArray(records)) {
    throw new Error(`${what}: records must be an array (from readMetrics), got ${typeof records}`);
  }
  const by = new Map<number, MetricsRecord>();
  for (const r of records) {
    if (r && r.kind === kind && typeof r[counter] === "number") by.set(r[counter] as number, r);
  }
  if (by.size === 0) throw new Error(`${what}: no "${kind}" records in the metrics`);
  return [...by.entries()].sort((a, b) => a[0] - b[0]);
}

/** x and y of one field; null where a record lacks a number. Null when no value is finite. */
function series(rows: [number, MetricsRecord][], key: string) {
  let any = false;
  const y = rows.map(([, r]) => {
    const v = r[key];
    if (typeof v !== "number") return null;
    if (Number.isFinite(v)) any = true;
    return v;
  });
  return any ? { x: rows.map(([c]) => c), y } : null;
}

function title(text: string | undefined, fallback: string): Layout["title"] {
  return { text: text ?? fallback };
}

function checkKeys(keys: string[] | undefined, what: string): void {
  if (keys !== undefined && (!Array.isArray(keys) || keys.some((k) => typeof k !== "string"))) {
    throw new Error(`${what}: keys must be an array of field names`);
  }
}

/**
 * Loss curves against the step, one trace per loss field of the step records (`loss` as
 * "total", `instance`, `local_group`, `group`, and fields named `loss_*` or `*_loss`).
 *
 * @example
 * ```ts
 * const fig = lossCurves(await readMetrics("runs/mugs"));
 * ```
 */
export function lossCurves(records: MetricsRecord[], opts: CurveOptions = {}): Figure {
  checkKeys(opts.keys, "lossCurves");
  const rows = latest(records, "step", "step", "lossCurves");
  let keys = opts.keys;
  if (!keys) {
    const seen: string[] = [];
    for (const [, r] of rows) {
      for (const k of Object.keys(r)) {
        if (!seen.includes(k) && (k in LOSS_NAMES || /^loss_|_loss$/.test(k))) seen.push(k);
      }
    }
    const order = Object.keys(LOSS_NAMES);
    keys = seen.sort((a, b) => (order.indexOf(a) + 1 || 99) - (order.indexOf(b) + 1 || 99));
    if (keys.includes("loss")) keys = keys.filter((k) => k !== "total"); // the same number
  }
  const data: Trace[] = [];
  for (const k of keys) {
    const s = series(rows, k);
    if (s) data.push({ type: "scatter", mode: "lines", name: LOSS_NAMES[k] ?? k, ...s });
  }
  if (data.length === 0) {
    throw new Error(`lossCurves: the step records hold no loss values (looked for ${keys})`);
  }
  return figure(data, {
    title: title(opts.title, "training losses"),
    xaxis: { title: { text: "step" } },
    yaxis: { title: { text: "loss" } },
    hovermode: "x unified",
  });
}

/** Stacked panels sharing the x axis, one per entry. */
function stacked(
  panels: { title: string; traces: Trace[] }[],
  xTitle: string,
  figTitle: string,
): Figure {
  const n = panels.length;
  const layout: Layout = {
    title: { text: figTitle },
    height: 120 + 200 * n,
    hovermode: "x unified",
    legend: { orientation: "h" },
  };
  const data: Trace[] = [];
  const annotations: unknown[] = [];
  panels.forEach((p, i) => {
    const ax = axisNames(i);
    const dom = cellDomain(i, 0, n, 1, 0, 0.08);
    layout[ax.xaxis] = {
      anchor: ax.y,
      domain: dom.x,
      ...(i > 0 ? { matches: "x" } : {}),
      ...(i === n - 1 ? { title: { text: xTitle } } : { showticklabels: false }),
    };
    layout[ax.yaxis] = { anchor: ax.x, domain: dom.y };
    annotations.push({
      text: `<b>${p.title}</b>`,
      xref: "paper",
      yref: "paper",
      x: 0,
      y: dom.y[1],
      xanchor: "left",
      yanchor: "bottom",
      showarrow: false,
    });
    for (const t of p.traces) data.push({ ...t, xaxis: ax.x, yaxis: ax.y });
  });
  layout.annotations = annotations;
  return figure(data, layout);
}

/**
 * The schedules of the step records against the step, one panel each: learning rate,
 * weight decay, teacher momentum and teacher temperature (those present).
 *
 * @example
 * ```ts
 * const fig = scheduleCurves(await readMetrics("runs/mugs"));
 * ```
 */
export function scheduleCurves(records: MetricsRecord[], opts: CurveOptions = {}): Figure {
  checkKeys(opts.keys, "scheduleCurves");
  const rows = latest(records, "step", "step", "scheduleCurves");
  const fields = opts.keys?.map((k) => [k, SCHEDULES.find(([f]) => f === k)?.[1] ?? k]) ??
    SCHEDULES;
  const panels = [];
  for (const [k, name] of fields) {
    const s = series(rows, k);
    if (s) panels.push({ title: name, traces: [{ type: "scatter", mode: "lines", name, ...s }] });
  }
  if (panels.length === 0) {
    throw new Error(
      `scheduleCurves: the step records hold none of ${fields.map(([k]) => k).join(", ")}`,
    );
  }
  return stacked(panels, "step", opts.title ?? "schedules");
}

/**
 * Per-epoch read-outs against the epoch: k-NN top-1 (fields `knn_top*`, the student's
 * `knn_top1_student` next to the teacher's), then the collapse
 * signals of `healthSignals` (teacher entropies with `log m` dashed, feature std with the
 * isotropic value dashed, effective rank with its maximum dashed), then the neighbour purity
 * of the local-group memories with its chance level dashed; panels without data are
 * left out. With `keys`, one panel per given field instead.
 *
 * @example
 * ```ts
 * const fig = healthCurves(await readMetrics("runs/mugs", { kind: "epoch" }));
 * ```
 */
export function healthCurves(records: MetricsRecord[], opts: CurveOptions = {}): Figure {
  checkKeys(opts.keys, "healthCurves");
  const rows = latest(records, "epoch", "epoch", "healthCurves");
  const line = (name: string, s: { x: number[]; y: (number | null)[] }, dashed: boolean) => ({
    type: "scatter",
    mode: dashed ? "lines" : "lines+markers",
    name,
    ...s,
    ...(dashed ? { line: { dash: "dash" } } : {}),
  });
  const panels: { title: string; traces: Trace[] }[] = [];
  if (opts.keys) {
    for (const k of opts.keys) {
      const s = series(rows, k);
      if (s) panels.push({ title: k, traces: [line(k, s, false)] });
    }
  } else {
    const knnKeys: string[] = [];
    for (const [, r] of rows) {
      for (const k of Object.keys(r)) {
        if (/^knn_top\d+(_student)?$/.test(k) && !knnKeys.includes(k)) knnKeys.push(k);
      }
    }
    const knn = knnKeys.sort().flatMap((k) => {
      const s = series(rows, k);
      const name = `k-NN ${k.slice(4).replace("top", "top-").replace("_student", " (student)")}`;
      return s ? [line(name, s, false)] : [];
    });
    if (knn.length) panels.push({ title: "k-NN accuracy (%)", traces: knn });
    for (const p of HEALTH_PANELS) {
      const traces = p.fields.flatMap(([k, name, dashed]) => {
        const s = series(rows, k);
        return s ? [line(name, s, dashed)] : [];
      });
      if (traces.length) panels.push({ title: p.title, traces });
    }
  }
  if (panels.length === 0) {
    throw new Error("healthCurves: the epoch records hold no k-NN or health values");
  }
  return stacked(panels, "epoch", opts.title ?? "k-NN accuracy and collapse signals");
}

/**
 * The figures of a run's `curves.html`: the loss curves and the per-epoch read-outs (k-NN,
 * collapse signals, neighbour purity), each when the records hold its data (a run stopped
 * before its first epoch has no read-outs yet). Empty when there is nothing to draw.
 *
 * @example
 * ```ts
 * await writeHtml(runCurves(await readMetrics("runs/mugs")), "runs/mugs/curves.html");
 * ```
 */
export function runCurves(records: MetricsRecord[]): Figure[] {
  const figs: Figure[] = [];
  for (const make of [lossCurves, healthCurves]) {
    try {
      figs.push(make(records));
    } catch { /* no records of that kind, or none with values: no figure */ }
  }
  return figs;
}
