/**
 * Roofline probes of the adapter, beside the kit's own 512^3 product, in one go (paired):
 *
 * - `fma peak`: independent FMA chains with no loads (64 chains per invocation, 16 384
 *   invocations): the most a WGSL kernel computes per second on this adapter;
 * - `vec4 gather`: vec4 loads at lane-varying offsets from a 64 KiB uniform window, from
 *   workgroup memory, and from a storage buffer;
 * - `register block RxC`: the windowed product's inner loop alone (512^3, R rows per
 *   invocation loaded at offsets every lane shares, C columns per lane gathered; nothing else):
 *   what `mm_win`'s 8x8 block reaches, and larger blocks, and the same with the A loads made
 *   lane-varying (`a per lane`) to show whether loads or arithmetic bound it.
 *
 * The kernels compute nothing anyone reads; they exist to be timed.
 */
import { runtime, sync } from "../lib/gpu/device.ts";
import { randn } from "../lib/tensor/tensor.ts";
import { matmulRaw } from "../lib/tensor/ops/matmul.ts";
import { r3, report, timeStats } from "./harness.ts";

const INVOCATIONS = 16384;
const ITERS = 4096;
const MNK = 512;
/** Register blocks of the product probe: rows, columns per lane, A loads per lane. */
const BLOCKS: [number, number, boolean][] = [
  [8, 8, false],
  [8, 8, true],
  [8, 16, false],
  [12, 12, false],
  [16, 16, false],
];

const fmaSource = (chains: number) => {
  const c = Array.from({ length: chains }, (_, i) => i);
  return `
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) g: vec3u) {
  ${c.map((i) => `var a${i} = f32(g.x) * ${(i + 1) * 1e-6};`).join("\n  ")}
  let x = 0.999 + f32(g.x & 7u) * 1e-7;
  for (var k = 0u; k < ${ITERS}u; k++) {
    ${c.map((i) => `a${i} = fma(a${i}, x, 1e-4);`).join("\n    ")}
  }
  out[g.x] = ${c.map((i) => `a${i}`).join(" + ")};
}`;
};

// vec4 loads at lane-varying offsets from a uniform window, workgroup memory (filled from the
// window first) or a storage buffer; workgroups of 8 (one SIMD vector on llvmpipe)
const gatherSource = (from: "uniform" | "workgroup" | "storage") => {
  const arr = from === "uniform" ? "W" : from === "workgroup" ? "sh" : "S";
  const loads = Array.from(
    { length: 8 },
    (_, i) => `acc += ${arr}[(k * 8u + ${i}u + li * 3u) & 1023u];`,
  );
  return `
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
${
    from === "storage"
      ? "@group(0) @binding(2) var<storage, read> S: array<vec4f>;"
      : "@group(0) @binding(2) var<uniform> W: array<vec4f, 4096>;"
  }
var<workgroup> sh: array<vec4f, 1024>;
@compute @workgroup_size(8)
fn main(@builtin(global_invocation_id) g: vec3u, @builtin(local_invocation_index) li: u32) {
  ${
    from === "workgroup"
      ? "for (var i = li; i < 1024u; i += 8u) { sh[i] = W[i]; }\n  workgroupBarrier();"
      : ""
  }
  var acc = vec4f(0.0);
  for (var k = 0u; k < ${ITERS / 8}u; k++) {
    ${loads.join("\n    ")}
  }
  out[g.x] = acc.x + acc.y + acc.z + acc.w;
}`;
};

// C[512, 512] over K = 512: workgroups of 8 lanes; lane owns C columns, the workgroup R rows
const blockSource = (R: number, C: number, aPerLane: boolean) => {
  const R4 = R / 4, C4 = C / 4;
  const acc: string[] = [], body: string[] = [];
  for (let r = 0; r < R; r++) for (let j = 0; j < C4; j++) acc.push(`c${r}_${j}`);
  for (let i = 0; i < R4; i++) {
    body.push(`let a${i} = A[(k * ${R4}u + ${i}u + ao${aPerLane ? " + g.x" : ""}) & 4095u];`);
  }
  for (let j = 0; j < C4; j++) body.push(`let b${j} = B[(k * 128u + nl + ${j}u) & 4095u];`);
  for (let r = 0; r < R; r++) {
    for (let j = 0; j < C4; j++) {
      body.push(`c${r}_${j} = fma(vec4f(a${r >> 2}[${r & 3}]), b${j}, c${r}_${j});`);
    }
  }
  return `
@group(0) @binding(1) var<storage, read_write> out: array<vec4f>;
@group(0) @binding(2) var<uniform> A: array<vec4f, 4096>;
@group(0) @binding(3) var<uniform> B: array<vec4f, 4096>;
@compute @workgroup_size(8, 1)
fn main(@builtin(global_invocation_id) g: vec3u, @builtin(workgroup_id) w: vec3u) {
  let nl = g.x * ${C4}u;
  let ao = w.y * 7u;
  ${acc.map((c) => `var ${c} = vec4f(0.0);`).join("\n  ")}
  for (var k = 0u; k < ${MNK}u; k++) {
    ${body.join("\n    ")}
  }
  out[g.y * 1024u + g.x] = ${acc.join(" + ")};
}`;
};

/**
 * Median ms of one dispatch of `code` over `groups` workgroups (four per GPU round trip, as the
 * kernel benches), through the kit's runtime (its
 * kernel cache, bind groups at 1..n) and the harness's timing (the first run compiles).
 */
async function timeKernel(
  name: string,
  code: string,
  groups: [number, number],
  buffers: GPUBuffer[],
): Promise<number> {
  const rt = runtime();
  const k = rt.kernel(`roofline ${name}`, code);
  return (await timeStats(() => rt.dispatch(k, buffers, groups), 500, 3, 4)).median;
}

/** Run the probes and the kit's 512^3 product, one line each. */
export async function benchRoofline(): Promise<void> {
  await sync();
  const device = runtime().device;
  const out = device.createBuffer({ size: 1 << 22, usage: GPUBufferUsage.STORAGE });
  const windows = [0, 1].map(() =>
    device.createBuffer({ size: 65536, usage: GPUBufferUsage.UNIFORM })
  );
  const a = randn([MNK, MNK], { seed: 1 });
  const b = randn([MNK, MNK], { seed: 2 });
  const flops = 2 * MNK ** 3;
  const kit = await timeStats(() => matmulRaw(a, b).dispose(), 1000, 3, 2);
  report({ name: "roofline: kit matmul 512^3", gflops: r3(flops / kit.median / 1e6) });
  a.dispose();
  b.dispose();
  const fmaMs = await timeKernel("fma", fmaSource(64), [INVOCATIONS / 64, 1], [out]);
  report({
    name: "roofline: fma peak (64 chains, no loads)",
    gflops: r3((2 * INVOCATIONS * ITERS * 64) / fmaMs / 1e6),
  });
  const storage = device.createBuffer({ size: 65536, usage: GPUBufferUsage.STORAGE });
  for (const from of ["uniform", "workgroup", "storage"] as const) {
    const ms = await timeKernel(
      `gather ${from}`,
      gatherSource(from),
      [INVOCATIONS / 8, 1],
      [out, from === "storage" ? storage : windows[0]],
    );
    report({
      name: `roofline: vec4 gather from ${from} memory`,
      gfloats_per_s: r3((4 * INVOCATIONS * ITERS) / ms / 1e6),
    });
  }
  storage.destroy();
  for (const [R, C, perLane] of BLOCKS) {
    const groups: [number, number] = [
      Math.ceil(MNK / (8 * C)),
      Math.ceil(MNK / R),
    ];
    const ms = await timeKernel(
      `block ${R}x${C}${perLane ? " a per lane" : ""}`,
      blockSource(R, C, perLane),
      groups,
      [out, ...windows],
    );
    // the work done: whole blocks, a little past 512 when R or 8C does not divide it
    const done = 2 * groups[0] * 8 * C * groups[1] * R * MNK;
    report({
      name: `roofline: register block ${R}x${C}${perLane ? " (a per lane)" : ""}, 512^3`,
      gflops: r3(done / ms / 1e6),
    });
  }
  for (const buf of [out, ...windows]) buf.destroy();
}
