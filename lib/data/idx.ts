/**
 * IDX files (the MNIST / Fashion-MNIST format), gzipped or not, and the Fashion-MNIST and
 * MNIST loaders built on them.
 *
 * Format: a 4-byte magic `0x00 0x00 <dtype> <rank>`, then `rank` big-endian uint32
 * dimensions, then the values in row-major order, big-endian. dtype bytes: 0x08 uint8,
 * 0x09 int8, 0x0B int16, 0x0C int32, 0x0D float32, 0x0E float64. A file starting with the
 * gzip magic `1f 8b` is decompressed first. The body length must match the dimensions
 * exactly; a truncated file is an error naming the file, the expected and the actual
 * byte counts.
 */
import { constants, gunzipSync, gzipSync } from "node:zlib";
import { checkDataset, type Dataset } from "./dataset.ts";
import { readBytes, sourceName } from "./read.ts";

/**
 * Element types an IDX file can hold.
 *
 * @example
 * ```ts
 * const t: IdxDType = "uint8";
 * ```
 */
export type IdxDType = "uint8" | "int8" | "int16" | "int32" | "float32" | "float64";

/**
 * Typed array for each IDX element type.
 *
 * @example
 * ```ts
 * const d: IdxData = new Uint8Array(784);
 * ```
 */
export type IdxData =
  | Uint8Array
  | Int8Array
  | Int16Array
  | Int32Array
  | Float32Array
  | Float64Array;

/**
 * A parsed IDX file.
 *
 * @example
 * ```ts
 * const a: IdxArray = { dtype: "uint8", dims: [2], data: Uint8Array.of(1, 2) };
 * ```
 */
export interface IdxArray {
  dtype: IdxDType;
  dims: number[];
  data: IdxData;
}

const CODES: Record<number, [IdxDType, number]> = {
  0x08: ["uint8", 1],
  0x09: ["int8", 1],
  0x0b: ["int16", 2],
  0x0c: ["int32", 4],
  0x0d: ["float32", 4],
  0x0e: ["float64", 8],
};

const CODE_OF: Record<IdxDType, number> = {
  uint8: 0x08,
  int8: 0x09,
  int16: 0x0b,
  int32: 0x0c,
  float32: 0x0d,
  float64: 0x0e,
};

function hex(b: Uint8Array, n: number): string {
  return Array.from(b.subarray(0, n), (x) => x.toString(16).padStart(2, "0")).join(" ");
}

/** True when `bytes` starts with the gzip magic (1f 8b). */
function isGzip(bytes: Uint8Array): boolean {
  return bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b;
}

/** Expected sizes from an IDX header, or an error naming the file. */
function header(bytes: Uint8Array, file: string) {
  if (bytes.length < 4) {
    throw new Error(
      `IDX file ${file}: ${bytes.length} bytes is too short for the 4-byte IDX magic number`,
    );
  }
  if (bytes[0] !== 0 || bytes[1] !== 0) {
    throw new Error(
      `IDX file ${file}: bad magic number (first bytes ${hex(bytes, 4)}); an IDX file ` +
        `starts with 00 00 <dtype> <rank>, e.g. 00 00 08 03 for uint8 images`,
    );
  }
  const code = CODES[bytes[2]];
  if (!code) {
    throw new Error(
      `IDX file ${file}: unknown dtype byte 0x${bytes[2].toString(16).padStart(2, "0")} ` +
        `(expected 0x08 uint8, 0x09 int8, 0x0b int16, 0x0c int32, 0x0d float32 or 0x0e float64)`,
    );
  }
  const rank = bytes[3];
  if (rank < 1) throw new Error(`IDX file ${file}: rank 0 in the magic number (expected >= 1)`);
  const head = 4 + 4 * rank;
  if (bytes.length < head) {
    throw new Error(
      `IDX file ${file}: truncated header: expected ${head} bytes for ${rank} dimensions, ` +
        `got ${bytes.length}`,
    );
  }
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const dims: number[] = [];
  for (let d = 0; d < rank; d++) {
    const v = dv.getUint32(4 + 4 * d, false);
    if (v === 0) throw new Error(`IDX file ${file}: dimension ${d} is 0 (dims must be >= 1)`);
    dims.push(v);
  }
  const [dtype, size] = code;
  const body = dims.reduce((a, b) => a * b, 1) * size;
  return { dtype, size, dims, head, body, dv };
}

function inflate(bytes: Uint8Array, file: string): Uint8Array {
  try {
    return new Uint8Array(gunzipSync(bytes));
  } catch (e) {
    // a truncated stream still yields what it holds; report the counts from its header
    let partial: Uint8Array | null = null;
    try {
      partial = new Uint8Array(gunzipSync(bytes, { finishFlush: constants.Z_SYNC_FLUSH }));
    } catch { /* corrupt, not just short */ }
    if (partial && partial.length >= 4) {
      const h = header(partial, `${file} (gzip)`);
      const want = h.head + h.body;
      if (partial.length < want) {
        throw new Error(
          `IDX file ${file} is truncated: the gzip stream ends early; expected ${want} bytes ` +
            `after decompression (header ${h.head} + body ${h.body} for dims [${h.dims}] of ` +
            `${h.dtype}), got ${partial.length}`,
        );
      }
    }
    throw new Error(
      `IDX file ${file}: gzip data is corrupt or truncated (${(e as Error).message}); ` +
        `expected a gzipped IDX file`,
    );
  }
}

/**
 * Parse an IDX file's bytes (gzipped or not); `file` names it in errors.
 *
 * @example
 * ```ts
 * const { dtype, dims, data } = parseIdx(await Deno.readFile("t10k-labels-idx1-ubyte.gz"));
 * ```
 */
export function parseIdx(bytes: Uint8Array, file = "<bytes>"): IdxArray {
  const raw = isGzip(bytes) ? inflate(bytes, file) : bytes;
  const h = header(raw, file);
  const want = h.head + h.body;
  if (raw.length !== want) {
    const gz = isGzip(bytes) ? " after decompression" : "";
    const what = raw.length < want ? "is truncated" : "has trailing bytes";
    throw new Error(
      `IDX file ${file} ${what}: expected ${want} bytes${gz} (header ${h.head} + body ` +
        `${h.body} for dims [${h.dims}] of ${h.dtype}), got ${raw.length}`,
    );
  }
  const n = h.body / h.size;
  const off = h.head;
  let data: IdxData;
  switch (h.dtype) {
    case "uint8":
      data = raw.slice(off, off + n);
      break;
    case "int8":
      data = new Int8Array(raw.slice(off, off + n).buffer);
      break;
    case "int16": {
      const a = new Int16Array(n);
      for (let i = 0; i < n; i++) a[i] = h.dv.getInt16(off + 2 * i, false);
      data = a;
      break;
    }
    case "int32": {
      const a = new Int32Array(n);
      for (let i = 0; i < n; i++) a[i] = h.dv.getInt32(off + 4 * i, false);
      data = a;
      break;
    }
    case "float32": {
      const a = new Float32Array(n);
      for (let i = 0; i < n; i++) a[i] = h.dv.getFloat32(off + 4 * i, false);
      data = a;
      break;
    }
    case "float64": {
      const a = new Float64Array(n);
      for (let i = 0; i < n; i++) a[i] = h.dv.getFloat64(off + 8 * i, false);
      data = a;
      break;
    }
  }
  return { dtype: h.dtype, dims: h.dims, data };
}

function dtypeOf(data: IdxData): IdxDType {
  if (data instanceof Uint8Array) return "uint8";
  if (data instanceof Int8Array) return "int8";
  if (data instanceof Int16Array) return "int16";
  if (data instanceof Int32Array) return "int32";
  if (data instanceof Float32Array) return "float32";
  return "float64";
}

/**
 * Encode a typed array with its dims as an IDX file (gzipped when `gzip` is set; the
 * gzip header carries no time stamp, so the output is reproducible).
 *
 * @example
 * ```ts
 * const bytes = encodeIdx(Uint8Array.of(3, 1, 4), [3], { gzip: true });
 * ```
 */
export function encodeIdx(
  data: IdxData,
  dims: number[],
  opts: { gzip?: boolean } = {},
): Uint8Array {
  const dtype = dtypeOf(data);
  const size = CODES[CODE_OF[dtype]][1];
  const count = dims.reduce((a, b) => a * b, 1);
  if (!dims.length || dims.length > 255 || dims.some((d) => !Number.isInteger(d) || d < 1)) {
    throw new Error(`encodeIdx: dims [${dims}] must be 1 to 255 positive integers`);
  }
  if (count !== data.length) {
    throw new Error(`encodeIdx: ${data.length} values do not fill dims [${dims}] (${count})`);
  }
  const head = 4 + 4 * dims.length;
  const out = new Uint8Array(head + count * size);
  const dv = new DataView(out.buffer);
  out.set([0, 0, CODE_OF[dtype], dims.length]);
  dims.forEach((d, i) => dv.setUint32(4 + 4 * i, d, false));
  for (let i = 0; i < count; i++) {
    const o = head + i * size;
    const v = data[i];
    switch (dtype) {
      case "uint8":
        out[o] = v;
        break;
      case "int8":
        dv.setInt8(o, v);
        break;
      case "int16":
        dv.setInt16(o, v, false);
        break;
      case "int32":
        dv.setInt32(o, v, false);
        break;
      case "float32":
        dv.setFloat32(o, v, false);
        break;
      case "float64":
        dv.setFloat64(o, v, false);
        break;
    }
  }
  return opts.gzip ? new Uint8Array(gzipSync(out, { level: 9 })) : out;
}

/**
 * Read an IDX file from a path or URL (gzipped or not).
 *
 * @example
 * ```ts
 * const labels = await readIdx("/usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz");
 * ```
 */
export async function readIdx(src: string | URL): Promise<IdxArray> {
  return parseIdx(await readBytes(src), sourceName(src));
}

/**
 * Write an IDX file; gzipped when the path ends in `.gz`.
 *
 * @example
 * ```ts
 * await writeIdx("/tmp/labels-idx1-ubyte.gz", Uint8Array.of(0, 1, 2), [3]);
 * ```
 */
export async function writeIdx(path: string, data: IdxData, dims: number[]): Promise<void> {
  await Deno.writeFile(path, encodeIdx(data, dims, { gzip: path.endsWith(".gz") }));
}

/**
 * Options of `idxDataset` and `loadIdxPair`.
 *
 * @example
 * ```ts
 * const opts: IdxPairOptions = { classes: [...FASHION_MNIST_CLASSES] };
 * ```
 */
export interface IdxPairOptions {
  /** Class names (label k is `classes[k]`); default "0", "1", … up to the largest label. */
  classes?: string[];
}

/**
 * A dataset from a parsed images file (`[N, H, W]` or `[N, C, H, W]`, uint8) and labels
 * file (`[N]`, integer); the names are for errors.
 *
 * @example
 * ```ts
 * const ds = idxDataset(parseIdx(imgBytes), parseIdx(lblBytes), { classes: FASHION_MNIST_CLASSES });
 * ```
 */
export function idxDataset(
  images: IdxArray,
  labels: IdxArray,
  opts: IdxPairOptions = {},
  names: [string, string] = ["<images>", "<labels>"],
): Dataset {
  const [iname, lname] = names;
  if (images.dtype !== "uint8") {
    throw new Error(`IDX images file ${iname}: dtype ${images.dtype}, expected uint8`);
  }
  if (images.dims.length !== 3 && images.dims.length !== 4) {
    throw new Error(
      `IDX images file ${iname}: dims [${images.dims}], expected [N, H, W] or [N, C, H, W]`,
    );
  }
  if (labels.dims.length !== 1 || labels.dtype.startsWith("float")) {
    throw new Error(
      `IDX labels file ${lname}: dims [${labels.dims}] of ${labels.dtype}, expected [N] of integers`,
    );
  }
  const n = images.dims[0];
  if (labels.dims[0] !== n) {
    throw new Error(
      `IDX files disagree: ${iname} has ${n} images but ${lname} has ${labels.dims[0]} labels`,
    );
  }
  const [channels, height, width] = images.dims.length === 3
    ? [1, images.dims[1], images.dims[2]]
    : images.dims.slice(1);
  const lab = Int32Array.from(labels.data as ArrayLike<number>);
  let max = -1;
  for (const l of lab) max = Math.max(max, l);
  const classes = opts.classes ?? Array.from({ length: max + 1 }, (_, i) => String(i));
  return checkDataset(
    { images: images.data as Uint8Array, labels: lab, n, channels, height, width, classes },
    `IDX labels file ${lname}`,
  );
}

/**
 * Load an images IDX file and a labels IDX file into a dataset, checking their counts
 * agree.
 *
 * @example
 * ```ts
 * const ds = await loadIdxPair("root/train-images-idx3-ubyte.gz", "root/train-labels-idx1-ubyte.gz");
 * ```
 */
export async function loadIdxPair(
  imagesPath: string | URL,
  labelsPath: string | URL,
  opts: IdxPairOptions = {},
): Promise<Dataset> {
  const [images, labels] = await Promise.all([readIdx(imagesPath), readIdx(labelsPath)]);
  return idxDataset(images, labels, opts, [sourceName(imagesPath), sourceName(labelsPath)]);
}

/**
 * Fashion-MNIST class names, label 0 to 9 (Zalando Research).
 *
 * @example
 * ```ts
 * FASHION_MNIST_CLASSES[9]; // "Ankle boot"
 * ```
 */
export const FASHION_MNIST_CLASSES: readonly string[] = Object.freeze([
  "T-shirt/top",
  "Trouser",
  "Pullover",
  "Dress",
  "Coat",
  "Sandal",
  "Shirt",
  "Sneaker",
  "Bag",
  "Ankle boot",
]);

/**
 * Where Debian's `dataset-fashion-mnist` package installs the official files
 * (`dpkg -L dataset-fashion-mnist`).
 *
 * @example
 * ```ts
 * FASHION_MNIST_DIRS[0]; // "/usr/share/datasets/fashion-mnist"
 * ```
 */
export const FASHION_MNIST_DIRS: readonly string[] = Object.freeze([
  "/usr/share/datasets/fashion-mnist",
]);

/** The apt command that installs the official Fashion-MNIST files. */
const APT = "apt-get install -y dataset-fashion-mnist";

/**
 * The official file names of an (Fashion-)MNIST split, without the optional `.gz`.
 *
 * @example
 * ```ts
 * mnistFileNames("test"); // ["t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"]
 * ```
 */
export function mnistFileNames(split: "train" | "test"): [string, string] {
  if (split !== "train" && split !== "test") {
    throw new Error(`split must be "train" or "test", got ${JSON.stringify(split)}`);
  }
  const p = split === "train" ? "train" : "t10k";
  return [`${p}-images-idx3-ubyte`, `${p}-labels-idx1-ubyte`];
}

async function exists(path: string): Promise<boolean> {
  try {
    return (await Deno.stat(path)).isFile;
  } catch {
    return false;
  }
}

/** The first directory holding both files (gzipped or raw), and every path tried. */
async function probe(
  dirs: readonly string[],
  names: [string, string],
): Promise<{ found: [string, string] | null; tried: string[] }> {
  const tried: string[] = [];
  for (const dir of dirs) {
    const pick: string[] = [];
    for (const name of names) {
      for (const ext of [".gz", ""]) {
        const p = `${dir.replace(/\/+$/, "")}/${name}${ext}`;
        tried.push(p);
        if (await exists(p)) {
          pick.push(p);
          break;
        }
      }
    }
    if (pick.length === 2) return { found: pick as [string, string], tried };
  }
  return { found: null, tried };
}

/**
 * Options of `fashionMnist`.
 *
 * @example
 * ```ts
 * const ds = await fashionMnist("test", "./fmnist", { searchDefaults: false });
 * ```
 */
export interface FashionMnistOptions {
  /** Also look in `FASHION_MNIST_DIRS` after `root` (default true). */
  searchDefaults?: boolean;
}

/**
 * A Fashion-MNIST split from the official IDX files: looked for in `root` (if given) and
 * then where Debian's `dataset-fashion-mnist` installs them. 60 000 train / 10 000 test
 * images of 1x28x28, 10 classes.
 *
 * @example
 * ```ts
 * const test = await fashionMnist("test"); // after `apt-get install -y dataset-fashion-mnist`
 * ```
 */
export async function fashionMnist(
  split: "train" | "test",
  root?: string,
  opts: FashionMnistOptions = {},
): Promise<Dataset> {
  const names = mnistFileNames(split);
  const dirs = [
    ...(root ? [root] : []),
    ...(opts.searchDefaults === false ? [] : FASHION_MNIST_DIRS),
  ];
  const { found, tried } = await probe(dirs, names);
  if (!found) {
    throw new Error(
      `Fashion-MNIST ${split} files not found; tried:\n  ${tried.join("\n  ")}\n` +
        `Install the official files with \`${APT}\` (Debian/Ubuntu), or pass the folder ` +
        `holding ${names[0]}(.gz) and ${names[1]}(.gz) as root.`,
    );
  }
  return await loadIdxPair(found[0], found[1], { classes: [...FASHION_MNIST_CLASSES] });
}

/**
 * An MNIST split from the official IDX files in `root` (`train-images-idx3-ubyte[.gz]`,
 * …; classes "0" to "9").
 *
 * @example
 * ```ts
 * const train = await mnist("train", "/data/mnist");
 * ```
 */
export async function mnist(split: "train" | "test", root: string): Promise<Dataset> {
  const names = mnistFileNames(split);
  const { found, tried } = await probe([root], names);
  if (!found) {
    throw new Error(
      `MNIST ${split} files not found; tried:\n  ${tried.join("\n  ")}\n` +
        `Put the official files ${names[0]}(.gz) and ${names[1]}(.gz) in ${root}.`,
    );
  }
  const classes = Array.from({ length: 10 }, (_, i) => String(i));
  return await loadIdxPair(found[0], found[1], { classes });
}
