/**
 * Paired speed comparison with PyTorch on the same machine, run on demand (not in CI):
 *
 *   deno run -A scripts/speed_vs_pytorch.ts [--reps 5] [--vit-steps 6] [--mugs-steps 3]
 *     [--python /usr/bin/python3] [--torch-device cpu|cuda] [--omp-active] [--json]
 *
 * It times the kit's two benchmarked steps (bench/train_step.ts: the ViT training step;
 * bench/mugs_step.ts: the Mugs step) and the same steps in PyTorch on the CPU with 2 threads
 * (scripts/speed_pytorch.py: a plain ViT step, and the Mugs step as the official code computes
 * it), interleaved in one go: each repetition runs kit ViT, PyTorch ViT, kit Mugs, PyTorch
 * Mugs back to back, because a shared machine's speed changes from minute to minute. The
 * PyTorch process is started once and kept (one command per line on its stdin), so neither
 * side pays its set-up inside a repetition. Prints one JSON line per repetition and a table of
 * medians with the ratios kit / PyTorch (images per second) and the machine's load average;
 * `--json` prints the summary as JSON instead.
 *
 * PyTorch runs with `OMP_WAIT_POLICY=PASSIVE` unless `--omp-active` is given: with OpenMP's
 * default spin-waiting, two PyTorch threads on a machine that runs other work wait for each
 * other's time slices at every op (measured on the shared 2-core machine: a ViT step of about
 * 2 s with spinning, 0.12-0.2 s passive, 0.1 s with one thread), which measures the scheduler,
 * not PyTorch. On a quiet machine the two policies give about the same times.
 *
 * `--torch-device cuda` runs the PyTorch steps on the GPU (a synchronize around each step) for
 * the comparison on a machine with one, where the kit runs on the same GPU through WebGPU.
 */
import { parseArgs } from "node:util";
import { init, sync } from "../lib/gpu/device.ts";
import { trainStepSetup } from "../bench/train_step.ts";
import { mugsStepSetup } from "../bench/mugs_step.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    reps: { type: "string", default: "5" },
    "vit-steps": { type: "string", default: "6" },
    "mugs-steps": { type: "string", default: "3" },
    python: { type: "string", default: "/usr/bin/python3" },
    "torch-device": { type: "string", default: "cpu" },
    "omp-active": { type: "boolean", default: false },
    json: { type: "boolean", default: false },
  },
});
const reps = Number(values.reps);
const vitSteps = Number(values["vit-steps"]);
const mugsSteps = Number(values["mugs-steps"]);
const torchDevice = values["torch-device"]!;
if (!/^(cpu|cuda(:\d+)?)$/.test(torchDevice)) {
  throw new Error(`--torch-device must be cpu, cuda or cuda:N, got ${torchDevice}`);
}
for (const [k, v] of [["reps", reps], ["vit-steps", vitSteps], ["mugs-steps", mugsSteps]]) {
  if (!Number.isInteger(v) || (v as number) < 1) {
    throw new Error(`--${k} must be an integer >= 1, got ${v}`);
  }
}

const info = await init();

/** The PyTorch side: one long-lived process answering `<step> <n>` with per-step times. */
class Torch {
  #proc: Deno.ChildProcess;
  #writer: WritableStreamDefaultWriter<Uint8Array>;
  #lines: AsyncIterator<string>;
  constructor(python: string, env: Record<string, string>) {
    const script = new URL("./speed_pytorch.py", import.meta.url).pathname;
    this.#proc = new Deno.Command(python, {
      args: [script],
      env,
      stdin: "piped",
      stdout: "piped",
      stderr: "inherit",
    }).spawn();
    this.#writer = this.#proc.stdin.getWriter();
    this.#lines = this.#proc.stdout.pipeThrough(new TextDecoderStream()).pipeThrough(
      new TransformStream<string, string>(
        {
          buffer: "",
          transform(chunk, ctl) {
            const parts = (this.buffer + chunk).split("\n");
            this.buffer = parts.pop()!;
            for (const p of parts) if (p.trim()) ctl.enqueue(p);
          },
        } as Transformer<string, string> & { buffer: string },
      ),
    )[Symbol.asyncIterator]();
  }

  async next(): Promise<Record<string, unknown>> {
    const r = await this.#lines.next();
    if (r.done) throw new Error("speed_pytorch.py ended early (is PyTorch installed?)");
    return JSON.parse(r.value);
  }

  async run(step: "vit" | "mugs", n: number): Promise<number> {
    await this.#writer.write(new TextEncoder().encode(`${step} ${n}\n`));
    const out = await this.next();
    const ms = out.ms as number[];
    return ms.reduce((a, b) => a + b, 0) / ms.length;
  }

  async close(): Promise<void> {
    await this.#writer.write(new TextEncoder().encode("quit\n"));
    await this.#writer.close();
    await this.#proc.status;
  }
}

/** Mean milliseconds per step of `n` kit steps recorded back to back, one GPU wait at the end. */
async function kitTime(step: (i: number) => void, n: number, seed: number): Promise<number> {
  const t0 = performance.now();
  for (let i = 0; i < n; i++) step(seed + i);
  await sync();
  return (performance.now() - t0) / n;
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const r2 = (x: number) => Math.round(x * 100) / 100;

const ompPolicy = values["omp-active"] ? "ACTIVE" : "PASSIVE";
const torch = new Torch(values.python!, {
  OMP_WAIT_POLICY: ompPolicy,
  SPEED_TORCH_DEVICE: torchDevice,
});
const ready = await torch.next();
const vit = trainStepSetup();
const mugs = mugsStepSetup();
// warm-up: pipelines compiled, pools filled
for (let i = 0; i < 2; i++) {
  vit.step();
  mugs.step(i);
}
await sync();

const rows: { vit: number[]; vitTorch: number[]; mugs: number[]; mugsTorch: number[] } = {
  vit: [],
  vitTorch: [],
  mugs: [],
  mugsTorch: [],
};
for (let r = 0; r < reps; r++) {
  const kv = await kitTime(() => vit.step(), vitSteps, 0);
  const tv = await torch.run("vit", vitSteps);
  const km = await kitTime(mugs.step, mugsSteps, 10 + r * mugsSteps);
  const tm = await torch.run("mugs", mugsSteps);
  rows.vit.push(kv);
  rows.vitTorch.push(tv);
  rows.mugs.push(km);
  rows.mugsTorch.push(tm);
  const line = {
    rep: r + 1,
    vit_ms: r2(kv),
    vit_torch_ms: r2(tv),
    vit_ratio: r2(tv / kv),
    mugs_ms: r2(km),
    mugs_torch_ms: r2(tm),
    mugs_ratio: r2(tm / km),
  };
  if (!values.json) console.log(JSON.stringify(line));
}
await torch.close();

const summary = {
  adapter: info.adapter,
  torch: ready.torch,
  torch_device: ready.device,
  torch_threads: ready.threads,
  torch_omp_wait_policy: ompPolicy,
  reps,
  date: new Date().toISOString().slice(0, 10),
  // other work on the machine: PyTorch's OpenMP threads suffer more from it than llvmpipe's
  load_average: Deno.loadavg().map(r2),
  vit: {
    kit_images_per_s: r2((vit.batch * 1000) / median(rows.vit)),
    torch_images_per_s: r2((vit.batch * 1000) / median(rows.vitTorch)),
    // the median of the paired ratios: each pair ran back to back
    ratio: r2(median(rows.vit.map((k, i) => rows.vitTorch[i] / k))),
  },
  mugs: {
    kit_images_per_s: r2((mugs.batch * 1000) / median(rows.mugs)),
    torch_images_per_s: r2((mugs.batch * 1000) / median(rows.mugsTorch)),
    ratio: r2(median(rows.mugs.map((k, i) => rows.mugsTorch[i] / k))),
  },
};
if (values.json) console.log(JSON.stringify(summary));
else {
  console.log(
    `\n${summary.date}, ${summary.adapter}, PyTorch ${summary.torch} on ${summary.torch_device} ` +
      `(${summary.torch_threads} threads, OMP_WAIT_POLICY=${ompPolicy}), ${reps} paired ` +
      `repetitions (medians), load average ` +
      `${summary.load_average.join(" ")}\n`,
  );
  console.log("| step | the kit (images/s) | PyTorch (images/s) | ratio |");
  console.log("| --- | --- | --- | --- |");
  console.log(
    `| ViT training step | ${summary.vit.kit_images_per_s} | ${summary.vit.torch_images_per_s} | ` +
      `${summary.vit.ratio}x |`,
  );
  console.log(
    `| Mugs step | ${summary.mugs.kit_images_per_s} | ${summary.mugs.torch_images_per_s} | ` +
      `${summary.mugs.ratio}x |`,
  );
}
