import { gzipSync } from "node:zlib";
import {
  encodeIdx,
  FASHION_MNIST_CLASSES,
  FASHION_MNIST_DIRS,
  fashionMnist,
  type IdxData,
  loadIdxPair,
  mnist,
  parseIdx,
  readIdx,
  writeIdx,
} from "../../lib/data/idx.ts";
import { classCounts } from "../../lib/data/dataset.ts";
import { Generator } from "../../lib/tensor/rng.ts";
import { assert, assertEquals, assertRejects, assertThrows } from "../helpers.ts";
import { put, tempDir } from "./fixtures.ts";

function bytesOf(n: number, seed: number): Uint8Array {
  const g = new Generator(seed);
  return Uint8Array.from({ length: n }, () => g.int(256));
}

Deno.test("idx: round trip of every dtype through raw and gzipped files", async () => {
  await using dir = await tempDir();
  const cases: [string, IdxData, number[]][] = [
    ["u8", bytesOf(2 * 3 * 5, 1), [2, 3, 5]],
    ["i8", Int8Array.of(-128, -1, 0, 1, 127), [5]],
    ["i16", Int16Array.of(-32768, -2, 0, 300, 32767, 7), [2, 3]],
    ["i32", Int32Array.of(-(2 ** 31), -5, 0, 65537, 2 ** 31 - 1, 9, 1), [7]],
    ["f32", Float32Array.of(-1.5, 0, 3.25, 1e-30, Infinity, -0.1), [3, 2]],
    ["f64", Float64Array.of(Math.PI, -(2 ** 60), 1e-300), [1, 3]],
  ];
  for (const [name, data, dims] of cases) {
    for (const ext of ["", ".gz"]) {
      const path = `${dir.path}/${name}-idx${ext}`;
      await writeIdx(path, data, dims);
      const raw = await Deno.readFile(path);
      assertEquals(raw[0] === 0x1f && raw[1] === 0x8b, ext === ".gz", `${path} gzip magic`);
      const back = await readIdx(path);
      assertEquals(back.dims, dims, `${path} dims`);
      assertEquals(back.data.constructor.name, data.constructor.name, `${path} type`);
      assertEquals(Array.from(back.data), Array.from(data), `${path} values`);
    }
  }
  // the header is big-endian, as the format says
  const b = encodeIdx(Int16Array.of(0x0102), [1]);
  assertEquals(Array.from(b), [0, 0, 0x0b, 1, 0, 0, 0, 1, 1, 2]);
});

Deno.test("idx: images and labels load as a dataset; counts must agree", async () => {
  await using dir = await tempDir();
  const images = bytesOf(4 * 3 * 2, 2);
  const img = await put(
    dir.path,
    "img-idx3-ubyte.gz",
    encodeIdx(images, [4, 3, 2], { gzip: true }),
  );
  const lbl = await put(dir.path, "lbl-idx1-ubyte", encodeIdx(Uint8Array.of(2, 0, 1, 2), [4]));
  const ds = await loadIdxPair(img, lbl);
  assertEquals([ds.n, ds.channels, ds.height, ds.width], [4, 1, 3, 2]);
  assertEquals(Array.from(ds.images), Array.from(images));
  assertEquals(Array.from(ds.labels), [2, 0, 1, 2]);
  assertEquals(ds.classes, ["0", "1", "2"]);
  assertEquals(classCounts(ds).counts, [1, 1, 2]);
  // named classes, a 4-D [N, C, H, W] images file
  const img4 = await put(dir.path, "img4", encodeIdx(bytesOf(4 * 3 * 2 * 2, 3), [4, 3, 2, 2]));
  const ds4 = await loadIdxPair(img4, lbl, { classes: ["a", "b", "c"] });
  assertEquals([ds4.channels, ds4.height, ds4.width], [3, 2, 2]);
  // a label outside the class list names the labels file
  await assertRejects(() => loadIdxPair(img, lbl, { classes: ["a", "b"] }), "lbl-idx1-ubyte");
  const lbl3 = await put(dir.path, "lbl3", encodeIdx(Uint8Array.of(0, 1, 2), [3]));
  const e = await assertRejects(() => loadIdxPair(img, lbl3), "has 4 images but");
  assert(e.message.includes("img-idx3-ubyte.gz") && e.message.includes("lbl3 has 3 labels"));
  const f32 = await put(dir.path, "f32img", encodeIdx(new Float32Array(24), [4, 3, 2]));
  await assertRejects(() => loadIdxPair(f32, lbl), "f32img: dtype float32, expected uint8");
});

Deno.test("idx: truncated and corrupt files give errors naming the file and the byte counts", async () => {
  const good = encodeIdx(bytesOf(10 * 4 * 4, 4), [10, 4, 4]); // 16 + 160 = 176 bytes
  assertThrows(
    () => parseIdx(good.subarray(0, 100), "cut.idx"),
    "IDX file cut.idx is truncated: expected 176 bytes (header 16 + body 160 for dims [10,4,4] of uint8), got 100",
  );
  assertThrows(
    () => parseIdx(Uint8Array.of(...good, 7, 7), "long.idx"),
    "long.idx has trailing bytes",
  );
  // gzip, cut inside the body: the counts after decompression
  const noisy = encodeIdx(bytesOf(10 * 40 * 40, 9), [10, 40, 40]);
  const gz = new Uint8Array(gzipSync(noisy));
  const gzCut = new Uint8Array(gzipSync(good.subarray(0, 120)));
  assertThrows(
    () => parseIdx(gzCut, "short.gz"),
    "IDX file short.gz is truncated: expected 176 bytes after decompression",
  );
  // a gzip stream that itself ends early
  const e = assertThrows(
    () => parseIdx(gz.subarray(0, gz.length >> 1), "cut.gz"),
    "IDX file cut.gz is truncated: the gzip stream ends early; expected 16016 bytes after " +
      "decompression (header 16 + body 16000 for dims [10,40,40] of uint8), got ",
  );
  const got = Number(/got (\d+)$/.exec(e.message)?.[1]);
  assert(got > 0 && got < 16016, e.message);
  assertThrows(
    () => parseIdx(Uint8Array.of(0x1f, 0x8b, 1, 2, 3, 4, 5), "junk.gz"),
    "junk.gz: gzip data is corrupt",
  );
  // header faults
  assertThrows(() => parseIdx(Uint8Array.of(0, 0), "tiny"), "tiny: 2 bytes is too short");
  assertThrows(
    () => parseIdx(Uint8Array.of(1, 2, 8, 1, 0, 0, 0, 1, 5), "m"),
    "IDX file m: bad magic number (first bytes 01 02 08 01)",
  );
  assertThrows(
    () => parseIdx(Uint8Array.of(0, 0, 0x42, 1, 0, 0, 0, 1, 5), "d"),
    "IDX file d: unknown dtype byte 0x42",
  );
  assertThrows(
    () => parseIdx(Uint8Array.of(0, 0, 8, 3, 0, 0, 0, 1), "h"),
    "h: truncated header: expected 16 bytes for 3 dimensions, got 8",
  );
  assertThrows(() => parseIdx(Uint8Array.of(0, 0, 8, 1, 0, 0, 0, 0), "z"), "z: dimension 0 is 0");
  // through the file reader: the path is named
  await using dir = await tempDir();
  const p = await put(dir.path, "train-images-idx3-ubyte", good.subarray(0, 50));
  await assertRejects(() => readIdx(p), `IDX file ${p} is truncated: expected 176 bytes`);
  await assertRejects(
    () => readIdx(`${dir.path}/nope.gz`),
    `file ${dir.path}/nope.gz does not exist`,
  );
});

Deno.test("idx: MNIST by root path; missing files are listed", async () => {
  await using dir = await tempDir();
  await put(dir.path, "t10k-images-idx3-ubyte", encodeIdx(bytesOf(3 * 28 * 28, 5), [3, 28, 28]));
  await put(
    dir.path,
    "t10k-labels-idx1-ubyte.gz",
    encodeIdx(Uint8Array.of(7, 2, 1), [3], { gzip: true }),
  );
  const ds = await mnist("test", dir.path);
  assertEquals([ds.n, ds.height, ds.width, ds.classes.length], [3, 28, 28, 10]);
  assertEquals(Array.from(ds.labels), [7, 2, 1]);
  const e = await assertRejects(
    () => mnist("train", dir.path),
    "MNIST train files not found; tried:",
  );
  assert(e.message.includes(`${dir.path}/train-images-idx3-ubyte.gz`), e.message);
  // a Fashion-MNIST root given explicitly is tried first
  const fm = await fashionMnist("test", dir.path);
  assertEquals(fm.classes, [...FASHION_MNIST_CLASSES]);
  assertEquals(fm.n, 3);
  await assertRejects(
    () => mnist("val" as "train", dir.path),
    'split must be "train" or "test"',
  );
});

async function debianInstalled(): Promise<boolean> {
  try {
    await Deno.stat(`${FASHION_MNIST_DIRS[0]}/t10k-labels-idx1-ubyte.gz`);
    return true;
  } catch {
    return false;
  }
}

const installed = await debianInstalled();
if (!installed) {
  console.warn(
    "SKIP idx: Fashion-MNIST Debian files not installed " +
      "(apt-get install -y dataset-fashion-mnist)",
  );
}

Deno.test({
  name: "idx: fashionMnist() finds the Debian package's official files",
  ignore: !installed,
  fn: async () => {
    for (const [split, n] of [["test", 10000], ["train", 60000]] as const) {
      const ds = await fashionMnist(split);
      assertEquals([ds.n, ds.channels, ds.height, ds.width], [n, 1, 28, 28], split);
      assertEquals(classCounts(ds).counts, new Array(10).fill(n / 10), `${split} per class`);
    }
  },
});

Deno.test("idx: fashionMnist() names every path it tried and the apt command", async () => {
  await using dir = await tempDir();
  const e = await assertRejects(
    () => fashionMnist("test", dir.path, { searchDefaults: false }),
    "apt-get install -y dataset-fashion-mnist",
  );
  assert(e.message.includes(`${dir.path}/t10k-images-idx3-ubyte.gz`), e.message);
  assert(e.message.includes(`${dir.path}/t10k-labels-idx1-ubyte`), e.message);
  if (installed) {
    // with the defaults searched, the Debian files are found after an empty root
    assertEquals((await fashionMnist("test", dir.path)).n, 10000);
  } else {
    const e2 = await assertRejects(() => fashionMnist("test", dir.path), "not found; tried:");
    assert(e2.message.includes(`${FASHION_MNIST_DIRS[0]}/t10k-images-idx3-ubyte.gz`), e2.message);
  }
});
