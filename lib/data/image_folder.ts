/**
 * An image folder with torchvision `ImageFolder` semantics:
 * `root/<class>/**\/<image>.png|jpg|jpeg`, classes are the sub-folder names sorted,
 * label k = the k-th class, files within a class in sorted walk order (sub-folders of a
 * class folder included). Images directly under `root` are allowed for unlabeled
 * pretraining and get label -1. Extensions are matched case-insensitively; other files
 * are ignored.
 *
 * Images are decoded off the main thread by a `DecodePool` of Web Workers, converted to
 * `channels` (1 = Pillow's `convert("L")`, 3 = RGB, alpha dropped) and resized to `size`
 * if given (Pillow bilinear); without `size` every image must have the first image's size.
 *
 * `ImageFolder.open` lists the files (and decodes the first image to learn the shape);
 * `gather(indices)` decodes a batch on demand (the loader prefetches the next batch while
 * the current one is on the GPU); `load()` decodes everything into a `Dataset`.
 */
import { checkDataset, type Dataset } from "./dataset.ts";
import { DecodePool, defaultWorkers } from "./decode_pool.ts";
import { checkDecodeOptions, type DecodedImage } from "./image_decode.ts";

/**
 * Options of `ImageFolder.open` and `imageFolder`.
 *
 * @example
 * ```ts
 * const opts: ImageFolderOptions = { channels: 3, size: 32, workers: 2 };
 * ```
 */
export interface ImageFolderOptions {
  /** 1 (grayscale) or 3 (RGB, default). */
  channels?: 1 | 3;
  /** Resize every image to `size x size` or `[height, width]` (Pillow bilinear). */
  size?: number | [number, number];
  /** Decode workers (default: CPU count - 1, at least 1); 0 decodes on the calling thread. */
  workers?: number;
}

/**
 * File extensions read as images (lower case; matched case-insensitively).
 *
 * @example
 * ```ts
 * IMAGE_EXTENSIONS.includes(".png"); // true
 * ```
 */
export const IMAGE_EXTENSIONS: readonly string[] = Object.freeze([".png", ".jpg", ".jpeg"]);

function isImage(name: string): boolean {
  const l = name.toLowerCase();
  return IMAGE_EXTENSIONS.some((e) => l.endsWith(e));
}

async function statOf(path: string): Promise<Deno.FileInfo | null> {
  try {
    return await Deno.stat(path);
  } catch {
    return null;
  }
}

/** Sorted like Python's `sorted()` on str: by code point. */
function byCodePoint(a: string, b: string): number {
  const x = [...a];
  const y = [...b];
  for (let i = 0; i < Math.min(x.length, y.length); i++) {
    const d = x[i].codePointAt(0)! - y[i].codePointAt(0)!;
    if (d) return d;
  }
  return x.length - y.length;
}

async function entries(dir: string): Promise<{ dirs: string[]; files: string[] }> {
  const dirs: string[] = [];
  const files: string[] = [];
  for await (const e of Deno.readDir(dir)) {
    let isDir = e.isDirectory;
    let isFile = e.isFile;
    if (e.isSymlink) {
      const s = await statOf(`${dir}/${e.name}`);
      isDir = s?.isDirectory ?? false;
      isFile = s?.isFile ?? false;
    }
    if (isDir) dirs.push(e.name);
    else if (isFile) files.push(e.name);
  }
  dirs.sort(byCodePoint);
  files.sort(byCodePoint);
  return { dirs, files };
}

/** Image files under `dir`, as `sorted(os.walk(dir))` then `sorted(fnames)` orders them. */
async function walk(dir: string): Promise<string[]> {
  const found: [string, string[]][] = [];
  const visit = async (d: string, depth: number) => {
    if (depth > 64) throw new Error(`image folder: ${d} is nested too deeply (symlink loop?)`);
    const { dirs, files } = await entries(d);
    found.push([d, files.filter(isImage).map((f) => `${d}/${f}`)]);
    for (const s of dirs) await visit(`${d}/${s}`, depth + 1);
  };
  await visit(dir, 0);
  found.sort((a, b) => byCodePoint(a[0], b[0]));
  return found.flatMap(([, f]) => f);
}

function sizeOf(size: ImageFolderOptions["size"]): [number, number] | undefined {
  if (size === undefined) return undefined;
  return typeof size === "number" ? [size, size] : size;
}

/**
 * A lazily decoded image folder; see the module doc. Close it to end its workers.
 *
 * @example
 * ```ts
 * using folder = await ImageFolder.open("photos", { size: 32 });
 * const loader = new Loader(folder, { batchSize: 64 });
 * ```
 */
export class ImageFolder {
  readonly root: string;
  /** Image paths in index order. */
  readonly files: string[];
  /** Label per file (-1 for images directly under root). */
  readonly labels: Int32Array;
  readonly classes: string[];
  readonly n: number;
  readonly channels: 1 | 3;
  readonly height: number;
  readonly width: number;
  #pool: DecodePool;
  #size: [number, number] | undefined;

  private constructor(
    root: string,
    files: string[],
    labels: Int32Array,
    classes: string[],
    channels: 1 | 3,
    hw: [number, number],
    pool: DecodePool,
    size: [number, number] | undefined,
  ) {
    this.root = root;
    this.files = files;
    this.labels = labels;
    this.classes = classes;
    this.n = files.length;
    this.channels = channels;
    [this.height, this.width] = hw;
    this.#pool = pool;
    this.#size = size;
  }

  /**
   * List `root` and learn the image shape (from `size`, or by decoding the first image).
   *
   * @example
   * ```ts
   * const folder = await ImageFolder.open("photos", { channels: 3, size: 32 });
   * const bytes = await folder.gather(Int32Array.of(0, 1)); // 2 * 3 * 32 * 32
   * folder.close();
   * ```
   */
  static async open(root: string, opts: ImageFolderOptions = {}): Promise<ImageFolder> {
    const size = sizeOf(opts.size);
    checkDecodeOptions({ channels: opts.channels, size }, `image folder ${root}`);
    const channels = opts.channels ?? 3;
    const base = root.replace(/(.)\/+$/, "$1");
    const st = await statOf(base);
    if (!st) {
      throw new Error(
        `image folder ${base} does not exist (expected root/<class>/<image>.png|jpg|jpeg)`,
      );
    }
    if (!st.isDirectory) {
      throw new Error(`image folder ${base} is not a directory (expected a folder of images)`);
    }
    const { dirs, files } = await entries(base);
    const paths: string[] = [];
    const labels: number[] = [];
    const classes: string[] = [];
    for (const f of files.filter(isImage)) {
      paths.push(`${base}/${f}`);
      labels.push(-1);
    }
    for (const d of dirs) {
      const imgs = await walk(`${base}/${d}`);
      if (!imgs.length) {
        throw new Error(
          `image folder ${base}: class folder ${base}/${d} holds no image ` +
            `(expected ${IMAGE_EXTENSIONS.join(", ")} files)`,
        );
      }
      const k = classes.length;
      classes.push(d);
      for (const p of imgs) {
        paths.push(p);
        labels.push(k);
      }
    }
    if (!paths.length) {
      throw new Error(
        `image folder ${base} is empty: no ${IMAGE_EXTENSIONS.join(", ")} files in it or in ` +
          `class sub-folders (expected root/<class>/<image>.png|jpg|jpeg or images directly under root)`,
      );
    }
    const pool = new DecodePool(opts.workers ?? defaultWorkers());
    let hw = size;
    if (!hw) {
      try {
        const first = await pool.decode(paths[0], { channels });
        hw = [first.height, first.width];
      } catch (e) {
        pool.close();
        throw e;
      }
    }
    return new ImageFolder(
      base,
      paths,
      Int32Array.from(labels),
      classes,
      channels,
      hw,
      pool,
      size,
    );
  }

  #check(img: DecodedImage, path: string): void {
    if (img.height !== this.height || img.width !== this.width) {
      throw new Error(
        `image ${path} is ${img.height}x${img.width} (HxW) but ${this.files[0]} is ` +
          `${this.height}x${this.width}; pass size to resize every image to one size`,
      );
    }
  }

  /**
   * Decode the images at `indices` (in parallel, off the main thread) into one
   * `indices.length x C x H x W` byte array.
   *
   * @example
   * ```ts
   * const batch = await folder.gather(Int32Array.of(3, 1, 4));
   * ```
   */
  async gather(indices: ArrayLike<number>): Promise<Uint8Array> {
    const per = this.channels * this.height * this.width;
    const out = new Uint8Array(indices.length * per);
    const opts = { channels: this.channels, size: this.#size };
    const paths = Array.from(indices, (i) => {
      if (!Number.isInteger(i) || i < 0 || i >= this.n) {
        throw new Error(`image folder ${this.root}: index ${i} is outside [0, ${this.n - 1}]`);
      }
      return this.files[i];
    });
    const imgs = await this.#pool.decodeMany(paths, opts);
    imgs.forEach((img, j) => {
      this.#check(img, paths[j]);
      out.set(img.data, j * per);
    });
    return out;
  }

  /**
   * Decode every image into an in-memory dataset.
   *
   * @example
   * ```ts
   * const ds = await folder.load();
   * ```
   */
  async load(): Promise<Dataset> {
    const images = await this.gather(Int32Array.from({ length: this.n }, (_, i) => i));
    return {
      images,
      labels: this.labels.slice(),
      n: this.n,
      channels: this.channels,
      height: this.height,
      width: this.width,
      classes: [...this.classes],
    };
  }

  /** End the decode workers. Idempotent. */
  close(): void {
    this.#pool.close();
  }

  [Symbol.dispose](): void {
    this.close();
  }
}

/**
 * Load a whole image folder into memory (decoding in workers), then end the workers.
 *
 * @example
 * ```ts
 * const ds = await imageFolder("photos", { channels: 1, size: [28, 28] });
 * ```
 */
export async function imageFolder(root: string, opts: ImageFolderOptions = {}): Promise<Dataset> {
  const folder = await ImageFolder.open(root, opts);
  try {
    return await folder.load();
  } finally {
    folder.close();
  }
}

/**
 * Options of `readImageFolder`.
 *
 * @example
 * ```ts
 * const opts: ReadImageFolderOptions = { size: 28, channels: "auto", fit: "center-crop" };
 * ```
 */
export interface ReadImageFolderOptions {
  /** Every image is resized to `size x size` or `[height, width]` (Pillow bilinear). */
  size: number | [number, number];
  /**
   * 1, 3, or "auto" (default): 1 when every pixel of every readable image has R = G = B
   * (grey files, PNG or JPEG; the values are then exactly Pillow's `convert("L")`), else 3.
   */
  channels?: 1 | 3 | "auto";
  /** "stretch" (default, torchvision `Resize((h, w))`) or "center-crop" (see `DecodeOptions`). */
  fit?: "stretch" | "center-crop";
  /** Class names to label with (e.g. the train split's, for a val split); default: the folders. */
  classes?: string[];
  /** Decode workers (default: CPU count - 1, at least 1); 0 decodes on the calling thread. */
  workers?: number;
}

/**
 * What `readImageFolder` read: the dataset, and the files it skipped.
 *
 * @example
 * ```ts
 * const { dataset, skipped, ignored }: ImageFolderRead = await readImageFolder("photos", { size: 28 });
 * ```
 */
export interface ImageFolderRead {
  dataset: Dataset;
  /** Image files that could not be read or decoded, with the decoder's reason. */
  skipped: { path: string; reason: string }[];
  /** Image files directly under root (not in a class folder), left out. */
  ignored: number;
}

/** Decode `paths`; files that fail are returned in `failed` instead of failing the rest. */
async function decodeTolerant(
  pool: DecodePool,
  paths: string[],
  opts: { channels: 1 | 3; size: [number, number]; fit: "stretch" | "center-crop" },
): Promise<{ images: (DecodedImage | null)[]; failed: { path: string; reason: string }[] }> {
  const images: (DecodedImage | null)[] = [];
  const failed: { path: string; reason: string }[] = [];
  const CHUNK = 512;
  for (let s = 0; s < paths.length; s += CHUNK) {
    const part = paths.slice(s, s + CHUNK);
    try {
      images.push(...await pool.decodeMany(part, opts));
    } catch {
      // one bad file fails its chunk: decode the chunk file by file to find which
      for (const p of part) {
        try {
          images.push(await pool.decode(p, opts));
        } catch (e) {
          images.push(null);
          failed.push({ path: p, reason: (e as Error).message });
        }
      }
    }
  }
  return { images, failed };
}

/**
 * Read an image folder of torchvision `ImageFolder` layout (`root/<class>/**\/<image>`, classes
 * = the sub-folder names sorted, label k = the k-th) into memory at one size, for training and
 * evaluation on whole folders. Unlike `ImageFolder.open` it does not stop at an unreadable
 * file: a corrupt, truncated or non-image file with an image extension is skipped and reported
 * in `skipped` (a long preprocessing should not die on one bad file of thousands, and nothing
 * is dropped silently: the caller prints the count). A folder where nothing is readable, or with
 * no class folder, is an error naming it. Images directly under `root` are not in a class: they
 * are left out and counted in `ignored`.
 *
 * @example
 * ```ts
 * const { dataset, skipped } = await readImageFolder("photos/train", { size: 28, channels: "auto" });
 * ```
 */
export async function readImageFolder(
  root: string,
  opts: ReadImageFolderOptions,
): Promise<ImageFolderRead> {
  const size = sizeOf(opts.size)!;
  const fit = opts.fit ?? "stretch";
  const want = opts.channels ?? "auto";
  if (want !== "auto") checkDecodeOptions({ channels: want, size, fit }, `image folder ${root}`);
  else checkDecodeOptions({ size, fit }, `image folder ${root}`);
  const base = root.replace(/(.)\/+$/, "$1");
  const st = await statOf(base);
  if (!st?.isDirectory) {
    throw new Error(
      `image folder ${base} ${st ? "is not a directory" : "does not exist"} ` +
        `(expected root/<class>/<image>.png|jpg|jpeg)`,
    );
  }
  const { dirs, files } = await entries(base);
  const classes = opts.classes ? [...opts.classes] : [...dirs];
  const paths: string[] = [];
  const labels: number[] = [];
  for (const d of dirs) {
    const k = classes.indexOf(d);
    if (k < 0) {
      throw new Error(
        `image folder ${base}: class folder '${d}' is not one of the ${classes.length} classes ` +
          `of the training split (${classes.slice(0, 10).join(", ")}${
            classes.length > 10 ? ", ..." : ""
          })`,
      );
    }
    const imgs = await walk(`${base}/${d}`);
    if (!imgs.length) {
      throw new Error(
        `image folder ${base}: class folder ${base}/${d} holds no image ` +
          `(expected ${IMAGE_EXTENSIONS.join(", ")} files)`,
      );
    }
    for (const p of imgs) {
      paths.push(p);
      labels.push(k);
    }
  }
  const ignored = files.filter(isImage).length;
  if (!paths.length) {
    throw new Error(
      `image folder ${base}: no class folder with ${IMAGE_EXTENSIONS.join(", ")} files ` +
        `(expected ${base}/<class>/<image>${
          ignored ? `; ${ignored} images lie directly in it` : ""
        })`,
    );
  }
  const pool = new DecodePool(opts.workers ?? defaultWorkers());
  let decoded: Awaited<ReturnType<typeof decodeTolerant>>;
  try {
    decoded = await decodeTolerant(pool, paths, { channels: want === 1 ? 1 : 3, size, fit });
  } finally {
    pool.close();
  }
  const keep = decoded.images.flatMap((img, i) => (img ? [i] : []));
  if (!keep.length) {
    throw new Error(
      `image folder ${base}: none of its ${paths.length} image files could be read ` +
        `(first: ${decoded.failed[0].reason})`,
    );
  }
  const [h, w] = size;
  let channels: 1 | 3 = want === 1 ? 1 : 3;
  if (want === "auto") {
    const grey = keep.every((i) => {
      const d = decoded.images[i]!.data;
      const hw = h * w;
      for (let j = 0; j < hw; j++) if (d[j] !== d[hw + j] || d[j] !== d[2 * hw + j]) return false;
      return true;
    });
    if (grey) channels = 1;
  }
  const per = channels * h * w;
  const images = new Uint8Array(keep.length * per);
  keep.forEach((i, j) => images.set(decoded.images[i]!.data.subarray(0, per), j * per));
  const dataset = checkDataset({
    images,
    labels: Int32Array.from(keep, (i) => labels[i]),
    n: keep.length,
    channels,
    height: h,
    width: w,
    classes,
  }, `image folder ${base}`);
  return { dataset, skipped: decoded.failed, ignored };
}
