/**
 * Fixtures of the CLI tests: a small training checkpoint written the way the trainer writes
 * it, and a tiny IDX dataset for runs through the real command line.
 */
import { TINY_HEADS, tinyState } from "../mugs/fixtures.ts";
import { saveTrainingState } from "../../lib/mugs/resume.ts";
import { writeIdx } from "../../lib/data/idx.ts";
import { embedded } from "../../lib/data/embedded.ts";

/** Write a checkpoint of the tiny Mugs state (untrained) into `out/checkpoint`. */
export async function tinyCheckpoint(out: string): Promise<string> {
  const state = tinyState({ dropPathRate: 0, ringSize: 16 });
  await saveTrainingState(`${out}/checkpoint`, state, {
    epoch: 1,
    step: 3,
    config: {
      vit: { ...state.student.backbone.config },
      heads: { ...TINY_HEADS },
      mean: [0.286],
      std: [0.353],
      evalNetwork: "teacher",
    },
  });
  return `${out}/checkpoint`;
}

/**
 * A Fashion-MNIST IDX folder in `dir`: the first `train` and `test` images of the embedded test
 * split as its train and t10k files (so `--data dir` reads it).
 */
export async function tinyIdx(dir: string, train = 160, test = 40): Promise<void> {
  const src = await embedded("test");
  const write = async (prefix: string, n: number, from: number) => {
    const images = src.images.slice(from * 784, (from + n) * 784);
    await writeIdx(`${dir}/${prefix}-images-idx3-ubyte`, images, [n, 28, 28]);
    const labels = Uint8Array.from(src.labels.slice(from, from + n));
    await writeIdx(`${dir}/${prefix}-labels-idx1-ubyte`, labels, [n]);
  };
  await write("train", train, 0);
  await write("t10k", test, train);
}

const ROOT = new URL("../../", import.meta.url);

/** `deno task NAME ARGS…` from the repository root, as a user types it; its exit code and output. */
export async function denoTask(
  name: string,
  args: string[],
): Promise<{ code: number; stdout: string; stderr: string }> {
  const r = await new Deno.Command(Deno.execPath(), {
    args: ["task", name, ...args],
    cwd: ROOT,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return { code: r.code, stdout: dec.decode(r.stdout), stderr: dec.decode(r.stderr) };
}
