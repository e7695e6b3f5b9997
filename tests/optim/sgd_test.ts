import {
  assert,
  assertClose,
  assertEquals,
  assertThrows,
  gpuTest,
  randArray,
  setup,
} from "../helpers.ts";
import { tensor } from "../../lib/tensor/tensor.ts";
import { SGD } from "../../lib/optim/sgd.ts";
import { tidy } from "../../lib/tensor/scope.ts";
import { gpuStats } from "../../lib/gpu/device.ts";

await setup();

interface RefOpts {
  lrs: number[];
  momentum: number;
  dampening: number;
  wd: number;
  nesterov: boolean;
}

/** torch.optim.SGD's step sequence (single-tensor path) in float64, written from its docs. */
function sgdRef(p0: number[], grads: number[][], o: RefOpts): { p: number[]; buf: number[] } {
  let p = [...p0];
  let buf: number[] | null = null;
  grads.forEach((g, t) => {
    let d = g.map((v, i) => v + o.wd * p[i]);
    if (o.momentum !== 0) {
      buf = buf === null ? [...d] : buf.map((b, i) => o.momentum * b + (1 - o.dampening) * d[i]);
      const b = buf;
      d = o.nesterov ? d.map((v, i) => v + o.momentum * b[i]) : [...b];
    }
    p = p.map((v, i) => v - o.lrs[t] * d[i]);
  });
  return { p, buf: buf ?? [] };
}

async function runGpu(p0: number[], grads: number[][], o: RefOpts) {
  const p = tensor(Float32Array.from(p0), [p0.length], { requiresGrad: true });
  const opt = new SGD([p], {
    lr: o.lrs[0],
    momentum: o.momentum,
    dampening: o.dampening,
    weightDecay: o.wd,
    nesterov: o.nesterov,
  });
  for (let t = 0; t < grads.length; t++) {
    opt.lr = o.lrs[t];
    p.grad = tensor(Float32Array.from(grads[t]), [p0.length]);
    opt.step();
    opt.zeroGrad();
  }
  const got = Array.from(await p.toArray());
  const b = opt.momentumBuffer(p);
  const buf = b ? Array.from(await b.toArray()) : [];
  opt.dispose();
  p.dispose();
  return { p: got, buf };
}

Deno.test({
  name: "sgd: matches torch.optim.SGD's update sequence (momentum, dampening, wd, nesterov)",
  ...gpuTest,
  fn: async () => {
    const n = 13;
    const p0 = Array.from(randArray(n, 1));
    const grads = [0, 1, 2, 3, 4].map((s) => Array.from(randArray(n, 10 + s, -2, 2)));
    const lrs = [0.1, 0.08, 0.05, 0.03, 0.01]; // a schedule changing lr between steps
    const cases: RefOpts[] = [
      { lrs, momentum: 0, dampening: 0, wd: 0, nesterov: false },
      { lrs, momentum: 0, dampening: 0, wd: 0.05, nesterov: false },
      { lrs, momentum: 0.9, dampening: 0, wd: 0, nesterov: false },
      { lrs, momentum: 0.9, dampening: 0.3, wd: 0.01, nesterov: false },
      { lrs, momentum: 0.9, dampening: 0, wd: 0.02, nesterov: true },
    ];
    for (const c of cases) {
      const want = sgdRef(p0, grads, c);
      const got = await runGpu(p0, grads, c);
      const what = JSON.stringify({ ...c, lrs: undefined });
      assertClose(got.p, want.p, { atol: 1e-6, rtol: 1e-5 }, `params ${what}`);
      assertClose(got.buf, want.buf, { atol: 1e-6, rtol: 1e-5 }, `momentum buffer ${what}`);
    }
  },
});

Deno.test({
  name: "sgd: the buffer starts as the first gradient; constant gradient gives the closed form",
  ...gpuTest,
  fn: async () => {
    // constant g, momentum m, no decay: buf_k = g (1 - m^k) / (1 - m) (buf_1 = g, PyTorch's
    // clone), p_t = p0 - lr g sum_{k=1..t} (1 - m^k) / (1 - m)
    const m = 0.9;
    const lr = 0.01;
    const g = [1, -2, 0.5];
    const p = tensor([0, 0, 0], undefined, { requiresGrad: true });
    const opt = new SGD([p], { lr, momentum: m });
    assertEquals(opt.momentumBuffer(p), null, "no buffer before the first step");
    let series = 0;
    for (let t = 1; t <= 6; t++) {
      p.grad = tensor(g);
      opt.step();
      opt.zeroGrad();
      const bk = (1 - m ** t) / (1 - m);
      series += bk;
      const buf = await opt.momentumBuffer(p)!.toArray();
      assertClose(buf, g.map((v) => v * bk), { atol: 1e-6, rtol: 1e-6 }, `buffer at step ${t}`);
      const got = await p.toArray();
      assertClose(got, g.map((v) => -lr * v * series), { atol: 1e-6, rtol: 1e-5 }, `p at ${t}`);
    }
    opt.dispose();
    p.dispose();
  },
});

Deno.test({
  name: "sgd: parameter groups (lrScale, no decay), skip, and no gradient leaves a tensor alone",
  ...gpuTest,
  fn: async () => {
    const w = tensor([1, 2, 3, 4], [2, 2], { requiresGrad: true });
    const b = tensor([1, -1], undefined, { requiresGrad: true });
    const c = tensor([5], undefined, { requiresGrad: true });
    const opt = new SGD([
      { name: "w", params: [w], names: ["w"], decay: true, lrScale: 2 },
      { name: "b", params: [b, c], names: ["b", "c"], decay: false, lrScale: 1 },
    ], { lr: 0.1, weightDecay: 0.5 });
    w.grad = tensor([1, 1, 1, 1], [2, 2]);
    b.grad = tensor([1, 1]);
    opt.step();
    // w: lr 0.2, d = 1 + 0.5 w; b: lr 0.1, no decay; c: no gradient
    assertClose(await w.toArray(), [1, 2, 3, 4].map((v) => v - 0.2 * (1 + 0.5 * v)), {
      atol: 1e-6,
      rtol: 1e-6,
    }, "w");
    assertClose(await b.toArray(), [0.9, -1.1], { atol: 1e-6, rtol: 1e-6 }, "b");
    assertClose(await c.toArray(), [5], { atol: 0, rtol: 0 }, "c");
    opt.step({ skip: new Set([w]) });
    assertClose(await b.toArray(), [0.8, -1.2], { atol: 1e-6, rtol: 1e-6 }, "b after skip");
    assertClose(await w.toArray(), [1, 2, 3, 4].map((v) => v - 0.2 * (1 + 0.5 * v)), {
      atol: 1e-6,
      rtol: 1e-6,
    }, "w skipped");
    opt.zeroGrad();
    assert(w.grad === null && b.grad === null, "zeroGrad drops gradients");
    opt.dispose();
    [w, b, c].forEach((t) => t.dispose());
  },
});

Deno.test({
  name: "sgd: per-row learning rates update each row as if alone (momentum, decay)",
  ...gpuTest,
  fn: async () => {
    // w [3, 4]: rows with lr multipliers 1, 0.25 and 0 (a frozen row)
    const rows = 3, cols = 4;
    const p0 = Array.from(randArray(rows * cols, 3));
    const grads = [0, 1, 2].map((s) => Array.from(randArray(rows * cols, 30 + s, -2, 2)));
    const scale = [1, 0.25, 0];
    const w = tensor(Float32Array.from(p0), [rows, cols], { requiresGrad: true });
    const opt = new SGD([w], { lr: 0.2, momentum: 0.9, weightDecay: 0.1 });
    opt.setRowLr(w, scale);
    for (const g of grads) {
      w.grad = tensor(Float32Array.from(g), [rows, cols]);
      opt.step();
      opt.zeroGrad();
    }
    const got = Array.from(await w.toArray());
    for (let r = 0; r < rows; r++) {
      const cut = (a: number[]) => a.slice(r * cols, (r + 1) * cols);
      const want = sgdRef(cut(p0), grads.map(cut), {
        lrs: grads.map(() => 0.2 * scale[r]),
        momentum: 0.9,
        dampening: 0,
        wd: 0.1,
        nesterov: false,
      });
      assertClose(cut(got), want.p, { atol: 1e-6, rtol: 1e-5 }, `row ${r}`);
    }
    assertThrows(() => opt.setRowLr(w, [1, 2]), "2 multipliers");
    assertThrows(() => opt.setRowLr(w, [1, -1, 0]), "scale[1]");
    opt.setRowLr(w, null); // back to one lr
    w.grad = tensor(new Float32Array(rows * cols).fill(1), [rows, cols]);
    const before = Array.from(await w.toArray());
    const buf = Array.from(await opt.momentumBuffer(w)!.toArray());
    opt.step();
    const after = Array.from(await w.toArray());
    const want = before.map((v, i) => v - 0.2 * (0.9 * buf[i] + 1 + 0.1 * v));
    assertClose(after, want, { atol: 1e-6, rtol: 1e-5 }, "after removing the row rates");
    opt.zeroGrad();
    opt.dispose();
    w.dispose();
  },
});

Deno.test({
  name: "sgd: minimises a quadratic through autograd with a flat memory footprint",
  ...gpuTest,
  fn: async () => {
    const target = tensor([0.5, -1.5, 2, 0.25, 3]);
    const x = tensor([0, 0, 0, 0, 0], undefined, { requiresGrad: true });
    const opt = new SGD([x], { lr: 0.1, momentum: 0.9 });
    let inUse = 0;
    for (let i = 0; i < 300; i++) {
      tidy(() => {
        x.sub(target).pow(2).sum().backward();
        opt.step();
        opt.zeroGrad();
      });
      if (i === 10) inUse = gpuStats().inUse;
    }
    assertEquals(gpuStats().inUse, inUse, "buffers in use after 290 more steps");
    assertClose(await x.toArray(), [0.5, -1.5, 2, 0.25, 3], { atol: 1e-4, rtol: 1e-4 }, "x*");
    opt.dispose();
    x.dispose();
    target.dispose();
  },
});

Deno.test({
  name: "sgd: bad options and bad use are errors naming the problem",
  ...gpuTest,
  fn: () => {
    const p = tensor([1, 2], undefined, { requiresGrad: true });
    assertThrows(() => new SGD([], {}), "non-empty");
    assertThrows(() => new SGD([p], { lr: -1 }), "lr");
    assertThrows(() => new SGD([p], { momentum: NaN }), "momentum");
    assertThrows(() => new SGD([p], { nesterov: true }), "nesterov");
    assertThrows(() => new SGD([p], { nesterov: true, momentum: 0.9, dampening: 0.1 }), "nesterov");
    assertThrows(() => new SGD([p, p]), "appears twice");
    const i = tensor(new Int32Array([1, 2]));
    assertThrows(() => new SGD([i]), "i32");
    const opt = new SGD([p], { lr: 0.1 });
    p.grad = tensor([1, 2, 3]);
    assertThrows(() => opt.step(), "does not match");
    opt.zeroGrad();
    opt.dispose();
    assertThrows(() => opt.step(), "disposed");
    const stranger = tensor([1]);
    assertThrows(() => opt.momentumBuffer(stranger), "not one of the parameters");
    [p, i, stranger].forEach((t) => t.dispose());
  },
});
