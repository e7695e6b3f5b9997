/**
 * Neighbour purity and the local-group explorer through the commands a user types: `deno task
 * train` on a tiny IDX dataset for two epochs (so the run folder holds `checkpoint.prev` and
 * `checkpoint`) logs both memories' purity in every epoch record of metrics.jsonl and plots it
 * in curves.html; `deno task neighbours` on that run writes neighbours.json and
 * neighbours.html, whose neighbours are the memory rows the checkpoint holds, found through
 * their dataset indices; bad input is an error naming the flag or file.
 */
import { assert, assertEquals, assertSameBits } from "../helpers.ts";
import { denoTask, tinyIdx } from "./fixtures.ts";
import { loadCheckpoint, saveCheckpoint } from "../../lib/io/checkpoint.ts";
import { readIdx } from "../../lib/data/idx.ts";

const K = 4;

Deno.test({
  name: "neighbours cli: a two-epoch run logs neighbour purity; deno task neighbours explores it",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "mugs-neighbours-" });
    try {
      await tinyIdx(dir, 96, 24);
      const run = `${dir}/run`;
      const train = await denoTask("train", [
        ...["--data", dir, "--out", run, "--epochs", "2", "--batch-size", "16"],
        ...["--epoch-images", "48", "--warmup-epochs", "0", "--knn-bank", "0"],
        ...["--queue-size", "48", "--memory-size", "48"],
        ...["--heads", `hidden=32,out=16,bottleneck=16,prototypes=32,k=${K}`],
      ]);
      assertEquals(train.code, 0, `train failed: ${train.stderr.slice(-800)}`);
      // every epoch record carries both memories' purity and its chance level
      const epochs = (await Deno.readTextFile(`${run}/metrics.jsonl`)).trim().split("\n")
        .map((l) => JSON.parse(l)).filter((r) => r.kind === "epoch");
      assertEquals(epochs.length, 2, "two epoch records");
      for (const e of epochs) {
        for (const f of ["neighbour_purity_teacher", "neighbour_purity_student"]) {
          assert(e[f] >= 0 && e[f] <= 1, `epoch ${e.epoch}: ${f} = ${e[f]}`);
        }
        assert(e.neighbour_purity_chance > 0.05 && e.neighbour_purity_chance < 0.3, "chance");
      }
      const curves = await Deno.readTextFile(`${run}/curves.html`);
      assert(curves.includes("neighbour purity"), "curves.html plots neighbour purity");

      const out = `${dir}/explore`;
      const r = await denoTask("neighbours", [
        ...["--checkpoint", run, "--indices", "2,0,1", "--purity-images", "3", "--out", out],
      ]);
      assertEquals(r.code, 0, `neighbours failed: ${r.stderr.slice(-800)}`);
      assert(r.stdout.includes("neighbour purity"), r.stdout);
      const json = JSON.parse(await Deno.readTextFile(`${out}/neighbours.json`));
      const html = await Deno.readTextFile(`${out}/neighbours.html`);
      assert(
        html.includes("Plotly.newPlot") && html.includes("data:image/png"),
        "a page of images",
      );
      // the two checkpoints of the run, oldest first
      assertEquals(json.checkpoints.length, 2, "checkpoint.prev and checkpoint");
      assert(json.checkpoints[0].step < json.checkpoints[1].step, "oldest first");
      assertEquals([json.k, json.networks], [K, ["teacher", "student"]]);
      const trainLabels = (await readIdx(`${dir}/train-labels-idx1-ubyte`)).data;
      const testLabels = (await readIdx(`${dir}/t10k-labels-idx1-ubyte`)).data;
      assertEquals(json.queries.map((q: { held_out_index: number }) => q.held_out_index), [
        2,
        0,
        1,
      ]);
      for (const [s, c] of json.checkpoints.entries()) {
        const ck = await loadCheckpoint(c.source);
        for (const net of ["teacher", "student"]) {
          const sources = ck.tensors.get(`${net}_memory.sources`)!.data;
          const perQuery: number[] = [];
          for (const q of json.queries) {
            assertEquals(q.label, testLabels[q.held_out_index], "query label");
            const e = q.snapshots[s][net];
            assertEquals(e.neighbours.length, K, "k neighbours");
            let hits = 0;
            e.neighbours.forEach((nb: Record<string, number>, j: number) => {
              // found through the dataset index the memory keeps beside the row
              assertEquals(nb.dataset_index, sources[nb.memory_row], "the row's image");
              assertEquals(nb.label, trainLabels[nb.dataset_index], "its label");
              if (j > 0) {
                assert(nb.similarity <= e.neighbours[j - 1].similarity, "most similar first");
              }
              if (nb.label === q.label) hits++;
            });
            assertEquals(e.purity, hits / K, "a query's purity");
            perQuery.push(hits / K);
            for (const block of e.attention) {
              for (const head of block) {
                assertEquals(head.length, K + 1, "query + k neighbours");
                const sum = head.reduce((a: number, v: number) => a + v, 0);
                assert(Math.abs(sum - 1) < 1e-4, `attention sums to ${sum}`);
              }
            }
          }
          // --purity-images 3: the purity of held-out images 0, 1, 2, the queries shown
          const p = json.purity.find((x: Record<string, unknown>) =>
            x.snapshot === s && x.network === net
          );
          assertEquals(p.images, 3);
          const mean = perQuery.reduce((a, v) => a + v, 0) / perQuery.length;
          assert(Math.abs(p.overall - mean) < 1e-12, `overall ${p.overall} = mean ${mean}`);
          assert(Object.values(p.per_class).every((v) => (v as number) >= 0), "per class");
        }
      }

      // an older checkpoint, without the memories' dataset indices: a clear error
      const ck = await loadCheckpoint(`${run}/checkpoint/checkpoint.json`);
      const tensors = new Map([...ck.tensors].filter(([n]) => !n.endsWith(".sources")));
      await saveCheckpoint(`${dir}/old`, { tensors, meta: ck.meta });
      const old = await denoTask("neighbours", ["--checkpoint", `${dir}/old`, "--out", out]);
      assertEquals(old.code, 1, "old checkpoint");
      assert(old.stderr.includes("does not record which images"), old.stderr);
      // a --data whose training set is not the run's
      const other = `${dir}/other`;
      await Deno.mkdir(other);
      await tinyIdx(other, 50, 10);
      const bad = await denoTask("neighbours", ["--checkpoint", run, "--data", other]);
      assertEquals(bad.code, 1);
      assert(bad.stderr.includes(`--data ${other} has 50 training images`), bad.stderr);
      // the same run's tensors were not changed by reading them
      const again = await loadCheckpoint(`${run}/checkpoint/checkpoint.json`);
      assertSameBits(
        again.tensors.get("teacher_memory.rows")!.data,
        ck.tensors.get("teacher_memory.rows")!.data,
        "memory rows",
      );
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "neighbours cli: --help lists the options; bad flags and paths name themselves",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const help = await denoTask("neighbours", ["--help"]);
    assertEquals(help.code, 0);
    for (const f of ["--checkpoint", "--images", "--out", "--indices", "--purity-images"]) {
      assert(help.stdout.includes(f), `help lists ${f}`);
    }
    const cases: [string[], string][] = [
      [["--checkpoint", "/nonexistent/run"], "--checkpoint /nonexistent/run: no such file"],
      [["--checkpoint", "x", "--images", "0"], "--images:"],
      [["--checkpoint", "x", "--network", "both2"], "--network:"],
      [["--checkpoint", "x", "--imgs", "3"], "did you mean --images?"],
    ];
    for (const [args, want] of cases) {
      const r = await denoTask("neighbours", args);
      assertEquals(r.code, 1, args.join(" "));
      assert(r.stderr.includes(want), `${args.join(" ")}: ${r.stderr}`);
    }
  },
});
