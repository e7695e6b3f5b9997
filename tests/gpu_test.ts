import { assert, assertEquals, assertRejects, assertThrows, gpuTest, setup } from "./helpers.ts";
import { gpuStats, init, resetRuntime, runtime, sync } from "../lib/gpu/device.ts";
import { randn, tensor, zeros } from "../lib/tensor/tensor.ts";
import { tidy } from "../lib/tensor/scope.ts";
import { noGrad } from "../lib/tensor/tape.ts";
import { Generator } from "../lib/tensor/rng.ts";
import { sizeClass } from "../lib/gpu/pool.ts";

await setup();

Deno.test({
  name: "gpu: init reports the adapter and whether it is a fallback",
  ...gpuTest,
  fn: async () => {
    const info = await init();
    assert(info.adapter.length > 0, "adapter description is empty");
    assertEquals(typeof info.isFallback, "boolean");
    assert(info.kernels === "cpu" || info.kernels === "gpu");
    if (/llvmpipe/.test(info.adapter)) {
      assert(info.isFallback, "llvmpipe must be reported as a fallback adapter");
    }
  },
});

Deno.test({
  name: "gpu: a kernel that does not compile is reported with its name",
  ...gpuTest,
  fn: async () => {
    const rt = runtime();
    const k = rt.kernel(
      "broken_kernel",
      "@compute @workgroup_size(1) fn main() { let x: f32 = 1u; }",
    );
    rt.dispatch(k, [], [1]);
    await assertRejects(() => sync(), "broken_kernel");
    // once known broken, using it again fails at once, naming it
    assertThrows(
      () =>
        rt.kernel("broken_kernel", "@compute @workgroup_size(1) fn main() { let x: f32 = 1u; }"),
      "broken_kernel",
    );
    // the runtime keeps working afterwards
    const t = tensor([1, 2, 3]);
    assertEquals(Array.from(await t.add(1).toArray()), [2, 3, 4]);
  },
});

Deno.test({
  name: "gpu: size classes round up and never shrink",
  fn: () => {
    assertEquals(sizeClass(1), 256);
    assertEquals(sizeClass(256), 256);
    assertEquals(sizeClass(257), 512);
    assertEquals(sizeClass(65536), 65536);
    for (const b of [65537, 100000, 1 << 20, 3e6 + 7]) {
      const s = sizeClass(b);
      assert(s >= b && s < b * 1.13, `class ${s} for ${b}`);
    }
  },
});

Deno.test({
  name: "gpu: 200 steps of forward/backward/release keep the pool's buffer count flat",
  ...gpuTest,
  fn: async () => {
    const w = randn([32, 16], { seed: 1, requiresGrad: true });
    const b = zeros([16], { requiresGrad: true });
    const x = randn([8, 32], { seed: 2 });
    const step = () =>
      tidy(() => {
        const y = x.matmul(w).add(b).gelu();
        const loss = y.mul(y).sum().mul(1 / 8);
        loss.backward();
        noGrad(() => {
          // SGD update in place of a real optimiser: new leaves replace the old ones' data
          const nw = w.sub(w.grad!.mul(0.01));
          nw.dispose();
        });
        w.grad!.dispose();
        w.grad = null;
        b.grad!.dispose();
        b.grad = null;
      });
    for (let i = 0; i < 5; i++) step();
    await sync();
    const before = gpuStats().buffers;
    const inUse = gpuStats().inUse;
    for (let i = 0; i < 200; i++) step();
    await sync();
    assertEquals(gpuStats().buffers, before, "pool buffers after 200 steps");
    assertEquals(gpuStats().inUse, inUse, "buffers in use after 200 steps");
  },
});

Deno.test({
  name: "gpu: the pool hands out its oldest free buffer first, whatever the release order",
  ...gpuTest,
  fn: () => {
    const pool = runtime().pool;
    const size = 3 * 4096 + 4; // a size class no other test uses
    const bufs = [0, 1, 2, 3].map(() => pool.acquire(size));
    for (const order of [[0, 1, 2, 3], [3, 1, 0, 2], [2, 3, 0, 1]]) {
      for (const i of order) pool.release(bufs[i]);
      const again = [0, 1, 2, 3].map(() => pool.acquire(size));
      assertEquals(again.map((b) => bufs.indexOf(b)), [0, 1, 2, 3], `after releasing ${order}`);
    }
    for (const b of bufs) pool.release(b);
  },
});

Deno.test({
  name: "gpu: tidy releases intermediates and keeps what it returns",
  ...gpuTest,
  fn: () => {
    const a = tensor([1, 2, 3]);
    const inUse = gpuStats().inUse;
    const r = tidy(() => a.mul(2).add(1).exp());
    assertEquals(gpuStats().inUse, inUse + 1);
    r.dispose();
    assertEquals(gpuStats().inUse, inUse);
    // an error inside tidy still releases what was made
    assertThrows(() =>
      tidy(() => {
        a.mul(3);
        throw new Error("boom");
      }), "boom");
    assertEquals(gpuStats().inUse, inUse);
  },
});

Deno.test({
  name: "gpu: bad input gives clear errors",
  ...gpuTest,
  fn: async () => {
    assertThrows(() => zeros([0, 3]), "zero-size tensors are not supported (shape [0,3]");
    assertThrows(() => zeros([2, -1]), "invalid shape [2,-1]");
    assertThrows(() => randn([2], { seed: NaN }), "seed must be a finite integer, got NaN");
    assertThrows(() => new Generator(1.5), "random seed must be a finite integer");
    assertThrows(() => tensor([1, 2, 3], [2, 2]), "3 values do not fill shape [2,2]");
    assertThrows(() => tensor([[1, 2], [3]]), "ragged");
    assertThrows(() => tensor([1, 2]).reshape(3), "cannot view shape [2]");
    const t = tensor([1, 2, 3], [3], { requiresGrad: true });
    const y = t.mul(2);
    assertThrows(() => y.backward(), "a gradient is needed for a non-scalar tensor of shape [3]");
    assertThrows(() => tensor([1]).backward(), "does not require a gradient");
    await sync();
  },
});

Deno.test({
  name: "gpu: the same seed gives the same numbers; seeds differ",
  ...gpuTest,
  fn: async () => {
    const a = await randn([1000], { seed: 7 }).toArray();
    const b = await randn([1000], { seed: 7 }).toArray();
    const c = await randn([1000], { seed: 8 }).toArray();
    assertEquals(Array.from(a), Array.from(b), "same seed");
    assert(Array.from(a).some((v, i) => v !== c[i]), "different seeds gave the same numbers");
    let m = 0;
    let v = 0;
    for (const x of a) m += x / a.length;
    for (const x of a) v += (x - m) ** 2 / a.length;
    assert(Math.abs(m) < 0.1 && Math.abs(v - 1) < 0.1, `randn moments ${m} ${v}`);
    // the generator's state round-trips
    const g = new Generator(3);
    g.normal();
    const s = g.getState();
    const x1 = [g.uniform(), g.normal()];
    g.setState(s);
    assertEquals([g.uniform(), g.normal()], x1, "restored generator");
  },
});

Deno.test({
  name: "gpu: gradients accumulate across backward calls, like PyTorch",
  ...gpuTest,
  fn: async () => {
    const x = tensor([1, 2, 3], [3], { requiresGrad: true });
    x.mul(x).sum().backward();
    x.mul(3).sum().backward();
    assertEquals(Array.from(await x.grad!.toArray()), [5, 7, 9]);
    // a tensor used twice on one path (x + x)
    const z = tensor([1, 1], [2], { requiresGrad: true });
    z.add(z).mul(z).sum().backward();
    assertEquals(Array.from(await z.grad!.toArray()), [4, 4]);
    // detach and noGrad cut the tape
    const d = x.detach();
    assertEquals(d.requiresGrad, false);
    const n = noGrad(() => x.mul(2));
    assertEquals(n.requiresGrad, false);
  },
});

Deno.test({
  name: "gpu: tensors from a previous device are rejected by name",
  ...gpuTest,
  fn: async () => {
    const old = tensor([1, 2]);
    resetRuntime();
    await init();
    const fresh = tensor([1, 2]);
    assertThrows(() => fresh.add(old), "lives on another device");
  },
});

Deno.test({
  name: "runtime: an upload while work is pending is ordered after it, in the same submission",
  ...gpuTest,
  fn: async () => {
    await sync();
    const x = tensor(new Float32Array([1, 2, 3, 4]), [4]);
    await sync();
    const y = noGrad(() => x.mul(2)); // recorded, not submitted
    const before = gpuStats().submits;
    x.dispose(); // its buffer goes back to the pool ...
    const z = tensor(new Float32Array([10, 20, 30, 40]), [4]); // ... and is reused here
    const w = noGrad(() => z.add(1));
    assertEquals(gpuStats().submits, before, "the upload did not submit the pending work");
    assertEquals(Array.from(await y.toArray()), [2, 4, 6, 8], "y read x before the upload");
    assertEquals(Array.from(await w.toArray()), [11, 21, 31, 41]);
    for (const t of [y, z, w]) t.dispose();
  },
});

Deno.test({
  name: "runtime: a repeated dispatch on the same buffers reuses its bind group",
  ...gpuTest,
  fn: async () => {
    const x = tensor(new Float32Array([1, 2, 3]), [3]);
    const y = tensor(new Float32Array([4, 5, 6]), [3]);
    await sync();
    const run = async () => {
      runtime().flush();
      const z = noGrad(() => x.add(y));
      const v = Array.from(await z.toArray());
      z.dispose();
      return v;
    };
    await run();
    await run(); // the output buffer comes back from the pool: the same bindings again
    const h0 = gpuStats().bindGroupHits;
    assertEquals(await run(), [5, 7, 9]);
    assert(gpuStats().bindGroupHits > h0, "the third identical dispatch hit the cache");
    const w = tensor(new Float32Array([0, 0, 1]), [3]); // a new buffer: a new bind group
    const h1 = gpuStats().bindGroupHits;
    assertEquals(Array.from(await noGrad(() => x.add(w)).toArray()), [1, 2, 4]);
    assertEquals(gpuStats().bindGroupHits, h1);
    for (const t of [x, y, w]) t.dispose();
  },
});
