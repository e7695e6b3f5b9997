/**
 * Regenerate the embedded dataset (data/fashion-mnist/) from the official Fashion-MNIST
 * files: the first `EMBEDDED_PER_CLASS.train` images of each class of the train file and
 * the first `EMBEDDED_PER_CLASS.test` of each class of the test file, in file order,
 * written as gzipped IDX files (deterministic bytes: no time stamp, level 9).
 *
 * Usage:
 *   deno run -A scripts/make_embedded.ts [--source DIR] [--check]
 *
 * `--source` names a folder holding the official files (default: where Debian's
 * `dataset-fashion-mnist` installs them). `--check` writes nothing and fails unless the
 * files in data/ are exactly what this script would write.
 */
import { parseArgs } from "node:util";
import { createHash } from "node:crypto";
import { balancedSubset, classCounts } from "../lib/data/dataset.ts";
import { encodeIdx, fashionMnist, mnistFileNames, parseIdx } from "../lib/data/idx.ts";
import { EMBEDDED_PER_CLASS } from "../lib/data/embedded.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: { source: { type: "string" }, check: { type: "boolean", default: false } },
});

/** Index of the last image the first-k-per-class rule picks. */
function lastIndex(labels: Int32Array, k: number): number {
  const seen = new Map<number, number>();
  let last = -1;
  labels.forEach((l, i) => {
    const c = seen.get(l) ?? 0;
    if (c < k) last = i;
    seen.set(l, c + 1);
  });
  return last;
}

function equal(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

const out = new URL("../data/fashion-mnist/", import.meta.url);
await Deno.mkdir(out, { recursive: true });
let mismatches = 0;
let total = 0;
for (const split of ["train", "test"] as const) {
  const full = await fashionMnist(split, values.source);
  const sub = balancedSubset(full, EMBEDDED_PER_CLASS[split]);
  const { counts } = classCounts(sub);
  const last = lastIndex(full.labels, EMBEDDED_PER_CLASS[split]);
  console.log(
    `${split}: ${sub.n} images (${counts.join(", ")} per class) from ${full.n}; ` +
      `the last one picked is at index ${last} of the official file`,
  );
  const [img, lbl] = mnistFileNames(split);
  const files: [string, Uint8Array][] = [
    [`${img}.gz`, encodeIdx(sub.images, [sub.n, sub.height, sub.width], { gzip: true })],
    [`${lbl}.gz`, encodeIdx(Uint8Array.from(sub.labels), [sub.n], { gzip: true })],
  ];
  for (const [name, bytes] of files) {
    const url = new URL(name, out);
    const sha = createHash("sha256").update(bytes).digest("hex");
    total += bytes.length;
    if (values.check) {
      let have: Uint8Array | null = null;
      try {
        have = await Deno.readFile(url);
      } catch { /* missing */ }
      const same = have !== null && equal(have, bytes);
      // another zlib may compress differently: compare the decoded content as well
      let sameContent = same;
      if (!same && have !== null) {
        try {
          const a = parseIdx(have, name);
          const b = parseIdx(bytes, name);
          sameContent = a.dims.join() === b.dims.join() &&
            equal(a.data as Uint8Array, b.data as Uint8Array);
        } catch { /* unreadable: differs */ }
      }
      if (!sameContent) mismatches++;
      const verdict = same ? "ok" : sameContent ? "ok (same content, other gzip bytes)" : "DIFFERS";
      console.log(`  ${verdict} ${name} ${bytes.length} bytes sha256 ${sha}`);
    } else {
      await Deno.writeFile(url, bytes);
      console.log(`  wrote ${name} ${bytes.length} bytes sha256 ${sha}`);
    }
  }
}
console.log(`total ${total} bytes`);
if (mismatches) {
  console.error(`${mismatches} file(s) in ${out.pathname} differ; run without --check to rewrite`);
  Deno.exit(1);
}
