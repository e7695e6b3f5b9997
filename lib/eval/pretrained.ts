/**
 * The backbone the kit ships: the teacher of the long Mugs run on the embedded Fashion-MNIST
 * split (`weights/README.md` gives the command that made it, its curve and its read-outs). It is
 * what `deno task eval` and notebooks 03-05 read when no checkpoint of the user's is given, so
 * their k-NN, t-SNE and attention maps show a trained network out of the box.
 */
import { fileURLToPath } from "node:url";

const URL_ = new URL("../../weights/vit_micro_28_mugs.safetensors", import.meta.url);

/**
 * Where the shipped backbone is: a file path when the kit runs from a checkout, else its URL
 * (a module imported over http).
 *
 * @example
 * ```ts
 * const { vit } = await loadBackbone(PRETRAINED); // vit_micro_28, Mugs on Fashion-MNIST
 * ```
 */
export const PRETRAINED: string = URL_.protocol === "file:" ? fileURLToPath(URL_) : URL_.href;
