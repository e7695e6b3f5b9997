import { embedded, EMBEDDED_PER_CLASS, embeddedFiles } from "../../lib/data/embedded.ts";
import { balancedSubset, classCounts } from "../../lib/data/dataset.ts";
import { FASHION_MNIST_CLASSES, FASHION_MNIST_DIRS, fashionMnist } from "../../lib/data/idx.ts";
import { assert, assertEquals, serveRepo } from "../helpers.ts";

Deno.test("embedded: both splits load, balanced, with the documented counts and size", async () => {
  let bytes = 0;
  for (const [split, per] of [["train", 600], ["test", 100]] as const) {
    assertEquals(EMBEDDED_PER_CLASS[split], per);
    const ds = await embedded(split);
    assertEquals([ds.n, ds.channels, ds.height, ds.width], [10 * per, 1, 28, 28], split);
    assertEquals(ds.classes, [...FASHION_MNIST_CLASSES]);
    assertEquals(classCounts(ds), { counts: new Array(10).fill(per), unlabeled: 0 }, split);
    let max = 0;
    for (const v of ds.images) max = Math.max(max, v);
    assertEquals(max, 255, `${split} pixel range`);
    for (const u of embeddedFiles(split)) bytes += (await Deno.stat(u)).size;
  }
  assert(bytes < 8 * 1024 * 1024, `embedded data is ${bytes} bytes (limit 8 MiB)`);
  // the README states the counts and the rule
  const readme = await Deno.readTextFile(new URL("../../data/README.md", import.meta.url));
  for (const s of ["first k images of each class, in file order", "k = 600", "k = 100", "MIT"]) {
    assert(readme.includes(s), `data/README.md does not say "${s}"`);
  }
});

let installed = true;
try {
  await Deno.stat(`${FASHION_MNIST_DIRS[0]}/train-images-idx3-ubyte.gz`);
} catch {
  installed = false;
  console.warn(
    "SKIP embedded: the official files are not installed, so the selection rule is not " +
      "checked against them (apt-get install -y dataset-fashion-mnist)",
  );
}

Deno.test({
  name: "embedded: equals the first k per class of the official files",
  ignore: !installed,
  fn: async () => {
    for (const split of ["train", "test"] as const) {
      const want = balancedSubset(await fashionMnist(split), EMBEDDED_PER_CLASS[split]);
      const got = await embedded(split);
      assertEquals(Array.from(got.labels), Array.from(want.labels), `${split} labels`);
      assert(got.images.every((v, i) => v === want.images[i]), `${split} images differ`);
    }
  },
});

Deno.test({
  name: "embedded: loads when the module is imported over http (fetch)",
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const server = serveRepo();
    try {
      const url = `${server.origin}/lib/data/embedded.ts`;
      const script = `
        const { embedded } = await import(${JSON.stringify(url)});
        const ds = await embedded("test");
        console.log(JSON.stringify([ds.n, ds.labels[0], ds.images.length]));
      `;
      const out = await new Deno.Command(Deno.execPath(), {
        args: ["eval", "--no-config", "--no-lock", "--allow-net=127.0.0.1", "--allow-read", script],
        stdout: "piped",
        stderr: "piped",
        env: { NO_COLOR: "1" },
      }).output();
      const err = new TextDecoder().decode(out.stderr);
      assert(out.success, `subprocess failed: ${err}`);
      const local = await embedded("test");
      assertEquals(
        JSON.parse(new TextDecoder().decode(out.stdout).trim()),
        [local.n, local.labels[0], local.images.length],
      );
      assert(
        server.served.some((p) => p.endsWith("t10k-images-idx3-ubyte.gz")),
        "gz not served by http",
      );
    } finally {
      await server.close();
    }
  },
});
