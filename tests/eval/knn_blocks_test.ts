/**
 * Large banks: the k-NN over a bank read in blocks (`HostRows`, or `trainBlock`) gives the same
 * neighbours and accuracies as one pass; a matrix kept in host memory says so when an op needs
 * its buffer; a tensor past the device's binding limit is refused before allocating, naming
 * the limit and the way around it.
 */
import { assertClose, assertEquals, assertThrows, gpuTest, randArray, setup } from "../helpers.ts";
import { knnClassify, knnNeighbors } from "../../lib/eval/knn.ts";
import { rawPixelFeatures } from "../../lib/eval/features.ts";
import { HostRows, hostRowsThreshold } from "../../lib/tensor/host_rows.ts";
import { Tensor, tensor } from "../../lib/tensor/tensor.ts";
import { runtime } from "../../lib/gpu/device.ts";

await setup();

Deno.test({
  name: "knn blocks: a bank read in blocks gives the same neighbours and accuracy as one pass",
  ...gpuTest,
  fn: async () => {
    const [N, M, D] = [300, 50, 40];
    const tr = Float32Array.from(randArray(N * D, 1));
    // a few exact duplicates: equal similarities must keep the lower train index first
    tr.copyWithin(7 * D, 3 * D, 4 * D);
    tr.copyWithin(250 * D, 3 * D, 4 * D);
    const te = Float32Array.from(randArray(M * D, 2));
    te.set(tr.subarray(3 * D, 4 * D), 0);
    const trainLabels = Int32Array.from({ length: N }, (_, i) => (i * 7) % 5);
    const testLabels = Int32Array.from({ length: M }, (_, i) => i % 5);
    const train = tensor(tr, [N, D]);
    const test = tensor(te, [M, D]);
    const one = await knnNeighbors(train, test, 20);
    for (const trainBlock of [64, 100, 299]) {
      const b = await knnNeighbors(train, test, 20, { trainBlock, chunk: 17 });
      assertEquals(
        Array.from(b.indices),
        Array.from(one.indices),
        `indices, blocks of ${trainBlock}`,
      );
      assertClose(b.similarities, one.similarities, { atol: 1e-6, rtol: 1e-6 }, "similarities");
    }
    assertEquals(Array.from(one.indices.subarray(0, 3)), [3, 7, 250], "ties by lower index");
    const host = [HostRows.fromFloat32(tr, N, D, "train"), HostRows.fromFloat32(te, M, D, "test")];
    const args = { trainLabels, testLabels, ks: [1, 10, 20] };
    const want = await knnClassify({ trainFeatures: train, testFeatures: test, ...args });
    const got = await knnClassify({ trainFeatures: host[0], testFeatures: host[1], ...args });
    assertEquals(got, want, "knnClassify on host rows");
    const mixed = await knnClassify({
      trainFeatures: host[0],
      testFeatures: test,
      trainBlock: 37,
      ...args,
    });
    assertEquals(mixed, want, "host train rows, GPU test rows, blocks of 37");
    assertEquals(Array.from(await host[0].toArray()), Array.from(tr), "toArray");
    const rows = host[0].slice(0, 10, 20);
    assertEquals(Array.from(await rows.toArray()), Array.from(tr.subarray(10 * D, 20 * D)));
    for (const t of [train, test, rows, ...host]) t.dispose();
  },
});

Deno.test({
  name: "knn blocks: raw pixels past the threshold stay on the host; ops on them say why",
  ...gpuTest,
  fn: () => {
    const per = 784;
    const n = Math.floor(hostRowsThreshold() / (4 * per)) + 1;
    const ds = {
      images: new Uint8Array(n * per),
      labels: new Int32Array(n),
      n,
      channels: 1,
      height: 28,
      width: 28,
      classes: ["a"],
    };
    const raw = rawPixelFeatures(ds);
    assertEquals(raw instanceof HostRows, true, "host rows");
    assertEquals([...raw.shape], [n, per]);
    const e = assertThrows(() => raw.l2normalize(), `raw pixels of ${n} images [${n},784]`);
    assertEquals(e.message.includes("maxStorageBufferBindingSize"), true, e.message);
    assertEquals(e.message.includes(".rows(start, end)"), true, e.message);
    raw.dispose();
    const small = rawPixelFeatures({
      ...ds,
      n: 4,
      images: ds.images.subarray(0, 4 * per),
      labels: new Int32Array(4),
    });
    assertEquals(small instanceof HostRows, false, "a small matrix is an ordinary tensor");
    small.dispose();
  },
});

Deno.test({
  name: "knn blocks: a tensor past maxStorageBufferBindingSize is refused before allocating",
  ...gpuTest,
  fn: () => {
    const max = runtime().device.limits.maxStorageBufferBindingSize;
    const rows = Math.floor(max / 4 / 1024) + 1;
    const e = assertThrows(() => Tensor.empty([rows, 1024]), `tensor [${rows},1024] needs`);
    assertEquals(e.message.includes(`maxStorageBufferBindingSize (${max} bytes`), true, e.message);
    assertEquals(e.message.includes("smaller batch"), true, e.message);
  },
});
