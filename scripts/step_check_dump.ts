/**
 * The kit's training step against PyTorch in float64, on the same weights and views: builds the
 * `simclr` preset's state (seed 0), makes the views of 32 embedded training images, runs five
 * steps on them (AdamW lr 1e-3, weight decay 0.05, clipping 3) and writes the initial weights,
 * the views and the five losses to a JSON file that `scripts/step_check_pytorch.py` replays
 * (docs/recipes.md §1: the two agree to 1e-5, so a run that learns less than a PyTorch sketch
 * does so for its seed and views, not for its arithmetic).
 *
 *   deno run -A scripts/step_check_dump.ts /tmp/step.json [--bn]
 *   /usr/bin/python3 scripts/step_check_pytorch.py /tmp/step.json
 *
 * `--bn` builds the projector with BatchNorm1d (`heads.bn`, the official `use_bn_in_head`).
 */
import { init } from "../lib/gpu/device.ts";
import { resolveLayers } from "../lib/mugs/config.ts";
import { loadData } from "../lib/cli/data.ts";
import { trainerConfig } from "../lib/cli/train.ts";
import { MugsState } from "../lib/mugs/step.ts";
import { uint8ToTensor } from "../lib/data/convert.ts";
import { tidy } from "../lib/tensor/scope.ts";
await init();
const bn = Deno.args.includes("--bn");
const values = { preset: "simclr", ...(bn ? { heads: { bn: true } } : {}) };
const c = resolveLayers([{ source: "step check", values }]);
const { train, preset } = await loadData("embedded");
const cfg = trainerConfig(c, train, preset);
const state = MugsState.create({ ...cfg, teacherTemp: 0.04 });
const params: Record<string, { shape: number[]; data: number[] }> = {};
for (const [n, p] of state.student.namedParameters()) {
  params[n] = { shape: [...p.shape], data: Array.from(await p.toArray()) };
}
const B = 32;
const x = uint8ToTensor(train.images.subarray(0, B * 28 * 28), [B, 1, 28, 28]);
const v = state.crops.apply(x, 7);
const views = Array.from(await v.studentGlobal.toArray());
v.dispose();
const losses: number[] = [];
for (let s = 0; s < 5; s++) {
  const l = tidy(() => state.step(x, 7, { epoch: 1, lr: 1e-3, weightDecay: 0.05, momentum: 0 }));
  losses.push(await l.total.item());
}
const out = Deno.args.find((a) => !a.startsWith("--")) ?? "step_check.json";
await Deno.writeTextFile(out, JSON.stringify({ params, views, losses }));
console.log(`${out}: kit losses ${losses.map((l) => l.toFixed(6)).join(" ")}`);
