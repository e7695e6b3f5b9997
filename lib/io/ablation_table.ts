/**
 * `ablation.json`, the table scripts/ablation.ts writes (and docs/ablation*.json ship): the
 * command that reproduces every row, the budget, the base configuration, and one row per run
 * with its read-outs. Read back to add rows over several invocations and to plot the table.
 */
import { z } from "npm:zod@4.6.7";
import { describeIssues } from "./zod_issues.ts";

const top1 = z.number().min(0).max(100);
const share = z.number().min(0).max(1);

/**
 * One run's row: what it changes, its read-outs (top-1 in %, purity as a share; null where the
 * run has no such memory), the untrained network's k-NN, training seconds and steps.
 *
 * @example
 * ```ts
 * AblationRecord.parse(row).knn_top1; // 77.1
 * ```
 */
export const AblationRecord = z.strictObject({
  name: z.string().min(1),
  /** The run's seed, in tables of several seeds (`--seeds`). */
  seed: z.number().int().min(0).optional(),
  change: z.string(),
  note: z.string().optional(),
  removes: z.enum(["instance", "localGroup", "group"]).optional(),
  knn_top1: top1,
  linear_top1: top1,
  neighbour_purity_teacher: share.nullable(),
  neighbour_purity_student: share.nullable(),
  neighbour_purity_encoded: share,
  knn_top1_untrained: top1,
  train_seconds: z.number().min(0),
  steps: z.number().int().min(0),
  network: z.string(),
});

/** A validated row. */
export type AblationRecord = z.infer<typeof AblationRecord>;

/**
 * The whole table.
 *
 * @example
 * ```ts
 * AblationTable.parse(JSON.parse(text)).rows.length;
 * ```
 */
export const AblationTable = z.strictObject({
  command: z.string().min(1),
  budget: z.string(),
  base: z.string(),
  rows: z.array(AblationRecord),
});

/** A validated table. */
export type AblationTable = z.infer<typeof AblationTable>;

/**
 * Read and validate an `ablation.json`; the error names the file and the field at fault
 * (a missing file throws `Deno.errors.NotFound`, naming it).
 *
 * @example
 * ```ts
 * const t = await readAblationTable("docs/ablation_long.json");
 * t.rows.map((r) => `${r.name} ${r.knn_top1}`);
 * ```
 */
export async function readAblationTable(path: string): Promise<AblationTable> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      throw new Deno.errors.NotFound(`${path}: no such ablation table`);
    }
    throw e;
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new Error(`${path}: not JSON (${(e as Error).message})`);
  }
  const r = AblationTable.safeParse(raw);
  if (!r.success) throw new Error(`${path}: not an ablation table: ${describeIssues(r.error)}`);
  return r.data;
}

/** A read-out over a run's seeds: the mean and the sample standard deviation (null for one). */
export interface SeedStat {
  mean: number;
  sd: number | null;
  n: number;
}

/** One run of a table, its seeds summarised. */
export interface RunSummary {
  name: string;
  change: string;
  note?: string;
  removes?: AblationRecord["removes"];
  /** The seeds of its rows, in table order (empty when the rows carry none: one seed). */
  seeds: number[];
  knn: SeedStat;
  linear: SeedStat;
  /** Null for a run without the local-group memories. */
  purityTeacher: SeedStat | null;
  purityStudent: SeedStat | null;
  purityEncoded: SeedStat;
  trainSeconds: SeedStat;
  knnUntrained: SeedStat;
}

/**
 * Mean and sample standard deviation (n - 1) of `v`; null values are left out, and an
 * all-null list gives null.
 *
 * @example
 * ```ts
 * seedStat([77.1, 76.5, 78.0]); // { mean: 77.2, sd: 0.755…, n: 3 }
 * ```
 */
export function seedStat(v: (number | null)[]): SeedStat | null {
  const x = v.filter((a): a is number => a !== null);
  if (x.length === 0) return null;
  const mean = x.reduce((a, b) => a + b, 0) / x.length;
  const sd = x.length < 2
    ? null
    : Math.sqrt(x.reduce((a, b) => a + (b - mean) ** 2, 0) / (x.length - 1));
  return { mean, sd, n: x.length };
}

/**
 * The runs of a table in order of first appearance, each with its read-outs over its seeds.
 *
 * @example
 * ```ts
 * summariseAblation(table.rows).map((r) => `${r.name} ${r.knn.mean} ± ${r.knn.sd}`);
 * ```
 */
export function summariseAblation(rows: AblationRecord[]): RunSummary[] {
  const names = [...new Set(rows.map((r) => r.name))];
  return names.map((name) => {
    const rs = rows.filter((r) => r.name === name);
    const stat = (f: (r: AblationRecord) => number | null) => seedStat(rs.map(f));
    const { change, note, removes } = rs[0];
    return {
      name,
      change,
      ...(note === undefined ? {} : { note }),
      ...(removes === undefined ? {} : { removes }),
      seeds: rs.flatMap((r) => (r.seed === undefined ? [] : [r.seed])),
      knn: stat((r) => r.knn_top1)!,
      linear: stat((r) => r.linear_top1)!,
      purityTeacher: stat((r) => r.neighbour_purity_teacher),
      purityStudent: stat((r) => r.neighbour_purity_student),
      purityEncoded: stat((r) => r.neighbour_purity_encoded)!,
      trainSeconds: stat((r) => r.train_seconds)!,
      knnUntrained: stat((r) => r.knn_top1_untrained)!,
    };
  });
}

/**
 * The difference of two runs' means, `a - b`, with its standard error
 * sqrt(sd_a^2 / n_a + sd_b^2 / n_b) (null unless both have two seeds or more).
 *
 * @example
 * ```ts
 * meanDifference(noGroup.knn, mugs.knn); // { delta: -1.6, se: 0.9 }
 * ```
 */
export function meanDifference(a: SeedStat, b: SeedStat): { delta: number; se: number | null } {
  const delta = a.mean - b.mean;
  if (a.sd === null || b.sd === null) return { delta, se: null };
  return { delta, se: Math.sqrt(a.sd ** 2 / a.n + b.sd ** 2 / b.n) };
}
