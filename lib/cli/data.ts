/**
 * The `--data` option of the commands: "embedded" (the shipped Fashion-MNIST subset), an IDX
 * folder (Fashion-MNIST / MNIST files, gzipped or not) or a CIFAR-10 binary folder; the train
 * and test splits and the matching augmentation/normalisation preset.
 */
import { embedded } from "../data/embedded.ts";
import { fashionMnist } from "../data/idx.ts";
import { cifar10 } from "../data/cifar10.ts";
import type { Dataset } from "../data/dataset.ts";
import type { DataPreset } from "../augment/multicrop.ts";

/**
 * Both splits of `--data spec`.
 *
 * @example
 * ```ts
 * const { train, test, preset } = await loadData("embedded");
 * ```
 */
export async function loadData(
  spec: string,
): Promise<{ train: Dataset; test: Dataset; preset: DataPreset }> {
  if (spec === "embedded") {
    return {
      train: await embedded("train"),
      test: await embedded("test"),
      preset: "fashion-mnist",
    };
  }
  let stat: Deno.FileInfo;
  try {
    stat = await Deno.stat(spec);
  } catch {
    throw new Error(
      `--data ${spec}: no such file or folder (use "embedded", an IDX folder or a CIFAR-10 folder)`,
    );
  }
  if (!stat.isDirectory) throw new Error(`--data ${spec}: expected a folder`);
  const names = [...Deno.readDirSync(spec)].map((e) => e.name);
  if (names.some((n) => n.startsWith("data_batch_") || n === "cifar-10-batches-bin")) {
    return {
      train: await cifar10("train", spec),
      test: await cifar10("test", spec),
      preset: "cifar10",
    };
  }
  return {
    train: await fashionMnist("train", spec),
    test: await fashionMnist("test", spec),
    preset: "fashion-mnist",
  };
}
