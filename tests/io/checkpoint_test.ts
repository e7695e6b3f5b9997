// Checkpoints: bit-exact round trip of GPU tensors (f32, i32) and meta (RNG states with NaN
// spares, -0, infinities), the write sequence under a simulated crash after each step, hash
// mismatch, truncated body, zod errors naming the sidecar field, and restoreInto checks.
import {
  assert,
  assertEquals,
  assertRejects,
  assertSameBits,
  assertThrows,
  gpuTest,
  randArray,
  setup,
} from "../helpers.ts";
import {
  type CheckpointMeta,
  type CheckpointState,
  KIT_VERSION,
  loadCheckpoint,
  restoreInto,
  saveCheckpoint,
  type SaveStep,
} from "../../lib/io/checkpoint.ts";
import { type HostTensor, readSafetensors } from "../../lib/io/safetensors.ts";
import { type Tensor, tensor } from "../../lib/tensor/tensor.ts";
import { Generator } from "../../lib/tensor/rng.ts";

await setup();

/** Same value tree, leaf for leaf with Object.is (NaN, -0) and the same key order. */
function assertSameTree(got: unknown, want: unknown, path = "meta"): void {
  if (typeof want !== "object" || want === null) {
    if (!Object.is(got, want)) throw new Error(`${path}: got ${String(got)}, want ${String(want)}`);
    return;
  }
  assert(typeof got === "object" && got !== null, `${path}: got ${String(got)}, want an object`);
  assertEquals(Array.isArray(got), Array.isArray(want), `${path} is an array`);
  const gk = Object.keys(got);
  const wk = Object.keys(want);
  assertEquals(gk.join(","), wk.join(","), `${path} keys`);
  for (const k of wk) {
    assertSameTree(
      (got as Record<string, unknown>)[k],
      (want as Record<string, unknown>)[k],
      `${path}.${k}`,
    );
  }
}

function f32(n: number, seed: number): Float32Array {
  return Float32Array.from(randArray(n, seed, -3, 3));
}

/** A small "training state" on the GPU plus its host copy. */
function makeState(seed: number) {
  const w = f32(12, seed);
  w.set([0, -0, Infinity, -Infinity, 1e-45, 3.4e38], 0); // special values survive exactly
  const b = f32(4, seed + 1);
  const idx = Int32Array.from([0, -1, 2147483647, -2147483648, seed, 7]);
  const host = new Map<string, Float32Array | Int32Array>([
    ["student.blocks.0.weight", w],
    ["student.blocks.0.bias", b],
    ["queue.labels", idx],
  ]);
  const gpu = new Map<string, Tensor>([
    ["student.blocks.0.weight", tensor(w, [3, 4])],
    ["student.blocks.0.bias", tensor(b, [4])],
    ["queue.labels", tensor(idx, [2, 3])],
  ]);
  return { host, gpu };
}

function makeMeta(step: number): CheckpointMeta {
  const noSpare = new Generator(5);
  noSpare.uniform();
  const withSpare = new Generator(6);
  withSpare.normal(); // leaves a spare normal in the state
  return {
    epoch: Math.floor(step / 10),
    step,
    config: { preset: "mugs", lr: 0.0005, weights: [1, 0.5, 0.1], nested: { a: null, b: true } },
    rng: { augment: noSpare.getState(), dropPath: withSpare.getState() },
    optimizerSteps: { "student.blocks.0.weight": step, "student.blocks.0.bias": step },
    queues: { instance: { pointer: 12, filled: 64 } },
    loader: { seed: 0, epoch: 2, position: 128 },
    extra: { tiny: 5e-324, third: 1 / 3, negZero: -0, inf: -Infinity, text: "é ✓ \u0000" },
  };
}

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "ckpt_test_" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

function disposeAll(m: Map<string, Tensor>): void {
  for (const t of m.values()) t.dispose();
}

Deno.test(
  "checkpoint: GPU tensors (f32, i32) and meta round trip bit-exactly",
  gpuTest,
  async () => {
    await withDir(async (dir) => {
      const { host, gpu } = makeState(1);
      const meta = makeMeta(30);
      assert(Number.isNaN(meta.rng!.augment[4]), "test needs a NaN spare");
      const saved = await saveCheckpoint(dir, { tensors: gpu, meta });
      assertEquals(saved.rotated, false, "first save rotates nothing");
      for (const path of [dir, `${dir}/checkpoint.json`, `${dir}/checkpoint.safetensors`]) {
        const ck = await loadCheckpoint(path);
        assertEquals(ck.info.kitVersion, KIT_VERSION, "kit version");
        assertEquals(ck.info.formatVersion, 1, "format version");
        assertEquals(ck.info.sha256, saved.sha256, "sha256");
        assertEquals([...ck.tensors.keys()].sort().join(), [...host.keys()].sort().join(), "names");
        for (const [name, want] of host) {
          const t = ck.tensors.get(name)!;
          assertSameBits(t.data, want, name);
          assertEquals(t.shape, [...gpu.get(name)!.shape], `${name} shape`);
          assertEquals(t.dtype, want instanceof Int32Array ? "I32" : "F32", `${name} dtype`);
        }
        assertSameTree(ck.meta, meta);
        // The restored generator continues the same stream.
        const a = new Generator(0);
        a.setState(ck.meta.rng!.dropPath);
        const b = new Generator(6);
        b.normal();
        for (let i = 0; i < 5; i++) assertEquals(a.normal(), b.normal(), `normal ${i}`);
      }
      // Host tensors are accepted too.
      const hostIn = new Map<string, HostTensor>([
        ["h", { dtype: "F32", shape: [2], data: Float32Array.from([1.5, NaN]) }],
      ]);
      await saveCheckpoint(`${dir}/host`, { tensors: hostIn, meta: { epoch: 0, step: 0 } });
      const ck = await loadCheckpoint(`${dir}/host`);
      assertSameBits(ck.tensors.get("h")!.data, hostIn.get("h")!.data, "host tensor");
      disposeAll(gpu);
    });
  },
);

Deno.test(
  "checkpoint: restoreInto continues bit-for-bit and checks names, shapes, dtypes",
  gpuTest,
  async () => {
    await withDir(async (dir) => {
      const saved = makeState(2);
      await saveCheckpoint(dir, { tensors: saved.gpu, meta: makeMeta(1) });
      const ck = await loadCheckpoint(dir);
      const fresh = makeState(99).gpu; // same shapes, other values
      const r = restoreInto(fresh, ck.tensors, dir);
      assertEquals(r.restored.length, 3, "restored");
      for (const [name, want] of saved.host) {
        assertSameBits(await fresh.get(name)!.toArray(), want, `restored ${name}`);
      }

      // Names missing or unexpected are listed; nothing is copied.
      const partial = new Map(fresh);
      partial.delete("queue.labels");
      const extra = tensor(new Float32Array(2), [2]);
      partial.set("teacher.center", extra);
      const e = assertThrows(() => restoreInto(partial, ck.tensors, "ck.json"), "ck.json");
      assert(e.message.includes("'teacher.center'"), e.message);
      assert(e.message.includes("'queue.labels'"), e.message);
      const lax = restoreInto(partial, ck.tensors, "ck.json", { strict: false });
      assertEquals(lax.missing, ["teacher.center"], "missing");
      assertEquals(lax.unexpected, ["queue.labels"], "unexpected");

      // Shape and dtype mismatches: named, and nothing restored.
      const wrong = makeState(3).gpu;
      const before = await wrong.get("student.blocks.0.bias")!.toArray();
      wrong.get("student.blocks.0.weight")!.dispose();
      wrong.set("student.blocks.0.weight", tensor(new Float32Array(12), [4, 3]));
      const e2 = assertThrows(() => restoreInto(wrong, ck.tensors, "ck"), "[3,4]");
      assert(e2.message.includes("'student.blocks.0.weight'"), e2.message);
      assert(e2.message.includes("[4,3]"), e2.message);
      assert(e2.message.includes("nothing restored"), e2.message);
      assertSameBits(
        await wrong.get("student.blocks.0.bias")!.toArray(),
        before,
        "untouched by a failed restore",
      );
      const wrongType = makeState(4).gpu;
      wrongType.get("queue.labels")!.dispose();
      wrongType.set("queue.labels", tensor(new Float32Array(6), [2, 3]));
      assertThrows(
        () => restoreInto(wrongType, ck.tensors, "ck"),
        "i32 data but the tensor is f32",
      );
      [saved.gpu, fresh, wrong, wrongType].forEach(disposeAll);
      extra.dispose();
    });
  },
);

Deno.test(
  "checkpoint: a crash after any step of the write sequence leaves a complete checkpoint",
  gpuTest,
  async () => {
    const steps: SaveStep[] = [
      "prepared",
      "prev-removed",
      "prev-tensors",
      "prev-sidecar",
      "tensors",
    ];
    const A = makeState(10);
    const B = makeState(20);
    for (const crashAfter of steps) {
      await withDir(async (dir) => {
        // Two good saves: A is kept as prev, then a third (B) crashes after `crashAfter`.
        const seen: SaveStep[] = [];
        await saveCheckpoint(dir, { tensors: A.gpu, meta: makeMeta(1) });
        const second = await saveCheckpoint(dir, { tensors: A.gpu, meta: makeMeta(2) }, {
          onStep: (s) => void seen.push(s),
        });
        assertEquals(seen, [...steps, "sidecar"], "the documented sequence");
        assert(second.rotated, "second save keeps the first as prev");
        await assertRejects(
          () =>
            saveCheckpoint(dir, { tensors: B.gpu, meta: makeMeta(3) }, {
              onStep: (s) => {
                if (s === crashAfter) throw new Error(`simulated crash after ${s}`);
              },
            }),
          `simulated crash after ${crashAfter}`,
        );
        const ck = await loadCheckpoint(dir, { fallback: true });
        // The halves always agree: step 2 (A) or, never here, step 3 (B).
        assertEquals(ck.meta.step, 2, `meta after a crash after ${crashAfter}`);
        for (const [name, want] of A.host) {
          assertSameBits(ck.tensors.get(name)!.data, want, `${crashAfter}: ${name}`);
        }
        if (crashAfter === "tensors") {
          // The new tensor file is detected; the error says where to go.
          const e = await assertRejects(() => loadCheckpoint(dir), "checkpoint.safetensors");
          assert(e.message.includes("checkpoint.prev.json"), e.message);
          assert(ck.fellBack !== undefined, "fell back to prev");
          assertEquals(ck.info.json, `${dir}/checkpoint.prev.json`, "loaded prev");
          // JSON last: the new tensors are on disk, the sidecar is still the old one.
          const onDisk = await readSafetensors(`${dir}/checkpoint.safetensors`);
          for (const [name, want] of B.host) {
            assertSameBits(onDisk.tensors.get(name)!.data, want, `new half ${name}`);
          }
          const oldJson = JSON.parse(await Deno.readTextFile(`${dir}/checkpoint.json`));
          assertEquals(oldJson.meta.step, 2, "sidecar not yet replaced");
          // The next save must not rotate the broken pair over the good prev.
          const next = await saveCheckpoint(dir, { tensors: B.gpu, meta: makeMeta(4) });
          assertEquals(next.rotated, false, "incomplete pair not rotated");
          assertEquals((await loadCheckpoint(`${dir}/checkpoint.prev.json`)).meta.step, 2, "prev");
          assertEquals((await loadCheckpoint(dir)).meta.step, 4, "current");
        } else {
          assertEquals(ck.fellBack, undefined, "current still complete");
        }
        // No temp files left behind.
        for await (const e of Deno.readDir(dir)) assert(!e.name.endsWith(".tmp"), e.name);
      });
    }
    // A third good save rotates: prev holds the second.
    await withDir(async (dir) => {
      for (let s = 1; s <= 3; s++) {
        await saveCheckpoint(dir, { tensors: s === 3 ? B.gpu : A.gpu, meta: makeMeta(s) });
      }
      assertEquals((await loadCheckpoint(dir)).meta.step, 3, "current");
      assertEquals((await loadCheckpoint(`${dir}/checkpoint.prev.json`)).meta.step, 2, "prev");
      const cur = await loadCheckpoint(dir);
      assertSameBits(cur.tensors.get("queue.labels")!.data, B.host.get("queue.labels")!, "B");
    });
    disposeAll(A.gpu);
    disposeAll(B.gpu);
  },
);

Deno.test(
  "checkpoint: hash mismatch, truncated body and missing files name the file and the fix",
  gpuTest,
  async () => {
    await withDir(async (dir) => {
      const { gpu } = makeState(5);
      await saveCheckpoint(dir, { tensors: gpu, meta: makeMeta(1) });
      await saveCheckpoint(dir, { tensors: gpu, meta: makeMeta(2) });
      const st = `${dir}/checkpoint.safetensors`;
      const good = await Deno.readFile(st);

      // One flipped bit in the data section.
      const flipped = good.slice();
      flipped[flipped.length - 3] ^= 0x10;
      await Deno.writeFile(st, flipped);
      const e = await assertRejects(() => loadCheckpoint(dir), `${st}: sha256`);
      assert(e.message.includes("checkpoint.prev.json"), e.message);
      assertEquals((await loadCheckpoint(dir, { fallback: true })).meta.step, 1, "fallback");

      // Truncated body.
      await Deno.writeFile(st, good.subarray(0, good.length - 10));
      const t = await assertRejects(() => loadCheckpoint(dir), "truncated");
      assert(t.message.includes(st), t.message);
      assert(t.message.includes("checkpoint.prev.json"), t.message);

      // Missing tensor file; missing sidecar; missing directory.
      await Deno.remove(st);
      await assertRejects(() => loadCheckpoint(dir), `${st}: tensor file not found`);
      await Deno.writeFile(st, good);
      assertEquals((await loadCheckpoint(dir)).meta.step, 2, "restored file loads again");
      await Deno.remove(`${dir}/checkpoint.json`);
      const m = await assertRejects(
        () => loadCheckpoint(dir),
        "checkpoint.json: checkpoint sidecar not found",
      );
      assert(m.message.includes("interrupted"), m.message);
      await assertRejects(() => loadCheckpoint(`${dir}/nope`), "not found");

      // Both halves broken: fallback reports both.
      await Deno.writeFile(`${dir}/checkpoint.prev.safetensors`, new Uint8Array(3));
      await assertRejects(() => loadCheckpoint(dir, { fallback: true }), "no usable checkpoint");

      // A hash mismatch in prev itself names prev and no further fallback.
      const p = await assertRejects(
        () => loadCheckpoint(`${dir}/checkpoint.prev.json`),
        "checkpoint.prev.safetensors",
      );
      assert(p.message.includes("restart the run"), p.message);
      disposeAll(gpu);
    });
  },
);

Deno.test(
  "checkpoint: bad sidecar fields give zod errors naming the file and the field",
  gpuTest,
  async () => {
    await withDir(async (dir) => {
      const { gpu } = makeState(6);
      await saveCheckpoint(dir, { tensors: gpu, meta: makeMeta(1) });
      const path = `${dir}/checkpoint.json`;
      const good = JSON.parse(await Deno.readTextFile(path));
      // deno-lint-ignore no-explicit-any
      const cases: [string, (s: Record<string, any>) => void, string][] = [
        ["step", (s) => (s.meta.step = -1), "field 'meta.step'"],
        ["epoch", (s) => delete s.meta.epoch, "field 'meta.epoch'"],
        ["rng", (s) => (s.meta.rng.augment[2] = "x"), "field 'meta.rng.augment[2]'"],
        ["rng length", (s) => s.meta.rng.augment.pop(), "field 'meta.rng.augment'"],
        [
          "queue",
          (s) => (s.meta.queues.instance.pointer = 1.5),
          "field 'meta.queues.instance.pointer'",
        ],
        ["sha", (s) => (s.tensors.sha256 = "abc"), "field 'tensors.sha256'"],
        ["bytes", (s) => (s.tensors.bytes = "12"), "field 'tensors.bytes'"],
        ["unknown", (s) => (s.surprise = 1), "field 'surprise': unknown field"],
        ["version", (s) => (s.formatVersion = 0), "field 'formatVersion'"],
        ["newer", (s) => (s.formatVersion = 7), "newer kit"],
        ["format", (s) => (s.format = "other"), "not a checkpoint sidecar"],
        ["unknown tensors key", (s) => (s.tensors.names = []), "field 'tensors.names'"],
      ];
      for (const [what, edit, want] of cases) {
        const s = structuredClone(good);
        edit(s);
        await Deno.writeTextFile(path, JSON.stringify(s));
        const e = await assertRejects(() => loadCheckpoint(dir), want);
        assert(e.message.startsWith(path), `${what}: ${e.message}`);
      }
      await Deno.writeTextFile(path, JSON.stringify(good).slice(0, 40));
      await assertRejects(() => loadCheckpoint(dir), `${path}: not valid JSON`);

      // Bad meta is rejected before anything is written.
      await Deno.writeTextFile(path, JSON.stringify(good));
      const before = await Deno.readFile(`${dir}/checkpoint.safetensors`);
      const bad: [unknown, string][] = [
        [{ epoch: 1 }, "field 'meta.step'"],
        [{ epoch: 0, step: 0, rng: { a: [1, 2, 3] } }, "field 'meta.rng.a'"],
        [{ epoch: 0, step: 0, mask: new Float32Array(2) }, "field 'meta.mask' is a Float32Array"],
        [{ epoch: 0, step: 0, when: new Date(0) }, "field 'meta.when' is a Date"],
        [{ epoch: 0, step: 0, big: 1n }, "field 'meta.big' is bigint"],
        [{ epoch: 0, step: 0, list: [1, undefined] }, "field 'meta.list'"],
      ];
      for (const [meta, want] of bad) {
        const e = await assertRejects(
          () => saveCheckpoint(dir, { tensors: gpu, meta } as CheckpointState),
          want,
        );
        assert(e.message.includes("nothing written"), e.message);
      }
      const cyclic: Record<string, unknown> = { epoch: 0, step: 0 };
      cyclic.self = cyclic;
      await assertRejects(
        () => saveCheckpoint(dir, { tensors: gpu, meta: cyclic as CheckpointMeta }),
        "circular",
      );
      const u8 = new Map([["m", { shape: [2], data: new Uint8Array(2) }]]);
      await assertRejects(
        () => saveCheckpoint(dir, { tensors: u8, meta: { epoch: 0, step: 0 } }),
        "tensor 'm': data must be a Float32Array or an Int32Array",
      );
      assertSameBits(await Deno.readFile(`${dir}/checkpoint.safetensors`), before, "untouched");
      assertEquals((await loadCheckpoint(dir)).meta.step, 1, "old checkpoint still loads");
      disposeAll(gpu);
    });
  },
);
