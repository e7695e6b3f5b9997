/**
 * zod's validation issues in words, each naming its field as a path (`rows[2].knn_top1`), for
 * errors about files the kit reads back (checkpoint sidecars, ablation tables).
 */
import type { z } from "npm:zod@4.6.7";

/**
 * The first five issues of `error`, joined by "; " (`prefix` is the field path of the parsed
 * value).
 *
 * @example
 * ```ts
 * const r = z.object({ a: z.number() }).safeParse({ a: "x" });
 * if (!r.success) describeIssues(r.error); // "field 'a': Invalid input: expected number, received string"
 * ```
 */
export function describeIssues(error: z.ZodError, prefix = ""): string {
  const name = (keys: PropertyKey[]) =>
    [prefix, ...keys.map(String)].filter((s) => s !== "").reduce(
      (acc, key, i) =>
        /^\d+$/.test(key) && i > 0 ? `${acc}[${key}]` : acc === "" ? key : `${acc}.${key}`,
      "",
    );
  const lines = error.issues.slice(0, 5).map((issue) =>
    issue.code === "unrecognized_keys"
      ? issue.keys.map((k) => `field '${name([...issue.path, k])}': unknown field (remove it)`)
        .join("; ")
      : `field '${name(issue.path) || "(top level)"}': ${issue.message}`
  );
  const more = error.issues.length > 5 ? `; and ${error.issues.length - 5} more` : "";
  return `${lines.join("; ")}${more}`;
}
