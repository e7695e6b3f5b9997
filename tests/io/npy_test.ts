import { parseNpy, readNpy, serializeNpy, writeNpy } from "../../lib/io/npy.ts";
import {
  assert,
  assertEquals,
  assertRejects,
  assertSameBits,
  assertThrows,
  bytesOf,
} from "../helpers.ts";

const SRC = "feats.npy";

/** A .npy file by hand: magic, version, header length, header padded to 64 with "\n". */
function npyFile(dict: string, data: Uint8Array = new Uint8Array(0), major = 1): Uint8Array {
  const prefix = major === 1 ? 10 : 12;
  const h = new TextEncoder().encode(dict);
  const total = Math.ceil((prefix + h.length + 1) / 64) * 64;
  const hlen = total - prefix;
  const out = new Uint8Array(total + data.length);
  out.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, major, 0]);
  const dv = new DataView(out.buffer);
  if (major === 1) dv.setUint16(8, hlen, true);
  else dv.setUint32(8, hlen, true);
  out.set(h, prefix);
  out.fill(0x20, prefix + h.length, total - 1);
  out[total - 1] = 0x0a;
  out.set(data, total);
  return out;
}

function latin1(b: Uint8Array): string {
  return Array.from(b, (x) => String.fromCharCode(x)).join("");
}

Deno.test("npy: the header is byte-identical to numpy.save for a float32 (3, 4) array", () => {
  const data = Float32Array.from({ length: 12 }, (_, i) => i * 0.5);
  const bytes = serializeNpy(data, [3, 4]);
  const dict = "{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }";
  const header = dict + " ".repeat(118 - 1 - dict.length) + "\n";
  assertEquals(header.length, 118);
  const want = new Uint8Array(128 + 48);
  want.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, 1, 0, 118, 0]);
  for (let i = 0; i < header.length; i++) want[10 + i] = header.charCodeAt(i);
  want.set(bytesOf(data), 128);
  assertSameBits(bytes, want, "file");
  assertEquals(bytes.length, 176);
});

Deno.test("npy: headers for other ranks and dtypes match numpy.save", () => {
  // Header strings (without padding) as numpy 2.x writes them; all pad to 118 bytes.
  const cases: [Float32Array | Float64Array | Int32Array | Uint8Array, number[], string][] = [
    [new Float32Array(5), [5], "{'descr': '<f4', 'fortran_order': False, 'shape': (5,), }"],
    [new Float32Array(1), [], "{'descr': '<f4', 'fortran_order': False, 'shape': (), }"],
    [new Float32Array(0), [0, 5], "{'descr': '<f4', 'fortran_order': False, 'shape': (0, 5), }"],
    [
      new Uint8Array(24),
      [2, 3, 4],
      "{'descr': '|u1', 'fortran_order': False, 'shape': (2, 3, 4), }",
    ],
    [new Float64Array(6), [3, 2], "{'descr': '<f8', 'fortran_order': False, 'shape': (3, 2), }"],
    [new Int32Array(3), [3, 1], "{'descr': '<i4', 'fortran_order': False, 'shape': (3, 1), }"],
  ];
  for (const [data, shape, dict] of cases) {
    const bytes = serializeNpy(data, shape);
    assertEquals(new DataView(bytes.buffer).getUint16(8, true), 118, `${dict} length`);
    const header = latin1(bytes.subarray(10, 128));
    assertEquals(header, dict + " ".repeat(117 - dict.length) + "\n", "header");
    assertEquals(bytes.length, 128 + data.byteLength);
  }
});

Deno.test("npy: round trip of every written dtype, bit for bit", () => {
  const arrays: [Float32Array | Float64Array | Int32Array | Uint8Array, number[]][] = [
    [Float32Array.from([0, -0, 1.5, NaN, Infinity, -Infinity, 1e-45, -3.4e38]), [2, 4]],
    [Float64Array.from([Math.PI, -0, NaN, 1e-310, Number.MAX_VALUE, -Infinity]), [6]],
    [Int32Array.from([0, -1, 2147483647, -2147483648]), [2, 2, 1]],
    [Uint8Array.from([0, 1, 128, 255, 7, 9]), [3, 2]],
    [Float32Array.from([42]), []],
    [new Int32Array(0), [4, 0]],
  ];
  for (const [data, shape] of arrays) {
    const f = parseNpy(serializeNpy(data, shape), SRC);
    assertEquals(f.shape, shape, "shape");
    assertSameBits(f.data, data, `${data.constructor.name} ${JSON.stringify(shape)}`);
  }
  assertEquals(parseNpy(serializeNpy(new Float64Array(1), [1])).dtype, "<f8");
  assertEquals(parseNpy(serializeNpy(new Uint8Array(1), [1])).dtype, "|u1");
  assertEquals(parseNpy(serializeNpy(new Int32Array(1), [1])).dtype, "<i4");
  // views with a byte offset are written correctly
  const big = Float32Array.from([9, 1, 2, 9]);
  assertSameBits(
    parseNpy(serializeNpy(big.subarray(1, 3), [2])).data,
    Float32Array.from([1, 2]),
    "view",
  );
});

Deno.test("npy: reads what numpy writes for other dtypes and versions", () => {
  const f16 = new Uint8Array(
    new Uint16Array([0x3c00, 0xc000, 0x7bff, 0x0001, 0x7c00, 0x8000]).buffer,
  );
  const h = parseNpy(
    npyFile("{'descr': '<f2', 'fortran_order': False, 'shape': (2, 3), }", f16),
    SRC,
  );
  assertEquals(h.dtype, "<f2");
  assertEquals(h.shape, [2, 3]);
  assert(h.data instanceof Float32Array, "f2 becomes Float32Array");
  const want = [1, -2, 65504, 2 ** -24, Infinity, -0];
  want.forEach((w, i) => assert(Object.is(h.data[i], w), `f2 element ${i}: ${h.data[i]} != ${w}`));

  const i8 = parseNpy(
    npyFile(
      "{'descr': '<i8', 'fortran_order': False, 'shape': (3,), }",
      bytesOf(BigInt64Array.from([1n, -2147483648n, 2147483647n])),
    ),
  );
  assertSameBits(i8.data, Int32Array.from([1, -2147483648, 2147483647]), "i8");
  const b1 = parseNpy(
    npyFile("{'descr': '|b1', 'fortran_order': False, 'shape': (2,), }", Uint8Array.from([1, 0])),
  );
  assertEquals(b1.dtype, "|b1");
  assertSameBits(b1.data, Uint8Array.from([1, 0]), "b1");
  const small = [
    ["|i1", Int8Array.from([-128, 127])],
    ["<i2", Int16Array.from([-32768, 5])],
    ["<u2", Uint16Array.from([65535, 0])],
    ["<u4", Uint32Array.from([2147483647, 3])],
    ["<u8", BigUint64Array.from([2147483647n, 3n])],
  ] as const;
  for (const [descr, a] of small) {
    const f = parseNpy(
      npyFile(`{'descr': '${descr}', 'fortran_order': False, 'shape': (2,), }`, bytesOf(a)),
    );
    assertEquals(f.dtype, descr);
    assertSameBits(f.data, Int32Array.from(a, Number), descr);
  }
  // '<u1' and '=f4' normalise; Python 2 ints ("3L"), other key orders and v2.0 / v3.0 headers
  assertEquals(
    parseNpy(npyFile("{'descr': '<u1', 'fortran_order': False, 'shape': (1,), }", Uint8Array.of(3)))
      .dtype,
    "|u1",
  );
  const data = bytesOf(Float32Array.from([1, 2, 3, 4, 5, 6]));
  for (
    const [dict, major] of [
      ["{'descr': '<f4', 'fortran_order': False, 'shape': (3L, 2L), }", 1],
      ['{"shape": (3, 2), "fortran_order": False, "descr": "=f4"}', 1],
      ["{'descr': '<f4', 'fortran_order': False, 'shape': (3, 2), }", 2],
      ["{'descr': '<f4', 'fortran_order': False, 'shape': (3, 2), }", 3],
    ] as const
  ) {
    const f = parseNpy(npyFile(dict, data, major), SRC);
    assertEquals(f.shape, [3, 2], `shape from ${dict} v${major}`);
    assertEquals(Array.from(f.data), [1, 2, 3, 4, 5, 6]);
  }
});

Deno.test("npy: bad files give errors naming the source and what is wrong", () => {
  const dict = (d: string, shape = "(2,)") =>
    `{'descr': '${d}', 'fortran_order': False, 'shape': ${shape}, }`;
  const good = npyFile(dict("<f4"), new Uint8Array(8));
  assertEquals(parseNpy(good, SRC).shape, [2]);

  assertThrows(
    () => parseNpy(new TextEncoder().encode("PK\x03\x04 this is a zip"), SRC),
    "feats.npy: not a .npy file (it does not start with the magic bytes \\x93NUMPY)",
  );
  assertThrows(() => parseNpy(good.slice(0, 7), SRC), "feats.npy: file is 7 bytes, too short");
  const v4 = good.slice();
  v4[6] = 4;
  assertThrows(
    () => parseNpy(v4, SRC),
    "feats.npy: .npy format version 4.0 (byte 6) is not supported",
  );
  assertThrows(
    () => parseNpy(good.slice(0, 100), SRC),
    "feats.npy: header length 118 (header bytes 10..128) runs past the end of the file at byte 100",
  );
  assertThrows(
    () =>
      parseNpy(
        npyFile("{'descr': '<f4', 'fortran_order': True, 'shape': (2, 2), }", new Uint8Array(16)),
        SRC,
      ),
    "feats.npy: header: fortran_order is True (column-major data) which is not supported",
  );
  assertThrows(
    () => parseNpy(npyFile(dict(">f4"), new Uint8Array(8)), SRC),
    "feats.npy: header: dtype '>f4' is big-endian, which is not supported",
  );
  // single-byte types have no byte order: '>u1' is fine
  assertEquals(parseNpy(npyFile(dict(">u1"), new Uint8Array(2))).dtype, "|u1");
  assertThrows(
    () => parseNpy(npyFile(dict("<c8"), new Uint8Array(16)), SRC),
    "feats.npy: header: unsupported dtype '<c8' (supported: <f8, <f4",
  );
  assertThrows(
    () => parseNpy(npyFile(dict("|O"), new Uint8Array(16)), SRC),
    "dtype '|O' is an object array",
  );
  assertThrows(
    () =>
      parseNpy(
        npyFile("{'descr': [('x', '<f4'), ('y', '<i4')], 'fortran_order': False, 'shape': (2,), }"),
        SRC,
      ),
    "feats.npy: header: 'descr' is not a simple dtype string (structured dtypes",
  );
  assertThrows(
    () => parseNpy(npyFile(dict("<f4", "(3, 4)"), new Uint8Array(40)), SRC),
    "feats.npy: shape (3, 4) of <f4 needs 48 data bytes (file bytes 128..176) but the file ends " +
      "at byte 168 (truncated?)",
  );
  assertThrows(
    () => parseNpy(npyFile(dict("<f4"), new Uint8Array(12)), SRC),
    "feats.npy: 4 unexpected bytes after the data",
  );
  assertThrows(
    () => parseNpy(npyFile("{'descr': '<f4', 'shape': (2,), }", new Uint8Array(8)), SRC),
    "feats.npy: header must have exactly the keys 'descr', 'fortran_order', 'shape', got " +
      "'descr', 'shape'",
  );
  assertThrows(
    () => parseNpy(npyFile(dict("<f4", "[2]"), new Uint8Array(8)), SRC),
    "feats.npy: header: 'shape' must be a tuple of non-negative integers",
  );
  assertThrows(
    () => parseNpy(npyFile(dict("<f4", "(-2,)"), new Uint8Array(8)), SRC),
    "'shape' must be a tuple of non-negative integers",
  );
  assertThrows(
    () =>
      parseNpy(
        npyFile("{'descr': '<f4', 'fortran_order': False, 'shape': (2,", new Uint8Array(8)),
        SRC,
      ),
    "feats.npy: header (bytes 10..64) is not a Python dict literal",
  );
  assertThrows(() => parseNpy(npyFile("[1, 2]"), SRC), "feats.npy: header is not a dict");
  assertThrows(
    () => parseNpy(npyFile(dict("<i8", "(1,)"), bytesOf(BigInt64Array.from([1n << 40n]))), SRC),
    "feats.npy: int64 element 0 = 1099511627776 does not fit in int32",
  );
  assertThrows(
    () => parseNpy(npyFile(dict("<u4", "(1,)"), bytesOf(Uint32Array.from([4e9]))), SRC),
    "feats.npy: uint32 element 0 = 4000000000 does not fit in int32",
  );
});

Deno.test("npy: serialize rejects bad arguments", () => {
  assertThrows(
    () => serializeNpy(new Float32Array(5), [2, 3]),
    "serializeNpy: shape (2, 3) has 6 elements but data has 5",
  );
  assertThrows(
    () => serializeNpy(new Int16Array(2) as never, [2]),
    "serializeNpy: data is a Int16Array; only Float32Array, Float64Array, Int32Array and Uint8Array",
  );
  assertThrows(
    () => serializeNpy(new Float32Array(2), [2.5]),
    "serializeNpy: shape must be an array of non-negative integers",
  );
});

Deno.test("npy: writeNpy / readNpy are atomic and report missing files and directories", async () => {
  const dir = await Deno.makeTempDir();
  const names = async () => {
    const out: string[] = [];
    for await (const e of Deno.readDir(dir)) out.push(e.name);
    return out.sort();
  };
  try {
    const path = `${dir}/feats.npy`;
    const data = Float32Array.from({ length: 6 }, (_, i) => i - 2.5);
    await writeNpy(path, data, [2, 3]);
    const f = await readNpy(path);
    assertEquals(f.shape, [2, 3]);
    assertSameBits(f.data, data, "read back");
    assertEquals((await readNpy(new URL(`file://${path}`))).shape, [2, 3]);
    assertEquals(await names(), ["feats.npy"], "no temporary files left");
    const before = await Deno.readFile(path);
    await assertRejects(
      () => writeNpy(path, new Float32Array(5), [2, 3]),
      `${path}: shape (2, 3) has 6 elements but data has 5 (nothing written)`,
    );
    assertSameBits(await Deno.readFile(path), before, "target unchanged");
    await assertRejects(
      () => writeNpy(`${dir}/missing/feats.npy`, data, [6]),
      `cannot write '${dir}/missing/feats.npy': directory '${dir}/missing' does not exist`,
    );
    assertEquals(await names(), ["feats.npy"]);
    await assertRejects(() => readNpy(`${dir}/nope.npy`), `${dir}/nope.npy: file not found`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
