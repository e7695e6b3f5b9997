// FifoQueue: ring-buffer writes against a host model (bit-exact: writes copy 32-bit
// words), pointer and fill level, random init, in-place/no-tape writes, checkpoint
// state round trip (bit-exact) and error messages.
import {
  assert,
  assertEquals,
  assertSameBits,
  assertThrows,
  gpuTest,
  randArray,
  setup,
} from "../helpers.ts";
import { FifoQueue, type RingState } from "../../lib/memory/queue.ts";
import { tensor } from "../../lib/tensor/tensor.ts";
import { tidy } from "../../lib/tensor/scope.ts";

await setup();

/** A host model of the ring buffer: the rows, pointer and fill level after each write. */
class HostRing {
  data: Float32Array;
  pointer = 0;
  filled: number;
  constructor(readonly size: number, readonly dim: number, init?: Float32Array) {
    this.data = init ? Float32Array.from(init) : new Float32Array(size * dim);
    this.filled = init ? size : 0;
  }
  write(rows: Float32Array): void {
    const B = rows.length / this.dim;
    for (let b = 0; b < B; b++) {
      const r = (this.pointer + b) % this.size;
      this.data.set(rows.subarray(b * this.dim, (b + 1) * this.dim), r * this.dim);
    }
    this.pointer = (this.pointer + B) % this.size;
    this.filled = Math.min(this.size, this.filled + B);
  }
}

function batchData(B: number, dim: number, seed: number): Float32Array {
  return Float32Array.from(randArray(B * dim, seed));
}

Deno.test({
  name: "FifoQueue: wrap-around writes of odd batch sizes match a host ring",
  ...gpuTest,
  fn: async () => {
    const size = 37, dim = 5;
    const q = new FifoQueue(size, dim, { init: "zeros" });
    const host = new HostRing(size, dim);
    assertEquals(q.pointer, 0, "pointer");
    assertEquals(q.filled, 0, "filled");
    const sizes = [1, 3, 7, 11, 37, 5, 13, 29, 2, 36, 17, 37, 9];
    for (const [i, B] of sizes.entries()) {
      const d = batchData(B, dim, 100 + i);
      const t = tensor(d, [B, dim]);
      assertEquals(q.enqueue(t), B, "rows written");
      t.dispose();
      host.write(d);
      assertEquals(q.pointer, host.pointer, `pointer after batch ${i} (B = ${B})`);
      assertEquals(q.filled, host.filled, `filled after batch ${i} (B = ${B})`);
      const s = await q.state();
      assertSameBits(s.data, host.data, `rows after batch ${i} (B = ${B})`);
    }
    q.dispose();
    assert(q.disposed, "disposed");
  },
});

Deno.test({
  name: "FifoQueue: random init gives seeded unit rows, all filled",
  ...gpuTest,
  fn: async () => {
    const a = new FifoQueue(50, 16, { seed: 3 });
    const b = new FifoQueue(50, 16, { seed: 3 });
    const c = new FifoQueue(50, 16, { seed: 4 });
    const raw = new FifoQueue(50, 16, { seed: 3, normalizeInit: false });
    assertEquals(a.filled, 50, "filled after random init");
    assertEquals(a.pointer, 0, "pointer after random init");
    const [da, db, dc, dr] = await Promise.all([a, b, c, raw].map((q) => q.state()));
    assertSameBits(da.data, db.data, "same seed");
    assert(da.data.some((v, i) => v !== dc.data[i]), "different seeds give different rows");
    for (let r = 0; r < 50; r++) {
      let n = 0, m = 0;
      for (let j = 0; j < 16; j++) {
        n += da.data[r * 16 + j] ** 2;
        m += dr.data[r * 16 + j] ** 2;
      }
      assert(Math.abs(Math.sqrt(n) - 1) < 1e-5, `row ${r} has norm ${Math.sqrt(n)}`);
      // the unnormalised rows are the same directions
      for (let j = 0; j < 16; j++) {
        const want = dr.data[r * 16 + j] / Math.sqrt(m);
        assert(Math.abs(da.data[r * 16 + j] - want) < 1e-6, `row ${r} direction`);
      }
    }
    // writes into a full queue keep it full and move the pointer
    const t = tensor(batchData(7, 16, 9), [7, 16]);
    a.enqueue(t);
    assertEquals([a.pointer, a.filled], [7, 50], "pointer/filled after a write");
    t.dispose();
    [a, b, c, raw].forEach((q) => q.dispose());
  },
});

Deno.test({
  name: "FifoQueue: enqueue is in place, records no tape, survives tidy",
  ...gpuTest,
  fn: async () => {
    const q = tidy(() => new FifoQueue(16, 4, { init: "zeros" }));
    const buffer = q.tensor.buffer;
    const x = tensor(batchData(6, 4, 1), [6, 4], { requiresGrad: true });
    tidy(() => {
      const y = x.mul(2); // needs a gradient
      q.enqueue(y);
    });
    assert(q.tensor.buffer === buffer, "the queue buffer was reallocated");
    assert(!q.tensor.requiresGrad && q.tensor.node === null, "the queue recorded a tape");
    const s = await q.state();
    const want = (await x.toArray()).map((v) => v * 2);
    assertSameBits(s.data.subarray(0, 24), Float32Array.from(want), "rows of x * 2");
    x.dispose();
    q.dispose();
  },
});

Deno.test({
  name: "FifoQueue: state round trip is bit-exact and continues identically",
  ...gpuTest,
  fn: async () => {
    const a = new FifoQueue(23, 6, { init: "zeros" });
    for (const [i, B] of [5, 9, 4].entries()) {
      const t = tensor(batchData(B, 6, 20 + i), [B, 6]);
      a.enqueue(t);
      t.dispose();
    }
    const s = await a.state();
    assertEquals([s.pointer, s.filled, s.shape], [18, 18, [23, 6]], "state fields");
    const b = new FifoQueue(23, 6, { seed: 1 });
    const buffer = b.tensor.buffer;
    b.load({ ...s, data: Float32Array.from(s.data) });
    assert(b.tensor.buffer === buffer, "load reallocated the buffer");
    const s2 = await b.state();
    assertSameBits(s2.data, s.data, "rows after load");
    assertEquals([s2.pointer, s2.filled], [18, 18], "pointer/filled after load");
    const t = tensor(batchData(11, 6, 30), [11, 6]);
    a.enqueue(t);
    b.enqueue(t);
    t.dispose();
    const [ea, eb] = [await a.state(), await b.state()];
    assertSameBits(eb.data, ea.data, "rows after one more write");
    assertEquals([eb.pointer, eb.filled], [ea.pointer, ea.filled], "pointer/filled");
    a.dispose();
    b.dispose();
  },
});

Deno.test({
  name: "FifoQueue: errors name the shape or field at fault",
  ...gpuTest,
  fn: async () => {
    assertThrows(() => new FifoQueue(0, 4), "size must be a positive integer, got 0");
    assertThrows(() => new FifoQueue(8, 2.5), "dim must be a positive integer, got 2.5");
    assertThrows(
      () => new FifoQueue(8, 4, { init: "ones" as "zeros" }),
      'init must be "random" or "zeros"',
    );
    const q = new FifoQueue(8, 4, { init: "zeros" });
    const big = tensor(new Float32Array(9 * 4), [9, 4]);
    assertThrows(() => q.enqueue(big), "batch [9,4] has 9 rows, more than the queue size 8");
    const wrong = tensor(new Float32Array(6), [2, 3]);
    assertThrows(() => q.enqueue(wrong), "batch has shape [2,3], want [B, 4]");
    const flat = tensor(new Float32Array(4), [4]);
    assertThrows(() => q.enqueue(flat), "batch has shape [4], want [B, 4]");
    const ints = tensor(new Int32Array(8), [2, 4]);
    assertThrows(() => q.enqueue(ints), "batch [2,4] must be f32, got i32");
    assertEquals([q.pointer, q.filled], [0, 0], "a failed enqueue changes nothing");
    const good: RingState = await q.state();
    assertThrows(
      () => q.load({ ...good, shape: [8, 5] }),
      "state.shape [8,5] does not match [8, 4]",
    );
    assertThrows(
      () => q.load({ ...good, data: new Float32Array(31) }),
      "state.data has 31 floats, want 32",
    );
    assertThrows(
      () => q.load({ ...good, pointer: 8 }),
      "state.pointer 8 must be an integer in [0, 8)",
    );
    assertThrows(
      () => q.load({ ...good, filled: 9 }),
      "state.filled 9 must be an integer in [0, 8]",
    );
    assertThrows(
      () => q.load({ ...good, pointer: 3, filled: 2 }),
      "state.pointer 3 must equal state.filled 2",
    );
    q.load({ ...good, pointer: 5, filled: 8 }); // a full buffer may have any pointer
    assertEquals([q.pointer, q.filled], [5, 8], "pointer/filled after load");
    [big, wrong, flat, ints].forEach((t) => t.dispose());
    q.dispose();
    q.dispose(); // idempotent
    assertThrows(() => q.tensor, "FifoQueue was disposed");
    const t = tensor(new Float32Array(4), [1, 4]);
    assertThrows(() => q.enqueue(t), "FifoQueue was disposed");
    t.dispose();
  },
});
