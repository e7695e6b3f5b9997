/**
 * `metrics.jsonl`: one JSON object per line in the run's output folder, a `step` record
 * per logged step (losses, lr, wd, momentum, teacher temperature) and an `epoch` record
 * per epoch (k-NN accuracy, health signals). Each record gets `kind` and `time` (Unix
 * seconds) first.
 *
 * Every line goes to the file in one `write` as soon as it is logged (nothing is buffered
 * in the process), so a crash loses at most the line being written; opening an existing
 * log drops such a torn last line before appending. NaN and infinities, which JSON lacks,
 * are written as the strings `"NaN"`, `"Infinity"` and `"-Infinity"`, and `readMetrics`
 * turns those strings back into numbers.
 */
import { join } from "node:path";

/** The file name of the log inside the output folder. */
export const METRICS_FILE = "metrics.jsonl";

/**
 * A value a record may hold: JSON values plus NaN and infinities. `undefined` fields are
 * left out, as `JSON.stringify` does.
 *
 * @example
 * ```ts
 * const v: MetricValue = { top1: 0.5, losses: [1.2, NaN] };
 * ```
 */
export type MetricValue =
  | number
  | string
  | boolean
  | null
  | undefined
  | MetricValue[]
  | { [key: string]: MetricValue };

/**
 * A record as read back: `kind` ("step", "epoch" or another name given to `log`), `time`
 * in Unix seconds, and the logged fields.
 *
 * @example
 * ```ts
 * const r: MetricsRecord = { kind: "step", time: 1700000000.5, step: 3, loss: 1.25 };
 * ```
 */
export interface MetricsRecord {
  kind: string;
  time: number;
  [key: string]: MetricValue;
}

/**
 * Options of `MetricsLog.open`.
 *
 * @example
 * ```ts
 * const opts: MetricsLogOptions = { append: false, durable: true };
 * ```
 */
export interface MetricsLogOptions {
  /** Keep an existing log and append to it (a resumed run); false starts it empty. Default true. */
  append?: boolean;
  /** fsync after every line, so a power loss also loses at most one line. Default false. */
  durable?: boolean;
  /** The clock, in milliseconds (tests). Default `Date.now`. */
  now?: () => number;
}

const RESERVED = ["kind", "time"];

/**
 * An append-only `metrics.jsonl` writer. Writes are serialised in call order, so callers
 * may log without awaiting; `close()` waits for them.
 *
 * @example
 * ```ts
 * const log = await MetricsLog.open("runs/mugs");
 * await log.step({ step: 10, epoch: 0, loss: 3.2, lr: 5e-4, wd: 0.04, momentum: 0.996 });
 * await log.epoch({ epoch: 0, knn_top1: 0.41, teacherEntropy: 2.3 });
 * await log.close();
 * ```
 */
export class MetricsLog {
  /** Path of the log file. */
  readonly path: string;
  #file: Deno.FsFile | null;
  #durable: boolean;
  #now: () => number;
  #queue: Promise<void> = Promise.resolve();
  #failed: Error | null = null;

  private constructor(path: string, file: Deno.FsFile, opts: MetricsLogOptions) {
    this.path = path;
    this.#file = file;
    this.#durable = opts.durable ?? false;
    this.#now = opts.now ?? Date.now;
  }

  /**
   * Open `<outDir>/metrics.jsonl` (creating the folder), appending by default. A torn last
   * line left by a crash (no trailing newline) is removed first.
   *
   * @example
   * ```ts
   * const log = await MetricsLog.open(outDir, { append: resume });
   * ```
   */
  static async open(outDir: string, opts: MetricsLogOptions = {}): Promise<MetricsLog> {
    if (typeof outDir !== "string" || outDir.length === 0) {
      throw new Error(`MetricsLog.open: outDir must be a non-empty string, got ${String(outDir)}`);
    }
    await Deno.mkdir(outDir, { recursive: true });
    const path = join(outDir, METRICS_FILE);
    const append = opts.append ?? true;
    if (append) await dropTornTail(path);
    const file = await Deno.open(
      path,
      append ? { append: true, create: true } : { write: true, create: true, truncate: true },
    );
    return new MetricsLog(path, file, opts);
  }

  /**
   * Log a step record; `record.step` must be an integer >= 0.
   *
   * @example
   * ```ts
   * await log.step({ step, loss: total, loss_instance: li, lr, wd, momentum, teacher_temp });
   * ```
   */
  step(record: { step: number; [key: string]: MetricValue }): Promise<void> {
    checkCounter("step", record, "step");
    return this.log("step", record);
  }

  /**
   * Log an epoch record; `record.epoch` must be an integer >= 0.
   *
   * @example
   * ```ts
   * await log.epoch({ epoch, knn_top1, ...(await healthSignals({ features })) });
   * ```
   */
  epoch(record: { epoch: number; [key: string]: MetricValue }): Promise<void> {
    checkCounter("epoch", record, "epoch");
    return this.log("epoch", record);
  }

  /**
   * Write a record that names its own kind (`{ kind: "step" | "epoch" | other, ... }`, as the
   * trainer's `onRecord` hook hands them out): `step`, `epoch` or `log` by `kind`.
   *
   * @example
   * ```ts
   * await log.record({ kind: "baseline", knn_top1: 49.0, knn_train_images: 6000 });
   * ```
   */
  record(rec: { kind?: unknown; [key: string]: unknown }): Promise<void> {
    const { kind, ...fields } = rec;
    const f = fields as Record<string, MetricValue>;
    if (kind === "step") return this.step(f as { step: number; [key: string]: MetricValue });
    if (kind === "epoch") return this.epoch(f as { epoch: number; [key: string]: MetricValue });
    return this.log(String(kind), f);
  }

  /**
   * Log a record of any kind (for example `"config"` or `"event"`).
   *
   * @example
   * ```ts
   * await log.log("event", { message: "resumed", step: 400 });
   * ```
   */
  log(kind: string, record: Record<string, MetricValue>): Promise<void> {
    if (typeof kind !== "string" || !/^[A-Za-z_][\w.-]*$/.test(kind)) {
      throw new Error(`MetricsLog: kind must be a name like "step", got ${JSON.stringify(kind)}`);
    }
    if (!this.#file) throw new Error(`MetricsLog: ${this.path} is closed`);
    if (this.#failed) throw this.#failed;
    const line = formatRecord(kind, this.#now() / 1000, record);
    const bytes = new TextEncoder().encode(line);
    const file = this.#file;
    const run = async () => {
      try {
        let off = 0;
        while (off < bytes.length) off += await file.write(bytes.subarray(off));
        if (this.#durable) await file.syncData();
      } catch (e) {
        this.#failed = new Error(
          `MetricsLog: writing ${this.path} failed: ${e instanceof Error ? e.message : e}`,
        );
        throw this.#failed;
      }
    };
    const p = this.#queue.then(run);
    this.#queue = p.catch(() => {});
    return p;
  }

  /**
   * Wait for pending writes and close the file (idempotent).
   *
   * @example
   * ```ts
   * await log.close();
   * ```
   */
  async close(): Promise<void> {
    const file = this.#file;
    if (!file) return;
    this.#file = null;
    await this.#queue;
    file.close();
  }
}

function checkCounter(kind: string, record: Record<string, unknown>, key: string): void {
  if (record === null || typeof record !== "object" || Array.isArray(record)) {
    throw new Error(`MetricsLog.${kind}: the record must be an object`);
  }
  const v = record[key];
  if (typeof v !== "number" || !Number.isInteger(v) || v < 0) {
    throw new Error(`MetricsLog.${kind}: record.${key} must be an integer >= 0, got ${String(v)}`);
  }
}

/**
 * One JSON line (with its newline) for a record: `kind` and `time` first, NaN and
 * infinities as strings. Throws on values JSON cannot hold, naming the field.
 *
 * @example
 * ```ts
 * formatRecord("step", 1.5, { step: 1, loss: NaN }); // '{"kind":"step","time":1.5,"step":1,"loss":"NaN"}\n'
 * ```
 */
export function formatRecord(
  kind: string,
  time: number,
  record: Record<string, MetricValue>,
): string {
  if (record === null || typeof record !== "object" || Array.isArray(record)) {
    throw new Error(`MetricsLog: a ${kind} record must be an object`);
  }
  for (const k of RESERVED) {
    if (k in record) throw new Error(`MetricsLog: "${k}" is set by the log, not the record`);
  }
  const full = { kind, time, ...record };
  return JSON.stringify(encode(full, kind)) + "\n";
}

function encode(v: unknown, where: string, seen: unknown[] = []): unknown {
  switch (typeof v) {
    case "number":
      return Number.isFinite(v) ? v : String(v); // "NaN", "Infinity", "-Infinity"
    case "string":
    case "boolean":
    case "undefined":
      return v;
    case "object": {
      if (v === null) return null;
      if (seen.includes(v)) throw new Error(`MetricsLog: ${where} refers to itself`);
      const next = [...seen, v];
      if (Array.isArray(v)) return v.map((x, i) => encode(x ?? null, `${where}[${i}]`, next));
      if (ArrayBuffer.isView(v) && !(v instanceof DataView)) {
        return Array.from(
          v as unknown as ArrayLike<number | bigint>,
          (x, i) => encode(x, `${where}[${i}]`, next),
        );
      }
      const proto = Object.getPrototypeOf(v);
      if (proto !== Object.prototype && proto !== null) {
        throw new Error(
          `MetricsLog: ${where} is a ${proto?.constructor?.name ?? "object"}, not a plain object ` +
            `(log numbers; read tensors back first)`,
        );
      }
      const out: Record<string, unknown> = {};
      for (const [k, x] of Object.entries(v)) out[k] = encode(x, `${where}.${k}`, next);
      return out;
    }
    default:
      throw new Error(`MetricsLog: ${where} is a ${typeof v}, which JSON cannot hold`);
  }
}

function decode(_key: string, v: unknown): unknown {
  if (v === "NaN") return NaN;
  if (v === "Infinity") return Infinity;
  if (v === "-Infinity") return -Infinity;
  return v;
}

/**
 * Parse one line of a metrics log; throws (without a location) when it is not a valid
 * record.
 *
 * @example
 * ```ts
 * parseRecord('{"kind":"step","time":1,"step":0,"loss":"NaN"}').loss; // NaN
 * ```
 */
export function parseRecord(line: string): MetricsRecord {
  let r: unknown;
  try {
    r = JSON.parse(line, decode);
  } catch (e) {
    throw new Error(`not valid JSON (${e instanceof Error ? e.message : e})`);
  }
  if (r === null || typeof r !== "object" || Array.isArray(r)) {
    throw new Error("not a JSON object");
  }
  const rec = r as Record<string, unknown>;
  if (typeof rec.kind !== "string" || rec.kind.length === 0) {
    throw new Error(`"kind" must be a non-empty string, got ${JSON.stringify(rec.kind)}`);
  }
  if (typeof rec.time !== "number" || !Number.isFinite(rec.time)) {
    throw new Error(`"time" must be a finite number, got ${JSON.stringify(rec.time)}`);
  }
  for (const key of ["step", "epoch"]) {
    if (rec.kind !== key) continue;
    const v = rec[key];
    if (typeof v !== "number" || !Number.isInteger(v) || v < 0) {
      throw new Error(
        `a ${key} record needs "${key}" as an integer >= 0, got ${JSON.stringify(v)}`,
      );
    }
  }
  return rec as MetricsRecord;
}

/**
 * Read a metrics log back (a file path, or an output folder holding `metrics.jsonl`),
 * validating every line; a bad line is reported as `path:LINE: what is wrong`. Blank lines
 * are skipped. Optionally keep one kind only.
 *
 * @example
 * ```ts
 * const epochs = await readMetrics("runs/mugs/metrics.jsonl", { kind: "epoch" });
 * console.log(epochs.map((r) => r.knn_top1));
 * ```
 */
export async function readMetrics(
  path: string,
  opts: { kind?: string } = {},
): Promise<MetricsRecord[]> {
  let file = path;
  try {
    if ((await Deno.stat(path)).isDirectory) file = join(path, METRICS_FILE);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) throw new Error(`readMetrics: ${path} does not exist`);
    throw e;
  }
  let text: string;
  try {
    text = await Deno.readTextFile(file);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) throw new Error(`readMetrics: ${file} does not exist`);
    throw e;
  }
  const lines = text.split("\n");
  const out: MetricsRecord[] = [];
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i].replace(/\r$/, "");
    if (line.trim() === "") continue;
    let rec: MetricsRecord;
    try {
      rec = parseRecord(line);
    } catch (e) {
      const torn = i === lines.length - 1 ? " (a torn last line: did the run crash?)" : "";
      throw new Error(`${file}:${i + 1}: ${e instanceof Error ? e.message : e}${torn}`);
    }
    if (opts.kind === undefined || rec.kind === opts.kind) out.push(rec);
  }
  return out;
}

/** Remove an unterminated last line (a crash mid-write) so appends start on a fresh line. */
async function dropTornTail(path: string): Promise<void> {
  let size: number;
  try {
    size = (await Deno.stat(path)).size;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return;
    throw e;
  }
  if (size === 0) return;
  const f = await Deno.open(path, { read: true, write: true });
  try {
    // Scan backwards in chunks for the last newline.
    const chunk = new Uint8Array(64 * 1024);
    let end = size;
    let keep = 0;
    let first = true;
    while (end > 0) {
      const start = Math.max(0, end - chunk.length);
      const len = end - start;
      await f.seek(start, Deno.SeekMode.Start);
      let got = 0;
      while (got < len) {
        const r = await f.read(chunk.subarray(got, len));
        if (r === null) break;
        got += r;
      }
      const nl = chunk.subarray(0, got).lastIndexOf(10);
      if (first && nl === len - 1) return; // ends with a newline: intact
      first = false;
      if (nl >= 0) {
        keep = start + nl + 1;
        break;
      }
      end = start;
    }
    await f.truncate(keep);
    await f.syncData();
  } finally {
    f.close();
  }
}
