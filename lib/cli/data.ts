/**
 * The `--data` option of the commands. The layouts it reads, tried in this order:
 *
 * - `embedded`: the Fashion-MNIST subset shipped in `data/` (6 000 / 1 000 images);
 * - `fashion-mnist`: the official Fashion-MNIST files where Debian's `dataset-fashion-mnist`
 *   installs them (`/usr/share/datasets/fashion-mnist`, 60 000 / 10 000 images); the only
 *   spec that looks in a default location;
 * - an IDX folder: `train-images-idx3-ubyte[.gz]`, `train-labels-idx1-ubyte[.gz]`, `t10k-…`
 *   (Fashion-MNIST / MNIST; Fashion-MNIST's class names);
 * - a CIFAR-10 binary folder: `data_batch_1.bin` … `data_batch_5.bin` and `test_batch.bin`
 *   (or a `cifar-10-batches-bin/` folder holding them);
 * - an image folder in DINO's layout: `DIR/train/<class>/*` and `DIR/val/<class>/*` (or
 *   `DIR/test/`), as `torchvision.datasets.ImageFolder` reads each split;
 * - an image folder of class sub-folders, `DIR/<class>/*`: a seeded (seed 0), stratified 10%
 *   of every class is held out as the test split (`HELD_OUT`), as the linear probe holds out
 *   its validation split.
 *
 * Anything else is an error naming the path and these layouts: a path is never replaced by a
 * default.
 *
 * Image folders: PNG and JPEG of any size, RGB or grey (alpha dropped), decoded in workers and
 * resized to the run's image size (the ViT's `imgSize`) with Pillow's bilinear filter after a
 * centred crop to the target's aspect ratio (torchvision's `Resize(s)` + `CenterCrop(s)`, so
 * nothing is distorted). Channels: training takes 1 when every pixel of every image has
 * R = G = B (then exactly Pillow's `convert("L")`), else 3; evaluation takes the model's. A
 * corrupt or unreadable file is skipped with a warning naming it and a count (one bad file in
 * a long folder should not stop a run; none is dropped silently); a folder with nothing
 * readable is an error naming it. The augmentation preset follows the channels: 1 channel
 * `fashion-mnist`, 3 channels `cifar10` (`imagenet` for images of 96 px and more).
 */
import { embedded } from "../data/embedded.ts";
import { fashionMnist, mnistFileNames } from "../data/idx.ts";
import { cifar10 } from "../data/cifar10.ts";
import { readImageFolder } from "../data/image_folder.ts";
import { type Dataset, splitHeldOut } from "../data/dataset.ts";
import type { DataPreset } from "../augment/multicrop.ts";

/**
 * Share of each class held out as the test split of a single image folder (seed 0).
 *
 * @example
 * ```ts
 * HELD_OUT; // 0.1
 * ```
 */
export const HELD_OUT = 0.1;

/**
 * The layouts `--data` reads (for messages and `--help`).
 *
 * @example
 * ```ts
 * console.log(DATA_LAYOUTS.join("\n"));
 * ```
 */
export const DATA_LAYOUTS: readonly string[] = Object.freeze([
  '"embedded" (the shipped Fashion-MNIST subset)',
  '"fashion-mnist" (the Debian package dataset-fashion-mnist, /usr/share/datasets/fashion-mnist)',
  "an IDX folder (train-images-idx3-ubyte[.gz], train-labels-idx1-ubyte[.gz], t10k-…)",
  "a CIFAR-10 binary folder (data_batch_1.bin … data_batch_5.bin, test_batch.bin)",
  "an image folder DIR/train/<class>/*.png|jpg and DIR/val/<class>/*.png|jpg (DINO's layout)",
  "an image folder DIR/<class>/*.png|jpg (10% of each class held out for testing)",
]);

/**
 * Which layout a `--data` spec is, found without decoding anything.
 *
 * @example
 * ```ts
 * const l: DataLayout = { kind: "idx", dir: "/data/fmnist" };
 * ```
 */
export type DataLayout =
  | { kind: "embedded" }
  | { kind: "fashion-mnist" }
  | { kind: "idx"; dir: string }
  | { kind: "cifar10"; dir: string }
  | { kind: "image-splits"; train: string; test: string }
  | { kind: "image-folder"; dir: string };

/**
 * Options of `loadData` (they matter for image folders only).
 *
 * @example
 * ```ts
 * const opts: LoadDataOptions = { imageSize: 28 };
 * ```
 */
export interface LoadDataOptions {
  /** Side the images of a folder are resized to (default 28). */
  imageSize?: number;
  /** Channels of a folder's images (default: 1 for all-grey folders, else 3). */
  channels?: 1 | 3;
  /** Where warnings go (skipped files, the held-out split); default `console.warn`. */
  warn?: (line: string) => void;
}

/**
 * A split pair and what describes it.
 *
 * @example
 * ```ts
 * const { train, test, preset, layout }: LoadedData = await loadData("embedded");
 * ```
 */
export interface LoadedData {
  train: Dataset;
  test: Dataset;
  preset: DataPreset;
  layout: DataLayout;
}

async function statOf(path: string): Promise<Deno.FileInfo | null> {
  try {
    return await Deno.stat(path);
  } catch {
    return null;
  }
}

async function subDirs(dir: string): Promise<string[]> {
  const out: string[] = [];
  for await (const e of Deno.readDir(dir)) {
    if (e.isDirectory || (e.isSymlink && (await statOf(`${dir}/${e.name}`))?.isDirectory)) {
      out.push(e.name);
    }
  }
  return out.sort();
}

function unknown(spec: string, why: string): Error {
  return new Error(
    `--data ${spec}: ${why}; the kit reads:\n  ${DATA_LAYOUTS.join("\n  ")}`,
  );
}

/**
 * Find the layout of a `--data` spec (see the module doc); an unknown path or layout is an
 * error naming the path and the layouts read.
 *
 * @example
 * ```ts
 * const layout = await dataLayout("/usr/share/datasets/fashion-mnist"); // { kind: "idx", ... }
 * ```
 */
export async function dataLayout(spec: string): Promise<DataLayout> {
  if (spec === "embedded") return { kind: "embedded" };
  if (spec === "fashion-mnist") return { kind: "fashion-mnist" };
  const st = await statOf(spec);
  if (!st) throw unknown(spec, "no such file or folder");
  if (!st.isDirectory) throw unknown(spec, "expected a folder, this is a file");
  const dir = spec.replace(/(.)\/+$/, "$1");
  const names = new Set<string>();
  for await (const e of Deno.readDir(dir)) names.add(e.name);
  const idx = [...mnistFileNames("train"), ...mnistFileNames("test")];
  if (idx.some((n) => names.has(n) || names.has(`${n}.gz`))) return { kind: "idx", dir };
  if (
    [...names].some((n) => /^data_batch_\d\.bin$/.test(n) || n === "test_batch.bin") ||
    names.has("cifar-10-batches-bin")
  ) return { kind: "cifar10", dir };
  const dirs = await subDirs(dir);
  const testDir = ["val", "test"].find((d) => dirs.includes(d));
  if (dirs.includes("train") && testDir) {
    const [a, b] = [await subDirs(`${dir}/train`), await subDirs(`${dir}/${testDir}`)];
    if (a.length && b.length) {
      return { kind: "image-splits", train: `${dir}/train`, test: `${dir}/${testDir}` };
    }
  }
  if (dirs.length) return { kind: "image-folder", dir };
  throw unknown(
    spec,
    "this folder matches none of these layouts (no IDX, CIFAR-10 or class folders)",
  );
}

/**
 * Both splits of `--data spec`, and the augmentation/normalisation preset that fits them.
 *
 * @example
 * ```ts
 * const { train, test, preset } = await loadData("embedded");
 * const folder = await loadData("photos", { imageSize: 28 }); // an image folder at 28 px
 * ```
 */
export async function loadData(
  spec: string | DataLayout,
  opts: LoadDataOptions = {},
): Promise<LoadedData> {
  const layout = typeof spec === "string" ? await dataLayout(spec) : spec;
  const warn = opts.warn ?? console.warn;
  switch (layout.kind) {
    case "embedded":
      return {
        train: await embedded("train"),
        test: await embedded("test"),
        preset: "fashion-mnist",
        layout,
      };
    case "fashion-mnist":
      return {
        train: await fashionMnist("train"),
        test: await fashionMnist("test"),
        preset: "fashion-mnist",
        layout,
      };
    case "idx": {
      const o = { searchDefaults: false };
      return {
        train: await fashionMnist("train", layout.dir, o),
        test: await fashionMnist("test", layout.dir, o),
        preset: "fashion-mnist",
        layout,
      };
    }
    case "cifar10":
      return {
        train: await cifar10("train", layout.dir),
        test: await cifar10("test", layout.dir),
        preset: "cifar10",
        layout,
      };
  }
  const size = opts.imageSize ?? 28;
  if (!Number.isInteger(size) || size < 1) {
    throw new Error(`loadData: imageSize must be a positive integer, got ${size}`);
  }
  const big = size >= 96;
  const read = async (dir: string, channels: 1 | 3 | "auto", classes?: string[]) => {
    const r = await readImageFolder(dir, { size, channels, fit: "center-crop", classes });
    if (r.skipped.length) {
      warn(
        `image folder ${dir}: skipped ${r.skipped.length} of ${
          r.skipped.length + r.dataset.n
        } image files that could not be read:\n  ${
          r.skipped.slice(0, 5).map((s) => s.reason).join("\n  ")
        }${r.skipped.length > 5 ? `\n  … and ${r.skipped.length - 5} more` : ""}`,
      );
    }
    if (r.ignored) {
      warn(`image folder ${dir}: left out ${r.ignored} images that are not in a class folder`);
    }
    return r.dataset;
  };
  const channels = opts.channels ?? (big ? 3 : "auto");
  let train: Dataset;
  let test: Dataset;
  if (layout.kind === "image-splits") {
    train = await read(layout.train, channels);
    test = await read(layout.test, train.channels as 1 | 3, train.classes);
  } else {
    const all = await read(layout.dir, channels);
    ({ train, heldOut: test } = splitHeldOut(all, HELD_OUT, 0));
    warn(
      `image folder ${layout.dir}: ${all.n} images in ${all.classes.length} classes; ` +
        `${test.n} (${HELD_OUT * 100}% of each class, seed 0) held out as the test split, ` +
        `${train.n} to train on`,
    );
  }
  const preset: DataPreset = train.channels === 1 ? "fashion-mnist" : big ? "imagenet" : "cifar10";
  return { train, test, preset, layout };
}
