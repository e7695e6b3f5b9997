/**
 * The linear probe: a linear classifier trained with cross-entropy on frozen features,
 * reporting top-1 (and top-5) on a held-out split, with a learning-rate sweep chosen on a
 * stratified split of the training set.
 *
 * Follows DINO's eval_linear.py: a `Linear(dim, classes)` with weights ~ N(0, 0.01^2)
 * and zero bias, SGD with momentum 0.9 and no weight decay, learning rate
 * `lr * batchSize / 256` (the linear scaling rule; `lrs` are given for batch 256), a
 * cosine schedule to 0 stepped once per epoch (`CosineAnnealingLR(epochs, eta_min=0)`),
 * 100 epochs, shuffled mini-batches keeping the last partial batch (PyTorch's
 * DataLoader), top-5 only for 5 or more classes.
 *
 * Changed from DINO, and why:
 * - features are frozen tensors extracted once, so there is no train-time augmentation
 *   (DINO crops and flips every epoch);
 * - DINO tunes its learning rate by hand and reports the best test accuracy over epochs;
 *   here each lr of `lrs` is trained on (1 - valFraction) of the training set, the best
 *   final top-1 on the held-out valFraction picks one (the first in `lrs` order on a tie),
 *   a classifier with that lr is retrained on the whole training set, and only its
 *   last-epoch accuracy on the test split is reported: the test split chooses nothing;
 * - `optimizer: "adamw"` swaps in AdamW (lib/optim/adamw.ts) with the same schedule;
 * - `normalize` may L2-normalise or standardise features first (DINO: neither). The
 *   standardisation statistics come from the whole training set (labels unused).
 *
 * Speed: the sweep trains all its classifiers at once. The L weight matrices (bias
 * folded in as a last column, features given a constant-1 column) are stacked into one
 * [L * C, D + 1] layer applied to the same mini-batch; the logits [B, L * C] are viewed
 * as [B * L, C] rows for one cross-entropy, and the per-classifier mean losses are
 * summed. Classifier l's gradient is then exactly its own loss's gradient (the others do
 * not depend on its weights), and each classifier's rows are updated with its own lr
 * (SGD: one stacked parameter with per-row learning rates, `SGD.setRowLr`; AdamW, whose
 * kernel takes one lr per tensor: one parameter per classifier, concatenated each
 * step), so this is the same arithmetic as L separate runs on the same batches (the
 * test checks each against a float64 run of DINO's loop). Folding the bias changes
 * nothing either: torch's SGD and AdamW apply the same rule, weight decay included, to a
 * bias as to a weight when both are in one group, as in DINO's optimiser. With fewer
 * than 16 stacked rows, constant zero classifiers pad the layer (see `paddedCount`).
 *
 * Measured on llvmpipe (2 cores shared with other jobs): N 6000, D 192, 10 classes, 100
 * epochs, batch 256, the 7 default lrs: the sweep 25-46 s, the final training 17-28 s
 * (about 10 and 7 ms a step; the small matmuls dominate).
 *
 * Work per step is inside `tidy`, so GPU memory stays flat; the only readbacks are the
 * evaluation logits and, with `onEpoch`, one loss vector per epoch.
 */
import { ones, Tensor, tensor, zeros } from "../tensor/tensor.ts";
import { keep, tidy } from "../tensor/scope.ts";
import { noGrad } from "../tensor/tape.ts";
import { Generator } from "../tensor/rng.ts";
import { indexSelect } from "../tensor/ops/index.ts";
import { matmul } from "../tensor/ops/matmul.ts";
import { concat } from "../tensor/ops/shape.ts";
import { l2normalize } from "../tensor/ops/norm.ts";
import { crossEntropy } from "../tensor/ops/loss.ts";
import { AdamW, type ParamGroup } from "../optim/adamw.ts";
import { SGD } from "../optim/sgd.ts";
import { checkFeatures, checkLabels, type Labels, stratifiedSplit } from "./splits.ts";
import { argmaxRows, confusionMatrix, perClassAccuracy, topkAccuracy } from "./confusion.ts";

/**
 * The default learning-rate sweep (for batch 256): a log grid from 1e-3 to 1, wide
 * enough for raw ViT features (DINO's default is 1e-3) and for L2-normalised ones.
 *
 * @example
 * ```ts
 * linearProbe({ ...data, lrs: DEFAULT_PROBE_LRS.slice(2) });
 * ```
 */
export const DEFAULT_PROBE_LRS: readonly number[] = Object.freeze([
  0.001,
  0.003,
  0.01,
  0.03,
  0.1,
  0.3,
  1,
]);

/** Feature preprocessing of the linear probe. */
export type ProbeNormalize = "none" | "l2" | "standardize";

/** One epoch's report to `onEpoch`. */
export interface ProbeEpoch {
  /** "sweep": classifiers on the train part of the split; "final": the retrained one. */
  phase: "sweep" | "final";
  /** 0-based. */
  epoch: number;
  epochs: number;
  /** Base learning rates of the classifiers trained in this phase. */
  lrs: number[];
  /** Mean training loss over the epoch's batches, one per classifier. */
  loss: number[];
}

/** Options of the classifier training shared by `linearProbe` and `trainLinearClassifiers`. */
export interface LinearTrainOptions {
  numClasses: number;
  /** Epochs [100]. */
  epochs?: number;
  /** Mini-batch size [256]. */
  batchSize?: number;
  /** "sgd" (momentum 0.9, DINO) or "adamw" ["sgd"]. */
  optimizer?: "sgd" | "adamw";
  /** SGD momentum [0.9]. */
  momentum?: number;
  /** Weight decay (on weights and biases, as DINO's optimiser) [0]. */
  weightDecay?: number;
  /** Seed of the weight init and the shuffles [0]. */
  seed?: number;
  /** "none" (DINO), "l2" or "standardize" ["none"]. */
  normalize?: ProbeNormalize;
  /** Called after every epoch with the mean losses (costs one readback per epoch). */
  onEpoch?: (e: ProbeEpoch) => void | Promise<void>;
}

/** Options of `linearProbe`. */
export interface LinearProbeOptions extends LinearTrainOptions {
  /** Frozen train features [N, D] (f32 tensor). */
  trainFeatures: Tensor;
  trainLabels: Labels;
  /** Held-out features [M, D]. */
  testFeatures: Tensor;
  testLabels: Labels;
  /** Base learning rates to sweep (for batch 256) [DEFAULT_PROBE_LRS]. */
  lrs?: readonly number[];
  /** Fraction of the training set held out to choose the lr [0.1]. */
  valFraction?: number;
}

/** One swept learning rate. */
export interface SweepEntry {
  lr: number;
  /** Top-1 in percent on the held-out part of the training set (0 if it diverged). */
  valTop1: number;
  /** The logits became non-finite. */
  diverged: boolean;
}

/** What `linearProbe` reports (accuracies in percent). */
export interface LinearProbeResult {
  top1: number;
  /** Present when numClasses >= 5. */
  top5?: number;
  /** The chosen base learning rate (for batch 256). */
  lr: number;
  /** Every swept lr with its validation top-1 (empty when `lrs` has one entry). */
  sweep: SweepEntry[];
  /** Per-class accuracy on the test split (NaN for a class absent there). */
  perClass: number[];
  /** Confusion matrix on the test split, rows = true class. */
  confusion: number[][];
  /** Predicted class of every test row. */
  predictions: Int32Array;
  trainSize: number;
  valSize: number;
  /** Wall-clock seconds of the sweep and of the final training. */
  seconds: { sweep: number; final: number };
}

interface Cfg {
  C: number;
  epochs: number;
  batchSize: number;
  optimizer: "sgd" | "adamw";
  momentum: number;
  weightDecay: number;
  seed: number;
  normalize: ProbeNormalize;
  onEpoch?: (e: ProbeEpoch) => void | Promise<void>;
}

function config(op: string, o: LinearTrainOptions): Cfg {
  const int = (what: string, v: number, min: number) => {
    if (!Number.isInteger(v) || v < min) {
      throw new Error(`${op}: ${what} must be an integer >= ${min}, got ${v}`);
    }
  };
  const cfg: Cfg = {
    C: o.numClasses,
    epochs: o.epochs ?? 100,
    batchSize: o.batchSize ?? 256,
    optimizer: o.optimizer ?? "sgd",
    momentum: o.momentum ?? 0.9,
    weightDecay: o.weightDecay ?? 0,
    seed: o.seed ?? 0,
    normalize: o.normalize ?? "none",
    onEpoch: o.onEpoch,
  };
  int("numClasses", cfg.C, 2);
  int("epochs", cfg.epochs, 1);
  int("batchSize", cfg.batchSize, 1);
  if (!Number.isInteger(cfg.seed)) {
    throw new Error(`${op}: seed must be an integer, got ${cfg.seed}`);
  }
  if (cfg.optimizer !== "sgd" && cfg.optimizer !== "adamw") {
    throw new Error(`${op}: optimizer must be "sgd" or "adamw", got ${cfg.optimizer}`);
  }
  if (!["none", "l2", "standardize"].includes(cfg.normalize)) {
    throw new Error(`${op}: normalize must be "none", "l2" or "standardize", got ${cfg.normalize}`);
  }
  if (!(cfg.momentum >= 0 && cfg.momentum < 1)) {
    throw new Error(`${op}: momentum must be in [0, 1), got ${cfg.momentum}`);
  }
  if (!(cfg.weightDecay >= 0 && Number.isFinite(cfg.weightDecay))) {
    throw new Error(`${op}: weightDecay must be a finite number >= 0, got ${cfg.weightDecay}`);
  }
  return cfg;
}

function checkLrs(op: string, lrs: readonly number[]): number[] {
  if (!Array.isArray(lrs) || lrs.length === 0) {
    throw new Error(`${op}: lrs must be a non-empty list of learning rates`);
  }
  for (const lr of lrs) {
    if (typeof lr !== "number" || !(lr > 0) || !Number.isFinite(lr)) {
      throw new Error(`${op}: every lr must be a positive finite number, got ${lr}`);
    }
  }
  if (new Set(lrs).size !== lrs.length) throw new Error(`${op}: lrs has duplicates [${lrs}]`);
  return [...lrs];
}

/**
 * Preprocess features and append a constant-1 column (the folded bias): [N, D + 1].
 * `stats`: mean and std [D] for "standardize".
 */
function prepare(x: Tensor, mode: ProbeNormalize, stats: [Tensor, Tensor] | null): Tensor {
  return noGrad(() =>
    tidy(() => {
      let y = x;
      if (mode === "l2") y = l2normalize(x);
      else if (mode === "standardize") y = x.sub(stats![0]).div(stats![1]);
      return concat([y, ones([x.shape[0], 1])], 1);
    })
  );
}

/** Mean and population std over the rows (std 0 -> 1, as scikit-learn's StandardScaler). */
async function standardStats(x: Tensor): Promise<[Tensor, Tensor]> {
  const [m, v] = noGrad(() => [x.mean(0), x.var(0, false, 0)]);
  const mean = await m.toArray();
  const vr = await v.toArray();
  m.dispose();
  v.dispose();
  const sd = Float32Array.from(vr, (q) => (q > 0 ? Math.sqrt(q) : 1));
  return [tensor(mean as Float32Array), tensor(sd)];
}

/** Classifiers stacked in one weight: [Lp * C, D + 1], the first L of them real. */
interface Stacked {
  w: Tensor;
  L: number;
  Lp: number;
}

/**
 * Classifiers appended as constant zeros so that the stacked weight has at least 16
 * rows: the software adapter's matmul takes its fast packed path only from 16 output
 * columns on (measured on llvmpipe: [256, 193] x [193, 10] 13.8 ms, x [193, 20] 3.6 ms).
 * They never change, and their logits are ignored.
 */
function paddedCount(L: number, C: number): number {
  return Math.max(L, Math.ceil(16 / C));
}

/**
 * Train one linear classifier per lr, all at once (see the module header), on prepared
 * features x [N, D + 1]. SGD: one stacked weight parameter whose rows carry their
 * classifier's lr (`SGD.setRowLr`; padding rows lr 0). AdamW (one lr per tensor): one
 * parameter per classifier, concatenated every step. Returns the stacked weight (kept).
 */
async function train(
  x: Tensor,
  y: Int32Array,
  lrs: number[],
  cfg: Cfg,
  phase: "sweep" | "final",
): Promise<Stacked> {
  const [N, D1] = x.shape;
  const { C, epochs, batchSize: B } = cfg;
  const L = lrs.length;
  const Lp = paddedCount(L, C);
  const scale = lrs.map((lr) => (lr * B) / 256); // DINO's linear scaling rule
  // DINO's init: weight ~ N(0, 0.01^2), bias 0; the same draw for every lr
  const g0 = new Generator(cfg.seed);
  const w0 = new Float32Array(C * D1);
  for (let c = 0; c < C; c++) for (let d = 0; d < D1 - 1; d++) w0[c * D1 + d] = 0.01 * g0.normal();
  const sgd = cfg.optimizer === "sgd";
  let params: Tensor[];
  let consts: Tensor[] = [];
  let opt: SGD | AdamW;
  if (sgd) {
    const stacked = new Float32Array(Lp * C * D1);
    for (let l = 0; l < L; l++) stacked.set(w0, l * C * D1);
    params = [keep(tensor(stacked, [Lp * C, D1], { requiresGrad: true }))];
    const s = new SGD(params, { lr: 1, momentum: cfg.momentum, weightDecay: cfg.weightDecay });
    s.setRowLr(params[0], Array.from({ length: Lp * C }, (_, r) => scale[Math.floor(r / C)] ?? 0));
    opt = s;
  } else {
    params = lrs.map(() => keep(tensor(w0, [C, D1], { requiresGrad: true })));
    consts = Array.from({ length: Lp - L }, () => keep(zeros([C, D1])));
    const groups: ParamGroup[] = params.map((w, l) => ({
      name: `lr_${lrs[l]}`,
      params: [w],
      names: [`linear_${l}.weight_and_bias`],
      decay: true,
      lrScale: scale[l],
    }));
    opt = new AdamW(groups, { lr: 1, weightDecay: cfg.weightDecay });
  }
  const stack =
    () => (params.length === 1 && !consts.length ? params[0] : concat([...params, ...consts], 0));
  const shuffle = new Generator(cfg.seed + 1);
  const steps = Math.ceil(N / B);
  try {
    for (let epoch = 0; epoch < epochs; epoch++) {
      opt.lr = 0.5 * (1 + Math.cos((Math.PI * epoch) / epochs)); // CosineAnnealingLR, eta_min 0
      const perm = shuffle.permutation(N);
      const yRep = new Int32Array(N * Lp);
      for (let i = 0; i < N; i++) yRep.fill(y[perm[i]], i * Lp, (i + 1) * Lp);
      const permT = tensor(perm, [N]);
      const xs = noGrad(() => indexSelect(x, permT));
      permT.dispose();
      const ys = tensor(yRep, [N * Lp]);
      let acc: Tensor | null = cfg.onEpoch ? keep(zeros([Lp])) : null;
      let sums: Float32Array | null = null;
      try {
        for (let s = 0; s < steps; s++) {
          const a = s * B;
          const b = Math.min(N, a + B);
          acc = tidy(() => {
            const xb = b - a === N ? xs : xs.slice(0, a, b);
            const yb = b - a === N ? ys : ys.slice(0, a * Lp, b * Lp);
            const logits = matmul(xb, stack(), { transB: true }); // [b - a, Lp * C]
            const ce = crossEntropy(logits.reshape([(b - a) * Lp, C]), yb, { reduction: "none" });
            const perClf = ce.reshape([b - a, Lp]).mean(0); // [Lp]: each classifier's mean loss
            perClf.sum().backward();
            opt.step();
            opt.zeroGrad();
            if (!acc) return null;
            const next = noGrad(() => acc!.add(perClf));
            acc!.dispose();
            return next;
          });
        }
        if (acc) sums = await acc.toArray() as Float32Array;
      } finally {
        xs.dispose();
        ys.dispose();
        acc?.dispose();
      }
      if (sums && cfg.onEpoch) {
        await cfg.onEpoch({
          phase,
          epoch,
          epochs,
          lrs: [...lrs],
          loss: Array.from(sums.subarray(0, L), (v) => v / steps),
        });
      }
    }
    const w = sgd ? params[0] : keep(noGrad(() => concat([...params, ...consts], 0)));
    return { w, L, Lp };
  } catch (e) {
    params.forEach((t) => t.dispose());
    throw e;
  } finally {
    consts.forEach((t) => t.dispose());
    if (!sgd) params.forEach((t) => t.dispose());
    opt.dispose();
  }
}

/** Logits of prepared rows x [M, D + 1] for each real classifier: host [M, C] each. */
async function logitsOf(x: Tensor, st: Stacked, C: number): Promise<Float32Array[]> {
  const [M] = x.shape;
  const { L, Lp } = st;
  const out = Array.from({ length: L }, () => new Float32Array(M * C));
  const rows = 16384;
  for (let s = 0; s < M; s += rows) {
    const e = Math.min(M, s + rows);
    const t = noGrad(() =>
      tidy(() => matmul(e - s === M ? x : x.slice(0, s, e), st.w, { transB: true }))
    ); // [rows, Lp * C]
    const v = await t.toArray() as Float32Array;
    t.dispose();
    for (let r = 0; r < e - s; r++) {
      for (let l = 0; l < L; l++) {
        out[l].set(v.subarray((r * Lp + l) * C, (r * Lp + l + 1) * C), (s + r) * C);
      }
    }
  }
  return out;
}

function finite(a: Float32Array): boolean {
  for (let i = 0; i < a.length; i++) if (!Number.isFinite(a[i])) return false;
  return true;
}

/**
 * Train linear classifiers on frozen features, one per base lr, in one pass (see the
 * module header), and return their weights [numClasses, D] and biases on the host.
 *
 * @example
 * ```ts
 * const [clf] = await trainLinearClassifiers(feats, labels, [0.1], { numClasses: 10, epochs: 20 });
 * clf.weight.length; // 10 * D
 * ```
 */
export async function trainLinearClassifiers(
  features: Tensor,
  labels: Labels,
  lrs: readonly number[],
  opts: LinearTrainOptions,
): Promise<{ lr: number; weight: Float32Array; bias: Float32Array }[]> {
  const op = "trainLinearClassifiers";
  const cfg = config(op, opts);
  const f = checkFeatures(op, "features", features);
  const y = checkLabels(op, "labels", labels, cfg.C, f.shape[0]);
  const lr = checkLrs(op, lrs);
  const stats = cfg.normalize === "standardize" ? await standardStats(f) : null;
  const x = prepare(f, cfg.normalize, stats);
  stats?.forEach((t) => t.dispose());
  let st: Stacked | null = null;
  try {
    st = await train(x, y, lr, cfg, "final");
    const D1 = x.shape[1];
    const w = await st.w.toArray() as Float32Array;
    return lr.map((l, k) => {
      const weight = new Float32Array(cfg.C * (D1 - 1));
      const bias = new Float32Array(cfg.C);
      for (let c = 0; c < cfg.C; c++) {
        const row = (k * cfg.C + c) * D1;
        weight.set(w.subarray(row, row + D1 - 1), c * (D1 - 1));
        bias[c] = w[row + D1 - 1];
      }
      return { lr: l, weight, bias };
    });
  } finally {
    x.dispose();
    st?.w.dispose();
  }
}

/**
 * The linear probe (see the module header): sweep `lrs` on a stratified split of the
 * training set, retrain with the best on all of it, report test top-1/top-5, per-class
 * accuracy and the confusion matrix.
 *
 * @example
 * ```ts
 * const r = await linearProbe({ trainFeatures, trainLabels, testFeatures, testLabels, numClasses: 10 });
 * console.log(r.top1, r.lr, r.sweep);
 * ```
 */
export async function linearProbe(o: LinearProbeOptions): Promise<LinearProbeResult> {
  const op = "linearProbe";
  const cfg = config(op, o);
  const tr = checkFeatures(op, "trainFeatures", o.trainFeatures);
  const te = checkFeatures(op, "testFeatures", o.testFeatures);
  if (tr.shape[1] !== te.shape[1]) {
    throw new Error(
      `${op}: trainFeatures [${tr.shape}] and testFeatures [${te.shape}] differ in feature dimension`,
    );
  }
  const yTrain = checkLabels(op, "trainLabels", o.trainLabels, cfg.C, tr.shape[0]);
  const yTest = checkLabels(op, "testLabels", o.testLabels, cfg.C, te.shape[0]);
  const lrs = checkLrs(op, o.lrs ?? DEFAULT_PROBE_LRS);
  const valFraction = o.valFraction ?? 0.1;
  if (lrs.length > 1 && !(valFraction > 0 && valFraction < 1)) {
    throw new Error(`${op}: valFraction must be in (0, 1) to sweep lrs, got ${valFraction}`);
  }
  const { C } = cfg;
  const owned: Tensor[] = [];
  try {
    const stats = cfg.normalize === "standardize" ? await standardStats(tr) : null;
    const x = prepare(tr, cfg.normalize, stats);
    owned.push(x);
    const xTest = prepare(te, cfg.normalize, stats);
    owned.push(xTest);
    stats?.forEach((t) => t.dispose());

    const sweep: SweepEntry[] = [];
    let lr = lrs[0];
    let valSize = 0;
    const t0 = performance.now();
    if (lrs.length > 1) {
      const split = stratifiedSplit(yTrain, valFraction, cfg.seed, C);
      valSize = split.val.length;
      const xFit = noGrad(() => indexSelect(x, Array.from(split.train)));
      owned.push(xFit);
      const xVal = noGrad(() => indexSelect(x, Array.from(split.val)));
      owned.push(xVal);
      const yFit = split.train.map((i) => yTrain[i]);
      const yVal = split.val.map((i) => yTrain[i]);
      const st = await train(xFit, yFit, lrs, cfg, "sweep");
      owned.push(st.w);
      const logits = await logitsOf(xVal, st, C);
      let best = -1;
      lrs.forEach((l, k) => {
        const diverged = !finite(logits[k]);
        const valTop1 = diverged ? 0 : topkAccuracy(logits[k], yVal, C, 1);
        sweep.push({ lr: l, valTop1, diverged });
        if (!diverged && (best < 0 || valTop1 > sweep[best].valTop1)) best = k;
      });
      if (best < 0) {
        throw new Error(
          `${op}: every learning rate of the sweep diverged [${lrs}]; try smaller lrs`,
        );
      }
      lr = lrs[best];
    }
    const t1 = performance.now();
    const st = await train(x, yTrain, [lr], cfg, "final");
    owned.push(st.w);
    const [logits] = await logitsOf(xTest, st, C);
    const t2 = performance.now();
    if (!finite(logits)) {
      throw new Error(
        `${op}: the classifier trained with lr ${lr} diverged (non-finite logits); try smaller lrs`,
      );
    }
    const predictions = argmaxRows(logits, C);
    const confusion = confusionMatrix(predictions, yTest, C);
    return {
      top1: topkAccuracy(logits, yTest, C, 1),
      top5: C >= 5 ? topkAccuracy(logits, yTest, C, 5) : undefined,
      lr,
      sweep,
      perClass: perClassAccuracy(confusion),
      confusion,
      predictions,
      trainSize: yTrain.length,
      valSize,
      seconds: { sweep: (t1 - t0) / 1000, final: (t2 - t1) / 1000 },
    };
  } finally {
    owned.forEach((t) => t.dispose());
  }
}
