import {
  type HostTensor,
  parseSafetensors,
  readSafetensors,
  serializeSafetensors,
  writeSafetensors,
} from "../../lib/io/safetensors.ts";
import { writeFileAtomic, writeTextAtomic } from "../../lib/io/atomic.ts";
import {
  assert,
  assertEquals,
  assertRejects,
  assertSameBits,
  assertThrows,
  bytesOf,
} from "../helpers.ts";

const SRC = "weights.safetensors";

/** Build a safetensors file by hand: u64 LE header length, JSON padded with spaces to 8. */
function stFile(header: unknown, data: Uint8Array = new Uint8Array(0), pad = true): Uint8Array {
  let json = typeof header === "string" ? header : JSON.stringify(header);
  if (pad) json += " ".repeat((8 - (new TextEncoder().encode(json).length % 8)) % 8);
  const h = new TextEncoder().encode(json);
  const out = new Uint8Array(8 + h.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(h.length), true);
  out.set(h, 8);
  out.set(data, 8 + h.length);
  return out;
}

function u16le(...xs: number[]): Uint8Array {
  const b = new Uint8Array(2 * xs.length);
  const dv = new DataView(b.buffer);
  xs.forEach((x, i) => dv.setUint16(2 * i, x, true));
  return b;
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((a, p) => a + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

function get(f: { tensors: Map<string, HostTensor> }, name: string): HostTensor {
  const t = f.tensors.get(name);
  assert(t, `tensor '${name}' missing`);
  return t;
}

// ---------------------------------------------------------------------------------------------
// round trips and layout

Deno.test("safetensors: round trip of F32, I32 and U8 with metadata", () => {
  const f32 = Float32Array.from([0, -0, 1.5, -2.25, NaN, Infinity, -Infinity, 1e-45, 3.4e38]);
  const i32 = Int32Array.from([0, 1, -1, 2147483647, -2147483648, 42]);
  const u8 = Uint8Array.from([0, 1, 127, 128, 255]);
  const bytes = serializeSafetensors({
    "blocks.0.attn.qkv.weight": { shape: [3, 3], data: f32 },
    "labels": { shape: [2, 3], data: i32 },
    "mask": { shape: [5], data: u8 },
    "scalar": { shape: [], data: Float32Array.from([7]) },
    "empty": { shape: [0, 4], data: new Float32Array(0) },
  }, { format: "pt", epoch: "3", "note é": 'ünïcode "quoted"\n' });
  const f = parseSafetensors(bytes, SRC);
  assertEquals(f.metadata, { epoch: "3", format: "pt", "note é": 'ünïcode "quoted"\n' });
  const qkv = get(f, "blocks.0.attn.qkv.weight");
  assertEquals(qkv.dtype, "F32");
  assertEquals(qkv.shape, [3, 3]);
  assertSameBits(qkv.data, f32, "F32 data");
  assertEquals(get(f, "labels").dtype, "I32");
  assertEquals(get(f, "labels").shape, [2, 3]);
  assertSameBits(get(f, "labels").data, i32, "I32 data");
  assertEquals(get(f, "mask").dtype, "U8");
  assertSameBits(get(f, "mask").data, u8, "U8 data");
  assertEquals(get(f, "scalar").shape, []);
  assertSameBits(get(f, "scalar").data, Float32Array.from([7]), "scalar");
  assertEquals(get(f, "empty").shape, [0, 4]);
  assertEquals(get(f, "empty").data.length, 0);
  assertEquals(f.tensors.size, 5);
});

Deno.test("safetensors: a Map works as input, and parsed tensors serialize again identically", () => {
  const m = new Map([
    ["w", { shape: [2, 2], data: Float32Array.from([1, 2, 3, 4]) }],
    ["b", { shape: [2], data: Float32Array.from([5, 6]) }],
  ]);
  const a = serializeSafetensors(m);
  const again = serializeSafetensors(parseSafetensors(a).tensors);
  assertSameBits(again, a, "re-serialized file");
  // data views into a larger buffer (non-zero byteOffset) are written correctly
  const big = Float32Array.from([9, 9, 1, 2, 3, 4, 9]);
  const b = serializeSafetensors({ w: { shape: [4], data: big.subarray(2, 6) } });
  assertSameBits(get(parseSafetensors(b), "w").data, Float32Array.from([1, 2, 3, 4]), "view");
});

Deno.test("safetensors: bytes laid out as the Python library writes them", () => {
  // sorted by dtype (F32, I32, U8), then by name; header padded with spaces to 8 bytes
  const bytes = serializeSafetensors({
    z: { shape: [1], data: Uint8Array.from([3]) },
    b: { shape: [2], data: Int32Array.from([1, -2]) },
    a: { shape: [2, 3], data: Float32Array.from([0, 1, 2, 3, 4, 5]) },
    "é": { shape: [1], data: Uint8Array.from([7]) },
  }, { format: "pt" });
  const json = '{"__metadata__":{"format":"pt"},' +
    '"a":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]},' +
    '"b":{"dtype":"I32","shape":[2],"data_offsets":[24,32]},' +
    '"z":{"dtype":"U8","shape":[1],"data_offsets":[32,33]},' +
    '"é":{"dtype":"U8","shape":[1],"data_offsets":[33,34]}}';
  const want = stFile(
    json,
    concat(
      bytesOf(Float32Array.from([0, 1, 2, 3, 4, 5])),
      bytesOf(Int32Array.from([1, -2])),
      Uint8Array.from([3, 7]),
    ),
  );
  assertSameBits(bytes, want, "file bytes");
  const n = Number(new DataView(bytes.buffer).getBigUint64(0, true));
  assertEquals(n % 8, 0, "header length is a multiple of 8");
  assertEquals(bytes[8 + n - 1], 0x20, "header padded with spaces");
});

Deno.test("safetensors: hand-built file as safetensors.torch.save_file lays it out", () => {
  // save_file({"a": torch.arange(6.).reshape(2, 3), "b": torch.tensor([1., -2.], dtype=float16)})
  const json = '{"a":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]},' +
    '"b":{"dtype":"F16","shape":[2],"data_offsets":[24,28]}}';
  assertEquals(new TextEncoder().encode(json).length, 112, "JSON length (already 8-aligned)");
  const file = concat(
    Uint8Array.from([112, 0, 0, 0, 0, 0, 0, 0]),
    new TextEncoder().encode(json),
    Uint8Array.from([
      ...[0, 0, 0, 0], // 0.0
      ...[0, 0, 0x80, 0x3f], // 1.0
      ...[0, 0, 0, 0x40], // 2.0
      ...[0, 0, 0x40, 0x40], // 3.0
      ...[0, 0, 0x80, 0x40], // 4.0
      ...[0, 0, 0xa0, 0x40], // 5.0
      ...[0x00, 0x3c], // f16 1.0
      ...[0x00, 0xc0], // f16 -2.0
    ]),
  );
  const f = parseSafetensors(file, SRC);
  assertEquals(f.metadata, {});
  assertEquals([...f.tensors.keys()], ["a", "b"]);
  assertEquals(get(f, "a").dtype, "F32");
  assertEquals(get(f, "a").shape, [2, 3]);
  assertEquals(Array.from(get(f, "a").data), [0, 1, 2, 3, 4, 5]);
  assertEquals(get(f, "b").dtype, "F16");
  assertEquals(get(f, "b").shape, [2]);
  assert(get(f, "b").data instanceof Float32Array, "F16 becomes Float32Array");
  assertEquals(Array.from(get(f, "b").data), [1, -2]);
});

Deno.test("safetensors: F16 and BF16 bit patterns convert exactly", () => {
  const f16 = [
    [0x3c00, 1],
    [0xc000, -2],
    [0x7bff, 65504],
    [0x0001, 2 ** -24], // smallest subnormal, 5.96e-8
    [0x8001, -(2 ** -24)],
    [0x03ff, 1023 * 2 ** -24], // largest subnormal
    [0x0400, 2 ** -14], // smallest normal
    [0x3555, 0.333251953125],
    [0x7c00, Infinity],
    [0xfc00, -Infinity],
    [0x0000, 0],
    [0x8000, -0],
    [0x7e00, NaN],
    [0xfc01, NaN],
  ];
  const bf16 = [
    [0x3f80, 1],
    [0xc000, -2],
    [0x4049, 3.140625],
    [0x7f7f, 3.3895313892515355e38], // largest finite
    [0x0001, 2 ** -133], // smallest subnormal
    [0x0080, 2 ** -126], // smallest normal
    [0x7f80, Infinity],
    [0xff80, -Infinity],
    [0x8000, -0],
    [0x7fc0, NaN],
  ];
  // The Python library sorts BF16 before F16 (descending dtype), then by name.
  const header = {
    g: { dtype: "BF16", shape: [bf16.length], data_offsets: [0, 2 * bf16.length] },
    h: {
      dtype: "F16",
      shape: [2, f16.length / 2],
      data_offsets: [2 * bf16.length, 2 * (bf16.length + f16.length)],
    },
  };
  const f = parseSafetensors(
    stFile(header, concat(u16le(...bf16.map((p) => p[0])), u16le(...f16.map((p) => p[0])))),
    SRC,
  );
  const check = (name: string, pairs: number[][]) => {
    const t = get(f, name);
    assert(t.data instanceof Float32Array, `${name} is a Float32Array`);
    pairs.forEach(([bits, want], i) => {
      const got = t.data[i];
      assert(
        Object.is(got, Math.fround(want)),
        `${name} 0x${bits.toString(16)}: got ${got}, want ${want}`,
      );
    });
  };
  check("h", f16);
  check("g", bf16);
  assertEquals(get(f, "h").shape, [2, 7]);
  // BF16 keeps the NaN payload: 0x7fc1 -> float32 bits 0x7fc10000
  const nan = parseSafetensors(
    stFile({ x: { dtype: "BF16", shape: [1], data_offsets: [0, 2] } }, u16le(0x7fc1)),
  );
  const bits = new Uint32Array((get(nan, "x").data as Float32Array).buffer)[0];
  assertEquals(bits, 0x7fc10000, "BF16 NaN payload");
});

Deno.test("safetensors: F64, I64 and the small integer types convert, out-of-range is an error", () => {
  const f64 = Float64Array.from([1.5, -1e-3, 0.1, -Infinity, NaN]);
  const i64 = BigInt64Array.from([1n, -1n, 2147483647n, -2147483648n]);
  const i16 = Int16Array.from([-32768, 32767]);
  const i8 = Int8Array.from([-128, 5]);
  const u16 = Uint16Array.from([65535, 1]);
  const u32 = Uint32Array.from([2147483647, 0]);
  const u64 = BigUint64Array.from([2147483647n]);
  const boolean = Uint8Array.from([1, 0, 1]);
  const parts = [
    ["F64", f64],
    ["I64", i64],
    ["U64", u64],
    ["I16", i16],
    ["U16", u16],
    ["U32", u32],
    ["I8", i8],
    ["BOOL", boolean],
  ] as const;
  const header: Record<string, unknown> = {};
  let off = 0;
  for (const [dtype, a] of parts) {
    header[dtype.toLowerCase()] = {
      dtype,
      shape: [a.length],
      data_offsets: [off, off + a.byteLength],
    };
    off += a.byteLength;
  }
  const f = parseSafetensors(stFile(header, concat(...parts.map(([, a]) => bytesOf(a)))), SRC);
  assertSameBits(get(f, "f64").data, Float32Array.from(f64), "F64 -> f32");
  assertEquals(get(f, "f64").dtype, "F64");
  assertSameBits(get(f, "i64").data, Int32Array.from([1, -1, 2147483647, -2147483648]), "I64");
  assertSameBits(get(f, "u64").data, Int32Array.from([2147483647]), "U64");
  assertSameBits(get(f, "i16").data, Int32Array.from(i16), "I16");
  assertSameBits(get(f, "u16").data, Int32Array.from(u16), "U16");
  assertSameBits(get(f, "u32").data, Int32Array.from([2147483647, 0]), "U32");
  assertSameBits(get(f, "i8").data, Int32Array.from(i8), "I8");
  assertSameBits(get(f, "bool").data, boolean, "BOOL");

  const one = (dtype: string, a: ArrayBufferView) =>
    stFile({ "ids": { dtype, shape: [1], data_offsets: [0, a.byteLength] } }, bytesOf(a));
  assertThrows(
    () => parseSafetensors(one("I64", BigInt64Array.from([2147483648n])), SRC),
    "weights.safetensors: tensor 'ids': I64 element 0 = 2147483648 does not fit in int32",
  );
  assertThrows(
    () => parseSafetensors(one("I64", BigInt64Array.from([-2147483649n])), SRC),
    "I64 element 0 = -2147483649 does not fit",
  );
  assertThrows(
    () => parseSafetensors(one("U64", BigUint64Array.from([2n ** 63n])), SRC),
    "U64 element 0 = 9223372036854775808 does not fit",
  );
  assertThrows(
    () => parseSafetensors(one("U32", Uint32Array.from([2147483648])), SRC),
    "U32 element 0 = 2147483648 does not fit",
  );
  assertThrows(
    () => parseSafetensors(one("F64", Float64Array.from([1e300])), SRC),
    "tensor 'ids': F64 element 0 = 1e+300 does not fit in float32",
  );
});

// ---------------------------------------------------------------------------------------------
// corrupt files

const GOOD_HEADER = {
  "blocks.3.attn.qkv.weight": { dtype: "F32", shape: [4, 256], data_offsets: [1024, 5120] },
  "blocks.3.attn.proj.bias": { dtype: "F32", shape: [256], data_offsets: [0, 1024] },
};

Deno.test("safetensors: corrupt header framing gives errors naming the file and bytes", () => {
  assertThrows(
    () => parseSafetensors(new Uint8Array(5), SRC),
    "weights.safetensors: file is 5 bytes, too short",
  );
  const tooLong = stFile({});
  new DataView(tooLong.buffer).setBigUint64(0, 1000n, true);
  assertThrows(
    () => parseSafetensors(tooLong, SRC),
    "weights.safetensors: header length 1000 (header bytes 8..1008) runs past the end of the " +
      "file at byte 16",
  );
  const huge = stFile({});
  new DataView(huge.buffer).setBigUint64(0, 2n ** 40n, true);
  assertThrows(() => parseSafetensors(huge, SRC), "beyond the 100 MB limit");
  const badUtf8 = stFile("{}      ");
  badUtf8[9] = 0xff;
  assertThrows(() => parseSafetensors(badUtf8, SRC), "header (bytes 8..16) is not valid UTF-8");
  assertThrows(
    () => parseSafetensors(stFile('{"a": [1, 2'), SRC),
    "weights.safetensors: header (bytes 8..24) is not valid JSON",
  );
  assertThrows(() => parseSafetensors(stFile("[1, 2]"), SRC), "is JSON but not an object");
  assertThrows(() => parseSafetensors(stFile("null"), SRC), "is JSON but not an object");
});

Deno.test("safetensors: bad tensor entries name the tensor", () => {
  const one = (entry: unknown, data = new Uint8Array(16)) =>
    parseSafetensors(stFile({ "blocks.0.norm1.weight": entry }, data), SRC);
  const at = "weights.safetensors: tensor 'blocks.0.norm1.weight'";
  assertThrows(() => one(5), `${at}: header entry must be an object`);
  assertThrows(
    () => one({ shape: [4], data_offsets: [0, 16] }),
    `${at}: header entry has no 'dtype'`,
  );
  assertThrows(
    () => one({ dtype: "F32", data_offsets: [0, 16] }),
    `${at}: header entry has no 'shape'`,
  );
  assertThrows(
    () => one({ dtype: "F32", shape: [4] }),
    `${at}: header entry has no 'data_offsets'`,
  );
  assertThrows(
    () => one({ dtype: "F12", shape: [4], data_offsets: [0, 16] }),
    `${at}: unknown dtype 'F12' (supported: F64, F32, F16, BF16`,
  );
  assertThrows(
    () => one({ dtype: "toString", shape: [4], data_offsets: [0, 16] }),
    `${at}: unknown dtype 'toString'`,
  );
  assertThrows(
    () => one({ dtype: "F8_E4M3", shape: [16], data_offsets: [0, 16] }),
    `${at}: dtype 'F8_E4M3' is not supported`,
  );
  assertThrows(
    () => one({ dtype: 32, shape: [4], data_offsets: [0, 16] }),
    `${at}: dtype must be a string`,
  );
  assertThrows(
    () => one({ dtype: "F32", shape: [-4], data_offsets: [0, 16] }),
    `${at}: shape must be an array of non-negative integers`,
  );
  assertThrows(
    () => one({ dtype: "F32", shape: [2.5], data_offsets: [0, 16] }),
    `${at}: shape must be an array of non-negative integers`,
  );
  assertThrows(
    () => one({ dtype: "F32", shape: [4], data_offsets: [0] }),
    `${at}: data_offsets must be [begin, end]`,
  );
  assertThrows(
    () => one({ dtype: "F32", shape: [4], data_offsets: [16, 0] }),
    `${at}: data_offsets [16, 0] end before they begin`,
  );
  assertThrows(
    () => one({ dtype: "F32", shape: [2, 3], data_offsets: [0, 16] }),
    `${at}: shape [2, 3] of F32 needs 24 bytes but data_offsets [0, 16] span 16`,
  );
  assertThrows(
    () => one({ dtype: "F16", shape: [4], data_offsets: [0, 16] }),
    `${at}: shape [4] of F16 needs 8 bytes but data_offsets [0, 16] span 16`,
  );
  assertThrows(
    () => parseSafetensors(stFile({ __metadata__: { epoch: 3 } }), SRC),
    `weights.safetensors: "__metadata__" entry 'epoch' must be a string, got number 3`,
  );
  assertThrows(
    () => parseSafetensors(stFile({ __metadata__: ["a"] }), SRC),
    `"__metadata__" must be an object of strings`,
  );
});

Deno.test("safetensors: a truncated body names the tensor and the bytes it needs", () => {
  const data = new Uint8Array(5120);
  const whole = stFile(GOOD_HEADER, data);
  assertEquals(parseSafetensors(whole, SRC).tensors.size, 2);
  const headerEnd = whole.length - 5120;
  const cut = whole.slice(0, headerEnd + 4000);
  assertThrows(
    () => parseSafetensors(cut, SRC),
    "weights.safetensors: tensor 'blocks.3.attn.qkv.weight' needs bytes 1024..5120 of the data " +
      `section (file bytes ${headerEnd + 1024}..${headerEnd + 5120}) but the data section ends ` +
      `at byte 4000`,
  );
  assertThrows(() => parseSafetensors(cut, SRC), "truncated?");
  // cut exactly between the two tensors
  assertThrows(
    () => parseSafetensors(whole.slice(0, headerEnd + 1024), SRC),
    "tensor 'blocks.3.attn.qkv.weight' needs bytes 1024..5120",
  );
});

Deno.test("safetensors: overlapping tensors, holes and trailing bytes are errors", () => {
  const overlap = stFile({
    a: { dtype: "F32", shape: [4], data_offsets: [0, 16] },
    b: { dtype: "F32", shape: [4], data_offsets: [8, 24] },
  }, new Uint8Array(24));
  assertThrows(
    () => parseSafetensors(overlap, SRC),
    "weights.safetensors: tensor 'b' (data bytes 8..24) overlaps tensor 'a' (data bytes 0..16)",
  );
  const same = stFile({
    a: { dtype: "F32", shape: [4], data_offsets: [0, 16] },
    b: { dtype: "I32", shape: [4], data_offsets: [0, 16] },
  }, new Uint8Array(16));
  assertThrows(() => parseSafetensors(same, SRC), "overlaps tensor");
  const hole = stFile({
    a: { dtype: "F32", shape: [2], data_offsets: [0, 8] },
    b: { dtype: "F32", shape: [2], data_offsets: [16, 24] },
  }, new Uint8Array(24));
  assertThrows(
    () => parseSafetensors(hole, SRC),
    "weights.safetensors: data bytes 8..16 (before tensor 'b') belong to no tensor",
  );
  const trailing = stFile(
    { a: { dtype: "F32", shape: [2], data_offsets: [0, 8] } },
    new Uint8Array(12),
  );
  assertThrows(
    () => parseSafetensors(trailing, SRC),
    "weights.safetensors: the tensors end at byte 8 of the data section but the file has 4 more",
  );
  // an empty tensor at a boundary is fine, and the map follows data-section order
  const ok = parseSafetensors(
    stFile({
      z: { dtype: "F32", shape: [1], data_offsets: [4, 8] },
      e: { dtype: "F32", shape: [0], data_offsets: [4, 4] },
      a: { dtype: "F32", shape: [1], data_offsets: [0, 4] },
    }, new Uint8Array(8)),
    SRC,
  );
  assertEquals([...ok.tensors.keys()], ["a", "e", "z"]);
  // an unpadded header is accepted as well
  const unpadded = stFile(
    { a: { dtype: "U8", shape: [3], data_offsets: [0, 3] } },
    Uint8Array.from([1, 2, 3]),
    false,
  );
  assertEquals(Array.from(get(parseSafetensors(unpadded), "a").data), [1, 2, 3]);
});

Deno.test("safetensors: serialize rejects bad input naming the tensor or metadata key", () => {
  assertThrows(
    () => serializeSafetensors({ "head.weight": { shape: [2, 3], data: new Float32Array(5) } }),
    "tensor 'head.weight': shape [2, 3] has 6 elements but data has 5",
  );
  assertThrows(
    () => serializeSafetensors({ w: { shape: [2], data: new Float64Array(2) as never } }),
    "tensor 'w': data is a Float64Array; only Float32Array (F32), Int32Array (I32)",
  );
  assertThrows(
    () => serializeSafetensors({ w: { shape: [-1], data: new Float32Array(1) } }),
    "tensor 'w': shape must be an array of non-negative integers",
  );
  assertThrows(
    () => serializeSafetensors({ __metadata__: { shape: [1], data: new Float32Array(1) } }),
    '"__metadata__" is reserved',
  );
  assertThrows(
    () =>
      serializeSafetensors({ w: { shape: [1], data: new Float32Array(1) } }, {
        epoch: 3 as unknown as string,
      }),
    "metadata value for 'epoch' must be a string, got number 3",
  );
  // an empty file is valid
  const empty = parseSafetensors(serializeSafetensors({}));
  assertEquals(empty.tensors.size, 0);
});

// ---------------------------------------------------------------------------------------------
// files, URLs, atomic writes

async function listDir(dir: string): Promise<string[]> {
  const names: string[] = [];
  for await (const e of Deno.readDir(dir)) names.push(e.name);
  return names.sort();
}

Deno.test("safetensors: write and read by path, file: URL string and URL object", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/w.safetensors`;
    const data = Float32Array.from([1, 2, 3, 4, 5, 6]);
    await writeSafetensors(path, { w: { shape: [2, 3], data } }, { step: "10" });
    const url = new URL(`file://${path}`);
    for (const where of [path, url.href, url]) {
      const f = await readSafetensors(where);
      assertSameBits(get(f, "w").data, data, `read via ${String(where)}`);
      assertEquals(f.metadata, { step: "10" });
    }
    assertEquals(await listDir(dir), ["w.safetensors"], "no temporary files left");
    await assertRejects(
      () => readSafetensors(`${dir}/missing.safetensors`),
      `${dir}/missing.safetensors: file not found`,
    );
    await Deno.writeFile(`${dir}/bad.safetensors`, new Uint8Array(3));
    await assertRejects(
      () => readSafetensors(`${dir}/bad.safetensors`),
      `${dir}/bad.safetensors: file is 3 bytes, too short`,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("atomic write: replaces the target whole and leaves no temporary files", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/w.safetensors`;
    await writeSafetensors(path, { w: { shape: [1], data: Float32Array.from([1]) } });
    const before = await Deno.readFile(path);
    // replacing works
    await writeSafetensors(path, { w: { shape: [2], data: Float32Array.from([2, 3]) } });
    assertEquals(Array.from(get(await readSafetensors(path), "w").data), [2, 3]);
    await writeSafetensors(path, { w: { shape: [1], data: Float32Array.from([1]) } });
    // an invalid tensor fails before anything touches the disk
    await assertRejects(
      () => writeSafetensors(path, { w: { shape: [3], data: new Float32Array(2) } }),
      `${path}: tensor 'w': shape [3] has 3 elements but data has 2 (nothing written)`,
    );
    assertSameBits(await Deno.readFile(path), before, "target unchanged after a failed write");
    // a rename that fails (the target is a non-empty directory) removes the temporary file
    await Deno.mkdir(`${dir}/taken/sub`, { recursive: true });
    await assertRejects(
      () => writeFileAtomic(`${dir}/taken`, new Uint8Array(10)),
      `cannot write '${dir}/taken': renaming the finished temporary file over it failed`,
    );
    assertEquals(await listDir(dir), ["taken", "w.safetensors"], "no temporary files left");
    // a missing directory is a clear error and creates nothing
    await assertRejects(
      () => writeSafetensors(`${dir}/nope/w.safetensors`, {}),
      `cannot write '${dir}/nope/w.safetensors': directory '${dir}/nope' does not exist`,
    );
    assertEquals(await listDir(dir), ["taken", "w.safetensors"]);
    // text
    await writeTextAtomic(`${dir}/m.json`, '{"a":1}');
    assertEquals(await Deno.readTextFile(`${dir}/m.json`), '{"a":1}');
    assertEquals(await listDir(dir), ["m.json", "taken", "w.safetensors"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("atomic write: relative paths write in the working directory", async () => {
  const dir = await Deno.makeTempDir();
  const cwd = Deno.cwd();
  try {
    Deno.chdir(dir);
    await writeFileAtomic("rel.bin", Uint8Array.from([1, 2, 3]));
    assertEquals(Array.from(await Deno.readFile(`${dir}/rel.bin`)), [1, 2, 3]);
    assertEquals(await listDir(dir), ["rel.bin"]);
  } finally {
    Deno.chdir(cwd);
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("safetensors: read over HTTP, and an HTTP error names the URL and status", async () => {
  const file = serializeSafetensors(
    { pos_embed: { shape: [1, 2, 3], data: Float32Array.from([1, 2, 3, 4, 5, 6]) } },
    { source: "http" },
  );
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (req) => {
    const p = new URL(req.url).pathname;
    return p === "/weights/vit.safetensors"
      ? new Response(file, { headers: { "content-type": "application/octet-stream" } })
      : new Response("not here", { status: 404 });
  });
  try {
    const base = `http://127.0.0.1:${server.addr.port}`;
    const f = await readSafetensors(`${base}/weights/vit.safetensors`);
    assertEquals(get(f, "pos_embed").shape, [1, 2, 3]);
    assertEquals(Array.from(get(f, "pos_embed").data), [1, 2, 3, 4, 5, 6]);
    assertEquals(f.metadata, { source: "http" });
    const g = await readSafetensors(new URL(`${base}/weights/vit.safetensors`));
    assertEquals(g.tensors.size, 1);
    await assertRejects(
      () => readSafetensors(`${base}/weights/missing.safetensors`),
      `${base}/weights/missing.safetensors: HTTP 404`,
    );
  } finally {
    await server.shutdown();
  }
});
