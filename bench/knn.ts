/**
 * k-NN benchmark (issue 6): DINO's weighted k-NN over 60 000 train x 10 000 test features of
 * dimension 192 (the size of full Fashion-MNIST / CIFAR with a ViT-Tiny), ks 10/20/100/200 in
 * one pass, seeded random features and labels. One full classification, timed end to end
 * (normalisation, similarity chunks, exact top-200, votes, readback).
 */
import { knnClassify } from "../lib/eval/knn.ts";
import { randn } from "../lib/tensor/tensor.ts";
import { Generator } from "../lib/tensor/rng.ts";
import { r3, report } from "./harness.ts";

/** Run the k-NN benchmark. */
export async function benchKnn(n = 60000, m = 10000, d = 192): Promise<void> {
  const g = new Generator(7);
  const labels = (k: number) => Int32Array.from({ length: k }, () => Math.floor(g.range(0, 10)));
  const train = randn([n, d], { seed: 1 });
  const test = randn([m, d], { seed: 2 });
  const trainLabels = labels(n);
  const testLabels = labels(m);
  const t0 = performance.now();
  const r = await knnClassify({
    trainFeatures: train,
    trainLabels,
    testFeatures: test,
    testLabels,
    ks: [10, 20, 100, 200],
  });
  const s = (performance.now() - t0) / 1000;
  train.dispose();
  test.dispose();
  report({
    name: `knn ${n}x${m} features of dim ${d}, k 10/20/100/200`,
    seconds: r3(s),
    test_rows_per_s: r3(m / s),
    gflops_similarity: r3((2 * n * m * d) / s / 1e9),
    top1_k20_random: r3(r[1].top1),
  });
}
