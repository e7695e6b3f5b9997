/**
 * CIFAR-10 binary batches (the "CIFAR-10 binary version" of Krizhevsky's dataset).
 *
 * Format: a batch file is a sequence of 3073-byte records: 1 label byte (0..9), then a
 * 32x32 colour image as 1024 red, 1024 green and 1024 blue bytes, each plane row-major,
 * which is already the CHW layout of `Dataset`. Files: `data_batch_1.bin` …
 * `data_batch_5.bin` (10 000 records each, the train split) and `test_batch.bin`; the
 * class names are in `batches.meta.txt`.
 */
import { checkDataset, concatDatasets, type Dataset } from "./dataset.ts";
import { readBytes, sourceName } from "./read.ts";

/**
 * Bytes of one CIFAR-10 record: 1 label byte + 3 * 32 * 32 image bytes.
 *
 * @example
 * ```ts
 * const records = fileSize / CIFAR10_RECORD_BYTES; // 10 000 for a full batch
 * ```
 */
export const CIFAR10_RECORD_BYTES: number = 1 + 3 * 32 * 32;

/**
 * CIFAR-10 class names, label 0 to 9 (as in `batches.meta.txt`).
 *
 * @example
 * ```ts
 * CIFAR10_CLASSES[3]; // "cat"
 * ```
 */
export const CIFAR10_CLASSES: readonly string[] = Object.freeze([
  "airplane",
  "automobile",
  "bird",
  "cat",
  "deer",
  "dog",
  "frog",
  "horse",
  "ship",
  "truck",
]);

/**
 * Parse the bytes of one CIFAR-10 binary batch; `file` names it in errors.
 *
 * @example
 * ```ts
 * const ds = parseCifar10(await Deno.readFile("test_batch.bin"), "test_batch.bin");
 * ```
 */
export function parseCifar10(
  bytes: Uint8Array,
  file = "<bytes>",
  classes: readonly string[] = CIFAR10_CLASSES,
): Dataset {
  const R = CIFAR10_RECORD_BYTES;
  if (bytes.length === 0 || bytes.length % R !== 0) {
    throw new Error(
      `CIFAR-10 file ${file}: size ${bytes.length} bytes is not a positive multiple of the ` +
        `record size ${R} (1 label byte + 3072 image bytes)` +
        (bytes.length > R
          ? `; ${bytes.length % R} bytes left after ${Math.floor(bytes.length / R)} records`
          : ""),
    );
  }
  const n = bytes.length / R;
  const images = new Uint8Array(n * (R - 1));
  const labels = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const l = bytes[i * R];
    if (l >= classes.length) {
      throw new Error(
        `CIFAR-10 file ${file}: record ${i} has label ${l}, expected 0..${classes.length - 1}`,
      );
    }
    labels[i] = l;
    images.set(bytes.subarray(i * R + 1, (i + 1) * R), i * (R - 1));
  }
  return checkDataset(
    { images, labels, n, channels: 3, height: 32, width: 32, classes: [...classes] },
    `CIFAR-10 file ${file}`,
  );
}

/**
 * Read one CIFAR-10 binary batch file (path or URL).
 *
 * @example
 * ```ts
 * const batch = await readCifar10Batch("cifar-10-batches-bin/data_batch_1.bin");
 * ```
 */
export async function readCifar10Batch(src: string | URL): Promise<Dataset> {
  return parseCifar10(await readBytes(src), sourceName(src));
}

async function isDir(path: string): Promise<boolean> {
  try {
    return (await Deno.stat(path)).isDirectory;
  } catch {
    return false;
  }
}

/**
 * A CIFAR-10 split from the binary batches in `root` (or in `root/cifar-10-batches-bin`):
 * "train" reads `data_batch_1.bin` … `data_batch_5.bin` (50 000 images), "test" reads
 * `test_batch.bin` (10 000). Class names come from `batches.meta.txt` when present.
 *
 * @example
 * ```ts
 * const test = await cifar10("test", "/data/cifar-10-batches-bin");
 * ```
 */
export async function cifar10(split: "train" | "test", root: string): Promise<Dataset> {
  if (split !== "train" && split !== "test") {
    throw new Error(`cifar10: split must be "train" or "test", got ${JSON.stringify(split)}`);
  }
  const base = root.replace(/\/+$/, "");
  if (!(await isDir(base))) {
    throw new Error(
      `cifar10: folder ${base} does not exist (expected the CIFAR-10 binary batches)`,
    );
  }
  const dir = (await isDir(`${base}/cifar-10-batches-bin`)) ? `${base}/cifar-10-batches-bin` : base;
  const files = split === "train"
    ? [1, 2, 3, 4, 5].map((i) => `${dir}/data_batch_${i}.bin`)
    : [`${dir}/test_batch.bin`];
  let classes: readonly string[] = CIFAR10_CLASSES;
  try {
    const meta = new TextDecoder().decode(await Deno.readFile(`${dir}/batches.meta.txt`));
    const names = meta.split(/\r?\n/).map((s) => s.trim()).filter(Boolean);
    if (names.length === 10) classes = names;
  } catch { /* no meta file: the standard names */ }
  const parts: Dataset[] = [];
  for (const f of files) {
    try {
      parts.push(parseCifar10(await Deno.readFile(f), f, classes));
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) {
        throw new Error(
          `CIFAR-10 file ${f} does not exist (the ${split} split needs ${
            files.map((p) => p.slice(dir.length + 1)).join(", ")
          } in ${dir})`,
        );
      }
      throw e;
    }
  }
  return parts.length === 1 ? parts[0] : concatDatasets(parts);
}
