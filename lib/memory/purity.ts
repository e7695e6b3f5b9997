/**
 * Neighbour purity: the share of the neighbours a local-group memory returns whose image has
 * the query image's label. A read-out of what the memory retrieves (a health signal of the
 * local-group branch), never an input of the training: the labels are read here only.
 *
 * Conventions: a query whose image has no label (-1) is left out; a neighbour whose image is
 * unknown (source -1: a random initial row, or a row restored from an old checkpoint) or
 * unlabeled counts as a miss, so the denominator is always k per counted query. Chance level
 * for a memory that holds the label distribution `p` is `sum_c p_c^2` (`purityChance`).
 */
import type { Tensor } from "../tensor/tensor.ts";
import { UNKNOWN_SOURCE } from "./local_group.ts";

/**
 * Hits over neighbours looked at, overall and per query class.
 *
 * @example
 * ```ts
 * const p: Purity = neighbourPurity(rows, 8, sources, queryImages, labels);
 * p.hits / p.total; // the purity
 * ```
 */
export interface Purity {
  /** Neighbours whose image has the query's label. */
  hits: number;
  /** Neighbours looked at (k per counted query). */
  total: number;
  /** Per query label: hits and total of the queries with that label. */
  perClass: Map<number, { hits: number; total: number }>;
}

/**
 * An empty count, to `addPurity` batches into.
 *
 * @example
 * ```ts
 * let acc = emptyPurity();
 * ```
 */
export function emptyPurity(): Purity {
  return { hits: 0, total: 0, perClass: new Map() };
}

/**
 * `a + b` (a new count).
 *
 * @example
 * ```ts
 * acc = addPurity(acc, neighbourPurity(rows, k, sources, queries, labels));
 * ```
 */
export function addPurity(a: Purity, b: Purity): Purity {
  const perClass = new Map([...a.perClass].map(([c, v]) => [c, { ...v }]));
  for (const [c, v] of b.perClass) {
    const o = perClass.get(c) ?? { hits: 0, total: 0 };
    perClass.set(c, { hits: o.hits + v.hits, total: o.total + v.total });
  }
  return { hits: a.hits + b.hits, total: a.total + b.total, perClass };
}

/**
 * `hits / total`, NaN when nothing was counted.
 *
 * @example
 * ```ts
 * purityValue({ hits: 3, total: 4, perClass: new Map() }); // 0.75
 * ```
 */
export function purityValue(p: { hits: number; total: number }): number {
  return p.total > 0 ? p.hits / p.total : NaN;
}

/**
 * The purity of neighbours given by their images: `neighbourImages` [Q * k] the dataset index
 * of each query's neighbours' images (row-major; -1 = unknown), `queryLabels` [Q] the query
 * images' labels, `labels` the labels of the dataset the neighbours came from.
 *
 * @example
 * ```ts
 * imagePurity(Int32Array.of(5, 6, 7, -1), 2, [0, 1], labels); // 2 queries, k = 2
 * ```
 */
export function imagePurity(
  neighbourImages: ArrayLike<number>,
  k: number,
  queryLabels: ArrayLike<number>,
  labels: ArrayLike<number>,
): Purity {
  const op = "neighbourPurity";
  if (!Number.isInteger(k) || k < 1) {
    throw new Error(`${op}: k must be a positive integer, got ${k}`);
  }
  if (neighbourImages.length % k !== 0) {
    throw new Error(`${op}: ${neighbourImages.length} neighbours are not a multiple of k = ${k}`);
  }
  const Q = neighbourImages.length / k;
  if (queryLabels.length !== Q) {
    throw new Error(`${op}: ${queryLabels.length} query labels for ${Q} queries`);
  }
  const out = emptyPurity();
  for (let q = 0; q < Q; q++) {
    const want = queryLabels[q];
    if (want < 0) continue;
    let hits = 0;
    for (let j = 0; j < k; j++) {
      if (labelOf(neighbourImages[q * k + j], labels, `neighbour ${j} of query ${q}`) === want) {
        hits++;
      }
    }
    out.hits += hits;
    out.total += k;
    const c = out.perClass.get(want) ?? { hits: 0, total: 0 };
    out.perClass.set(want, { hits: c.hits + hits, total: c.total + k });
  }
  return out;
}

/** The label of dataset image `image` (-1 for an unknown image); throws when out of range. */
function labelOf(image: number, labels: ArrayLike<number>, what: string): number {
  if (image === UNKNOWN_SOURCE) return -1;
  if (!Number.isInteger(image) || image < 0 || image >= labels.length) {
    throw new Error(
      `neighbourPurity: ${what} refers to image ${image}, outside the ${labels.length} labelled ` +
        `images (is this the dataset the memory was filled from?)`,
    );
  }
  return labels[image];
}

/**
 * The purity of one search: `rows` [Q * k] the memory rows each query retrieved (row-major,
 * query q's neighbours at `q*k .. q*k + k - 1`), `sources` the memory's dataset index per row
 * at search time, `queryImages` [Q] the dataset index of each query's image, and `labels` the
 * dataset's labels (indexed by dataset index). With `queryLabels` the queries' labels are
 * given directly (held-out queries, whose images are not in `labels`'s dataset).
 *
 * @example
 * ```ts
 * // 2 queries, k = 2; memory rows 0..2 hold images 5, 6, 7
 * neighbourPurity(Int32Array.of(0, 1, 2, 0), 2, Int32Array.of(5, 6, 7), [5, 7], labels);
 * ```
 */
export function neighbourPurity(
  rows: ArrayLike<number>,
  k: number,
  sources: ArrayLike<number>,
  queryImages: ArrayLike<number> | null,
  labels: ArrayLike<number>,
  queryLabels?: ArrayLike<number>,
): Purity {
  const op = "neighbourPurity";
  const images = Int32Array.from(rows, (row) => {
    if (!Number.isInteger(row) || row < 0 || row >= sources.length) {
      throw new Error(`${op}: neighbour row ${row} is outside the ${sources.length} memory rows`);
    }
    return sources[row];
  });
  if (!Number.isInteger(k) || k < 1) {
    throw new Error(`${op}: k must be a positive integer, got ${k}`);
  }
  const Q = Math.floor(rows.length / k);
  const given = queryLabels ?? queryImages;
  if (rows.length % k === 0 && (!given || given.length !== Q)) {
    throw new Error(
      `${op}: ${given?.length ?? 0} ${
        queryLabels ? "query labels" : "query images"
      } for ${Q} queries`,
    );
  }
  const wanted = queryLabels ??
    Int32Array.from(given!, (image, q) => labelOf(image, labels, `query ${q}`));
  return imagePurity(images, k, wanted, labels);
}

/**
 * `neighbourPurity` of a search whose rows are still on the GPU (an i32 [Q, k] tensor, as
 * `LocalGroupMemory.neighbours` returns them): reads them back (the tensor is not disposed).
 *
 * @example
 * ```ts
 * const sources = mem.sources;
 * const { indices } = mem.neighbours(q);
 * const p = await readPurity(indices, sources, queryImages, labels);
 * ```
 */
export async function readPurity(
  rows: Tensor,
  sources: ArrayLike<number>,
  queryImages: ArrayLike<number> | null,
  labels: ArrayLike<number>,
  queryLabels?: ArrayLike<number>,
): Promise<Purity> {
  if (rows.dtype !== "i32" || rows.ndim !== 2) {
    throw new Error(
      `readPurity: rows must be an i32 [Q, k] tensor, got ${rows.dtype} [${rows.shape}]`,
    );
  }
  const host = await rows.toArray();
  return neighbourPurity(host, rows.shape[1], sources, queryImages, labels, queryLabels);
}

/**
 * The dataset index of each of `queries` view-major queries of a batch (query r is view
 * floor(r / B) of image r % B, as the step lays its views out).
 *
 * @example
 * ```ts
 * queryImages(Int32Array.of(7, 9), 4); // Int32Array [7, 9, 7, 9]
 * ```
 */
export function queryImages(indices: ArrayLike<number>, queries: number): Int32Array {
  const B = indices.length;
  if (B < 1 || !Number.isInteger(queries) || queries % B !== 0) {
    throw new Error(`queryImages: ${queries} queries are not whole views of a batch of ${B}`);
  }
  return Int32Array.from({ length: queries }, (_, r) => indices[r % B]);
}

/**
 * The purity of neighbours drawn at random from a set with these labels: `sum_c p_c^2` over
 * the labelled images (NaN when none is labelled). About 0.1 for ten balanced classes.
 *
 * @example
 * ```ts
 * purityChance(Int32Array.of(0, 0, 1, 1)); // 0.5
 * ```
 */
export function purityChance(labels: ArrayLike<number>): number {
  const counts = new Map<number, number>();
  let n = 0;
  for (let i = 0; i < labels.length; i++) {
    if (labels[i] < 0) continue;
    counts.set(labels[i], (counts.get(labels[i]) ?? 0) + 1);
    n++;
  }
  let s = 0;
  for (const c of counts.values()) s += (c / n) ** 2;
  return n > 0 ? s : NaN;
}
