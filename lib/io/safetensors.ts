/**
 * The safetensors weight format (https://github.com/huggingface/safetensors), on the host.
 *
 * Layout: an 8-byte little-endian u64 header length N, N bytes of UTF-8 JSON (padded with
 * spaces), then the data section. The header maps each tensor name to
 * `{dtype, shape, data_offsets: [begin, end]}` (offsets relative to the data section) and may
 * hold `"__metadata__": {string: string}`. Tensors are little-endian and C-ordered; they must
 * tile the data section exactly, with no overlaps and no holes.
 *
 * Reading converts everything to the three array types the kit computes with: floats (F64,
 * F32, F16, BF16) become `Float32Array` (half floats exactly, subnormals, infinities and NaN
 * included), integers (I64, I32, I16, I8, U64, U32, U16) become `Int32Array` (an error if a
 * value does not fit), U8 and BOOL stay `Uint8Array`. Writing produces F32, I32 and U8 tensors
 * laid out byte for byte as the Python library lays them out.
 */
import { writeFileAtomic } from "./atomic.ts";

/**
 * A dtype as named in a safetensors header (the ones this module can read).
 *
 * @example
 * ```ts
 * const d: SafeDtype = "BF16"; // read as Float32Array
 * ```
 */
export type SafeDtype =
  | "F64"
  | "F32"
  | "F16"
  | "BF16"
  | "I64"
  | "I32"
  | "I16"
  | "I8"
  | "U64"
  | "U32"
  | "U16"
  | "U8"
  | "BOOL";

/**
 * A tensor read from a safetensors file: `dtype` is what the file said, `data` the values in
 * the kit's array type (C order).
 *
 * @example
 * ```ts
 * const t: HostTensor = { dtype: "F32", shape: [2], data: new Float32Array([1, 2]) };
 * ```
 */
export interface HostTensor {
  /** The dtype the file stored. */
  dtype: SafeDtype;
  /** Dimensions, outermost first ([] for a scalar). */
  shape: number[];
  /** The values in C order: floats as Float32Array, integers as Int32Array, U8/BOOL as bytes. */
  data: Float32Array | Int32Array | Uint8Array;
}

/**
 * A parsed safetensors file: tensors in data-section order, and the `__metadata__` strings.
 *
 * @example
 * ```ts
 * const f: SafeFile = parseSafetensors(bytes);
 * f.tensors.get("pos_embed")?.shape; // [1, 50, 192]
 * ```
 */
export interface SafeFile {
  /** Tensors by name, in the order they lie in the data section. */
  tensors: Map<string, HostTensor>;
  /** The `__metadata__` entry ({} when absent). */
  metadata: Record<string, string>;
}

/**
 * A tensor to write: Float32Array is stored as F32, Int32Array as I32, Uint8Array as U8.
 * (A `HostTensor` fits: its `dtype` is ignored and the array type decides.)
 *
 * @example
 * ```ts
 * const w: TensorInput = { shape: [3, 4], data: new Float32Array(12) };
 * ```
 */
export interface TensorInput {
  /** Dimensions, outermost first; their product must equal `data.length`. */
  shape: readonly number[];
  /** The values in C order; the array type picks the stored dtype. */
  data: Float32Array | Int32Array | Uint8Array;
}

/**
 * Tensors to write, by name, as a plain object or a Map.
 *
 * @example
 * ```ts
 * const d: TensorDict = { "head.weight": { shape: [10, 64], data: new Float32Array(640) } };
 * ```
 */
export type TensorDict = Record<string, TensorInput> | Map<string, TensorInput>;

/** The header is capped like the reference implementation (100 MB). */
const MAX_HEADER = 100_000_000;

const ITEMSIZE: Record<SafeDtype, number> = {
  F64: 8,
  F32: 4,
  F16: 2,
  BF16: 2,
  I64: 8,
  I32: 4,
  I16: 2,
  I8: 1,
  U64: 8,
  U32: 4,
  U16: 2,
  U8: 1,
  BOOL: 1,
};

/** Dtypes that exist in the format but that this module does not convert. */
const KNOWN_UNSUPPORTED = new Set([
  "F8_E5M2",
  "F8_E4M3",
  "F8_E8M0",
  "F6_E2M3",
  "F6_E3M2",
  "F4",
  "C64",
]);

/**
 * Order of dtypes in the reference implementation's enum; files are written sorted by this,
 * descending (largest alignment first), then by name.
 */
const DTYPE_RANK: Record<string, number> = { U8: 1, I32: 13, F32: 15 };

if (new Uint8Array(new Uint16Array([1]).buffer)[0] !== 1) {
  throw new Error("lib/io/safetensors.ts assumes a little-endian host");
}

/**
 * Parse a whole safetensors file held in memory. `source` (a path or URL) is named in every
 * error, together with the tensor and byte offsets at fault.
 *
 * @example
 * ```ts
 * const { tensors, metadata } = parseSafetensors(await Deno.readFile("vit.safetensors"),
 *   "vit.safetensors");
 * const qkv = tensors.get("blocks.0.attn.qkv.weight")!; // Float32Array data, shape [576, 192]
 * ```
 */
export function parseSafetensors(bytes: Uint8Array, source = "<bytes>"): SafeFile {
  if (!(bytes instanceof Uint8Array)) {
    throw new Error(`${source}: parseSafetensors needs a Uint8Array of the file's bytes`);
  }
  const { header, dataStart } = readHeader(bytes, source);
  const where = { source, dataStart, dataLen: bytes.length - dataStart, fileLen: bytes.length };
  let metadata: Record<string, string> = {};
  const entries: Entry[] = [];
  for (const [name, raw] of Object.entries(header)) {
    if (name === "__metadata__") metadata = parseMetadata(raw, source);
    else entries.push(parseEntry(name, raw, where));
  }
  checkCoverage(entries, where);
  const tensors = new Map<string, HostTensor>();
  for (const e of entries) {
    const raw = bytes.slice(dataStart + e.begin, dataStart + e.end);
    tensors.set(e.name, {
      dtype: e.dtype,
      shape: [...e.shape],
      data: decode(raw, e.dtype, `${source}: tensor '${e.name}'`),
    });
  }
  return { tensors, metadata };
}

/** A tensor's header entry, checked: its data bytes [begin, end) of the data section. */
interface Entry {
  name: string;
  dtype: SafeDtype;
  shape: number[];
  begin: number;
  end: number;
}

/** Where a header entry points: the file, its data section's start and length, its size. */
interface DataSection {
  source: string;
  dataStart: number;
  dataLen: number;
  fileLen: number;
}

/** The 8-byte little-endian header length, then the header: a UTF-8 JSON object. */
function readHeader(
  bytes: Uint8Array,
  source: string,
): { header: Record<string, unknown>; dataStart: number } {
  const len = bytes.length;
  if (len < 8) {
    throw new Error(
      `${source}: file is ${len} bytes, too short for a safetensors file ` +
        `(it starts with an 8-byte header length)`,
    );
  }
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const lo = dv.getUint32(0, true);
  const hi = dv.getUint32(4, true);
  const n = hi * 2 ** 32 + lo;
  if (hi !== 0 || n > MAX_HEADER) {
    throw new Error(
      `${source}: header length at byte 0 says ${
        hi !== 0 ? "more than 4 GB" : `${n} bytes`
      }, beyond the 100 MB limit (not a safetensors file?)`,
    );
  }
  if (8 + n > len) {
    throw new Error(
      `${source}: header length ${n} (header bytes 8..${8 + n}) runs past the end of the ` +
        `file at byte ${len} (truncated, or not a safetensors file?)`,
    );
  }
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(
      bytes.subarray(8, 8 + n),
    );
  } catch {
    throw new Error(`${source}: header (bytes 8..${8 + n}) is not valid UTF-8`);
  }
  let header: unknown;
  try {
    header = JSON.parse(text);
  } catch (e) {
    throw new Error(
      `${source}: header (bytes 8..${8 + n}) is not valid JSON: ${(e as Error).message}`,
    );
  }
  if (!isPlainObject(header)) {
    throw new Error(
      `${source}: header (bytes 8..${8 + n}) is JSON but not an object ` +
        `(got ${describe(header)})`,
    );
  }
  return { header, dataStart: 8 + n };
}

/** `__metadata__`: an object of strings. */
function parseMetadata(raw: unknown, source: string): Record<string, string> {
  if (!isPlainObject(raw)) {
    throw new Error(
      `${source}: "__metadata__" must be an object of strings, got ${describe(raw)}`,
    );
  }
  for (const [k, v] of Object.entries(raw)) {
    if (typeof v !== "string") {
      throw new Error(
        `${source}: "__metadata__" entry '${k}' must be a string, got ${describe(v)}`,
      );
    }
  }
  return Object.fromEntries(Object.entries(raw)) as Record<string, string>;
}

/** One tensor's entry {dtype, shape, data_offsets}, its size and bounds checked. */
function parseEntry(name: string, raw: unknown, d: DataSection): Entry {
  const at = `${d.source}: tensor '${name}'`;
  if (!isPlainObject(raw)) {
    throw new Error(
      `${at}: header entry must be an object {dtype, shape, data_offsets}, got ${describe(raw)}`,
    );
  }
  for (const key of ["dtype", "shape", "data_offsets"]) {
    if (!Object.hasOwn(raw, key)) throw new Error(`${at}: header entry has no '${key}'`);
  }
  const dtype = raw.dtype;
  if (typeof dtype !== "string") {
    throw new Error(`${at}: dtype must be a string, got ${describe(dtype)}`);
  }
  if (!Object.hasOwn(ITEMSIZE, dtype)) {
    const supported = Object.keys(ITEMSIZE).join(", ");
    throw new Error(
      KNOWN_UNSUPPORTED.has(dtype)
        ? `${at}: dtype '${dtype}' is not supported (supported: ${supported})`
        : `${at}: unknown dtype '${dtype}' (supported: ${supported})`,
    );
  }
  const shape = raw.shape;
  if (!Array.isArray(shape) || !shape.every(isCount)) {
    throw new Error(
      `${at}: shape must be an array of non-negative integers, got ${describe(shape)}`,
    );
  }
  const offs = raw.data_offsets;
  if (!Array.isArray(offs) || offs.length !== 2 || !offs.every(isCount)) {
    throw new Error(
      `${at}: data_offsets must be [begin, end] (non-negative integers), got ${describe(offs)}`,
    );
  }
  const [begin, end] = offs as number[];
  if (end < begin) {
    throw new Error(`${at}: data_offsets [${begin}, ${end}] end before they begin`);
  }
  const itemsize = ITEMSIZE[dtype as SafeDtype];
  const numel = (shape as number[]).reduce((a, b) => a * b, 1);
  if (!Number.isSafeInteger(numel * itemsize)) {
    throw new Error(`${at}: shape [${shape.join(", ")}] is too large`);
  }
  if (numel * itemsize !== end - begin) {
    throw new Error(
      `${at}: shape [${shape.join(", ")}] of ${dtype} needs ${numel * itemsize} bytes ` +
        `but data_offsets [${begin}, ${end}] span ${end - begin}`,
    );
  }
  if (end > d.dataLen) {
    throw new Error(
      `${at} needs bytes ${begin}..${end} of the data section (file bytes ` +
        `${d.dataStart + begin}..${d.dataStart + end}) but the data section ends at byte ` +
        `${d.dataLen} (file size ${d.fileLen}; truncated?)`,
    );
  }
  return { name, dtype: dtype as SafeDtype, shape: shape as number[], begin, end };
}

/** The tensors tile the data section: no overlap, no hole, nothing after (sorts `entries`). */
function checkCoverage(entries: Entry[], d: DataSection): void {
  entries.sort((a, b) => a.begin - b.begin || a.end - b.end);
  let cursor = 0;
  let last: Entry | undefined;
  for (const e of entries) {
    if (e.begin < cursor) {
      throw new Error(
        `${d.source}: tensor '${e.name}' (data bytes ${e.begin}..${e.end}) overlaps tensor ` +
          `'${last!.name}' (data bytes ${last!.begin}..${last!.end})`,
      );
    }
    if (e.begin > cursor) {
      throw new Error(
        `${d.source}: data bytes ${cursor}..${e.begin} (before tensor '${e.name}') belong to no ` +
          `tensor; safetensors files may not have holes (corrupt header?)`,
      );
    }
    cursor = e.end;
    last = e;
  }
  if (cursor !== d.dataLen) {
    throw new Error(
      `${d.source}: the tensors end at byte ${cursor} of the data section but the file has ` +
        `${d.dataLen - cursor} more bytes (file size ${d.fileLen}; corrupt, or two files joined?)`,
    );
  }
}

/**
 * Serialize tensors (F32, I32, U8) and optional string metadata to safetensors bytes, laid
 * out like the Python library: tensors sorted by dtype (F32, then I32, then U8) and then by
 * name, compact JSON header padded with spaces to a multiple of 8 bytes.
 *
 * @example
 * ```ts
 * const bytes = serializeSafetensors(
 *   { "head.bias": { shape: [10], data: new Float32Array(10) } },
 *   { format: "pt" },
 * );
 * ```
 */
export function serializeSafetensors(
  tensors: TensorDict,
  metadata?: Record<string, string>,
): Uint8Array<ArrayBuffer> {
  const list: [string, TensorInput][] = tensors instanceof Map
    ? [...tensors.entries()]
    : isPlainObject(tensors)
    ? Object.entries(tensors as Record<string, TensorInput>)
    : (() => {
      throw new Error("serializeSafetensors: tensors must be a Map or an object of tensors");
    })();
  const items = list.map(([name, t]) => {
    if (typeof name !== "string") {
      throw new Error(`serializeSafetensors: tensor names must be strings, got ${describe(name)}`);
    }
    if (name === "__metadata__") {
      throw new Error(`serializeSafetensors: "__metadata__" is reserved and cannot name a tensor`);
    }
    const at = `serializeSafetensors: tensor '${name}'`;
    if (t === null || typeof t !== "object") {
      throw new Error(`${at}: expected {shape, data}, got ${describe(t)}`);
    }
    const { shape, data } = t;
    const dtype = data instanceof Float32Array
      ? "F32"
      : data instanceof Int32Array
      ? "I32"
      : data instanceof Uint8Array
      ? "U8"
      : undefined;
    if (dtype === undefined) {
      throw new Error(
        `${at}: data is ${describe(data)}; only Float32Array (F32), Int32Array (I32) and ` +
          `Uint8Array (U8) can be written (convert it, e.g. Float32Array.from(data))`,
      );
    }
    if (!Array.isArray(shape) || !shape.every(isCount)) {
      throw new Error(
        `${at}: shape must be an array of non-negative integers, got ${describe(shape)}`,
      );
    }
    const numel = shape.reduce((a, b) => a * b, 1);
    if (numel !== data.length) {
      throw new Error(
        `${at}: shape [${shape.join(", ")}] has ${numel} elements but data has ${data.length}`,
      );
    }
    return { name, key: utf8(name), dtype, shape: [...shape], data };
  });
  items.sort((a, b) => DTYPE_RANK[b.dtype] - DTYPE_RANK[a.dtype] || compareBytes(a.key, b.key));

  const parts: string[] = [];
  if (metadata !== undefined) {
    if (!isPlainObject(metadata)) {
      throw new Error(`serializeSafetensors: metadata must be an object of strings`);
    }
    const keys = Object.keys(metadata).sort((a, b) => compareBytes(utf8(a), utf8(b)));
    const fields = keys.map((k) => {
      const v = metadata[k];
      if (typeof v !== "string") {
        throw new Error(
          `serializeSafetensors: metadata value for '${k}' must be a string, got ${
            describe(v)
          } (convert it with String(value) or JSON.stringify(value))`,
        );
      }
      return `${JSON.stringify(k)}:${JSON.stringify(v)}`;
    });
    parts.push(`"__metadata__":{${fields.join(",")}}`);
  }
  let offset = 0;
  for (const it of items) {
    const end = offset + it.data.byteLength;
    parts.push(
      `${JSON.stringify(it.name)}:{"dtype":"${it.dtype}","shape":[${it.shape.join(",")}],` +
        `"data_offsets":[${offset},${end}]}`,
    );
    offset = end;
  }
  const json = utf8(`{${parts.join(",")}}`);
  const n = Math.ceil(json.length / 8) * 8;
  const out = new Uint8Array(8 + n + offset);
  const dv = new DataView(out.buffer);
  dv.setUint32(0, n % 2 ** 32, true);
  dv.setUint32(4, Math.floor(n / 2 ** 32), true);
  out.set(json, 8);
  out.fill(0x20, 8 + json.length, 8 + n);
  let p = 8 + n;
  for (const it of items) {
    out.set(new Uint8Array(it.data.buffer, it.data.byteOffset, it.data.byteLength), p);
    p += it.data.byteLength;
  }
  return out;
}

/**
 * Read a safetensors file from a local path, a `file:` URL, or an `http(s)` URL.
 *
 * @example
 * ```ts
 * const local = await readSafetensors("checkpoints/vit_tiny.safetensors");
 * const remote = await readSafetensors("https://example.org/weights/vit_tiny.safetensors");
 * ```
 */
export async function readSafetensors(pathOrUrl: string | URL): Promise<SafeFile> {
  const { bytes, source } = await readSource(pathOrUrl);
  return parseSafetensors(bytes, source);
}

/**
 * Write tensors to `path` as safetensors, atomically (temporary file, then rename): a failed
 * or interrupted write never leaves a partial file, and an invalid tensor is reported before
 * anything touches the disk.
 *
 * @example
 * ```ts
 * await writeSafetensors("out/head.safetensors", {
 *   "head.weight": { shape: [10, 64], data: new Float32Array(640) },
 * }, { epoch: "3" });
 * ```
 */
export async function writeSafetensors(
  path: string,
  tensors: TensorDict,
  metadata?: Record<string, string>,
): Promise<void> {
  let bytes: Uint8Array;
  try {
    bytes = serializeSafetensors(tensors, metadata);
  } catch (e) {
    throw new Error(
      `${path}: ${(e as Error).message.replace(/^serializeSafetensors: /, "")} (nothing written)`,
    );
  }
  await writeFileAtomic(path, bytes);
}

// ---------------------------------------------------------------------------------------------

async function readSource(pathOrUrl: string | URL): Promise<{ bytes: Uint8Array; source: string }> {
  let url: URL | undefined;
  if (pathOrUrl instanceof URL) url = pathOrUrl;
  else if (typeof pathOrUrl === "string") {
    if (/^(https?|file):/i.test(pathOrUrl)) {
      try {
        url = new URL(pathOrUrl);
      } catch {
        throw new Error(`${pathOrUrl}: not a valid URL`);
      }
    }
  } else {
    throw new Error(`readSafetensors: expected a path or URL, got ${describe(pathOrUrl)}`);
  }
  if (url && (url.protocol === "http:" || url.protocol === "https:")) {
    const source = url.href;
    let res: Response;
    try {
      res = await fetch(url);
    } catch (e) {
      throw new Error(`${source}: download failed: ${(e as Error).message}`);
    }
    if (!res.ok) {
      await res.body?.cancel();
      throw new Error(`${source}: HTTP ${res.status} ${res.statusText}`.trimEnd());
    }
    try {
      return { bytes: new Uint8Array(await res.arrayBuffer()), source };
    } catch (e) {
      throw new Error(`${source}: download failed while reading the body: ${(e as Error).message}`);
    }
  }
  if (url && url.protocol !== "file:") {
    throw new Error(
      `${url.href}: unsupported URL scheme '${url.protocol}' (use a path, file:, http: or https:)`,
    );
  }
  const source = url ? url.href : (pathOrUrl as string);
  try {
    return { bytes: await Deno.readFile(url ?? (pathOrUrl as string)), source };
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) throw new Error(`${source}: file not found`);
    throw new Error(`${source}: cannot read: ${(e as Error).message}`);
  }
}

let f16Table: Float32Array | undefined;

/** All 65 536 half floats as float32 (exact: every half is a float32). */
function halfTable(): Float32Array {
  if (f16Table) return f16Table;
  const t = new Float32Array(65536);
  for (let h = 0; h < 65536; h++) {
    const sign = h & 0x8000 ? -1 : 1;
    const exp = (h >> 10) & 0x1f;
    const mant = h & 0x3ff;
    t[h] = exp === 0
      ? sign * mant * 2 ** -24
      : exp === 31
      ? (mant === 0 ? sign * Infinity : NaN)
      : sign * (1 + mant / 1024) * 2 ** (exp - 15);
  }
  return (f16Table = t);
}

/** Convert one tensor's bytes (an aligned copy) to the kit's array type. */
function decode(
  raw: Uint8Array,
  dtype: SafeDtype,
  at: string,
): Float32Array | Int32Array | Uint8Array {
  const buf = raw.buffer as ArrayBuffer;
  switch (dtype) {
    case "F32":
      return new Float32Array(buf);
    case "I32":
      return new Int32Array(buf);
    case "U8":
    case "BOOL":
      return raw;
    case "F16": {
      const src = new Uint16Array(buf);
      const table = halfTable();
      const out = new Float32Array(src.length);
      for (let i = 0; i < src.length; i++) out[i] = table[src[i]];
      return out;
    }
    case "BF16": {
      const src = new Uint16Array(buf);
      const bits = new Uint32Array(src.length);
      for (let i = 0; i < src.length; i++) bits[i] = src[i] << 16;
      return new Float32Array(bits.buffer);
    }
    case "F64": {
      const src = new Float64Array(buf);
      const out = new Float32Array(src.length);
      for (let i = 0; i < src.length; i++) {
        out[i] = src[i];
        if (!Number.isFinite(out[i]) && Number.isFinite(src[i])) {
          throw new Error(`${at}: F64 element ${i} = ${src[i]} does not fit in float32`);
        }
      }
      return out;
    }
    case "I16":
      return Int32Array.from(new Int16Array(buf));
    case "I8":
      return Int32Array.from(new Int8Array(buf));
    case "U16":
      return Int32Array.from(new Uint16Array(buf));
    case "U32": {
      const src = new Uint32Array(buf);
      for (let i = 0; i < src.length; i++) {
        if (src[i] > 0x7fffffff) {
          throw new Error(`${at}: U32 element ${i} = ${src[i]} does not fit in int32`);
        }
      }
      return new Int32Array(buf);
    }
    case "I64":
    case "U64": {
      const words = new Int32Array(buf);
      const out = new Int32Array(words.length / 2);
      for (let i = 0; i < out.length; i++) {
        const lo = words[2 * i];
        const hi = words[2 * i + 1];
        if (hi !== (lo >> 31) || (dtype === "U64" && lo < 0)) {
          const v = dtype === "I64"
            ? new BigInt64Array(buf, 8 * i, 1)[0]
            : new BigUint64Array(buf, 8 * i, 1)[0];
          throw new Error(`${at}: ${dtype} element ${i} = ${v} does not fit in int32`);
        }
        out[i] = lo;
      }
      return out;
    }
  }
}

function isPlainObject(x: unknown): x is Record<string, unknown> {
  return typeof x === "object" && x !== null && !Array.isArray(x) &&
    !ArrayBuffer.isView(x) && !(x instanceof Map);
}

function isCount(x: unknown): x is number {
  return typeof x === "number" && Number.isSafeInteger(x) && x >= 0;
}

function describe(x: unknown): string {
  if (x === null || x === undefined) return String(x);
  if (Array.isArray(x)) return `array ${short(JSON.stringify(x))}`;
  if (ArrayBuffer.isView(x)) return `a ${x.constructor.name}`;
  if (typeof x === "object") return `object ${short(safeJson(x))}`;
  if (typeof x === "string") return `string ${short(JSON.stringify(x))}`;
  return `${typeof x} ${String(x)}`;
}

function safeJson(x: unknown): string {
  try {
    return JSON.stringify(x) ?? String(x);
  } catch {
    return String(x);
  }
}

function short(s: string): string {
  return s.length > 60 ? s.slice(0, 57) + "..." : s;
}

function utf8(s: string): Uint8Array {
  return new TextEncoder().encode(s);
}

function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return a[i] - b[i];
  return a.length - b.length;
}
