/**
 * `deno task neighbours --checkpoint RUN [--images N] [--out DIR]`: what a run's local-group
 * memories retrieve (lib/mugs/local_groups.ts). For N held-out query images (the first N, or
 * `--indices`), the k neighbours each memory (teacher and student) returns, as images found
 * through the dataset indices the memory keeps beside its entries, with their similarities and
 * labels; the relation transformer's attention of the query over itself and its neighbours;
 * and neighbour purity per class on `--purity-images` held-out images. A run folder gives its
 * two checkpoints (`checkpoint.prev`, then `checkpoint`), and a comma-separated list any
 * number, so the same queries can be followed over training.
 *
 * Writes `neighbours.json` (every number) and `neighbours.html` (self-contained: the neighbour
 * grids, the attention, purity per class and, when the run folder has a `metrics.jsonl`,
 * purity against epochs) into `--out`.
 */
import { z } from "npm:zod@4.6.7";
import { flagsMain, runMain } from "./flags.ts";
import { dataLayout, loadData } from "./data.ts";
import { init } from "../gpu/device.ts";
import { loadCheckpoint } from "../io/checkpoint.ts";
import { writeTextAtomic } from "../io/atomic.ts";
import { readMetrics } from "../io/metrics_log.ts";
import type { Dataset } from "../data/dataset.ts";
import type { ViTConfig } from "../nn/vit.ts";
import type { Network } from "../eval/backbone.ts";
import {
  checkMemoryData,
  checkpointSnapshots,
  disposeSnapshot,
  type Exploration,
  exploreLocalGroups,
  heldOutPurity,
  loadLocalGroups,
  type LocalGroupSnapshot,
  runFolder,
} from "../mugs/local_groups.ts";
import { imagePurity, purityChance, purityValue } from "../memory/purity.ts";
import {
  type Figure,
  healthCurves,
  type ImageBatch,
  neighbourGrid,
  type NeighbourRow,
  purityBars,
  relationAttention,
  writeHtml,
} from "../viz/mod.ts";

/**
 * The options of `deno task neighbours`.
 *
 * @example
 * ```ts
 * NeighboursOptions.parse({ checkpoint: "runs/mugs" }).images; // 8
 * ```
 */
export const NeighboursOptions = z.strictObject({
  checkpoint: z.string().min(1).describe(
    "training output folder (its checkpoint.prev and checkpoint), its checkpoint/ folder, a checkpoint .json, or a comma-separated list of these, oldest first",
  ),
  images: z.number().int().min(1).max(64).default(8).describe(
    "held-out query images to show (the first N)",
  ),
  indices: z.array(z.number().int().min(0)).min(1).max(64).optional().describe(
    "held-out images to show instead of the first N",
  ),
  out: z.string().min(1).optional().describe("output folder [default: <run folder>/neighbours]"),
  data: z.string().min(1).optional().describe(
    "the data the run trained on [default: what its checkpoint records, else embedded]",
  ),
  network: z.enum(["both", "teacher", "student"]).default("both").describe("which memories"),
  purityImages: z.number().int().min(0).default(1000).describe(
    "held-out images the per-class purity is measured on (the first ones; 0: all)",
  ),
});

/** The validated options. */
export type NeighboursOptions = z.infer<typeof NeighboursOptions>;

/** One network of one snapshot in neighbours.json. */
interface MemoryReport {
  network: Network;
  size: number;
  filled: number;
  /** Filled entries whose image is unknown. */
  unknown: number;
}

/** Images for the figures: the queries (held out) and the neighbours (training), one batch. */
function figureImages(test: Dataset, train: Dataset, queries: number[], neighbours: number[]) {
  const per = test.channels * test.height * test.width;
  const trainAt = new Map<number, number>();
  for (const i of neighbours) if (i >= 0 && !trainAt.has(i)) trainAt.set(i, trainAt.size);
  const data = new Uint8Array((queries.length + trainAt.size) * per);
  queries.forEach((q, j) => data.set(test.images.subarray(q * per, (q + 1) * per), j * per));
  for (const [i, j] of trainAt) {
    data.set(train.images.subarray(i * per, (i + 1) * per), (queries.length + j) * per);
  }
  const batch: ImageBatch = {
    data,
    shape: [queries.length + trainAt.size, test.channels, test.height, test.width],
  };
  return { batch, trainIndex: (i: number) => (i < 0 ? -1 : queries.length + trainAt.get(i)!) };
}

/** Mean over heads of the last block's attention of query q: [1 + k]. */
function lastBlockAttention(e: Exploration, q: number): number[] {
  const a = e.attention![e.attention!.length - 1];
  const T = e.k + 1;
  return Array.from({ length: T }, (_, t) => {
    let s = 0;
    for (let h = 0; h < e.heads; h++) s += a[(q * e.heads + h) * T + t];
    return s / e.heads;
  });
}

/** Neighbour j of query qi in an exploration: its memory row, image, label and similarity. */
function neighbourAt(e: Exploration, qi: number, j: number, train: Dataset) {
  const image = e.images[qi * e.k + j];
  return {
    row: e.rows[qi * e.k + j],
    image,
    label: image >= 0 ? train.labels[image] : -1,
    similarity: e.similarities[qi * e.k + j],
  };
}

/** What the explorer found in every snapshot, for every network. */
interface Findings {
  snapshots: { label: string; source: string; epoch?: number; step?: number }[];
  memories: (MemoryReport & { snapshot: number })[];
  /** Per snapshot and network: purity on the held-out images, overall and per class. */
  purity: Record<string, unknown>[];
  found: { snapshot: number; e: Exploration }[];
}

/** The data, queries and naming every part of the explorer reads. */
interface Scope {
  train: Dataset;
  test: Dataset;
  queries: number[];
  networks: Network[];
  /** Held-out images of the purity measurement. */
  P: number;
  className: (label: number) => string;
}

/** Load each snapshot's memories, find the queries' neighbours, and measure purity. */
async function exploreSnapshots(paths: string[], sc: Scope): Promise<Findings> {
  const f: Findings = { snapshots: [], memories: [], purity: [], found: [] };
  for (const [s, path] of paths.entries()) {
    let snap: LocalGroupSnapshot | null = null;
    try {
      snap = await loadLocalGroups(path, { networks: sc.networks });
      const { label, source, epoch, step } = snap;
      f.snapshots.push({ label, source, epoch, step });
      const shown = await exploreLocalGroups(snap, sc.test, sc.queries);
      const held = await heldOutPurity(snap, sc.train, sc.test, sc.P);
      for (const [j, net] of snap.nets.entries()) {
        const src = net.memory.sources;
        let unknown = 0;
        for (let r = 0; r < net.memory.filled; r++) if (src[r] < 0) unknown++;
        const { size, filled } = net.memory;
        f.memories.push({ snapshot: s, network: net.network, size, filled, unknown });
        const p = held[j].purity;
        f.purity.push({
          snapshot: s,
          network: net.network,
          images: sc.P,
          overall: purityValue(p),
          per_class: Object.fromEntries(
            [...p.perClass].sort((a, b) => a[0] - b[0]).map(([c, v]) => [
              sc.className(c),
              purityValue(v),
            ]),
          ),
        });
        f.found.push({ snapshot: s, e: shown[j] });
      }
    } finally {
      if (snap) disposeSnapshot(snap);
    }
  }
  return f;
}

/** neighbours.json's `queries`: per query, per snapshot and network, its neighbours. */
function queryRecords(f: Findings, sc: Scope, k: number) {
  const { train, test, className } = sc;
  return sc.queries.map((q, qi) => ({
    held_out_index: q,
    label: test.labels[q],
    class: className(test.labels[q]),
    snapshots: f.snapshots.map((_, s) =>
      Object.fromEntries(
        f.found.filter((x) => x.snapshot === s).map(({ e }) => [e.network, {
          neighbours: Array.from({ length: k }, (_, j) => {
            const n = neighbourAt(e, qi, j, train);
            return {
              memory_row: n.row,
              dataset_index: n.image,
              label: n.label,
              class: n.image >= 0 ? className(n.label) : "unknown",
              similarity: n.similarity,
            };
          }),
          purity: purityValue(
            imagePurity(
              e.images.subarray(qi * k, (qi + 1) * k),
              k,
              [test.labels[q]],
              train.labels,
            ),
          ),
          attention: e.attention?.map((a) =>
            Array.from(
              { length: e.heads },
              (_, h) =>
                Array.from(
                  a.subarray((qi * e.heads + h) * (k + 1), (qi * e.heads + h + 1) * (k + 1)),
                ),
            )
          ),
        }]),
      )
    ),
  }));
}

/**
 * The page's figures: per network the neighbour grid and the relation transformer's attention,
 * purity per class, and the purity curve of the run when its metrics.jsonl has one.
 */
async function neighbourFigures(
  f: Findings,
  sc: Scope,
  k: number,
  chance: number,
  runDir: string,
): Promise<Figure[]> {
  const { train, test, queries, className } = sc;
  const figs: Figure[] = [];
  const ims = figureImages(test, train, queries, f.found.flatMap((x) => Array.from(x.e.images)));
  for (const network of sc.networks) {
    const rows: NeighbourRow[] = [];
    const att: { title: string; weights: number[] }[] = [];
    queries.forEach((q, qi) => {
      for (const { snapshot, e } of f.found.filter((x) => x.e.network === network)) {
        const title = `#${q} ${className(test.labels[q])}, ${f.snapshots[snapshot].label}`;
        rows.push({
          title,
          query: qi,
          neighbours: Array.from({ length: k }, (_, j) => {
            const n = neighbourAt(e, qi, j, train);
            return {
              image: ims.trainIndex(n.image),
              similarity: n.similarity,
              match: n.image >= 0 && n.label >= 0 ? n.label === test.labels[q] : null,
              text: n.image >= 0
                ? `training image #${n.image}, ${className(n.label)}`
                : "unknown image",
            };
          }),
        });
        if (e.attention) att.push({ title, weights: lastBlockAttention(e, qi) });
      }
    });
    figs.push(
      neighbourGrid(ims.batch, rows, {
        title: `${network} memory: the ${k} neighbours of each query`,
      }),
    );
    if (att.length) {
      figs.push(relationAttention(att, {
        title:
          `${network} relation transformer: the query token's attention (last block, mean over heads)`,
      }));
    }
  }
  figs.push(purityBars(
    f.purity.map((p) => ({
      name: `${p.network}, ${f.snapshots[p.snapshot as number].label}`,
      perClass: p.per_class as Record<string, number>,
      overall: p.overall as number,
    })),
    { chance, title: `neighbour purity per class (${sc.P} held-out queries)` },
  ));
  try {
    const records = await readMetrics(runDir);
    figs.push(healthCurves(records, {
      keys: ["neighbour_purity_teacher", "neighbour_purity_student"],
      title: "neighbour purity during training (the epoch's last batches)",
    }));
  } catch { /* no metrics.jsonl, or none with purity: no curve */ }
  return figs;
}

/** Run the explorer; returns the neighbours.json record (exported for tests and notebooks). */
export async function runNeighbours(
  o: NeighboursOptions,
  log: (line: string) => void = console.log,
): Promise<Record<string, unknown>> {
  const t0 = performance.now();
  const paths = await checkpointSnapshots(o.checkpoint); // a bad path fails before the GPU
  const last = await loadCheckpoint(paths[paths.length - 1]);
  const cfg = (last.meta.config ?? {}) as { vit?: ViTConfig; data?: string; trainImages?: number };
  if (!cfg.vit) {
    throw new Error(`--checkpoint ${o.checkpoint}: ${last.info.json} has no config.vit`);
  }
  const dataSpec = o.data ?? cfg.data ?? "embedded";
  const layout = await dataLayout(dataSpec);
  await init();
  const { train, test } = await loadData(layout, {
    imageSize: cfg.vit.imgSize,
    channels: cfg.vit.inChans === 1 ? 1 : 3,
  });
  checkMemoryData(cfg, train, `--data ${dataSpec}`);
  const queries = o.indices ?? Array.from({ length: Math.min(o.images, test.n) }, (_, i) => i);
  for (const q of queries) {
    if (q >= test.n) {
      throw new Error(
        `--indices: ${q} is outside the ${test.n} held-out images of --data ${dataSpec}`,
      );
    }
  }
  const sc: Scope = {
    train,
    test,
    queries,
    networks: o.network === "both" ? ["teacher", "student"] : [o.network],
    P: o.purityImages === 0 ? test.n : Math.min(o.purityImages, test.n),
    className: (l: number) => (l >= 0 ? train.classes[l] ?? `class ${l}` : "unlabeled"),
  };
  const chance = purityChance(train.labels);
  const f = await exploreSnapshots(paths, sc);
  const k = f.found[0].e.k;
  const { snapshots, memories, purity } = f;
  const result: Record<string, unknown> = {
    checkpoints: snapshots,
    data: dataSpec,
    k,
    networks: sc.networks,
    chance,
    memories,
    purity,
    queries: queryRecords(f, sc, k),
  };
  const runDir = runFolder(paths[paths.length - 1]);
  const figs = await neighbourFigures(f, sc, k, chance, runDir);
  const out = o.out ?? `${runDir}/neighbours`;
  await Deno.mkdir(out, { recursive: true });
  result.figures = [`${out}/neighbours.html`];
  result.seconds = (performance.now() - t0) / 1000;
  await writeHtml(figs, `${out}/neighbours.html`, { title: `Local groups: ${o.checkpoint}` });
  await writeTextAtomic(`${out}/neighbours.json`, JSON.stringify(result, null, 2) + "\n");
  for (const p of purity) {
    log(
      `${p.network} memory, ${snapshots[p.snapshot as number].label}: neighbour purity ${
        (p.overall as number).toFixed(3)
      } on ${sc.P} held-out images (chance ${chance.toFixed(3)})`,
    );
  }
  log(`wrote ${out}/neighbours.json and ${out}/neighbours.html`);
  return result;
}

/** Run the command line (exported for tests); returns the exit code. */
export const main: (argv: string[]) => Promise<number> = flagsMain(
  NeighboursOptions,
  "deno task neighbours --checkpoint RUN [--images N] [--out DIR] [options]",
  "What a run's local-group memories retrieve for held-out images, and how it changes over training.",
  (o) => runNeighbours(o),
);

if (import.meta.main) await runMain("neighbours", main);
