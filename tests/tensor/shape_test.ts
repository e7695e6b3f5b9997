// Layout ops: permute, transpose, slice, concat, stack.
// Tolerances: these ops copy 32-bit words, so forward is exact (atol 0, rtol 0), for
// f32 and i32 alike. Backward is a copy too; the finite-difference reference of a linear
// map is exact up to float64 rounding of (f(x+e) - f(x-e)) / 2e, so bwd uses 1e-6.
import { assertEquals, assertThrows, checkOp, gpuTest, setup } from "../helpers.ts";
import { type Tensor, tensor } from "../../lib/tensor/tensor.ts";
import { concat, permute, slice, stack, transpose } from "../../lib/tensor/ops/shape.ts";
import { gpuStats, sync, useKernels } from "../../lib/gpu/device.ts";
import { tidy } from "../../lib/tensor/scope.ts";

await setup();

const EXACT = { atol: 0, rtol: 0 };
const BWD = { atol: 1e-6, rtol: 1e-6 };

const numel = (s: readonly number[]) => s.reduce((a, b) => a * b, 1);
function strides(s: readonly number[]): number[] {
  const st = new Array(s.length).fill(1);
  for (let i = s.length - 2; i >= 0; i--) st[i] = st[i + 1] * s[i + 1];
  return st;
}
/** Row-major coordinates of flat index i in shape s. */
function coords(i: number, s: readonly number[]): number[] {
  const c = new Array(s.length);
  for (let d = s.length - 1; d >= 0; d--) {
    c[d] = i % s[d];
    i = Math.floor(i / s[d]);
  }
  return c;
}

function permuteRef(x: Float64Array, shape: number[], dims: number[]): Float64Array {
  const os = dims.map((d) => shape[d]);
  const st = strides(shape);
  const out = new Float64Array(x.length);
  for (let i = 0; i < out.length; i++) {
    const c = coords(i, os);
    let off = 0;
    for (let k = 0; k < dims.length; k++) off += c[k] * st[dims[k]];
    out[i] = x[off];
  }
  return out;
}

function sliceRef(x: Float64Array, shape: number[], axis: number, s: number, e: number) {
  const os = [...shape];
  os[axis] = e - s;
  const st = strides(shape);
  const out = new Float64Array(numel(os));
  for (let i = 0; i < out.length; i++) {
    const c = coords(i, os);
    c[axis] += s;
    out[i] = x[c.reduce((a, v, d) => a + v * st[d], 0)];
  }
  return out;
}

function concatRef(xs: Float64Array[], shapes: number[][], axis: number): Float64Array {
  // block copy: for each outer index, each piece contributes shape[axis] * inner values
  const outer = numel(shapes[0].slice(0, axis));
  const inner = numel(shapes[0].slice(axis + 1));
  const out = new Float64Array(xs.reduce((a, x) => a + x.length, 0));
  let o = 0;
  for (let i = 0; i < outer; i++) {
    for (let k = 0; k < xs.length; k++) {
      const len = shapes[k][axis] * inner;
      out.set(xs[k].subarray(i * len, (i + 1) * len), o);
      o += len;
    }
  }
  return out;
}

Deno.test({
  name: "shape: permute forward/backward (ranks 1-8, odd and round sizes)",
  ...gpuTest,
  fn: async () => {
    const cases: [number[], number[]][] = [
      [[1], [0]],
      [[7], [0]],
      [[13, 50], [1, 0]],
      [[64, 257], [1, 0]],
      [[7, 13, 5], [2, 0, 1]],
      [[2, 3, 4, 5], [0, 2, 1, 3]],
      [[2, 1, 3, 4, 5], [4, 3, 2, 1, 0]],
      [[1, 7, 1, 13], [3, 1, 0, 2]],
      [[2, 3, 2, 3, 2, 3, 2, 2], [7, 5, 3, 1, 0, 2, 4, 6]],
      [[50, 64], [0, 1]], // identity
    ];
    for (const [shape, dims] of cases) {
      await checkOp(`permute [${shape}] by [${dims}]`, {
        inputs: [{ shape }],
        gpu: (x) => permute(x, dims),
        ref: (x) => permuteRef(x, shape, dims),
        fwd: EXACT,
        bwd: BWD,
      });
    }
    // negative dims, and the method form
    await checkOp("permute with negative dims", {
      inputs: [{ shape: [3, 4, 5] }],
      gpu: (x) => x.permute(-1, 0, -2),
      ref: (x) => permuteRef(x, [3, 4, 5], [2, 0, 1]),
      fwd: EXACT,
      bwd: BWD,
    });
  },
});

Deno.test({
  name: "shape: transpose forward/backward",
  ...gpuTest,
  fn: async () => {
    const cases: [number[], number, number, number[]][] = [
      [[13, 50], 0, 1, [1, 0]],
      [[257, 64], -2, -1, [1, 0]],
      [[2, 7, 13], -1, 0, [2, 1, 0]],
      [[4, 3, 7, 5], 1, 2, [0, 2, 1, 3]],
      [[7, 5], 1, 1, [0, 1]],
    ];
    for (const [shape, a, b, dims] of cases) {
      await checkOp(`transpose [${shape}] ${a} ${b}`, {
        inputs: [{ shape }],
        gpu: (x) => transpose(x, a, b),
        ref: (x) => permuteRef(x, shape, dims),
        fwd: EXACT,
        bwd: BWD,
      });
    }
    const x = tensor([[1, 2, 3], [4, 5, 6]]);
    const y = x.transpose();
    assertEquals(y.shape, [3, 2], "shape");
    assertEquals(await y.toList(), [[1, 4], [2, 5], [3, 6]], "values");
    x.dispose();
    y.dispose();
  },
});

Deno.test({
  name: "shape: slice forward/backward with Python-style bounds",
  ...gpuTest,
  fn: async () => {
    // [shape, axis, start, end, resolved start, resolved end]
    const cases: [number[], number, number, number | undefined, number, number][] = [
      [[1], 0, 0, undefined, 0, 1],
      [[7], 0, 2, 5, 2, 5],
      [[13, 50], 1, -7, undefined, 43, 50],
      [[13, 50], 0, 3, -3, 3, 10],
      [[64, 257], 1, 1, 257, 1, 257],
      [[64, 257], -2, 0, 1, 0, 1],
      [[7, 13, 5], 1, 5, 100, 5, 13], // end clipped
      [[7, 13, 5], 2, -100, 2, 0, 2], // start clipped
      [[2, 3, 4, 5, 6], 3, 1, 4, 1, 4],
    ];
    for (const [shape, axis, s, e, rs, re] of cases) {
      const a = axis < 0 ? axis + shape.length : axis;
      await checkOp(`slice [${shape}] axis ${axis} [${s}:${e}]`, {
        inputs: [{ shape }],
        gpu: (x) => slice(x, axis, s, e),
        ref: (x) => sliceRef(x, shape, a, rs, re),
        fwd: EXACT,
        bwd: BWD,
      });
    }
  },
});

Deno.test({
  name: "shape: concat forward/backward",
  ...gpuTest,
  fn: async () => {
    const cases: [number[][], number][] = [
      [[[1], [1]], 0],
      [[[7], [13], [1]], 0],
      [[[13, 50], [13, 7]], 1],
      [[[13, 50], [1, 50], [50, 50]], 0],
      [[[4, 1, 64], [4, 257, 64]], 1], // class token + patch tokens
      [[[2, 3, 5], [2, 3, 7]], -1],
    ];
    for (const [shapes, axis] of cases) {
      const a = axis < 0 ? axis + shapes[0].length : axis;
      await checkOp(`concat ${JSON.stringify(shapes)} axis ${axis}`, {
        inputs: shapes.map((shape) => ({ shape })),
        gpu: (...xs) => concat(xs, axis),
        ref: (...xs) => concatRef(xs, shapes, a),
        fwd: EXACT,
        bwd: BWD,
      });
    }
    // gradient only to the inputs that need one
    await checkOp("concat with a constant input", {
      inputs: [{ shape: [3, 4] }, { shape: [5, 4], grad: false }],
      gpu: (a, b) => concat([a, b], 0),
      ref: (a, b) => concatRef([a, b], [[3, 4], [5, 4]], 0),
      fwd: EXACT,
      bwd: BWD,
    });
  },
});

Deno.test({
  name: "shape: stack forward/backward",
  ...gpuTest,
  fn: async () => {
    const cases: [number[], number, number][] = [
      [[1], 3, 0],
      [[7], 2, 1],
      [[13, 50], 3, 0],
      [[13, 50], 2, 1],
      [[13, 50], 4, -1],
      [[7, 5, 3], 3, 2],
    ];
    for (const [shape, count, axis] of cases) {
      const r = shape.length + 1;
      const a = axis < 0 ? axis + r : axis;
      const view = [...shape];
      view.splice(a, 0, 1);
      await checkOp(`stack ${count} x [${shape}] axis ${axis}`, {
        inputs: Array.from({ length: count }, () => ({ shape })),
        gpu: (...xs) => stack(xs, axis),
        ref: (...xs) => concatRef(xs, xs.map(() => view), a),
        fwd: EXACT,
        bwd: BWD,
      });
    }
  },
});

Deno.test({
  name: "shape: i32 tensors keep dtype and values",
  ...gpuTest,
  fn: async () => {
    const big = [2147483647, -2147483648, -1, 0, 16777217, 123456789];
    const x = tensor(Int32Array.from(big), [2, 3]);
    const t = permute(x, [1, 0]);
    assertEquals(t.dtype, "i32", "permute dtype");
    assertEquals(Array.from(await t.toArray()), [big[0], big[3], big[1], big[4], big[2], big[5]]);
    const s = slice(x, 1, 1);
    assertEquals(s.dtype, "i32", "slice dtype");
    assertEquals(Array.from(await s.toArray()), [big[1], big[2], big[4], big[5]]);
    const c = concat([x, s], 1);
    assertEquals(c.dtype, "i32", "concat dtype");
    assertEquals(Array.from(await c.toArray()), [
      ...big.slice(0, 3),
      big[1],
      big[2],
      ...big.slice(3),
      big[4],
      big[5],
    ]);
    const st = stack([x, x], 0);
    assertEquals(st.dtype, "i32", "stack dtype");
    assertEquals(Array.from(await st.toArray()), [...big, ...big]);
    for (const u of [x, t, s, c, st]) u.dispose();
  },
});

Deno.test({
  name: "shape: bad input names the op and shapes",
  ...gpuTest,
  fn: () => {
    const x = tensor(new Float32Array(24), [2, 3, 4]);
    const y = tensor(new Float32Array(10), [2, 5]);
    const i = tensor(new Int32Array(6), [2, 3]);
    assertThrows(() => permute(x, [0, 1]), "permute: dims [0,1] must list all 3 dimensions");
    assertThrows(() => permute(x, [0, 1, 1]), "permute: dims [0,1,1] repeat a dimension");
    assertThrows(() => permute(x, [0, 1, 3]), "permute: axis 3 is out of range");
    assertThrows(
      () => permute(tensor(new Float32Array(512), Array(9).fill(2)), [0, 1, 2, 3, 4, 5, 6, 7, 8]),
      "permute: rank 9 exceeds 8",
    );
    assertThrows(() => transpose(x, 0, -4), "transpose: axis -4 is out of range");
    assertThrows(() => slice(x, 3, 0), "slice: axis 3 is out of range for a tensor of rank 3");
    assertThrows(() => slice(x, 1, 2, 2), "slice: [2:2] along axis 1 of shape [2,3,4] is empty");
    assertThrows(() => slice(x, 1, 5), "is empty");
    assertThrows(() => slice(x, 0, 0.5), "slice: start 0.5 and end undefined must be integers");
    assertThrows(() => concat([], 0), "concat: needs at least one tensor");
    assertThrows(() => concat([x, y], 0), "concat: shapes [2,3,4] and [2,5] differ outside axis 0");
    assertThrows(() => concat([y, y], 2), "concat: axis 2 is out of range");
    assertThrows(() => concat([y.reshape(2, 5, 1), x], 1), "differ outside axis 1");
    assertThrows(() => concat([i, y], 1), "concat: dtypes differ: i32 [2,3] and f32 [2,5]");
    assertThrows(() => stack([x, y]), "stack: shapes [2,3,4] and [2,5] differ");
    assertThrows(() => stack([y, y], 3), "stack: axis 3 is out of range for a tensor of rank 3");
    const d = tensor([1, 2]);
    d.dispose();
    assertThrows(() => slice(d, 0, 1), "slice: tensor");
    for (const t of [x, y, i] as Tensor[]) t.dispose();
  },
});

Deno.test({
  name: "shape: GPU-shaped kernels (one element per invocation) agree",
  ...gpuTest,
  fn: async () => {
    const prev = useKernels("gpu");
    try {
      await checkOp("permute [2,3,4,5] gpu kernels", {
        inputs: [{ shape: [2, 3, 4, 5] }],
        gpu: (x) => permute(x, [3, 1, 0, 2]),
        ref: (x) => permuteRef(x, [2, 3, 4, 5], [3, 1, 0, 2]),
        fwd: EXACT,
        bwd: BWD,
      });
      await checkOp("slice [13,50] gpu kernels", {
        inputs: [{ shape: [13, 50] }],
        gpu: (x) => slice(x, 1, 7, -7),
        ref: (x) => sliceRef(x, [13, 50], 1, 7, 43),
        fwd: EXACT,
        bwd: BWD,
      });
      await checkOp("concat gpu kernels", {
        inputs: [{ shape: [7, 3] }, { shape: [7, 64] }],
        gpu: (a, b) => concat([a, b], 1),
        ref: (a, b) => concatRef([a, b], [[7, 3], [7, 64]], 1),
        fwd: EXACT,
        bwd: BWD,
      });
    } finally {
      useKernels(prev);
    }
  },
});

Deno.test({
  name: "shape: a tensor used twice sums its gradients; backward frees its temporaries",
  ...gpuTest,
  fn: async () => {
    await checkOp("concat [x, slice(permute(x))]", {
      inputs: [{ shape: [7, 7] }],
      gpu: (x) => concat([x, slice(permute(x, [1, 0]), 0, 2, 5)], 0),
      ref: (x) =>
        concatRef([x, sliceRef(permuteRef(x, [7, 7], [1, 0]), [7, 7], 0, 2, 5)], [[7, 7], [
          3,
          7,
        ]], 0),
      fwd: EXACT,
      bwd: BWD,
    });
    const x = tensor(new Float32Array(13 * 50), [13, 50], { requiresGrad: true });
    const step = () => {
      tidy(() => {
        const y = stack([permute(x, [1, 0]), transpose(x, 0, 1)], 0);
        const z = concat([slice(y, 2, 3), slice(y, 2, 0, 3)], 2);
        z.backward(z);
      });
      x.grad!.dispose();
      x.grad = null;
    };
    step();
    await sync();
    const before = gpuStats().inUse;
    for (let i = 0; i < 3; i++) step();
    await sync();
    assertEquals(gpuStats().inUse, before, "buffers in use after 3 more steps");
    x.dispose();
  },
});
