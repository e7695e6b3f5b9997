/**
 * Ctrl-C through the real command line: `deno task train` on a tiny IDX dataset gets SIGINT
 * during its first epoch, saves a checkpoint where it stands and exits with 130; `--resume`
 * continues from that step to the end.
 */
import { assert, assertEquals } from "../helpers.ts";
import { tinyIdx } from "./fixtures.ts";
import { loadCheckpoint } from "../../lib/io/checkpoint.ts";
import { fileURLToPath } from "node:url";

const TRAIN = fileURLToPath(new URL("../../lib/cli/train.ts", import.meta.url));

function train(args: string[]): Deno.ChildProcess {
  return new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", TRAIN, ...args],
    stdout: "piped",
    stderr: "piped",
  }).spawn();
}

Deno.test({
  name: "train cli: Ctrl-C saves a mid-epoch checkpoint and exits 130; --resume finishes the run",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "mugs-sigint-" });
    await tinyIdx(dir);
    const args = [
      "--data",
      dir,
      "--out",
      `${dir}/run`,
      "--epochs",
      "1",
      "--batch-size",
      "16",
      "--local-crops",
      "2",
      "--heads",
      "hidden=32,out=16,predHidden=32,bottleneck=16,prototypes=64,k=4",
      "--queue-size",
      "64",
      "--memory-size",
      "64",
      "--warmup-epochs",
      "0",
    ];
    const child = train(args);
    let out = "";
    const dec = new TextDecoder();
    for await (const chunk of child.stdout) {
      out += dec.decode(chunk);
      // the first progress line (steps are logged every 4): interrupt the run there
      if (/step \d+\/10/.test(out)) {
        child.kill("SIGINT");
        break;
      }
    }
    const status = await child.status;
    const err = dec.decode(await new Response(child.stderr).arrayBuffer());
    assertEquals(status.code, 130, `exit code (stderr: ${err.slice(-600)})`);
    const ck = await loadCheckpoint(`${dir}/run/checkpoint`);
    assert(ck.meta.step >= 4 && ck.meta.step < 10, `checkpoint at step ${ck.meta.step}`);
    assertEquals(ck.meta.epoch, 0);
    const resumed = await train([...args, "--resume"]).output();
    const text = dec.decode(resumed.stdout);
    assert(resumed.success, dec.decode(resumed.stderr).slice(-600));
    assert(
      text.includes(`resumed from ${dir}/run/checkpoint at epoch 0, step ${ck.meta.step}`),
      text,
    );
    const last = JSON.parse(text.trim().split("\n").pop()!);
    assertEquals([last.steps, last.interrupted], [10, false]);
    // metrics.jsonl: each run's baseline read-outs (raw pixels, the untrained network), its
    // steps and the epoch record
    const recs = (await Deno.readTextFile(`${dir}/run/metrics.jsonl`)).trim().split("\n")
      .map((l) => JSON.parse(l));
    const base = recs.filter((r) => r.kind === "baseline");
    assertEquals(base.filter((r) => "knn_top1_raw_pixels" in r).length, 2, "raw pixels per run");
    assert(base.some((r) => typeof r.knn_top1 === "number"), "an untrained read-out");
    const kinds = recs.map((r) => r.kind);
    assert(kinds.includes("step") && kinds.includes("epoch"), `kinds ${kinds}`);
    await Deno.remove(dir, { recursive: true });
  },
});
