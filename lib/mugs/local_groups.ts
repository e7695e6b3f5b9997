/**
 * The local-group explorer: what a run's local-group memories return for held-out images.
 *
 * A snapshot is one state of the memories and the networks that search them: read from a
 * training checkpoint (`loadLocalGroups`: the teacher's and the student's backbone, relation
 * transformer and memory, each memory entry with the dataset index of its image), or made by
 * encoding training images with a backbone (`encodeLocalGroups`: a memory of their mean patch
 * tokens, for a bare weight file such as the shipped backbone; it has no relation transformer).
 * `exploreLocalGroups` runs held-out images through a snapshot as the training step queries the
 * memory (the mean of the last block's tokens before the final norm, cosine top-k) and returns,
 * per query, the retrieved rows, their images, similarities, and the relation transformer's
 * attention of the query token over itself and its neighbours. `checkpointSnapshots` lists the
 * checkpoints of a run (`checkpoint.prev`, then `checkpoint`) or a comma-separated list, oldest
 * first, so the same query can be followed over training.
 */
import { dirname } from "node:path";
import { loadCheckpoint, type LoadedCheckpoint } from "../io/checkpoint.ts";
import { backboneFromCheckpoint, type Network } from "../eval/backbone.ts";
import type { ViT } from "../nn/vit.ts";
import type { Dataset } from "../data/dataset.ts";
import { uint8ToTensor } from "../data/convert.ts";
import { normalize } from "../augment/ops.ts";
import { LocalGroupMemory, MUGS_TOP_K } from "../memory/local_group.ts";
import { imagePurity, type Purity } from "../memory/purity.ts";
import { LocalGroupTransformer } from "./local_group_transformer.ts";
import { noGrad } from "../tensor/tape.ts";
import { keep, tidy } from "../tensor/scope.ts";
import type { Tensor } from "../tensor/tensor.ts";

/**
 * One network's local-group machinery in a snapshot.
 *
 * @example
 * ```ts
 * const { backbone, memory } = snapshot.nets[0];
 * ```
 */
export interface LocalGroupNet {
  network: Network;
  backbone: ViT;
  /** The relation (local-group) transformer; absent for an encoded memory. */
  relation?: LocalGroupTransformer;
  memory: LocalGroupMemory;
}

/**
 * One state of the memories and the networks that search them.
 *
 * @example
 * ```ts
 * const s: LocalGroupSnapshot = await loadLocalGroups("runs/mugs/checkpoint/checkpoint.json");
 * console.log(s.label, s.nets.map((n) => n.network));
 * ```
 */
export interface LocalGroupSnapshot {
  /** What it was read from (a checkpoint sidecar, or the encoding backbone's source). */
  source: string;
  /** A short name for figures ("step 80 (2 epochs)", "trained backbone, encoded"). */
  label: string;
  epoch?: number;
  step?: number;
  /** Neighbours per query (the run's `heads.k`). */
  k: number;
  /** Input normalisation of the networks. */
  mean: number[];
  std: number[];
  /** The run's `--data` and its training-set size, when the checkpoint records them. */
  data?: string;
  trainImages?: number;
  nets: LocalGroupNet[];
}

/**
 * What one network of a snapshot returned for `n` queries (row-major, query q's neighbours at
 * `q*k .. q*k + k - 1`).
 *
 * @example
 * ```ts
 * const r: Exploration = (await exploreLocalGroups(snapshot, test, [0, 1]))[0];
 * r.images[0]; // the training image of query 0's nearest neighbour (-1: unknown)
 * ```
 */
export interface Exploration {
  network: Network;
  n: number;
  k: number;
  /** Memory rows retrieved, [n * k]. */
  rows: Int32Array;
  /** Dataset index of each neighbour's image (-1: unknown), [n * k]. */
  images: Int32Array;
  /** Cosine similarity of the query and each neighbour, [n * k]. */
  similarities: Float32Array;
  /**
   * Token 0's attention in each relation block over [query, neighbour_1..k]:
   * [blocks][n * heads * (1 + k)], absent without a relation transformer.
   */
  attention?: Float32Array[];
  /** Heads of the relation transformer (0 without one). */
  heads: number;
}

const MEMORIES: Record<Network, string> = {
  teacher: "teacher_memory",
  student: "student_memory",
};

/**
 * The checkpoints named by `spec`, oldest first: a comma-separated list of run folders (their
 * `checkpoint/`), checkpoint folders (`checkpoint.prev.json` when it holds an earlier step, then
 * `checkpoint.json`) or sidecar files. Errors name the path.
 *
 * @example
 * ```ts
 * await checkpointSnapshots("runs/mugs"); // [".../checkpoint.prev.json", ".../checkpoint.json"]
 * ```
 */
export async function checkpointSnapshots(spec: string): Promise<string[]> {
  const out: string[] = [];
  for (const raw of spec.split(",")) {
    const path = raw.trim();
    if (!path) throw new Error(`--checkpoint ${spec}: an empty entry in the list`);
    let stat: Deno.FileInfo;
    try {
      stat = await Deno.stat(path);
    } catch {
      throw new Error(
        `--checkpoint ${path}: no such file or folder (give a training output folder, its checkpoint/ folder, or a checkpoint .json file)`,
      );
    }
    if (stat.isFile) {
      if (!path.endsWith(".json")) {
        throw new Error(
          `--checkpoint ${path}: not a checkpoint sidecar (.json); a weight file holds no memory`,
        );
      }
      out.push(path);
      continue;
    }
    const dir = await isDir(`${path}/checkpoint`) ? `${path}/checkpoint` : path;
    const current = `${dir}/checkpoint.json`;
    const prev = `${dir}/checkpoint.prev.json`;
    if (!(await isFile(current))) {
      throw new Error(`--checkpoint ${path}: no checkpoint.json in ${dir} (is it a training run?)`);
    }
    if (await isFile(prev)) {
      const [a, b] = await Promise.all([prev, current].map((p) => loadCheckpoint(p)));
      if (a.meta.step < b.meta.step) out.push(prev);
    }
    out.push(current);
  }
  return out;
}

async function isFile(p: string): Promise<boolean> {
  try {
    return (await Deno.stat(p)).isFile;
  } catch {
    return false;
  }
}

async function isDir(p: string): Promise<boolean> {
  try {
    return (await Deno.stat(p)).isDirectory;
  } catch {
    return false;
  }
}

/** The relation transformer of `network` in a checkpoint (its depth read from the names). */
function relationFromCheckpoint(
  ck: LoadedCheckpoint,
  network: Network,
  vit: ViT,
): LocalGroupTransformer {
  const prefix = `${network}.relation.`;
  const tensors = new Map(
    [...ck.tensors].filter(([n]) => n.startsWith(prefix)).map(([n, t]) => [
      n.slice(prefix.length),
      t,
    ]),
  );
  let depth = 0;
  while (tensors.has(`relation_blocks.${depth}.norm1.weight`)) depth++;
  if (depth === 0) {
    throw new Error(`${ck.info.safetensors}: no '${prefix}relation_blocks.*' tensors`);
  }
  const c = vit.config;
  const hidden = tensors.get("relation_blocks.0.mlp.fc1.weight")!.shape[0];
  const relation = new LocalGroupTransformer(
    { dim: c.embedDim, heads: c.numHeads, depth, mlpRatio: hidden / c.embedDim, eps: c.eps },
    vit.norm,
  );
  relation.loadStateDict(tensors, { source: ck.info.safetensors });
  return relation.eval();
}

/**
 * Read a snapshot from a training checkpoint (a sidecar `.json` file, or a folder: its newest
 * complete checkpoint): for each of `networks` (both by default) the backbone, the relation
 * transformer and the memory with its entries' dataset indices. A checkpoint written before
 * the memories kept those indices is an error that says so.
 *
 * @example
 * ```ts
 * const s = await loadLocalGroups("runs/mugs/checkpoint/checkpoint.prev.json");
 * ```
 */
export async function loadLocalGroups(
  path: string,
  opts: { networks?: Network[] } = {},
): Promise<LocalGroupSnapshot> {
  const ck = await loadCheckpoint(path, { fallback: !path.endsWith(".json") });
  const meta = ck.meta as typeof ck.meta & {
    queues?: Record<string, { pointer: number; filled: number }>;
  };
  const cfg = (ck.meta.config ?? {}) as {
    heads?: { k?: number };
    mean?: number[];
    std?: number[];
    data?: string;
    trainImages?: number;
  };
  if (!cfg.mean || !cfg.std) {
    throw new Error(`${ck.info.json}: the sidecar has no config.mean/config.std`);
  }
  const nets: LocalGroupNet[] = [];
  try {
    for (const network of opts.networks ?? ["teacher", "student"]) {
      const name = MEMORIES[network];
      const rows = ck.tensors.get(`${name}.rows`);
      const sources = ck.tensors.get(`${name}.sources`);
      const ring = meta.queues?.[name];
      if (!rows || !ring) throw new Error(`${ck.info.json}: no ${name} in this checkpoint`);
      if (!sources) {
        throw new Error(
          `${ck.info.json}: the ${network} memory does not record which images its entries came from ` +
            `(the checkpoint was written before the kit kept them); train a new run to explore it`,
        );
      }
      if (!(sources.data instanceof Int32Array)) {
        throw new Error(`${ck.info.json}: '${name}.sources' must be i32, got ${sources.dtype}`);
      }
      const bb = backboneFromCheckpoint(ck, network);
      bb.vit.eval();
      const [size, dim] = rows.shape;
      const k = Math.min(cfg.heads?.k ?? MUGS_TOP_K, size);
      const memory = new LocalGroupMemory(size, dim, { init: "zeros", k });
      const net: LocalGroupNet = { network, backbone: bb.vit, memory };
      nets.push(net); // released with the others if what follows fails
      memory.load({
        shape: [size, dim],
        data: Float32Array.from(rows.data),
        pointer: ring.pointer,
        filled: ring.filled,
        sources: sources.data,
      });
      net.relation = relationFromCheckpoint(ck, network, bb.vit);
    }
  } catch (e) {
    disposeSnapshot({ nets } as LocalGroupSnapshot);
    throw e;
  }
  return {
    source: ck.info.json,
    label: `step ${ck.meta.step} (${ck.meta.epoch} epochs)`,
    epoch: ck.meta.epoch,
    step: ck.meta.step,
    k: nets[0].memory.k,
    mean: cfg.mean,
    std: cfg.std,
    data: cfg.data,
    trainImages: cfg.trainImages,
    nets,
  };
}

/**
 * A snapshot without a training run: a memory of the first `size` training images of `data`
 * encoded by `backbone` (each entry the mean of its final-normed patch tokens, as the training
 * step writes the teacher memory, from the whole image instead of a crop), searched by the same
 * backbone. It has no relation transformer.
 *
 * @example
 * ```ts
 * const { vit, mean, std } = await loadBackbone(PRETRAINED);
 * const s = encodeLocalGroups(vit, train, { size: 2048, k: 8, mean: mean!, std: std!, label: "trained" });
 * ```
 */
export function encodeLocalGroups(
  backbone: ViT,
  data: Dataset,
  o: { size: number; k?: number; mean: number[]; std: number[]; label: string; source?: string },
): LocalGroupSnapshot {
  const size = Math.min(o.size, data.n);
  if (!Number.isInteger(size) || size < 1) {
    throw new Error(`encodeLocalGroups: size must be a positive integer, got ${o.size}`);
  }
  const k = Math.min(o.k ?? MUGS_TOP_K, size);
  backbone.eval();
  const memory = new LocalGroupMemory(size, backbone.config.embedDim, { init: "zeros", k });
  const batch = 256;
  for (let i = 0; i < size; i += batch) {
    const n = Math.min(batch, size - i);
    const entries = tidy(() =>
      noGrad(() => backbone.encode(imagesAt(data, i, n, o.mean, o.std)).mean)
    );
    memory.enqueue(entries, undefined, Int32Array.from({ length: n }, (_, j) => i + j));
    entries.dispose();
  }
  return {
    source: o.source ?? "encoded",
    label: o.label,
    k,
    mean: o.mean,
    std: o.std,
    trainImages: data.n,
    nets: [{ network: "teacher", backbone, memory }],
  };
}

/** Images `start .. start + n - 1` of `ds`, normalised, on the GPU [n, C, H, W]. */
function imagesAt(ds: Dataset, start: number, n: number, mean: number[], std: number[]): Tensor {
  const per = ds.channels * ds.height * ds.width;
  const raw = uint8ToTensor(ds.images.subarray(start * per, (start + n) * per), [
    n,
    ds.channels,
    ds.height,
    ds.width,
  ]);
  return normalize(raw, mean, std);
}

/**
 * Query each network of `snapshot` with images of `heldOut` (all of them, or those at
 * `indices`): the query is the mean of the last block's tokens before the final norm, as in
 * training; the result holds the retrieved rows, their images, similarities and (with a
 * relation transformer) its attention. Runs in batches of 256 without a tape.
 *
 * @example
 * ```ts
 * const [teacher, student] = await exploreLocalGroups(snapshot, test, [0, 1, 2]);
 * ```
 */
export async function exploreLocalGroups(
  snapshot: LocalGroupSnapshot,
  heldOut: Dataset,
  indices?: ArrayLike<number>,
): Promise<Exploration[]> {
  const idx = indices ? Array.from(indices) : Array.from({ length: heldOut.n }, (_, i) => i);
  for (const i of idx) {
    if (!Number.isInteger(i) || i < 0 || i >= heldOut.n) {
      throw new Error(`exploreLocalGroups: image ${i} is outside the ${heldOut.n} held-out images`);
    }
  }
  const per = heldOut.channels * heldOut.height * heldOut.width;
  const out: Exploration[] = [];
  for (const net of snapshot.nets) {
    const k = snapshot.k;
    const n = idx.length;
    const heads = net.relation ? net.backbone.config.numHeads : 0;
    const depth = net.relation ? net.relation.blocks.length : 0;
    const r: Exploration = {
      network: net.network,
      n,
      k,
      rows: new Int32Array(n * k),
      images: new Int32Array(n * k),
      similarities: new Float32Array(n * k),
      attention: net.relation
        ? Array.from({ length: depth }, () => new Float32Array(n * heads * (k + 1)))
        : undefined,
      heads,
    };
    const sources = net.memory.sources;
    for (let s = 0; s < n; s += 256) {
      const m = Math.min(256, n - s);
      const bytes = new Uint8Array(m * per);
      for (let j = 0; j < m; j++) {
        const i = idx[s + j];
        bytes.set(heldOut.images.subarray(i * per, (i + 1) * per), j * per);
      }
      const res = tidy(() =>
        noGrad(() => {
          const x = normalize(
            uint8ToTensor(bytes, [m, heldOut.channels, heldOut.height, heldOut.width]),
            snapshot.mean,
            snapshot.std,
          );
          const query = net.backbone.encode(x).pre.mean(1);
          const nb = net.memory.neighbours(query, k);
          const att = net.relation?.forwardWithAttention(query, nb.features).attention ?? [];
          return [nb.indices, nb.similarities, ...att].map(keep);
        })
      );
      try {
        const [rows, sims, ...att] = await Promise.all(res.map((t) => t.toArray()));
        r.rows.set(rows as Int32Array, s * k);
        r.similarities.set(sims as Float32Array, s * k);
        att.forEach((a, b) => r.attention![b].set(a as Float32Array, s * heads * (k + 1)));
      } finally {
        res.forEach((t) => t.dispose());
      }
    }
    for (let j = 0; j < n * k; j++) r.images[j] = sources[r.rows[j]];
    out.push(r);
  }
  return out;
}

/**
 * Neighbour purity of each network's memory in `snapshot` for the first `n` held-out images as
 * queries (all when `n` is absent or larger): the share of their neighbours whose training
 * image (in `train`) has the query's label, overall and per class.
 *
 * @example
 * ```ts
 * const [{ network, purity }] = await heldOutPurity(snapshot, train, test, 1000);
 * purityValue(purity);
 * ```
 */
export async function heldOutPurity(
  snapshot: LocalGroupSnapshot,
  train: Dataset,
  heldOut: Dataset,
  n = heldOut.n,
): Promise<{ network: Network; images: number; purity: Purity }[]> {
  const m = Math.min(n, heldOut.n);
  const found = await exploreLocalGroups(
    snapshot,
    heldOut,
    Array.from({ length: m }, (_, i) => i),
  );
  return found.map((e) => ({
    network: e.network,
    images: m,
    purity: imagePurity(e.images, e.k, heldOut.labels.subarray(0, m), train.labels),
  }));
}

/**
 * Check that `train` is the training set a snapshot's memories refer to (same size as the run
 * recorded); the error names `dataName` and the size the run had.
 *
 * @example
 * ```ts
 * checkMemoryData(snapshot, train, "--data embedded");
 * ```
 */
export function checkMemoryData(
  snapshot: { trainImages?: number; data?: string },
  train: Dataset,
  dataName: string,
): void {
  if (snapshot.trainImages !== undefined && snapshot.trainImages !== train.n) {
    throw new Error(
      `${dataName} has ${train.n} training images, but the run's memories refer to a training set of ${snapshot.trainImages}` +
        ` (give the data the run trained on${snapshot.data ? `: ${snapshot.data}` : ""})`,
    );
  }
}

/**
 * Release a snapshot's GPU buffers (memories and networks). Idempotent.
 *
 * @example
 * ```ts
 * disposeSnapshot(snapshot);
 * ```
 */
export function disposeSnapshot(snapshot: LocalGroupSnapshot): void {
  for (const net of snapshot.nets) {
    net.memory.dispose();
    for (const m of [net.backbone, net.relation]) {
      if (!m) continue;
      for (const t of m.stateDict().values()) if (!t.disposed) t.dispose();
    }
  }
}

/**
 * The run folder of a checkpoint sidecar (`runs/a/checkpoint/checkpoint.json` -> `runs/a`).
 *
 * @example
 * ```ts
 * runFolder("runs/a/checkpoint/checkpoint.prev.json"); // "runs/a"
 * ```
 */
export function runFolder(sidecar: string): string {
  return dirname(dirname(sidecar));
}
