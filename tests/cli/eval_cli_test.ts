import { assert, assertEquals, assertRejects, gpuTest, setup } from "../helpers.ts";
import { main, runEval } from "../../lib/cli/eval.ts";
import { parseFlags } from "../../lib/cli/flags.ts";
import { EvalOptions } from "../../lib/cli/eval.ts";
import { tinyCheckpoint } from "./fixtures.ts";
import { PRETRAINED } from "../../lib/eval/pretrained.ts";

await setup();

function options(argv: string[]) {
  const r = parseFlags(EvalOptions, argv, "", "");
  if (r.help) throw new Error("unexpected --help");
  return r.values;
}

Deno.test({
  name: "eval cli: every read-out on a checkpoint writes eval.json and the HTML figures",
  ...gpuTest,
  fn: async () => {
    const dir = await Deno.makeTempDir({ prefix: "mugs-eval-" });
    await tinyCheckpoint(dir);
    const lines: string[] = [];
    const r = await runEval(
      options([
        "--checkpoint",
        dir,
        "--ks",
        "10,20",
        "--linear-epochs",
        "3",
        "--linear-lrs",
        "0.1,1",
        "--fractions",
        "0.1",
        "--tsne-points",
        "150",
        "--tsne-iters",
        "100",
        "--attention-images",
        "2",
      ]),
      (l) => lines.push(l),
    );
    const json = JSON.parse(await Deno.readTextFile(`${dir}/eval/eval.json`));
    assertEquals(json.dataset, "embedded");
    assertEquals(json.checkpoint, dir);
    assertEquals(Object.keys(json.knn_top1), ["10", "20"]);
    for (const v of Object.values(json.knn_top1) as number[]) assert(v >= 0 && v <= 100, `${v}`);
    assert(json.linear_top1 > 10, `linear top-1 ${json.linear_top1} beats chance`);
    assertEquals(Object.keys(json.semi_top1), ["10%"]);
    assertEquals(json.tsne.points, 150);
    assertEquals(json.attention.heads, 2);
    assertEquals(json.linear_confusion.length, 10);
    assertEquals(r.linear_top1, json.linear_top1);
    for (const f of ["knn", "confusion", "tsne", "attention"]) {
      const html = await Deno.readTextFile(`${dir}/eval/${f}.html`);
      assert(html.includes("Plotly.newPlot") || html.includes("Plotly.react"), `${f}.html plots`);
    }
    assert(lines.some((l) => l.includes("k-NN top-1 (k=20)")), lines.join("\n"));
    await Deno.remove(dir, { recursive: true });
  },
});

Deno.test("eval cli: --help lists the read-outs; bad values name the flag", async () => {
  const log = console.log;
  const out: string[] = [];
  console.log = (s: string) => out.push(s);
  try {
    assertEquals(await main(["--help"]), 0);
  } finally {
    console.log = log;
  }
  for (const f of ["--knn", "--linear", "--tsne", "--attention", "--checkpoint"]) {
    assert(out.join("\n").includes(f), `help lists ${f}`);
  }
  await assertRejects(
    () => main(["--checkpoint", "x", "--ks", "10,abc"]),
    "--ks: expected a number",
  );
  await assertRejects(() => main(["--checkpoint", "x", "--threshold", "2"]), "--threshold:");
  // without --checkpoint the shipped backbone is read (and the output goes under runs/)
  assertEquals(EvalOptions.parse({}).checkpoint, PRETRAINED);
  assert((await Deno.stat(PRETRAINED)).isFile, `the shipped backbone ${PRETRAINED} exists`);
  await assertRejects(
    () => main(["--checkpoint", "/nonexistent/run"]),
    "--checkpoint /nonexistent/run: no such file or folder",
  );
});
