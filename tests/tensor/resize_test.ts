// Bicubic resize against a float64 reference of PyTorch's algorithm, against values by
// hand from the formula, and against values PyTorch 1.13 printed (copied in as constants;
// the test does not need PyTorch).
// Tolerances: forward sums 16 float32 products of O(1) inputs: atol 1e-5, rtol 1e-5 (the
// 0..48 ramp inputs use atol 2e-5 on values up to 48). Coordinates are float32 in both,
// as in PyTorch. Backward against finite differences
// of the (linear) reference: atol 1e-4, rtol 1e-4.
import {
  assert,
  assertClose,
  assertEquals,
  assertThrows,
  checkOp,
  gpuTest,
  randArray,
  setup,
} from "../helpers.ts";
import { tensor } from "../../lib/tensor/tensor.ts";
import { bicubicResize, type ResizeOptions, resizeSplit } from "../../lib/tensor/ops/resize.ts";
import { gpuStats, sync, useKernels } from "../../lib/gpu/device.ts";
import { tidy } from "../../lib/tensor/scope.ts";
import { axisTaps, bicubicRef, cc1, cc2, type Geo, geo } from "../references/bicubic.ts";

await setup();

const FWD = { atol: 1e-5, rtol: 1e-5 };
const BWD = { atol: 1e-4, rtol: 1e-4 };

Deno.test({
  name: "resize: bicubic forward/backward against the float64 reference",
  ...gpuTest,
  fn: async () => {
    const cases: [number[], ResizeOptions, number?][] = [
      [[1, 1, 1, 1], { size: [3, 2] }], // a 1x1 image: every tap clamps onto it
      [[1, 1, 2, 2], { size: [4, 4] }],
      [[2, 3, 7, 7], { size: [3, 3] }],
      [[2, 3, 7, 7], { scaleFactor: 3.1 / 7 }], // DINO/Mugs: (n + 0.1) / N
      [[1, 2, 13, 13], { size: [50, 64] }],
      [[3, 13, 50], { size: [7, 64] }], // [C, H, W]
      [[1, 1, 7, 64], { size: [13, 257] }, 100],
      [[1, 2, 50, 7], { scaleFactor: [0.3, 2.5] }],
      [[1, 1, 64, 64], { scaleFactor: 257 / 64 }, 60],
      [[1, 1, 257, 13], { size: [13, 13] }, 100], // strong downsampling
      [[2, 1, 14, 14], { scaleFactor: (16 + 0.1) / 14 }], // DINO grid growth
      [[1, 1, 5, 9], { size: [5, 9] }], // identity
    ];
    for (const [shape, opts, maxGradChecks] of cases) {
      const g = geo(shape, opts);
      const outShape = [...shape.slice(0, -2), g.outH, g.outW];
      await checkOp(`bicubic [${shape}] ${JSON.stringify(opts)}`, {
        inputs: [{ shape }],
        gpu: (x) => {
          const y = bicubicResize(x, opts);
          assertEquals(y.shape, outShape, "output shape");
          return y;
        },
        ref: (x) => bicubicRef(x, g),
        fwd: FWD,
        bwd: BWD,
        maxGradChecks,
      });
    }
  },
});

/** The gradient of sum(g * bicubic(x)) with respect to x, in float64 (the transpose). */
function bicubicGradRef(gr: Float64Array, g: Geo): Float64Array {
  const ty = axisTaps(g.inH, g.outH, g.scaleH);
  const tx = axisTaps(g.inW, g.outW, g.scaleW);
  const dx = new Float64Array(g.planes * g.inH * g.inW);
  const t = new Float64Array(g.inW);
  for (let p = 0; p < g.planes; p++) {
    for (let oy = 0; oy < g.outH; oy++) {
      t.fill(0);
      for (let ox = 0; ox < g.outW; ox++) {
        const v = gr[(p * g.outH + oy) * g.outW + ox];
        for (let k = 0; k < 4; k++) t[tx[ox].idx[k]] += v * tx[ox].w[k];
      }
      for (let j = 0; j < 4; j++) {
        const row = (p * g.inH + ty[oy].idx[j]) * g.inW;
        for (let ix = 0; ix < g.inW; ix++) dx[row + ix] += t[ix] * ty[oy].w[j];
      }
    }
  }
  return dx;
}

Deno.test({
  name: "resize: strong upsampling past the loop budget, whole gradient",
  ...gpuTest,
  fn: async () => {
    // An input's gradient sums every output its taps reach: about 4 / scale of them
    // (all of them for an input of <= 4 pixels). These reaches cost an invocation far more
    // than llvmpipe's ~65 535 loop iterations unless the backward splits them.
    const cases: [number[], [number, number]][] = [
      [[1, 1, 2, 2], [2, 70000]], // reach 70 000 along x
      [[1, 1, 2, 2], [70000, 2]], // reach 70 000 along y
      [[1, 1, 4, 16], [8192, 16]], // runs of 16 inputs with reach 8192 along y
      [[1, 1, 16, 16], [16, 4096]], // runs of 16 inputs with reach ~1 000 along x
      [[2, 3, 3, 5], [9000, 7]], // several planes
    ];
    const prev = useKernels("cpu");
    try {
      for (const kernels of ["cpu", "gpu"] as const) {
        useKernels(kernels);
        for (const [shape, size] of cases) {
          const g = geo(shape, { size });
          const what = `bicubic [${shape}] -> [${size}] ${kernels} kernels`;
          const xd = randArray(shape.reduce((a, b) => a * b, 1), 3);
          const x = tensor(Float32Array.from(xd), shape, { requiresGrad: true });
          const y = bicubicResize(x, { size });
          assertClose(await y.toArray(), bicubicRef(xd, g), FWD, `${what} forward`);
          const gd = randArray(y.size, 4);
          const gt = tensor(Float32Array.from(gd), [...y.shape]);
          y.backward(gt);
          // float32 sums of up to ~10^5 terms of size ~1 (measured error ~1e-4 at ~20)
          const tol = { atol: 1e-3, rtol: 1e-4 };
          assertClose(await x.grad!.toArray(), bicubicGradRef(gd, g), tol, `${what} gradient`);
          for (const t of [x.grad!, x, y, gt]) t.dispose();
        }
      }
    } finally {
      useKernels(prev);
    }
    // the splits: shorter runs first, then reach segments
    assertEquals(resizeSplit("h", 16, 20), { chunk: 16, seg: 0, nseg: 1 }, "no split");
    assertEquals(resizeSplit("w", 16, 1544).nseg, 1, "shorter runs suffice");
    assert(resizeSplit("w", 16, 1544).chunk < 16, "shorter runs");
    assertEquals(resizeSplit("h", 16, 8192), { chunk: 1, seg: 6664, nseg: 2 }, "segments");
    assertEquals(resizeSplit("w", 1, 70000).nseg, 9, "segments along x");
  },
});

Deno.test({
  name: "resize: 2x2 -> 4x4 by hand from the formula, and as PyTorch prints it",
  ...gpuTest,
  fn: async () => {
    // scale = 2 / 4 = 0.5. Output column 0: src = 0.5 * 0.5 - 0.5 = -0.25 (not clamped to
    // 0), i0 = -1, t = 0.75, taps -2, -1, 0, 1 -> clamped 0, 0, 0, 1, weights
    // cc2(1.75) = -0.03515625, cc1(0.75) = 0.26171875, cc1(0.25) = 0.87890625,
    // cc2(1.25) = -0.10546875. Column 1: src = 0.25, i0 = 0, t = 0.25, taps -1..2 ->
    // 0, 0, 1, 1, weights reversed. So along a row [a, b]:
    //   col 0: 1.10546875 a - 0.10546875 b        col 1: 0.7734375 a + 0.2265625 b
    // Row [0, 1] gives -0.10546875 and 0.2265625; row [2, 3] gives 1.89453125 and
    // 2.2265625. Output row 0 uses the same weights along y over those two rows:
    //   (0, 0): 1.10546875 * -0.10546875 - 0.10546875 * 1.89453125 = -0.31640625
    //   (0, 1): 1.10546875 *  0.2265625  - 0.10546875 * 2.2265625  =  0.015625
    expectWeights(0.75, [-0.03515625, 0.26171875, 0.87890625, -0.10546875]);
    const byHand = [-0.31640625, 0.015625];
    // PyTorch 1.13, F.interpolate(size=(4, 4), mode="bicubic", align_corners=False)
    const torch = [
      [-0.31640625, 0.015625, 0.5625, 0.89453125],
      [0.34765625, 0.6796875, 1.2265625, 1.55859375],
      [1.44140625, 1.7734375, 2.3203125, 2.65234375],
      [2.10546875, 2.4375, 2.984375, 3.31640625],
    ].flat();
    const data = Float64Array.from([0, 1, 2, 3]);
    const ref = bicubicRef(data, geo([1, 1, 2, 2], { size: [4, 4] }));
    assertClose(ref.slice(0, 2), byHand, { atol: 1e-15, rtol: 0 }, "reference vs hand");
    assertClose(ref, torch, { atol: 1e-7, rtol: 0 }, "reference vs PyTorch");
    const x = tensor([[[[0, 1], [2, 3]]]]);
    const y = bicubicResize(x, { size: [4, 4] });
    assertClose(await y.toArray(), torch, { atol: 1e-6, rtol: 0 }, "GPU vs PyTorch");
    x.dispose();
    y.dispose();
  },
});

function expectWeights(t: number, want: number[]) {
  assertClose([cc2(t + 1), cc1(t), cc1(1 - t), cc2(2 - t)], want, { atol: 0, rtol: 0 }, "weights");
}

Deno.test({
  name: "resize: a scale factor maps coordinates by 1/factor, not in/out (7x7 -> 3x3)",
  ...gpuTest,
  fn: async () => {
    const ramp = Float64Array.from({ length: 49 }, (_, i) => i); // x[i][j] = 7i + j
    // PyTorch 1.13 output for each call (align_corners=False)
    const bySize = [
      [4.592589378356934, 7.018515110015869, 9.444438934326172],
      [21.574064254760742, 23.99999237060547, 26.425918579101562],
      [38.55553436279297, 40.981468200683594, 43.40739059448242],
    ].flat();
    const byFactor = [ // scale_factor = 3.1 / 7, as DINO's (n + 0.1) / N
      [4.271982192993164, 6.586310386657715, 8.94068717956543],
      [20.472274780273438, 22.786605834960938, 25.1409854888916],
      [36.95291519165039, 39.26724624633789, 41.62162780761719],
    ].flat();
    const byTiny = [ // scale_factor = 3/7 + 1e-6: 1/factor is within 3e-6 of in/out
      [4.592567443847656, 7.018482685089111, 9.44440746307373],
      [21.573984146118164, 23.999893188476562, 26.42582130432129],
      [38.55544662475586, 40.98134994506836, 43.407283782958984],
    ].flat();
    const tol = { atol: 2e-5, rtol: 1e-6 };
    const x = tensor(Float32Array.from(ramp), [1, 1, 7, 7]);
    for (
      const [opts, want] of [
        [{ size: [3, 3] }, bySize],
        [{ scaleFactor: 3.1 / 7 }, byFactor],
        [{ scaleFactor: [3 / 7 + 1e-6, 3 / 7 + 1e-6] }, byTiny],
      ] as [ResizeOptions, number[]][]
    ) {
      const what = JSON.stringify(opts);
      assertClose(bicubicRef(ramp, geo([1, 1, 7, 7], opts)), want, tol, `reference ${what}`);
      const y = bicubicResize(x, opts);
      assertEquals(y.shape, [1, 1, 3, 3], `shape ${what}`);
      assertClose(await y.toArray(), want, tol, `GPU ${what}`);
      y.dispose();
    }
    // the two maps really differ (by 1.79 here)
    const diff = Math.max(...bySize.map((v, i) => Math.abs(v - byFactor[i])));
    assertEquals(diff > 1, true, "size and scale factor differ");
    x.dispose();
  },
});

Deno.test({
  name: "resize: backward matches PyTorch's autograd",
  ...gpuTest,
  fn: async () => {
    // x.grad after (interpolate(x, ...) * g).sum().backward() in PyTorch 1.13
    const cases: [number[], ResizeOptions, (i: number) => number, number[]][] = [
      [[1, 1, 3, 3], { size: [5, 4] }, () => 1, [
        2.1632273197174072,
        2.2175474166870117,
        2.1632273197174072,
        2.28487491607666,
        2.342249870300293,
        2.28487491607666,
        2.1632273197174072,
        2.2175474166870117,
        2.163227081298828,
      ]],
      [[1, 1, 3, 3], { scaleFactor: [1.7, 2.3] }, () => 1, [
        3.76962947845459,
        4.1520280838012695,
        2.0985522270202637,
        4.000133991241455,
        4.405915260314941,
        2.2268736362457275,
        3.5163192749023438,
        3.873021125793457,
        1.9575343132019043,
      ]],
      [
        [1, 1, 7, 7],
        { scaleFactor: 3.1 / 7 },
        (i) => i,
        [
          [0.0, -0.003018596675246954, 0.03630281984806061, 0.3463458716869354],
          [-0.08034771680831909, 0.6807999014854431, 0.0876586064696312],
          [-0.009055789560079575, -0.025297734886407852, 0.07626594603061676, 0.7008891105651855],
          [-0.16462136805057526, 1.4020479917526245, 0.18052524328231812],
          [0.10890845209360123, 0.22824892401695251, -0.0033007189631462097, 0.2898985743522644],
          [-0.042908355593681335, 0.27718427777290344, 0.035689759999513626],
          [1.0390374660491943, 2.1686935424804688, 0.0756392776966095, 3.787834644317627],
          [-0.6464719772338867, 4.65350866317749, 0.5991776585578918],
          [-0.24104316532611847, -0.5037833452224731, -0.009432543069124222, -0.8013094663619995],
          [0.13201291859149933, -0.927374005317688, -0.1194070428609848],
          [2.0423996448516846, 4.271036148071289, 0.051128387451171875, 6.5149126052856445],
          [-1.054836630821228, 7.31779146194458, 0.9422260522842407],
          [0.2629758417606354, 0.5499312281608582, 0.006583194248378277, 0.8388487100601196],
          [-0.13581891357898712, 0.9422260522842407, 0.12131937593221664],
        ].flat(),
      ],
    ];
    for (const [shape, opts, gv, want] of cases) {
      const x = tensor(new Float32Array(shape.reduce((a, b) => a * b, 1)), shape, {
        requiresGrad: true,
      });
      const y = bicubicResize(x, opts);
      const g = tensor(Float32Array.from({ length: y.size }, (_, i) => gv(i)), [...y.shape]);
      y.backward(g);
      assertClose(await x.grad!.toArray(), want, { atol: 1e-5, rtol: 1e-5 }, JSON.stringify(opts));
      for (const t of [x.grad!, x, y, g]) t.dispose();
    }
  },
});

Deno.test({
  name: "resize: bad input",
  ...gpuTest,
  fn: () => {
    const x = tensor(new Float32Array(2 * 7 * 7), [2, 7, 7]);
    const op = "bicubicResize";
    assertThrows(
      () => bicubicResize(tensor(new Float32Array(49), [7, 7]), { size: [3, 3] }),
      `${op}: input must be [N, C, H, W] or [C, H, W], got [7,7]`,
    );
    assertThrows(() => bicubicResize(x, {}), `${op}: give exactly one of size and scaleFactor`);
    assertThrows(
      () => bicubicResize(x, { size: [3, 3], scaleFactor: 2 }),
      "give exactly one of size and scaleFactor",
    );
    assertThrows(() => bicubicResize(x, { size: [0, 3] }), `${op}: size must be [height, width]`);
    assertThrows(
      () => bicubicResize(x, { size: [3.5, 3] as [number, number] }),
      "size must be [height, width] of positive integers",
    );
    assertThrows(
      () => bicubicResize(x, { scaleFactor: -1 }),
      `${op}: scaleFactor must be positive`,
    );
    assertThrows(
      () => bicubicResize(x, { scaleFactor: 0.1 }),
      `${op}: scaleFactor 0.1 makes an empty output from [2,7,7] (0 x 0)`,
    );
    const i = tensor(new Int32Array(4), [1, 2, 2], { dtype: "i32" });
    assertThrows(() => bicubicResize(i, { size: [3, 3] }), `${op}: input must be f32`);
    x.dispose();
    i.dispose();
  },
});

Deno.test({
  name: "resize: GPU-shaped kernels (one element per invocation) agree; no leaks",
  ...gpuTest,
  fn: async () => {
    const prev = useKernels("gpu");
    try {
      for (
        const [shape, opts] of [
          [[1, 2, 13, 13], { size: [50, 64] }],
          [[2, 1, 14, 14], { scaleFactor: (9 + 0.1) / 14 }],
        ] as [number[], ResizeOptions][]
      ) {
        const g = geo(shape, opts);
        await checkOp(`bicubic [${shape}] ${JSON.stringify(opts)} gpu kernels`, {
          inputs: [{ shape }],
          gpu: (x) => bicubicResize(x, opts),
          ref: (x) => bicubicRef(x, g),
          fwd: FWD,
          bwd: BWD,
        });
      }
    } finally {
      useKernels(prev);
    }
    const x = tensor(new Float32Array(2 * 3 * 7 * 7), [2, 3, 7, 7], { requiresGrad: true });
    const step = () => {
      tidy(() => {
        const y = bicubicResize(x, { size: [13, 5] });
        y.backward(y);
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
