/** Argument checks shared by ops: devices, dtypes, axes and broadcasting. */
import { runtime } from "../gpu/device.ts";
import type { DType, Tensor } from "./tensor.ts";

/** Throw unless every tensor is alive and lives on the current device. */
export function checkDevice(op: string, ...ts: Tensor[]): void {
  const rt = runtime();
  for (const t of ts) {
    if (!t.storage) {
      try {
        void t.buffer; // says why (disposed, or rows kept in host memory)
      } catch (e) {
        throw new Error(`${op}: ${(e as Error).message}`);
      }
      throw new Error(`${op}: tensor #${t.id} [${t.shape}] was used after dispose()`);
    }
    if (t.storage.rt !== rt) {
      throw new Error(
        `${op}: tensor #${t.id} [${t.shape}] lives on another device (made before init() was called again)`,
      );
    }
  }
}

/** Throw unless `t` has dtype `want`. */
export function checkDType(op: string, t: Tensor, want: DType, what = "input"): void {
  if (t.dtype !== want) {
    throw new Error(`${op}: ${what} must be ${want}, got ${t.dtype} tensor [${t.shape}]`);
  }
}

/** Normalise a possibly negative axis for a tensor of rank `rank`. */
export function normAxis(op: string, axis: number, rank: number): number {
  const a = axis < 0 ? axis + rank : axis;
  if (!Number.isInteger(a) || a < 0 || a >= rank) {
    throw new Error(`${op}: axis ${axis} is out of range for a tensor of rank ${rank}`);
  }
  return a;
}

/** The broadcast shape of `a` and `b` (NumPy rules), or an error naming the op and both shapes. */
export function broadcastShapes(op: string, a: readonly number[], b: readonly number[]): number[] {
  const r = Math.max(a.length, b.length);
  const out: number[] = [];
  for (let i = 0; i < r; i++) {
    const da = a[a.length - r + i] ?? 1;
    const db = b[b.length - r + i] ?? 1;
    if (da !== db && da !== 1 && db !== 1) {
      throw new Error(`${op}: shapes [${a}] and [${b}] cannot be broadcast together`);
    }
    out.push(Math.max(da, db));
  }
  return out;
}

/** Row-major strides of `shape` aligned to `outShape` (0 where broadcast). */
export function broadcastStrides(shape: readonly number[], outShape: readonly number[]): number[] {
  const r = outShape.length;
  const strides = new Array(r).fill(0);
  let s = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    const o = r - shape.length + i;
    strides[o] = shape[i] === 1 && outShape[o] !== 1 ? 0 : s;
    s *= shape[i];
  }
  return strides;
}

/** Row-major strides. */
export function stridesOf(shape: readonly number[]): number[] {
  const s = new Array(shape.length);
  let acc = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    s[i] = acc;
    acc *= shape[i];
  }
  return s;
}

/** Maximum rank the general kernels handle. */
export const MAX_RANK = 8;

/** Throw if `shape` has more dimensions than the kernels handle. */
export function checkRank(op: string, shape: readonly number[]): void {
  if (shape.length > MAX_RANK) {
    throw new Error(`${op}: rank ${shape.length} exceeds ${MAX_RANK} ([${shape}])`);
  }
}
