/** Benchmark helpers: time a GPU closure to completion and print one JSON line per result. */
import { gpuStats, init, runtime, sync } from "../lib/gpu/device.ts";

/** One benchmark result line. */
export interface BenchLine {
  name: string;
  [figure: string]: string | number | boolean;
}

let adapter = "";

/** Initialise WebGPU and remember the adapter's name for every line. */
export async function benchInit(): Promise<string> {
  const info = await init();
  adapter = info.adapter;
  return adapter;
}

/** Print one result as a JSON line, with the adapter's description. */
export function report(line: BenchLine): void {
  const { name, ...figures } = line;
  console.log(JSON.stringify({ name, adapter, ...figures }));
}

/**
 * Run `fn` (which records GPU work) until `minMs` have passed (at least `minIters`
 * rounds); each round records `perSync` runs back to back and waits for the GPU once, so
 * the submit-and-wait round trip is shared. Returns the median milliseconds per run.
 */
export async function timeIt(
  fn: () => void,
  minMs = 1000,
  minIters = 3,
  perSync = 1,
): Promise<number> {
  return (await timeStats(fn, minMs, minIters, perSync)).median;
}

/** As `timeIt`, with the fastest round too (a shared machine adds noise, never speed). */
export async function timeStats(
  fn: () => void,
  minMs = 1000,
  minIters = 3,
  perSync = 1,
): Promise<{ median: number; best: number }> {
  fn();
  await sync(); // warm-up: compile pipelines, fill the pool
  const times: number[] = [];
  const start = performance.now();
  while (times.length < minIters || performance.now() - start < minMs) {
    const t0 = performance.now();
    for (let i = 0; i < perSync; i++) fn();
    await sync();
    times.push((performance.now() - t0) / perSync);
    if (times.length >= 1000) break;
  }
  times.sort((a, b) => a - b);
  return { median: times[Math.floor(times.length / 2)], best: times[0] };
}

/** Round for display. */
export function r3(x: number): number {
  return Math.round(x * 1000) / 1000;
}

/**
 * GPU time per kernel of one run of `fn` (timestamp queries, each dispatch its own pass), one
 * line per kernel, the `top` slowest, named `${prefix} kernel <name>`. Nothing when the
 * adapter has no timestamp queries.
 */
export async function reportKernelTimes(prefix: string, fn: () => void, top = 12): Promise<void> {
  const rt = runtime();
  if (!rt.device.features.has("timestamp-query")) return;
  rt.profile = true;
  fn();
  await sync();
  const times = await rt.kernelTimes();
  rt.profile = false;
  const total = times.reduce((a, t) => a + t.ms, 0);
  for (const t of times.slice(0, top)) {
    report({
      name: `${prefix} kernel ${t.name}`,
      ms: r3(t.ms),
      calls: t.calls,
      share: r3(t.ms / total),
    });
  }
}

/**
 * Counters of a timed loop of training steps: call before the loop, then call the result
 * with the number of steps after it (and after the GPU wait). Gives dispatches per step, the
 * share of them that found their bind group cached, and the pool buffers and bind groups the
 * loop added (0 and 0 when memory stays flat).
 */
export function stepCounters(): (steps: number) => Record<string, number> {
  const a = gpuStats();
  return (steps) => {
    const b = gpuStats();
    const dispatches = b.dispatches - a.dispatches;
    return {
      dispatches_per_step: Math.round(dispatches / steps),
      bind_group_hit_rate: r3((b.bindGroupHits - a.bindGroupHits) / dispatches),
      pool_buffers_added: b.buffers - a.buffers,
      bind_groups_added: b.bindGroups - a.bindGroups,
    };
  };
}
