/**
 * NumPy's `.npy` array format (https://numpy.org/doc/stable/reference/generated/numpy.lib.format.html).
 *
 * Writing produces version 1.0 files byte-identical to `numpy.save` (little-endian, C order,
 * header padded so the data starts at a multiple of 64 bytes). Reading accepts versions 1.0,
 * 2.0 and 3.0, C order, little-endian (or byte-order-free) numeric dtypes.
 */
import { writeFileAtomic } from "./atomic.ts";

/**
 * The array types `.npy` files are written from and read into.
 *
 * @example
 * ```ts
 * const a: NpyArray = new Float32Array(12); // written as '<f4'
 * ```
 */
export type NpyArray = Float32Array | Float64Array | Int32Array | Uint8Array;

/**
 * A dtype descriptor as NumPy writes it. Reading converts `<f2` to Float32Array, the
 * integer types other than `|u1` and `|b1` to Int32Array (an error if a value does not fit),
 * `|u1`/`|b1` to Uint8Array, `<f4` to Float32Array and `<f8` to Float64Array.
 *
 * @example
 * ```ts
 * const d: NpyDtype = "<f4"; // numpy.float32, little-endian
 * ```
 */
export type NpyDtype =
  | "<f8"
  | "<f4"
  | "<f2"
  | "<i8"
  | "<i4"
  | "<i2"
  | "|i1"
  | "<u8"
  | "<u4"
  | "<u2"
  | "|u1"
  | "|b1";

/**
 * A parsed `.npy` array: C-ordered values, shape (empty for a 0-d array) and the file's dtype.
 *
 * @example
 * ```ts
 * const { data, shape, dtype } = parseNpy(bytes, "features.npy"); // dtype "<f4"
 * ```
 */
export interface NpyFile {
  /** The values in C order. */
  data: NpyArray;
  /** Dimensions, outermost first ([] for a 0-d array). */
  shape: number[];
  /** The dtype the file stored (normalised, e.g. '<f4', '|u1'). */
  dtype: NpyDtype;
}

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // \x93NUMPY
const ALIGN = 64;
/** Headers are a few hundred bytes; refuse absurd lengths from a corrupt length field. */
const MAX_HEADER = 1 << 20;
/** numpy leaves room for the first axis to grow to this many digits. */
const GROWTH_AXIS_MAX_DIGITS = 21;

const ITEMSIZE: Record<NpyDtype, number> = {
  "<f8": 8,
  "<f4": 4,
  "<f2": 2,
  "<i8": 8,
  "<i4": 4,
  "<i2": 2,
  "|i1": 1,
  "<u8": 8,
  "<u4": 4,
  "<u2": 2,
  "|u1": 1,
  "|b1": 1,
};

if (new Uint8Array(new Uint16Array([1]).buffer)[0] !== 1) {
  throw new Error("lib/io/npy.ts assumes a little-endian host");
}

/**
 * Serialize an array to `.npy` v1.0 bytes, exactly as `numpy.save` writes them
 * (Float32Array '<f4', Float64Array '<f8', Int32Array '<i4', Uint8Array '|u1').
 *
 * @example
 * ```ts
 * const bytes = serializeNpy(new Float32Array(12), [3, 4]);
 * // header: {'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }
 * ```
 */
export function serializeNpy(data: NpyArray, shape: readonly number[]): Uint8Array<ArrayBuffer> {
  const descr = data instanceof Float32Array
    ? "<f4"
    : data instanceof Float64Array
    ? "<f8"
    : data instanceof Int32Array
    ? "<i4"
    : data instanceof Uint8Array
    ? "|u1"
    : undefined;
  if (descr === undefined) {
    throw new Error(
      `serializeNpy: data is ${describe(data)}; only Float32Array, Float64Array, Int32Array ` +
        `and Uint8Array can be written`,
    );
  }
  if (!Array.isArray(shape) || !shape.every(isCount)) {
    throw new Error(
      `serializeNpy: shape must be an array of non-negative integers, got ${JSON.stringify(shape)}`,
    );
  }
  const numel = shape.reduce((a, b) => a * b, 1);
  if (numel !== data.length) {
    throw new Error(
      `serializeNpy: shape (${shape.join(", ")}) has ${numel} elements but data has ${data.length}`,
    );
  }
  let dict = `{'descr': '${descr}', 'fortran_order': False, 'shape': ${pyTuple(shape)}, }`;
  if (shape.length > 0) dict += " ".repeat(GROWTH_AXIS_MAX_DIGITS - String(shape[0]).length);
  // Version 1.0 unless the header outgrows its u16 length, as numpy decides.
  let prefix = 10;
  let hlen = dict.length + 1;
  let pad = ALIGN - ((prefix + hlen) % ALIGN);
  let major = 1;
  if (hlen + pad > 0xffff) {
    major = 2;
    prefix = 12;
    pad = ALIGN - ((prefix + hlen) % ALIGN);
  }
  hlen += pad;
  const out = new Uint8Array(prefix + hlen + data.byteLength);
  out.set(MAGIC, 0);
  out[6] = major;
  out[7] = 0;
  const dv = new DataView(out.buffer);
  if (major === 1) dv.setUint16(8, hlen, true);
  else dv.setUint32(8, hlen, true);
  for (let i = 0; i < dict.length; i++) out[prefix + i] = dict.charCodeAt(i);
  out.fill(0x20, prefix + dict.length, prefix + hlen - 1);
  out[prefix + hlen - 1] = 0x0a;
  out.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength), prefix + hlen);
  return out;
}

/**
 * Parse `.npy` bytes (versions 1.0, 2.0, 3.0). Errors name `source` and what is wrong:
 * bad magic, unsupported version, Fortran order, big-endian or unsupported dtype, truncation.
 *
 * @example
 * ```ts
 * const { data, shape } = parseNpy(await Deno.readFile("feats.npy"), "feats.npy");
 * ```
 */
export function parseNpy(bytes: Uint8Array, source = "<bytes>"): NpyFile {
  if (!(bytes instanceof Uint8Array)) {
    throw new Error(`${source}: parseNpy needs a Uint8Array of the file's bytes`);
  }
  const len = bytes.length;
  if (len < 10 || MAGIC.some((b, i) => bytes[i] !== b)) {
    throw new Error(
      len < 10 && MAGIC.slice(0, len).every((b, i) => bytes[i] === b)
        ? `${source}: file is ${len} bytes, too short for a .npy file (truncated?)`
        : `${source}: not a .npy file (it does not start with the magic bytes \\x93NUMPY)`,
    );
  }
  const major = bytes[6];
  const minor = bytes[7];
  if (![1, 2, 3].includes(major) || minor !== 0) {
    throw new Error(
      `${source}: .npy format version ${major}.${minor} (byte 6) is not supported ` +
        `(supported: 1.0, 2.0, 3.0)`,
    );
  }
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const start = major === 1 ? 10 : 12;
  if (len < start) {
    throw new Error(`${source}: file is ${len} bytes, too short for a .npy file (truncated?)`);
  }
  const hlen = major === 1 ? dv.getUint16(8, true) : dv.getUint32(8, true);
  if (hlen > MAX_HEADER) {
    throw new Error(
      `${source}: header length ${hlen} (bytes 8..${start}) is implausibly large ` +
        `(limit ${MAX_HEADER}; corrupt file?)`,
    );
  }
  const dataStart = start + hlen;
  if (dataStart > len) {
    throw new Error(
      `${source}: header length ${hlen} (header bytes ${start}..${dataStart}) runs past the ` +
        `end of the file at byte ${len} (truncated?)`,
    );
  }
  const hbytes = bytes.subarray(start, dataStart);
  let text: string;
  try {
    text = major === 3
      ? new TextDecoder("utf-8", { fatal: true }).decode(hbytes)
      : Array.from(hbytes, (b) => String.fromCharCode(b)).join("");
  } catch {
    throw new Error(`${source}: header (bytes ${start}..${dataStart}) is not valid UTF-8`);
  }
  let header: unknown;
  try {
    header = new PyLiteral(text).parseAll();
  } catch (e) {
    throw new Error(
      `${source}: header (bytes ${start}..${dataStart}) is not a Python dict literal: ${
        (e as Error).message
      }`,
    );
  }
  const at = `${source}: header`;
  if (!(header instanceof Map)) throw new Error(`${at} is not a dict`);
  const keys = [...header.keys()].sort();
  if (keys.join(",") !== "descr,fortran_order,shape") {
    throw new Error(
      `${at} must have exactly the keys 'descr', 'fortran_order', 'shape', got ${
        keys.map((k) => `'${k}'`).join(", ")
      }`,
    );
  }
  const fortran = header.get("fortran_order");
  if (typeof fortran !== "boolean") {
    throw new Error(`${at}: 'fortran_order' must be True or False`);
  }
  if (fortran) {
    throw new Error(
      `${at}: fortran_order is True (column-major data) which is not supported; save a ` +
        `C-ordered array instead, e.g. np.save(path, np.ascontiguousarray(a))`,
    );
  }
  const shapeRaw = header.get("shape");
  if (!(shapeRaw instanceof PyTuple) || !shapeRaw.items.every(isCount)) {
    throw new Error(`${at}: 'shape' must be a tuple of non-negative integers`);
  }
  const shape = shapeRaw.items as number[];
  const dtype = normalizeDescr(header.get("descr"), at);
  const itemsize = ITEMSIZE[dtype];
  const numel = shape.reduce((a, b) => a * b, 1);
  const need = numel * itemsize;
  if (!Number.isSafeInteger(need)) throw new Error(`${at}: shape ${pyTuple(shape)} is too large`);
  const have = len - dataStart;
  if (have < need) {
    throw new Error(
      `${source}: shape ${pyTuple(shape)} of ${dtype} needs ${need} data bytes (file bytes ` +
        `${dataStart}..${dataStart + need}) but the file ends at byte ${len} (truncated?)`,
    );
  }
  if (have > need) {
    throw new Error(
      `${source}: ${have - need} unexpected bytes after the data (data ends at byte ` +
        `${dataStart + need}, the file at byte ${len}; corrupt?)`,
    );
  }
  const raw = bytes.slice(dataStart, len);
  return { data: decode(raw, dtype, source), shape: [...shape], dtype };
}

/**
 * Read a `.npy` file from a local path or `file:` URL.
 *
 * @example
 * ```ts
 * const { data, shape } = await readNpy("out/features.npy");
 * ```
 */
export async function readNpy(path: string | URL): Promise<NpyFile> {
  const source = path instanceof URL ? path.href : String(path);
  let bytes: Uint8Array;
  try {
    bytes = await Deno.readFile(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) throw new Error(`${source}: file not found`);
    throw new Error(`${source}: cannot read: ${(e as Error).message}`);
  }
  return parseNpy(bytes, source);
}

/**
 * Write an array to `path` as `.npy` v1.0, atomically (temporary file, then rename). Bad
 * arguments are reported before anything touches the disk.
 *
 * @example
 * ```ts
 * await writeNpy("out/features.npy", feats, [n, 192]); // np.load gives a float32 (n, 192)
 * ```
 */
export async function writeNpy(
  path: string,
  data: NpyArray,
  shape: readonly number[],
): Promise<void> {
  let bytes: Uint8Array;
  try {
    bytes = serializeNpy(data, shape);
  } catch (e) {
    throw new Error(
      `${path}: ${(e as Error).message.replace(/^serializeNpy: /, "")} (nothing written)`,
    );
  }
  await writeFileAtomic(path, bytes);
}

// ---------------------------------------------------------------------------------------------

function normalizeDescr(d: unknown, at: string): NpyDtype {
  if (typeof d !== "string") {
    throw new Error(
      `${at}: 'descr' is not a simple dtype string (structured dtypes are not supported)`,
    );
  }
  const m = /^([<>|=]?)([a-zA-Z])(\d+)$/.exec(d);
  if (!m) {
    throw new Error(
      d.includes("O")
        ? `${at}: dtype '${d}' is an object array (pickled Python objects), not supported`
        : `${at}: unsupported dtype '${d}'`,
    );
  }
  const [, order, kind, size] = m;
  const one = size === "1";
  if (order === ">" && !one) {
    throw new Error(
      `${at}: dtype '${d}' is big-endian, which is not supported; convert it first, e.g. ` +
        `np.save(path, a.astype(a.dtype.newbyteorder('<')))`,
    );
  }
  const canon = `${one ? "|" : "<"}${kind}${size}`;
  if (!Object.hasOwn(ITEMSIZE, canon)) {
    throw new Error(
      `${at}: unsupported dtype '${d}' (supported: ${Object.keys(ITEMSIZE).join(", ")})`,
    );
  }
  return canon as NpyDtype;
}

function decode(raw: Uint8Array, dtype: NpyDtype, source: string): NpyArray {
  const buf = raw.buffer as ArrayBuffer;
  switch (dtype) {
    case "<f8":
      return new Float64Array(buf);
    case "<f4":
      return new Float32Array(buf);
    case "<i4":
      return new Int32Array(buf);
    case "|u1":
    case "|b1":
      return raw;
    case "<f2": {
      const src = new Uint16Array(buf);
      const out = new Float32Array(src.length);
      for (let i = 0; i < src.length; i++) out[i] = half(src[i]);
      return out;
    }
    case "<i2":
      return Int32Array.from(new Int16Array(buf));
    case "|i1":
      return Int32Array.from(new Int8Array(buf));
    case "<u2":
      return Int32Array.from(new Uint16Array(buf));
    case "<u4": {
      const src = new Uint32Array(buf);
      for (let i = 0; i < src.length; i++) {
        if (src[i] > 0x7fffffff) {
          throw new Error(`${source}: uint32 element ${i} = ${src[i]} does not fit in int32`);
        }
      }
      return new Int32Array(buf);
    }
    case "<i8":
    case "<u8": {
      const words = new Int32Array(buf);
      const out = new Int32Array(words.length / 2);
      for (let i = 0; i < out.length; i++) {
        const lo = words[2 * i];
        const hi = words[2 * i + 1];
        if (hi !== (lo >> 31) || (dtype === "<u8" && lo < 0)) {
          const v = dtype === "<i8"
            ? new BigInt64Array(buf, 8 * i, 1)[0]
            : new BigUint64Array(buf, 8 * i, 1)[0];
          throw new Error(
            `${source}: ${dtype === "<i8" ? "int64" : "uint64"} element ${i} = ${v} does not ` +
              `fit in int32`,
          );
        }
        out[i] = lo;
      }
      return out;
    }
  }
}

function half(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const mant = h & 0x3ff;
  if (exp === 0) return sign * mant * 2 ** -24;
  if (exp === 31) return mant === 0 ? sign * Infinity : NaN;
  return sign * (1 + mant / 1024) * 2 ** (exp - 15);
}

function pyTuple(shape: readonly number[]): string {
  return shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(", ")})`;
}

function isCount(x: unknown): x is number {
  return typeof x === "number" && Number.isSafeInteger(x) && x >= 0;
}

function describe(x: unknown): string {
  if (x === null || x === undefined) return String(x);
  if (typeof x === "object") return `a ${(x as object).constructor?.name ?? "object"}`;
  return `${typeof x} ${String(x)}`;
}

/** A Python tuple (kept apart from lists so 'shape' can be checked to be one). */
class PyTuple {
  constructor(readonly items: unknown[]) {}
}

/**
 * The Python literals a .npy header can hold: dicts, tuples, lists, strings, ints (with
 * Python 2's trailing L), True, False, None.
 */
class PyLiteral {
  #s: string;
  #i = 0;
  constructor(s: string) {
    this.#s = s;
  }

  parseAll(): unknown {
    const v = this.#value();
    this.#ws();
    if (this.#i < this.#s.length) this.#fail("unexpected text after the dict");
    return v;
  }

  #fail(msg: string): never {
    throw new Error(`${msg} at character ${this.#i}`);
  }

  #ws(): void {
    while (this.#i < this.#s.length && /\s/.test(this.#s[this.#i])) this.#i++;
  }

  #value(): unknown {
    this.#ws();
    const c = this.#s[this.#i];
    if (c === undefined) this.#fail("unexpected end of header");
    if (c === "{") return this.#dict();
    if (c === "(") {
      const { items, comma } = this.#seq(")");
      return items.length === 1 && !comma ? items[0] : new PyTuple(items);
    }
    if (c === "[") return this.#seq("]").items;
    if (c === "'" || c === '"') return this.#str();
    if ((c === "u" || c === "b") && /['"]/.test(this.#s[this.#i + 1] ?? "")) {
      this.#i++;
      return this.#str();
    }
    const m = /^(-?\d+)L?|^(True|False|None)\b/.exec(this.#s.slice(this.#i, this.#i + 40));
    if (!m) this.#fail("unexpected token");
    this.#i += m[0].length;
    if (m[1] !== undefined) {
      const n = Number(m[1]);
      if (!Number.isSafeInteger(n)) this.#fail(`integer ${m[1]} is too large`);
      return n;
    }
    return m[2] === "True" ? true : m[2] === "False" ? false : null;
  }

  #dict(): Map<unknown, unknown> {
    const out = new Map<unknown, unknown>();
    this.#i++;
    for (;;) {
      this.#ws();
      if (this.#s[this.#i] === "}") {
        this.#i++;
        return out;
      }
      const k = this.#value();
      this.#ws();
      if (this.#s[this.#i] !== ":") this.#fail("expected ':'");
      this.#i++;
      out.set(k, this.#value());
      this.#ws();
      const c = this.#s[this.#i];
      if (c === ",") this.#i++;
      else if (c !== "}") this.#fail("expected ',' or '}'");
    }
  }

  #seq(close: string): { items: unknown[]; comma: boolean } {
    const out: unknown[] = [];
    this.#i++;
    let sawComma = false;
    for (;;) {
      this.#ws();
      if (this.#s[this.#i] === close) {
        this.#i++;
        return { items: out, comma: sawComma };
      }
      out.push(this.#value());
      this.#ws();
      const c = this.#s[this.#i];
      if (c === ",") {
        this.#i++;
        sawComma = true;
      } else if (c !== close) this.#fail(`expected ',' or '${close}'`);
    }
  }

  #str(): string {
    const q = this.#s[this.#i++];
    let out = "";
    for (;;) {
      const c = this.#s[this.#i++];
      if (c === undefined) this.#fail("unterminated string");
      if (c === q) return out;
      if (c === "\\") {
        const e = this.#s[this.#i++];
        out += e === "n" ? "\n" : e === "t" ? "\t" : e ?? "";
      } else out += c;
    }
  }
}
