/**
 * The embedded dataset: a class-balanced Fashion-MNIST subset shipped in `data/` so the
 * kit runs with nothing downloaded. See data/README.md for provenance, licence and the
 * selection rule; `scripts/make_embedded.ts` regenerates it from the official files.
 *
 * - train: the first 600 images of each class of the official train file, in file order
 *   (6 000 images);
 * - test: the first 100 images of each class of the official test file (1 000 images).
 *
 * Images are 1x28x28 uint8, stored as gzipped IDX files with the official file names.
 * The files are located relative to this module, read with `Deno.readFile` for a `file:`
 * URL and with `fetch` when the module was imported over http(s).
 */
import { type Dataset } from "./dataset.ts";
import { FASHION_MNIST_CLASSES, idxDataset, mnistFileNames, parseIdx } from "./idx.ts";
import { readBytes, sourceName } from "./read.ts";

/**
 * Images per class in each split of the embedded dataset.
 *
 * @example
 * ```ts
 * EMBEDDED_PER_CLASS.train * 10; // 6000 training images
 * ```
 */
export const EMBEDDED_PER_CLASS: Readonly<{ train: number; test: number }> = Object.freeze({
  train: 600,
  test: 100,
});

/**
 * The URLs of a split's images and labels files (`data/fashion-mnist/*.gz`).
 *
 * @example
 * ```ts
 * const [images, labels] = embeddedFiles("test");
 * ```
 */
export function embeddedFiles(split: "train" | "test"): [URL, URL] {
  const [img, lbl] = mnistFileNames(split);
  return [
    new URL(`../../data/fashion-mnist/${img}.gz`, import.meta.url),
    new URL(`../../data/fashion-mnist/${lbl}.gz`, import.meta.url),
  ];
}

/**
 * Load a split of the embedded Fashion-MNIST subset (1x28x28, 10 classes, balanced).
 *
 * @example
 * ```ts
 * const train = await embedded("train"); // 6000 images, 600 per class
 * const test = await embedded("test"); // 1000 images, 100 per class
 * ```
 */
export async function embedded(split: "train" | "test" = "train"): Promise<Dataset> {
  const [iu, lu] = embeddedFiles(split);
  const [ib, lb] = await Promise.all([readBytes(iu), readBytes(lu)]);
  const names: [string, string] = [sourceName(iu), sourceName(lu)];
  return idxDataset(parseIdx(ib, names[0]), parseIdx(lb, names[1]), {
    classes: [...FASHION_MNIST_CLASSES],
  }, names);
}
