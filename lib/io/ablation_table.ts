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
