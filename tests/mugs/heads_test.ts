import { assert, assertClose, assertEquals, assertThrows, gpuTest, setup } from "../helpers.ts";
import {
  GroupHead,
  InstanceHead,
  LocalGroupHead,
  ProjectionMLP,
  WeightNormLinear,
} from "../../lib/mugs/heads.ts";
import { Generator } from "../../lib/tensor/rng.ts";
import { tensor } from "../../lib/tensor/tensor.ts";
import { toHost } from "../../lib/io/weights.ts";
import { randArray } from "../helpers.ts";
import { get, groupHead, instanceHead, l2rows, weightNorm } from "./reference.ts";
import { gpu, gradCheck, hostWeights, randomise } from "./util.ts";

await setup();

// tiny odd sizes
const IN = 7;
const HID = 11;
const OUT = 5;
const PRED = 13;
const B = 3;
const M = 6;

const FWD = { atol: 2e-5, rtol: 2e-5 };
const BWD = { atol: 2e-4, rtol: 2e-3 };

function shapes(m: { namedParameters(): [string, { shape: readonly number[] }][] }): string[] {
  return m.namedParameters().map(([n, p]) => `${n}:${p.shape.join("x")}`);
}

Deno.test({
  name: "mugs heads: parameter names and shapes follow the official checkpoints",
  ...gpuTest,
  fn: () => {
    const student = new InstanceHead({
      inDim: IN,
      hiddenDim: HID,
      outDim: OUT,
      predHiddenDim: PRED,
    });
    assertEquals(shapes(student), [
      "projector.0.weight:11x7",
      "projector.2.weight:11x11",
      "projector.4.weight:5x11",
      "predictor.0.weight:13x5",
      "predictor.2.weight:5x13",
    ], "student instance head (bias-free Linear layers, GELUs at odd indices)");
    const teacher = new LocalGroupHead({
      inDim: IN,
      hiddenDim: HID,
      outDim: OUT,
      predHiddenDim: 0,
    });
    assertEquals(shapes(teacher), [
      "projector.0.weight:11x7",
      "projector.2.weight:11x11",
      "projector.4.weight:5x11",
    ], "teacher local-group head has no predictor");
    assert(teacher.predictor === null, "teacher predictor is null");

    const frozen = new GroupHead({ inDim: IN, hiddenDim: HID, bottleneckDim: OUT, outDim: M });
    assertEquals(shapes(frozen), [
      "projector.0.weight:11x7",
      "projector.0.bias:11",
      "projector.2.weight:11x11",
      "projector.2.bias:11",
      "projector.4.weight:5x11",
      "projector.4.bias:5",
      "last_layer.weight_v:6x5",
    ], "group head with norm_last_layer: weight_g is not a parameter");
    assertEquals(
      [...frozen.stateDict()].map(([n, t]) => `${n}:${t.shape.join("x")}`).slice(-2),
      ["last_layer.weight_v:6x5", "last_layer.weight_g:6x1"],
      "but weight_g is in the state dict (a buffer)",
    );
    assert(frozen.lastLayer.frozenNorm, "frozenNorm");
    const free = new GroupHead({
      inDim: IN,
      hiddenDim: HID,
      bottleneckDim: OUT,
      outDim: M,
      normLastLayer: false,
    });
    assertEquals(shapes(free).slice(-2), [
      "last_layer.weight_g:6x1",
      "last_layer.weight_v:6x5",
    ], "without norm_last_layer weight_g is a parameter, registered first as in PyTorch");
    const single = new GroupHead({ inDim: IN, bottleneckDim: OUT, outDim: M, nlayers: 1 });
    assertEquals(shapes(single), [
      "projector.weight:5x7",
      "projector.bias:5",
      "last_layer.weight_v:6x5",
    ], "one projector layer is a bare Linear, as in the official code");
    // official default widths
    const official = new InstanceHead({ inDim: 384 });
    assertEquals(shapes(official), [
      "projector.0.weight:2048x384",
      "projector.2.weight:2048x2048",
      "projector.4.weight:256x2048",
      "predictor.0.weight:4096x256",
      "predictor.2.weight:256x4096",
    ], "official instance head widths");
  },
});

Deno.test({
  name: "mugs heads: instance/local-group head forward matches the float64 reference",
  ...gpuTest,
  fn: async () => {
    for (const normBeforePred of [true, false]) {
      const head = new InstanceHead({
        inDim: IN,
        hiddenDim: HID,
        outDim: OUT,
        predHiddenDim: PRED,
        normBeforePred,
        seed: 3,
      });
      randomise(head, 20);
      const w = await hostWeights(head);
      const x = randArray(B * IN, 5);
      const xt = gpu(x, [B, IN]);
      const pred = await head.forward(xt).toArray();
      assertClose(pred, instanceHead(w, x, B, { predict: true, normBeforePred }), FWD, "pred");
      const target = await head.project(xt).toArray();
      assertClose(target, instanceHead(w, x, B, { predict: false }), FWD, "target");
      // unit rows
      for (let r = 0; r < B; r++) {
        let s = 0;
        for (let i = 0; i < OUT; i++) s += pred[r * OUT + i] ** 2;
        assertClose([s], [1], { atol: 1e-5, rtol: 0 }, "prediction rows have unit norm");
      }
      // any leading shape: [2, B, IN]
      const x3 = randArray(2 * B * IN, 6);
      const y3 = head.forward(gpu(x3, [2, B, IN]));
      assertEquals(y3.shape, [2, B, OUT], "rank-3 output shape");
      assertClose(
        await y3.toArray(),
        instanceHead(w, x3, 2 * B, { predict: true, normBeforePred }),
        FWD,
        "rank-3 input",
      );
    }
    const teacher = new LocalGroupHead({
      inDim: IN,
      hiddenDim: HID,
      outDim: OUT,
      predHiddenDim: 0,
    });
    randomise(teacher, 40);
    const w = await hostWeights(teacher);
    const x = randArray(B * IN, 7);
    assertClose(
      await teacher.forward(gpu(x, [B, IN])).toArray(),
      instanceHead(w, x, B, { predict: false }),
      FWD,
      "teacher forward is the normalised projection",
    );
    assertThrows(
      () => teacher.predict(gpu(x, [B, IN])),
      "LocalGroupHead: this head has no predictor",
    );
  },
});

Deno.test({
  name: "mugs heads: instance head gradients match finite differences of the reference",
  ...gpuTest,
  fn: async () => {
    const head = new InstanceHead({
      inDim: IN,
      hiddenDim: HID,
      outDim: OUT,
      predHiddenDim: PRED,
      seed: 1,
    });
    randomise(head, 60);
    const w = await hostWeights(head);
    const x = randArray(B * IN, 8);
    const xt = gpu(x, [B, IN], true);
    const out = head.forward(xt);
    await gradCheck(
      "InstanceHead",
      out,
      () => instanceHead(w, x, B, { predict: true }),
      [
        ...head.namedParameters().map(([name, t]) => ({ name, t, data: get(w, name) })),
        { name: "input", t: xt, data: x },
      ],
      BWD,
    );
  },
});

Deno.test({
  name: "mugs heads: group head forward matches the float64 reference (3 and 1 layers)",
  ...gpuTest,
  fn: async () => {
    for (const nlayers of [3, 1]) {
      for (const normLastLayer of [true, false]) {
        const head = new GroupHead({
          inDim: IN,
          hiddenDim: HID,
          bottleneckDim: OUT,
          outDim: M,
          nlayers,
          normLastLayer,
          seed: 2,
        });
        randomise(head, 80); // weight_g random in [0.5, 1.5), so g takes part
        const w = await hostWeights(head);
        const x = randArray(B * IN, 9);
        const out = head.forward(gpu(x, [B, IN]));
        assertEquals(out.shape, [B, M], "logits shape");
        assertClose(
          await out.toArray(),
          groupHead(w, x, B, nlayers === 1),
          FWD,
          `group head, nlayers ${nlayers}, normLastLayer ${normLastLayer}`,
        );
        const z = await head.features(gpu(x, [B, IN])).toArray();
        assertEquals(z.length, B * OUT, "features are the bottleneck");
        assertClose(z, l2rows(Float64Array.from(z), OUT), FWD, "features have unit rows");
      }
    }
  },
});

Deno.test({
  name: "mugs heads: group head gradients match finite differences; a frozen g gets none",
  ...gpuTest,
  fn: async () => {
    for (const normLastLayer of [false, true]) {
      const head = new GroupHead({
        inDim: IN,
        hiddenDim: HID,
        bottleneckDim: OUT,
        outDim: M,
        normLastLayer,
        seed: 4,
      });
      randomise(head, 100);
      const w = await hostWeights(head);
      const x = randArray(B * IN, 10);
      const xt = gpu(x, [B, IN], true);
      const out = head.forward(xt);
      await gradCheck(
        `GroupHead(normLastLayer ${normLastLayer})`,
        out,
        () => groupHead(w, x, B),
        [
          ...head.namedParameters().map(([name, t]) => ({ name, t, data: get(w, name) })),
          { name: "input", t: xt, data: x },
        ],
        BWD,
      );
      const names = head.namedParameters().map(([n]) => n);
      assertEquals(names.includes("last_layer.weight_g"), !normLastLayer, "g trainable?");
      assertEquals(head.lastLayer.weightG.grad === null, normLastLayer, "g has a gradient?");
    }
  },
});

Deno.test({
  name: "mugs heads: weight norm is g * v / ||v|| per row, invariant to the scale of v",
  ...gpuTest,
  fn: async () => {
    const I = 5;
    const O = 7;
    const wn = new WeightNormLinear(I, O, { frozenNorm: false, gen: new Generator(3) });
    randomise(wn, 5);
    const g = Float64Array.from(await wn.weightG.toArray());
    const v = Float64Array.from(await wn.weightV.toArray());
    const W = await wn.weight().toArray();
    assertClose(W, weightNorm(g, v, O, I), { atol: 1e-6, rtol: 1e-5 }, "effective weight");
    for (let o = 0; o < O; o++) {
      let s = 0;
      for (let i = 0; i < I; i++) s += W[o * I + i] ** 2;
      assertClose([Math.sqrt(s)], [g[o]], { atol: 1e-6, rtol: 1e-5 }, `row ${o} has norm g`);
    }
    const x = randArray(4 * I, 11);
    const y1 = await wn.forward(gpu(x, [4, I])).toArray();
    wn.loadStateDict({
      weight_g: { shape: [O, 1], data: Float32Array.from(g) },
      weight_v: { shape: [O, I], data: Float32Array.from(v.map((a) => a * 3)) },
    });
    const y2 = await wn.forward(gpu(x, [4, I])).toArray();
    assertClose(y2, y1, { atol: 1e-6, rtol: 1e-5 }, "scaling v changes nothing");
    // a fresh layer has g = 1, so its rows are unit vectors
    const fresh = new WeightNormLinear(I, O);
    assert((await fresh.weightG.toArray()).every((a) => a === 1), "weight_g filled with 1");
    const Wf = await fresh.weight().toArray();
    const vf = await fresh.weightV.toArray();
    assertClose(
      Wf,
      l2rows(Float64Array.from(vf), I),
      { atol: 1e-6, rtol: 1e-5 },
      "g = 1: rows of v normalised",
    );
  },
});

function stats(a: ArrayLike<number>): { mean: number; std: number; maxAbs: number } {
  let m = 0;
  let mx = 0;
  for (let i = 0; i < a.length; i++) {
    m += a[i] / a.length;
    mx = Math.max(mx, Math.abs(a[i]));
  }
  let v = 0;
  for (let i = 0; i < a.length; i++) v += (a[i] - m) ** 2 / a.length;
  return { mean: m, std: Math.sqrt(v), maxAbs: mx };
}

Deno.test({
  name:
    "mugs heads: init follows the official code (trunc normal projectors, PyTorch default elsewhere)",
  ...gpuTest,
  fn: async () => {
    const inst = new InstanceHead({ inDim: 96, hiddenDim: 256, outDim: 64, predHiddenDim: 128 });
    const sd = await toHost(inst.stateDict());
    for (const n of ["projector.0.weight", "projector.2.weight", "projector.4.weight"]) {
      const s = stats(sd.get(n)!.data);
      assert(
        Math.abs(s.std - 0.02) < 0.002 && Math.abs(s.mean) < 0.002,
        `${n}: ${JSON.stringify(s)}`,
      );
    }
    for (const [n, fanIn] of [["predictor.0.weight", 64], ["predictor.2.weight", 128]] as const) {
      const s = stats(sd.get(n)!.data);
      const bound = 1 / Math.sqrt(fanIn);
      assert(s.maxAbs <= bound, `${n} within U(-1/sqrt(fan_in), 1/sqrt(fan_in))`);
      assert(Math.abs(s.std - bound / Math.sqrt(3)) < 0.06 * bound, `${n}: ${JSON.stringify(s)}`);
    }
    const grp = new GroupHead({ inDim: 96, hiddenDim: 256, bottleneckDim: 64, outDim: 300 });
    const gd = await toHost(grp.stateDict());
    const s0 = stats(gd.get("projector.2.weight")!.data);
    assert(Math.abs(s0.std - 0.02) < 0.002, `projector.2.weight std ${s0.std}`);
    for (const n of ["projector.0.bias", "projector.2.bias", "projector.4.bias"]) {
      assert(gd.get(n)!.data.every((a) => a === 0), `${n} starts at zero`);
    }
    const sv = stats(gd.get("last_layer.weight_v")!.data);
    assert(sv.maxAbs <= 1 / 8, "weight_v within U(-1/sqrt(64), 1/sqrt(64))");
    assert(Math.abs(sv.std - 1 / 8 / Math.sqrt(3)) < 0.005, `weight_v std ${sv.std}`);
    assert(gd.get("last_layer.weight_g")!.data.every((a) => a === 1), "weight_g = 1");
    // the all-trunc-normal option
    const tn = new InstanceHead({
      inDim: 96,
      hiddenDim: 256,
      outDim: 64,
      predHiddenDim: 128,
      init: "trunc_normal",
    });
    const st = stats((await toHost(tn.stateDict())).get("predictor.0.weight")!.data);
    assert(Math.abs(st.std - 0.02) < 0.002, `trunc_normal predictor std ${st.std}`);
    // the same seed gives the same head
    const again = await toHost(
      new InstanceHead({ inDim: 96, hiddenDim: 256, outDim: 64, predHiddenDim: 128 }).stateDict(),
    );
    assertEquals(
      Array.from(again.get("predictor.2.weight")!.data.slice(0, 16)),
      Array.from(sd.get("predictor.2.weight")!.data.slice(0, 16)),
      "deterministic init",
    );
  },
});

Deno.test({
  name: "mugs heads: shape errors name the head and the shapes",
  ...gpuTest,
  fn: () => {
    const inst = new InstanceHead({ inDim: IN, hiddenDim: HID, outDim: OUT, predHiddenDim: PRED });
    assertThrows(
      () => inst.forward(gpu(new Float64Array(B * 4), [B, 4])),
      "InstanceHead: expected features [..., 7], got [3,4]",
    );
    const lg = new LocalGroupHead({ inDim: IN, hiddenDim: HID, outDim: OUT, predHiddenDim: 0 });
    assertThrows(
      () => lg.forward(gpu(new Float64Array(8), [8])),
      "LocalGroupHead: expected features [..., 7], got [8]",
    );
    const grp = new GroupHead({ inDim: IN, hiddenDim: HID, bottleneckDim: OUT, outDim: M });
    assertThrows(
      () => grp.forward(gpu(new Float64Array(B * 9), [B, 9])),
      "GroupHead: expected features [..., 7], got [3,9]",
    );
    const wn = new WeightNormLinear(OUT, M);
    assertThrows(
      () => wn.forward(gpu(new Float64Array(B * 4), [B, 4])),
      "WeightNormLinear(5, 6): expected [..., 5], got [3,4]",
    );
    assertThrows(
      () =>
        new ProjectionMLP({
          nlayers: -1,
          inDim: 1,
          hiddenDim: 1,
          outDim: 1,
          bias: false,
          init: "trunc_normal",
          gen: new Generator(0),
        }),
      "ProjectionMLP: nlayers must be an integer >= 0",
    );
  },
});

Deno.test({
  name: "InstanceHead residualPred: predicts its own projection at init, then the residual trains",
  ...gpuTest,
  fn: async () => {
    const head = new InstanceHead({
      inDim: 13,
      hiddenDim: 17,
      outDim: 7,
      predHiddenDim: 11,
      residualPred: true,
      seed: 3,
    });
    const x = tensor(Float32Array.from(randArray(5 * 13, 4)), [5, 13]);
    assertClose(await head.predict(x).toArray(), await head.project(x).toArray(), {
      atol: 1e-6,
      rtol: 1e-5,
    }, "prediction = projection at init");
    const last = head.predictor!.layers[head.predictor!.layers.length - 1].weight;
    assertEquals(Array.from(await last.toArray()).every((v) => v === 0), true, "zero last layer");
    head.predict(x).pow(3).sum().backward(); // a loss that is not constant on the sphere
    const g = await last.grad!.toArray();
    assert(Array.from(g).some((v) => v !== 0), "the residual's last layer gets a gradient");
  },
});
