import { assert, assertClose, assertEquals, assertRejects, gpuTest, setup } from "../helpers.ts";
import {
  linearProbe,
  type ProbeEpoch,
  trainLinearClassifiers,
} from "../../lib/eval/linear_probe.ts";
import { Generator } from "../../lib/tensor/rng.ts";
import { tensor } from "../../lib/tensor/tensor.ts";
import { gpuStats } from "../../lib/gpu/device.ts";

await setup();

/** Gaussian classes: means of norm about `sep` in random directions, unit noise. */
function gaussians(n: number, D: number, K: number, seed: number, sep: number, mu?: number[][]) {
  const g = new Generator(seed);
  const means = mu ??
    Array.from(
      { length: K },
      () => Array.from({ length: D }, () => (sep / Math.sqrt(D)) * g.normal()),
    );
  const x = new Float32Array(n * D);
  const y = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    y[i] = (i * 3) % K;
    for (let d = 0; d < D; d++) x[i * D + d] = means[y[i]][d] + g.normal();
  }
  return { x, y, means };
}

interface RefCfg {
  lr: number;
  epochs: number;
  B: number;
  seed: number;
  optimizer: "sgd" | "adamw";
  wd: number;
  normalize: "none" | "l2" | "standardize";
}

/**
 * DINO's linear-eval loop in float64 on the host, written from eval_linear.py and the
 * PyTorch docs: Linear(D, C) with weight ~ 0.01 N(0, 1) (drawn row by row from
 * Generator(seed), as the probe documents) and zero bias; per epoch a shuffle by
 * Generator(seed + 1).permutation, batches of B keeping the last partial one, mean
 * cross-entropy, SGD (momentum 0.9, buffer = first gradient) or AdamW, lr * B / 256
 * times the per-epoch cosine 0.5 (1 + cos(pi e / E)).
 */
function refTrain(x0: Float32Array, y: Int32Array, N: number, D: number, C: number, o: RefCfg) {
  const x = Float64Array.from(x0);
  if (o.normalize === "l2") {
    for (let i = 0; i < N; i++) {
      let s = 0;
      for (let d = 0; d < D; d++) s += x[i * D + d] ** 2;
      for (let d = 0; d < D; d++) x[i * D + d] /= Math.sqrt(s);
    }
  } else if (o.normalize === "standardize") {
    for (let d = 0; d < D; d++) {
      let m = 0;
      for (let i = 0; i < N; i++) m += x[i * D + d] / N;
      let v = 0;
      for (let i = 0; i < N; i++) v += (x[i * D + d] - m) ** 2 / N;
      for (let i = 0; i < N; i++) x[i * D + d] = (x[i * D + d] - m) / Math.sqrt(v);
    }
  }
  const P = C * (D + 1); // per class: D weights then the bias
  const g0 = new Generator(o.seed);
  const w = new Float64Array(P);
  for (let c = 0; c < C; c++) for (let d = 0; d < D; d++) w[c * (D + 1) + d] = 0.01 * g0.normal();
  const shuffle = new Generator(o.seed + 1);
  const buf = new Float64Array(P);
  const m1 = new Float64Array(P);
  const m2 = new Float64Array(P);
  let t = 0;
  for (let e = 0; e < o.epochs; e++) {
    const lr = ((o.lr * o.B) / 256) * 0.5 * (1 + Math.cos((Math.PI * e) / o.epochs));
    const perm = shuffle.permutation(N);
    for (let a = 0; a < N; a += o.B) {
      const rows = Array.from(perm.subarray(a, Math.min(N, a + o.B)));
      const grad = new Float64Array(P);
      for (const i of rows) {
        const z = Array.from({ length: C }, (_, c) => {
          let s = w[c * (D + 1) + D];
          for (let d = 0; d < D; d++) s += w[c * (D + 1) + d] * x[i * D + d];
          return s;
        });
        const mx = Math.max(...z);
        const se = z.reduce((p, v) => p + Math.exp(v - mx), 0);
        for (let c = 0; c < C; c++) {
          const r = (Math.exp(z[c] - mx) / se - (c === y[i] ? 1 : 0)) / rows.length;
          for (let d = 0; d < D; d++) grad[c * (D + 1) + d] += r * x[i * D + d];
          grad[c * (D + 1) + D] += r;
        }
      }
      t++;
      for (let j = 0; j < P; j++) {
        if (o.optimizer === "sgd") {
          const dj = grad[j] + o.wd * w[j];
          buf[j] = t === 1 ? dj : 0.9 * buf[j] + dj;
          w[j] -= lr * buf[j];
        } else {
          w[j] *= 1 - lr * o.wd;
          m1[j] = 0.9 * m1[j] + 0.1 * grad[j];
          m2[j] = 0.999 * m2[j] + 0.001 * grad[j] ** 2;
          const bc1 = 1 - 0.9 ** t;
          const bc2 = 1 - 0.999 ** t;
          w[j] -= ((lr / bc1) * m1[j]) / (Math.sqrt(m2[j]) / Math.sqrt(bc2) + 1e-8);
        }
      }
    }
  }
  return w;
}

Deno.test({
  name: "linear probe: training matches DINO's loop in float64; stacked lrs train independently",
  ...gpuTest,
  fn: async () => {
    // 50 rows in batches of 16: a partial last batch of 2 every epoch
    const N = 50, D = 6, C = 3;
    const { x, y } = gaussians(N, D, C, 1, 2);
    const feats = tensor(x, [N, D]);
    const cases: (Omit<RefCfg, "lr"> & { lrs: number[] })[] = [
      { lrs: [0.5, 4], epochs: 3, B: 16, seed: 3, optimizer: "sgd", wd: 0, normalize: "none" },
      { lrs: [2], epochs: 4, B: 16, seed: 4, optimizer: "sgd", wd: 0.05, normalize: "l2" },
      {
        lrs: [1, 4],
        epochs: 3,
        B: 16,
        seed: 5,
        optimizer: "adamw",
        wd: 0.1,
        normalize: "standardize",
      },
    ];
    for (const c of cases) {
      const inUse = gpuStats().inUse;
      const got = await trainLinearClassifiers(feats, y, c.lrs, {
        numClasses: C,
        epochs: c.epochs,
        batchSize: c.B,
        seed: c.seed,
        optimizer: c.optimizer,
        weightDecay: c.wd,
        normalize: c.normalize,
      });
      assertEquals(got.map((g) => g.lr), c.lrs, "one classifier per lr, in order");
      for (const g of got) {
        const ref = refTrain(x, y, N, D, C, { ...c, lr: g.lr });
        const refW: number[] = [];
        const refB: number[] = [];
        for (let k = 0; k < C; k++) {
          refW.push(...ref.subarray(k * (D + 1), k * (D + 1) + D));
          refB.push(ref[k * (D + 1) + D]);
        }
        const what = `${c.optimizer} lr ${g.lr} (${c.normalize}, wd ${c.wd})`;
        assert(Math.max(...refW.map(Math.abs)) > 0.1, `${what}: the weights moved`);
        assertClose(g.weight, refW, { atol: 2e-5, rtol: 2e-4 }, `${what}: weight`);
        assertClose(g.bias, refB, { atol: 2e-5, rtol: 2e-4 }, `${what}: bias`);
      }
      // both optimisers release their state: nothing is left behind
      assertEquals(gpuStats().inUse, inUse, `${c.optimizer}: GPU buffers after training`);
    }
    feats.dispose();
  },
});

/**
 * The closed-form reference: one-vs-rest ridge regression onto one-hot targets (with a
 * bias column), solved by the normal equations (X^T X + lambda I) W = X^T T in float64.
 */
function ridgeOvr(x: Float32Array, y: Int32Array, N: number, D: number, C: number, lambda = 1e-3) {
  const D1 = D + 1;
  const A = Array.from({ length: D1 }, () => new Float64Array(D1));
  const R = Array.from({ length: D1 }, () => new Float64Array(C));
  for (let i = 0; i < N; i++) {
    const xi = [...x.subarray(i * D, (i + 1) * D), 1];
    for (let a = 0; a < D1; a++) {
      for (let b = 0; b < D1; b++) A[a][b] += xi[a] * xi[b];
      R[a][y[i]] += xi[a];
    }
  }
  for (let a = 0; a < D1; a++) A[a][a] += lambda;
  // Cholesky A = L L^T, then two triangular solves per class
  const L = Array.from({ length: D1 }, () => new Float64Array(D1));
  for (let i = 0; i < D1; i++) {
    for (let j = 0; j <= i; j++) {
      let s = A[i][j];
      for (let k = 0; k < j; k++) s -= L[i][k] * L[j][k];
      L[i][j] = i === j ? Math.sqrt(s) : s / L[j][j];
    }
  }
  const W = Array.from({ length: C }, (_, c) => {
    const z = new Float64Array(D1);
    for (let i = 0; i < D1; i++) {
      let s = R[i][c];
      for (let k = 0; k < i; k++) s -= L[i][k] * z[k];
      z[i] = s / L[i][i];
    }
    const w = new Float64Array(D1);
    for (let i = D1 - 1; i >= 0; i--) {
      let s = z[i];
      for (let k = i + 1; k < D1; k++) s -= L[k][i] * w[k];
      w[i] = s / L[i][i];
    }
    return w;
  });
  return (xt: Float32Array, M: number) => {
    let hit = 0;
    const pred = new Int32Array(M);
    for (let i = 0; i < M; i++) {
      let best = 0;
      let bv = -Infinity;
      for (let c = 0; c < C; c++) {
        let s = W[c][D];
        for (let d = 0; d < D; d++) s += W[c][d] * xt[i * D + d];
        if (s > bv) [best, bv] = [c, s];
      }
      pred[i] = best;
      hit += best;
    }
    return pred;
  };
}

Deno.test({
  name: "linear probe: reaches the closed-form (ridge) reference on separable Gaussian classes",
  ...gpuTest,
  fn: async () => {
    const N = 1000, M = 500, D = 32, C = 5;
    const tr = gaussians(N, D, C, 10, 6);
    const te = gaussians(M, D, C, 11, 6, tr.means);
    const refPred = ridgeOvr(tr.x, tr.y, N, D, C)(te.x, M);
    const refTop1 = (100 * refPred.filter((p, i) => p === te.y[i]).length) / M;
    assert(refTop1 >= 98, `the data should be near-separable: ridge top-1 ${refTop1}`);
    const trainFeatures = tensor(tr.x, [N, D]);
    const testFeatures = tensor(te.x, [M, D]);
    const lrs = [0.01, 0.1, 1];
    const epochs = 30;
    const seen: ProbeEpoch[] = [];
    const before = gpuStats().inUse;
    const t0 = performance.now();
    const r = await linearProbe({
      trainFeatures,
      trainLabels: tr.y,
      testFeatures,
      testLabels: Array.from(te.y),
      numClasses: C,
      epochs,
      batchSize: 128,
      lrs,
      seed: 2,
      onEpoch: (e) => void seen.push(e),
    });
    const ms = performance.now() - t0;
    assertEquals(gpuStats().inUse, before, "GPU buffers in use after the probe");
    const margin = 1; // percentage points
    assert(r.top1 >= refTop1 - margin, `probe top-1 ${r.top1} < ridge ${refTop1} - ${margin}`);
    assert(r.top5 !== undefined && r.top5 >= r.top1, `top-5 ${r.top5}`);
    // the sweep: every given lr, in order, and the chosen one is the first best
    assertEquals(r.sweep.map((s) => s.lr), lrs, "swept lrs");
    assert(r.sweep.every((s) => !s.diverged && s.valTop1 > 50), JSON.stringify(r.sweep));
    const best = Math.max(...r.sweep.map((s) => s.valTop1));
    assertEquals(r.lr, r.sweep.find((s) => s.valTop1 === best)!.lr, "chosen lr");
    assertEquals([r.trainSize, r.valSize], [N, 100], "train rows and the 10% held out");
    // read-outs agree with each other
    assertEquals(r.predictions.length, M, "predictions");
    const hits = r.predictions.filter((p, i) => p === te.y[i]).length;
    assertClose([r.top1], [(100 * hits) / M], { atol: 1e-9, rtol: 0 }, "top-1 vs predictions");
    const diag = r.confusion.reduce((s, row, c) => s + row[c], 0);
    assertEquals(diag, hits, "confusion diagonal = correct predictions");
    assertEquals(r.confusion.flat().reduce((a, b) => a + b, 0), M, "confusion total");
    r.perClass.forEach((p, c) => {
      const n = r.confusion[c].reduce((a, b) => a + b, 0);
      assertClose([p], [(100 * r.confusion[c][c]) / n], { atol: 1e-9, rtol: 0 }, `class ${c}`);
    });
    // onEpoch: every epoch of both phases, losses per classifier, falling
    const sweep = seen.filter((e) => e.phase === "sweep");
    const fin = seen.filter((e) => e.phase === "final");
    assertEquals([sweep.length, fin.length], [epochs, epochs], "epochs reported");
    assertEquals(sweep.map((e) => e.epoch), Array.from({ length: epochs }, (_, i) => i), "order");
    assert(sweep.every((e) => e.loss.length === 3) && fin[0].loss.length === 1, "loss shapes");
    assertEquals(fin[0].lrs, [r.lr], "the final phase trains the chosen lr");
    assert(
      fin[epochs - 1].loss[0] < 0.5 * fin[0].loss[0],
      `loss ${fin[0].loss} -> ${fin[epochs - 1].loss}`,
    );
    console.log(
      `linear probe (N ${N}, D ${D}, ${C} classes, ${epochs} epochs, lrs ${lrs}, llvmpipe): ` +
        `top-1 ${r.top1} (ridge ${refTop1}), lr ${r.lr}, val ${
          r.sweep.map((s) => s.valTop1.toFixed(1))
        }; sweep ${r.seconds.sweep.toFixed(1)} s, final ${r.seconds.final.toFixed(1)} s, all ${
          (ms / 1000).toFixed(1)
        } s`,
    );
    trainFeatures.dispose();
    testFeatures.dispose();
  },
});

Deno.test({
  name: "linear probe: a diverging lr is flagged and never chosen; one lr skips the sweep",
  ...gpuTest,
  fn: async () => {
    const N = 200, M = 50, D = 8, C = 3;
    const tr = gaussians(N, D, C, 20, 6);
    const te = gaussians(M, D, C, 21, 6, tr.means);
    const trainFeatures = tensor(tr.x, [N, D]);
    const testFeatures = tensor(te.x, [M, D]);
    const base = {
      trainFeatures,
      trainLabels: tr.y,
      testFeatures,
      testLabels: te.y,
      numClasses: C,
      epochs: 3,
      batchSize: 64,
    };
    const r = await linearProbe({ ...base, lrs: [0.1, 1e38] });
    assertEquals(r.sweep.map((s) => s.diverged), [false, true], "diverged flags");
    assertEquals(r.sweep[1].valTop1, 0, "a diverged lr scores 0");
    assertEquals(r.lr, 0.1, "chosen lr");
    assertEquals(r.top5, undefined, "no top-5 below 5 classes");
    const one = await linearProbe({ ...base, lrs: [0.1] });
    assertEquals([one.sweep.length, one.valSize, one.lr], [0, 0, 0.1], "no sweep for one lr");
    assertEquals(one.top1, r.top1, "same lr, same seed: the same final classifier");
    await assertRejects(() => linearProbe({ ...base, lrs: [1e38] }), "diverged");
    trainFeatures.dispose();
    testFeatures.dispose();
  },
});

Deno.test({
  name: "linear probe: bad input is an error naming the argument",
  ...gpuTest,
  fn: async () => {
    const trainFeatures = tensor(new Float32Array(24), [6, 4]);
    const testFeatures = tensor(new Float32Array(8), [2, 4]);
    const wide = tensor(new Float32Array(10), [2, 5]);
    const labels = tensor(new Int32Array(6));
    const base = {
      trainFeatures,
      trainLabels: [0, 1, 0, 1, 0, 1],
      testFeatures,
      testLabels: [0, 1],
      numClasses: 2,
      epochs: 1,
    };
    await assertRejects(() => linearProbe({ ...base, trainLabels: [0, 1, 0] }), "3 entries");
    await assertRejects(() => linearProbe({ ...base, trainLabels: [0, 1, 2, 0, 1, 0] }), "[2] = 2");
    await assertRejects(() => linearProbe({ ...base, testFeatures: wide }), "feature dimension");
    await assertRejects(() => linearProbe({ ...base, trainFeatures: labels }), "2-D f32");
    await assertRejects(() => linearProbe({ ...base, lrs: [] }), "non-empty");
    await assertRejects(() => linearProbe({ ...base, lrs: [0.1, 0.1] }), "duplicates");
    await assertRejects(() => linearProbe({ ...base, lrs: [0.1, -1] }), "positive");
    await assertRejects(
      () => linearProbe({ ...base, lrs: [0.1, 1], valFraction: 0 }),
      "valFraction",
    );
    await assertRejects(() => linearProbe({ ...base, epochs: 0 }), "epochs");
    await assertRejects(() => linearProbe({ ...base, batchSize: 2.5 }), "batchSize");
    await assertRejects(() => linearProbe({ ...base, numClasses: 1 }), "numClasses");
    await assertRejects(
      // deno-lint-ignore no-explicit-any
      () => linearProbe({ ...base, optimizer: "lbfgs" as any }),
      "optimizer",
    );
    await assertRejects(
      // deno-lint-ignore no-explicit-any
      () => linearProbe({ ...base, normalize: "zscore" as any }),
      "normalize",
    );
    await assertRejects(
      () => trainLinearClassifiers(trainFeatures, [0, 1], [0.1], { numClasses: 2 }),
      "features have 6 rows",
    );
    [trainFeatures, testFeatures, wide, labels].forEach((t) => t.dispose());
  },
});
