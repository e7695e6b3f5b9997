/**
 * The read-outs a training run logs: weighted k-NN top-1 of a network's class token on the
 * held-out split against one or more banks of training images (prefixes of the training set,
 * so one feature pass serves them all), next to its collapse signals; and the raw-pixel k-NN
 * baseline, measured the same way.
 */
import type { Dataset } from "../data/dataset.ts";
import { subset } from "../data/dataset.ts";
import { extractFeatures, rawPixelFeatures } from "../eval/features.ts";
import { knnClassify } from "../eval/knn.ts";
import { noGrad } from "../tensor/tape.ts";
import type { Tensor } from "../tensor/tensor.ts";
import type { MugsNet } from "./model.ts";
import { type HealthSignals, healthSignals } from "./health.ts";

/** Held-out rows that the collapse signals are computed on. */
const HEALTH_ROWS = 512;

/**
 * How to read a network out.
 *
 * @example
 * ```ts
 * const o: ReadOutOptions = { banks: [2000, 6000], mean: [0.286], std: [0.353], k: 20, temperature: 0.07 };
 * ```
 */
export interface ReadOutOptions {
  /** Bank sizes: the first `n` training images each (one feature pass, the largest). */
  banks: number[];
  mean: number[];
  std: number[];
  /** k-NN neighbours and vote temperature. */
  k: number;
  temperature: number;
  /** The teacher's centre and temperature: the prototype entropies are then the teacher's. */
  center?: Tensor;
  teacherTemperature?: number;
}

/**
 * A network's read-out: k-NN top-1 (%) per bank size, and its collapse signals.
 *
 * @example
 * ```ts
 * const r: ReadOut = await evaluateNet(teacher, train, test, opts);
 * r.top1.get(2000);
 * ```
 */
export interface ReadOut {
  top1: Map<number, number>;
  health: HealthSignals;
}

async function knnTop1(
  train: Tensor,
  labels: Int32Array,
  test: Tensor,
  testLabels: Int32Array,
  k: number,
  temperature: number,
): Promise<number> {
  const r = await knnClassify({
    trainFeatures: train,
    trainLabels: labels,
    testFeatures: test,
    testLabels,
    ks: [k],
    temperature,
  });
  return r[0].top1;
}

/**
 * Read out `net` (its backbone's class token, in eval mode): weighted k-NN on `heldOut` with
 * each bank of `opts.banks`, and the health signals on the first 512 held-out images (with
 * the group head's prototype distribution; the teacher's centred, sharpened one when
 * `opts.center` and `opts.teacherTemperature` are given).
 *
 * @example
 * ```ts
 * const { top1, health } = await evaluateNet(net, train, test, { banks: [train.n], mean, std, k: 20, temperature: 0.07 });
 * ```
 */
export async function evaluateNet(
  net: MugsNet,
  data: Dataset,
  heldOut: Dataset,
  opts: ReadOutOptions,
): Promise<ReadOut> {
  const feat = { mean: opts.mean, std: opts.std };
  const testFeats = await extractFeatures(net.backbone, heldOut, feat);
  const probe = testFeats.slice(0, 0, Math.min(heldOut.n, HEALTH_ROWS));
  const logits = noGrad(() => net.groupHead.forward(probe));
  const feats = noGrad(() => probe.l2normalize());
  const health = await healthSignals({
    teacherLogits: logits,
    teacherCenter: opts.center,
    teacherTemperature: opts.teacherTemperature,
    features: feats,
  });
  for (const t of [probe, logits, feats]) t.dispose();
  const n = Math.min(Math.max(...opts.banks), data.n);
  const bank = await extractFeatures(
    net.backbone,
    n < data.n ? subset(data, Array.from({ length: n }, (_, i) => i)) : data,
    feat,
  );
  const top1 = new Map<number, number>();
  for (const b of opts.banks) {
    const m = Math.min(b, n);
    const rows = m < n ? bank.slice(0, 0, m) : bank;
    top1.set(
      b,
      await knnTop1(
        rows,
        data.labels.subarray(0, m),
        testFeats,
        heldOut.labels,
        opts.k,
        opts.temperature,
      ),
    );
    if (rows !== bank) rows.dispose();
  }
  for (const t of [bank, testFeats]) t.dispose();
  return { top1, health };
}

/**
 * The raw-pixel baseline: weighted k-NN of the flattened pixels, all training images as bank.
 *
 * @example
 * ```ts
 * const top1 = await rawPixelKnn(train, test, 20, 0.07);
 * ```
 */
export async function rawPixelKnn(
  data: Dataset,
  heldOut: Dataset,
  k: number,
  temperature: number,
): Promise<number> {
  const raw = [rawPixelFeatures(data), rawPixelFeatures(heldOut)];
  try {
    return await knnTop1(raw[0], data.labels, raw[1], heldOut.labels, k, temperature);
  } finally {
    for (const t of raw) t.dispose();
  }
}

/**
 * The student's read-out as epoch-record fields: `knn_top1_student` and its feature signals
 * prefixed `student_` (`student_effectiveRank`, `student_featureStd`, …).
 *
 * @example
 * ```ts
 * log.epoch({ epoch, knn_top1, ...studentFields(top1, health) });
 * ```
 */
export function studentFields(top1: number, health: HealthSignals): Record<string, number> {
  const out: Record<string, number> = { knn_top1_student: top1 };
  for (const [k, v] of Object.entries(health)) {
    if (typeof v === "number" && !k.startsWith("teacher") && !k.startsWith("batch")) {
      out[`student_${k}`] = v;
    }
  }
  return out;
}
