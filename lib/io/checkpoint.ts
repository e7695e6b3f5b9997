/**
 * Training checkpoints: every tensor (weights, optimiser moments, queues, memories, centre) in
 * one safetensors file, and a small JSON sidecar for everything else (format version, kit
 * version, config, schedule position, RNG states, optimiser step counts, queue pointers and
 * any other JSON value the caller adds).
 *
 * A checkpoint directory holds up to two complete checkpoints:
 *
 * ```
 * checkpoint.safetensors       checkpoint.json        the newest
 * checkpoint.prev.safetensors  checkpoint.prev.json   the one before it
 * ```
 *
 * A sidecar and its tensor file are paired by name (`X.json` with `X.safetensors`) and by
 * content: the sidecar carries the byte size and the sha256 of its tensor file, so a loader
 * always knows whether the two halves belong together.
 *
 * `saveCheckpoint` writes in this order (every write is temp file + fsync + rename, see
 * `atomic.ts`; `onStep` is called after each numbered step):
 *
 * 1. `prepared`: read every tensor back from the GPU, validate the meta with the zod schema,
 *    serialise the safetensors bytes and hash them. Nothing on disk has changed yet, so a bad
 *    tensor or meta field fails here with the old checkpoints untouched.
 * 2. If `checkpoint.json` + `checkpoint.safetensors` form a complete, matching pair (the
 *    sidecar parses and the sha256 matches), they become the previous checkpoint:
 *    - `prev-removed`: delete `checkpoint.prev.json` (the old previous pair is now invalid;
 *      the current pair is still complete);
 *    - `prev-tensors`: hard-link (or copy) `checkpoint.safetensors` to a temporary name and
 *      rename it over `checkpoint.prev.safetensors`;
 *    - `prev-sidecar`: write a copy of `checkpoint.json` as `checkpoint.prev.json` (now both
 *      pairs hold the same, complete checkpoint).
 *
 *    If the current pair is not complete (a crash in step 3 last time), it is not rotated:
 *    the existing `checkpoint.prev.*` is the last good checkpoint and stays as it is.
 * 3. `tensors`: write the new `checkpoint.safetensors`. The old `checkpoint.json` no longer
 *    matches it (size or sha256), so the current pair is detectably incomplete and
 *    `checkpoint.prev.*` is the checkpoint to load.
 * 4. `sidecar`: write the new `checkpoint.json` LAST; the new checkpoint is complete.
 *
 * A crash at any point leaves at least one complete pair, and the newest complete pair is
 * either the old checkpoint or the new one, never a mix. `loadCheckpoint(dir, { fallback:
 * true })` loads the newest complete pair. One writer per directory: a save removes stale
 * `.checkpoint*.tmp` files left by an interrupted save.
 *
 * Numbers that JSON cannot hold (NaN, Infinity, -Infinity, -0, e.g. a Generator state with no
 * spare normal) are stored as `{"$number": "NaN"}` and restored exactly; values JSON would
 * silently change (typed arrays, Maps, functions, bigints, cycles) are rejected, naming the
 * field: tensors go in `tensors`.
 */
import { z } from "npm:zod@4.6.7";
import { copyInto } from "../nn/module.ts";
import { Tensor } from "../tensor/tensor.ts";
import { writeFileAtomic } from "./atomic.ts";
import { describeIssues } from "./zod_issues.ts";
import {
  type HostTensor,
  parseSafetensors,
  serializeSafetensors,
  type TensorInput,
} from "./safetensors.ts";

/**
 * The kit version written into every checkpoint sidecar (`kitVersion`).
 *
 * @example
 * ```ts
 * console.log(`checkpoint written by mugs kit ${KIT_VERSION}`);
 * ```
 */
export const KIT_VERSION = "0.1.0";

/**
 * The sidecar format version this module writes and reads.
 *
 * @example
 * ```ts
 * if (loaded.info.formatVersion !== CHECKPOINT_FORMAT_VERSION) throw new Error("old format");
 * ```
 */
export const CHECKPOINT_FORMAT_VERSION = 1;

const FORMAT = "mugs-kit-checkpoint";
const STEM = "checkpoint";
const PREV = "checkpoint.prev";

/**
 * A generator state as returned by `Generator.getState()`: four uint32 words and the spare
 * normal (NaN when there is none).
 *
 * @example
 * ```ts
 * const s: RngState = new Generator(0).getState();
 * ```
 */
export type RngState = number[];

/**
 * What the JSON sidecar records besides the tensors. `epoch` and `step` are required; the
 * other named fields are optional but checked when present; any other key is kept as is
 * (any JSON value, plus NaN, ±Infinity and -0).
 *
 * @example
 * ```ts
 * const meta: CheckpointMeta = {
 *   epoch: 3, step: 1200, config: { preset: "mugs" },
 *   rng: { augment: gen.getState() }, optimizerSteps: opt.stateDict().steps,
 *   queues: { instance: { pointer: 512, filled: 4096 } }, loader: loader.state(),
 * };
 * ```
 */
export interface CheckpointMeta {
  /** Epochs completed (the schedule position, with `step`). */
  epoch: number;
  /** Optimiser steps taken so far (global). */
  step: number;
  /** The run's configuration (any JSON object). */
  config?: Record<string, unknown>;
  /** Generator states by name (`Generator.getState()`). */
  rng?: Record<string, RngState>;
  /** Step counts by parameter name (`AdamW.stateDict().steps`). */
  optimizerSteps?: Record<string, number>;
  /** Queue and memory pointers by name (their rows go in `tensors`). */
  queues?: Record<string, { pointer: number; filled: number }>;
  /** A data loader's position (`Loader.state()`). */
  loader?: { seed: number; epoch: number; position: number };
  /** Anything else JSON can hold. */
  [key: string]: unknown;
}

/**
 * What `saveCheckpoint` writes: named tensors (on the GPU or the host, f32 or i32) and the
 * meta for the sidecar.
 *
 * @example
 * ```ts
 * const state: CheckpointState = { tensors: new Map([["w", w]]), meta: { epoch: 0, step: 0 } };
 * ```
 */
export interface CheckpointState {
  /** Tensors by name: GPU tensors are read back; host arrays must be Float32Array or Int32Array. */
  tensors: Map<string, Tensor | HostTensor | TensorInput>;
  /** The sidecar content (validated with the checkpoint schema before anything is written). */
  meta: CheckpointMeta;
}

/**
 * A step of `saveCheckpoint`'s write sequence (see the module documentation).
 *
 * @example
 * ```ts
 * const step: SaveStep = "tensors"; // new tensor file written, sidecar not yet
 * ```
 */
export type SaveStep =
  | "prepared"
  | "prev-removed"
  | "prev-tensors"
  | "prev-sidecar"
  | "tensors"
  | "sidecar";

/**
 * Options of `saveCheckpoint`.
 *
 * @example
 * ```ts
 * const opts: SaveOptions = { onStep: (s) => console.log("checkpoint:", s) };
 * ```
 */
export interface SaveOptions {
  /** Called after each step of the write sequence; an error thrown here aborts the save. */
  onStep?: (step: SaveStep) => void | Promise<void>;
  /** The version string recorded in the sidecar (default `KIT_VERSION`). */
  kitVersion?: string;
}

/**
 * Where `saveCheckpoint` wrote.
 *
 * @example
 * ```ts
 * const { json, sha256 } = await saveCheckpoint("runs/a", state);
 * ```
 */
export interface SavedCheckpoint {
  /** Path of the new sidecar (`<dir>/checkpoint.json`). */
  json: string;
  /** Path of the new tensor file (`<dir>/checkpoint.safetensors`). */
  safetensors: string;
  /** sha256 of the tensor file, hex. */
  sha256: string;
  /** Size of the tensor file in bytes. */
  bytes: number;
  /** Whether the old checkpoint was kept as `checkpoint.prev.*`. */
  rotated: boolean;
}

/**
 * Options of `loadCheckpoint`.
 *
 * @example
 * ```ts
 * const ck = await loadCheckpoint("runs/a", { fallback: true });
 * ```
 */
export interface LoadOptions {
  /**
   * When `checkpoint.json` (or its tensor file) is missing or damaged, load
   * `checkpoint.prev.json` instead (default false: throw). Applies when the path is a
   * directory or a `checkpoint.json` / `checkpoint.safetensors` file.
   */
  fallback?: boolean;
}

/**
 * A loaded checkpoint: tensors on the host, the meta as saved, and where they came from.
 *
 * @example
 * ```ts
 * const { tensors, meta, info } = await loadCheckpoint("runs/a");
 * console.log(info.json, meta.epoch, tensors.size);
 * ```
 */
export interface LoadedCheckpoint {
  /** Tensors by name (Float32Array for F32, Int32Array for I32). */
  tensors: Map<string, HostTensor>;
  /** The meta given to `saveCheckpoint`, value for value. */
  meta: CheckpointMeta;
  /** The sidecar's envelope. */
  info: {
    /** Sidecar loaded. */
    json: string;
    /** Tensor file loaded. */
    safetensors: string;
    formatVersion: number;
    kitVersion: string;
    /** ISO time of the save. */
    created: string;
    sha256: string;
    bytes: number;
  };
  /** With `fallback`, why the newest checkpoint was skipped (absent when it loaded). */
  fellBack?: string;
}

/**
 * Options of `restoreInto`.
 *
 * @example
 * ```ts
 * restoreInto(studentParams, ck.tensors, "runs/a/checkpoint.json", { strict: false });
 * ```
 */
export interface RestoreOptions {
  /** Throw when a name is missing on either side (default true); shapes are always checked. */
  strict?: boolean;
}

/**
 * What `restoreInto` did.
 *
 * @example
 * ```ts
 * const { restored, unexpected } = restoreInto(targets, ck.tensors, "ck", { strict: false });
 * ```
 */
export interface RestoreResult {
  /** Names copied into their GPU tensors. */
  restored: string[];
  /** Targets the checkpoint has no tensor for (left unchanged). */
  missing: string[];
  /** Checkpoint tensors with no target. */
  unexpected: string[];
}

// ---------------------------------------------------------------------------------------------
// schemas

const u32 = z.int().min(0).max(0xffffffff);
const count = z.int().min(0);
const spare = z.union([z.number(), z.nan()]);

const MetaSchema = z.looseObject({
  epoch: count,
  step: count,
  config: z.record(z.string(), z.unknown()).optional(),
  rng: z.record(z.string(), z.tuple([u32, u32, u32, u32, spare])).optional(),
  optimizerSteps: z.record(z.string(), count).optional(),
  queues: z.record(z.string(), z.strictObject({ pointer: count, filled: count })).optional(),
  loader: z.strictObject({ seed: z.int(), epoch: count, position: count }).optional(),
});

const SidecarSchema = z.strictObject({
  format: z.literal(FORMAT),
  formatVersion: z.literal(CHECKPOINT_FORMAT_VERSION),
  kitVersion: z.string().min(1),
  created: z.string(),
  tensors: z.strictObject({
    sha256: z.string().regex(/^[0-9a-f]{64}$/, "expected 64 lowercase hex digits"),
    bytes: count,
    count: count,
  }),
  meta: MetaSchema,
});

type Sidecar = Omit<z.infer<typeof SidecarSchema>, "meta"> & { meta: CheckpointMeta };

// ---------------------------------------------------------------------------------------------
// save

/**
 * Write a checkpoint into `dir` (created if needed): `checkpoint.safetensors` with every
 * tensor (GPU tensors are read back) and `checkpoint.json` with the meta, the kit and format
 * versions and the tensor file's sha256, written last; the previous complete checkpoint is
 * kept as `checkpoint.prev.*`. See the module documentation for the exact sequence.
 *
 * @example
 * ```ts
 * const tensors = new Map<string, Tensor>([...vit.stateDict()].map(([k, v]) => [`student.${k}`, v]));
 * await saveCheckpoint("runs/a", { tensors, meta: { epoch: 1, step: 500, rng: { aug: g.getState() } } });
 * ```
 */
export async function saveCheckpoint(
  dir: string,
  state: CheckpointState,
  opts: SaveOptions = {},
): Promise<SavedCheckpoint> {
  if (typeof dir !== "string" || dir === "") {
    throw new Error(`saveCheckpoint: dir must be a non-empty directory path, got ${String(dir)}`);
  }
  if (!state || typeof state !== "object" || !(state.tensors instanceof Map)) {
    throw new Error(
      `saveCheckpoint('${dir}'): state must be { tensors: Map<string, Tensor>, meta } ` +
        `(nothing written)`,
    );
  }
  const paths = pairPaths(dir, STEM);
  const prev = pairPaths(dir, PREV);
  const step = async (s: SaveStep) => await opts.onStep?.(s);

  // 1. Everything that can fail on bad input, before the disk is touched.
  const encodedMeta = encodeMeta(state.meta, `saveCheckpoint('${dir}')`);
  const checked = MetaSchema.safeParse(decodeValue(encodedMeta));
  if (!checked.success) {
    throw new Error(
      `saveCheckpoint('${dir}'): ${formatIssues(checked.error, "meta")} (nothing written)`,
    );
  }
  const host = new Map<string, TensorInput>();
  for (const [name, t] of state.tensors) {
    host.set(name, await toHostTensor(name, t, dir));
  }
  let bytes: Uint8Array<ArrayBuffer>;
  try {
    bytes = serializeSafetensors(host, { format: "pt" });
  } catch (e) {
    throw new Error(
      `saveCheckpoint('${dir}'): ${
        message(e).replace(/^serializeSafetensors: /, "")
      } (nothing written)`,
    );
  }
  const sha256 = await sha256Hex(bytes);
  const sidecar: Sidecar = {
    format: FORMAT,
    formatVersion: CHECKPOINT_FORMAT_VERSION,
    kitVersion: opts.kitVersion ?? KIT_VERSION,
    created: new Date().toISOString(),
    tensors: { sha256, bytes: bytes.length, count: host.size },
    meta: encodedMeta as CheckpointMeta, // JSON-safe: non-finite numbers tagged
  };
  const sidecarText = JSON.stringify(sidecar, null, 2) + "\n";
  await step("prepared");

  try {
    await Deno.mkdir(dir, { recursive: true });
  } catch (e) {
    throw new Error(`saveCheckpoint: cannot create directory '${dir}': ${message(e)}`);
  }
  await removeStaleTemps(dir);

  // 2. Keep the current checkpoint as the previous one, if it is complete.
  let rotated = false;
  const current = await readSidecarText(paths.json);
  if (current !== undefined && await pairIsComplete(paths, current)) {
    await removeIfExists(prev.json);
    await step("prev-removed");
    await linkOrCopyAtomic(paths.safetensors, prev.safetensors);
    await step("prev-tensors");
    await writeFileAtomic(prev.json, current);
    await step("prev-sidecar");
    rotated = true;
  }

  // 3. The new tensors; 4. the sidecar that vouches for them, last.
  await writeFileAtomic(paths.safetensors, bytes);
  await step("tensors");
  await writeFileAtomic(paths.json, sidecarText);
  await step("sidecar");
  return { json: paths.json, safetensors: paths.safetensors, sha256, bytes: bytes.length, rotated };
}

// ---------------------------------------------------------------------------------------------
// load

/**
 * Load a checkpoint: `path` is a checkpoint directory (its `checkpoint.json`), a sidecar
 * (`X.json`) or a tensor file (`X.safetensors`). The sidecar is validated with a zod schema,
 * the tensor file's size and sha256 are checked against it, and the tensors are parsed. Every
 * error names the file at fault and what to do (usually: load `checkpoint.prev.json`).
 *
 * @example
 * ```ts
 * const { tensors, meta } = await loadCheckpoint("runs/a", { fallback: true });
 * restoreInto(targets, tensors, "runs/a");
 * ```
 */
export async function loadCheckpoint(
  path: string,
  opts: LoadOptions = {},
): Promise<LoadedCheckpoint> {
  if (typeof path !== "string" || path === "") {
    throw new Error(`loadCheckpoint: path must be a checkpoint directory or file, got ${path}`);
  }
  let jsonPath: string;
  let isDir = false;
  try {
    isDir = (await Deno.stat(path)).isDirectory;
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) {
      throw new Error(`${path}: cannot read: ${message(e)}`);
    }
    if (!/\.(json|safetensors)$/.test(path)) {
      throw new Error(
        `${path}: not found (give a checkpoint directory, or its checkpoint.json)`,
      );
    }
  }
  if (isDir) jsonPath = pairPaths(path, STEM).json;
  else if (path.endsWith(".json")) jsonPath = path;
  else if (path.endsWith(".safetensors")) {
    jsonPath = path.slice(0, -".safetensors".length) + ".json";
  } else {
    throw new Error(
      `${path}: not a checkpoint (give a directory, an X.json sidecar or an X.safetensors file)`,
    );
  }
  const { dir, base } = splitPath(jsonPath);
  const canFallBack = opts.fallback === true && base === `${STEM}.json`;
  try {
    return await loadPair(jsonPath, !canFallBack);
  } catch (e) {
    if (!canFallBack) throw e;
    const prevJson = pairPaths(dir, PREV).json;
    let loaded: LoadedCheckpoint;
    try {
      loaded = await loadPair(prevJson, false);
    } catch (e2) {
      throw new Error(
        `no usable checkpoint in '${dir}':\n  ${message(e)}\n  ${message(e2)}\n` +
          `Restart the run, or restore the files from a backup.`,
      );
    }
    return { ...loaded, fellBack: message(e) };
  }
}

async function loadPair(jsonPath: string, advise: boolean): Promise<LoadedCheckpoint> {
  const stPath = jsonPath.slice(0, -".json".length) + ".safetensors";
  const hint = advise ? await advice(jsonPath) : "";
  let text: string;
  try {
    text = await Deno.readTextFile(jsonPath);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      const st = await exists(stPath);
      throw new Error(
        `${jsonPath}: checkpoint sidecar not found` +
          (st
            ? ` (its tensor file exists: a save was interrupted before the sidecar was written)`
            : "") +
          hint,
      );
    }
    throw new Error(`${jsonPath}: cannot read: ${message(e)}${hint}`);
  }
  const sidecar = parseSidecar(text, jsonPath, hint);
  let bytes: Uint8Array;
  try {
    bytes = await Deno.readFile(stPath);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) {
      throw new Error(
        `${stPath}: tensor file not found (${jsonPath} expects ${sidecar.tensors.bytes} bytes ` +
          `with sha256 ${sidecar.tensors.sha256})${hint}`,
      );
    }
    throw new Error(`${stPath}: cannot read: ${message(e)}${hint}`);
  }
  if (bytes.length !== sidecar.tensors.bytes) {
    throw new Error(
      `${stPath}: file is ${bytes.length} bytes but ${jsonPath} says ${sidecar.tensors.bytes} ` +
        `(${
          bytes.length < sidecar.tensors.bytes ? "truncated" : "overwritten by a later save"
        }: the two halves do not belong together)${hint}`,
    );
  }
  const sha256 = await sha256Hex(bytes);
  if (sha256 !== sidecar.tensors.sha256) {
    throw new Error(
      `${stPath}: sha256 ${sha256} does not match ${sidecar.tensors.sha256} recorded in ` +
        `${jsonPath} (corrupt, or overwritten by an interrupted save)${hint}`,
    );
  }
  let tensors: Map<string, HostTensor>;
  try {
    tensors = parseSafetensors(bytes, stPath).tensors;
  } catch (e) {
    throw new Error(`${message(e)}${hint}`);
  }
  if (tensors.size !== sidecar.tensors.count) {
    throw new Error(
      `${stPath}: holds ${tensors.size} tensors but ${jsonPath} says ${sidecar.tensors.count}` +
        hint,
    );
  }
  return {
    tensors,
    meta: sidecar.meta as CheckpointMeta,
    info: {
      json: jsonPath,
      safetensors: stPath,
      formatVersion: sidecar.formatVersion,
      kitVersion: sidecar.kitVersion,
      created: sidecar.created,
      sha256,
      bytes: bytes.length,
    },
  };
}

function parseSidecar(text: string, jsonPath: string, hint: string): Sidecar {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new Error(`${jsonPath}: not valid JSON (${message(e)}; truncated or corrupt?)${hint}`);
  }
  if (isPlainObject(raw)) {
    if (raw.format !== undefined && raw.format !== FORMAT) {
      throw new Error(
        `${jsonPath}: field 'format' is ${
          JSON.stringify(raw.format)
        }, not "${FORMAT}": not a checkpoint sidecar of this kit`,
      );
    }
    const v = raw.formatVersion;
    if (typeof v === "number" && v > CHECKPOINT_FORMAT_VERSION) {
      throw new Error(
        `${jsonPath}: field 'formatVersion' is ${v}; this kit (${KIT_VERSION}) reads version ` +
          `${CHECKPOINT_FORMAT_VERSION}: load it with a newer kit`,
      );
    }
  }
  const decoded = decodeValue(raw);
  const parsed = SidecarSchema.safeParse(decoded);
  if (!parsed.success) {
    throw new Error(`${jsonPath}: ${formatIssues(parsed.error)}${hint}`);
  }
  // The meta as written (zod's copy would reorder keys); the schema has vouched for it.
  return { ...parsed.data, meta: (decoded as { meta: CheckpointMeta }).meta };
}

// ---------------------------------------------------------------------------------------------
// restore

/**
 * Copy loaded tensors into the existing GPU tensors of the same name, so training continues
 * bit for bit. Everything is checked before anything is copied: names missing on either side
 * (an error listing them, unless `strict: false`), shapes and dtypes. `source` names the
 * checkpoint in errors.
 *
 * @example
 * ```ts
 * const ck = await loadCheckpoint("runs/a");
 * restoreInto(new Map(vit.stateDict()), ck.tensors, ck.info.json);
 * ```
 */
export function restoreInto(
  targets: Map<string, Tensor>,
  loaded: Map<string, HostTensor>,
  source = "checkpoint",
  opts: RestoreOptions = {},
): RestoreResult {
  if (!(targets instanceof Map) || !(loaded instanceof Map)) {
    throw new Error(`restoreInto(${source}): targets and loaded tensors must be Maps by name`);
  }
  const missing = [...targets.keys()].filter((k) => !loaded.has(k));
  const unexpected = [...loaded.keys()].filter((k) => !targets.has(k));
  if ((opts.strict ?? true) && (missing.length > 0 || unexpected.length > 0)) {
    const parts: string[] = [];
    if (missing.length) parts.push(`missing from the checkpoint: ${list(missing)}`);
    if (unexpected.length) {
      parts.push(`in the checkpoint but not in the model: ${list(unexpected)}`);
    }
    throw new Error(
      `restoreInto(${source}): tensor names do not match (${parts.join("; ")}); was the ` +
        `checkpoint written with another config? (pass { strict: false } to restore the ` +
        `common names only)`,
    );
  }
  const bad: string[] = [];
  const todo: [Tensor, HostTensor, string][] = [];
  for (const [name, dst] of targets) {
    const src = loaded.get(name);
    if (!src) continue;
    if (!(dst instanceof Tensor)) {
      bad.push(`'${name}': target is not a Tensor`);
      continue;
    }
    if (dst.disposed) {
      bad.push(`'${name}': target tensor was disposed`);
      continue;
    }
    const shape = Array.isArray(src.shape) ? src.shape : [];
    if (shape.length !== dst.shape.length || shape.some((d, i) => d !== dst.shape[i])) {
      bad.push(`'${name}': checkpoint shape [${shape}] but the tensor has [${dst.shape}]`);
      continue;
    }
    const kind = src.data instanceof Float32Array
      ? "f32"
      : src.data instanceof Int32Array
      ? "i32"
      : undefined;
    if (kind !== dst.dtype) {
      bad.push(
        `'${name}': checkpoint holds ${
          kind ?? src.data?.constructor?.name ?? typeof src.data
        } data but the tensor is ${dst.dtype}`,
      );
      continue;
    }
    todo.push([dst, src, name]);
  }
  if (bad.length) {
    throw new Error(
      `restoreInto(${source}): ${bad.length} tensor${bad.length > 1 ? "s do" : " does"} not ` +
        `fit: ${bad.slice(0, 10).join("; ")}${
          bad.length > 10 ? `; and ${bad.length - 10} more` : ""
        } (nothing restored; build the model with the checkpoint's config)`,
    );
  }
  for (const [dst, src] of todo) copyInto(dst, src);
  return { restored: todo.map(([, , n]) => n), missing, unexpected };
}

// ---------------------------------------------------------------------------------------------
// helpers

function pairPaths(dir: string, stem: string): { json: string; safetensors: string } {
  const prefix = /[\\/]$/.test(dir) ? dir : dir + "/";
  return { json: `${prefix}${stem}.json`, safetensors: `${prefix}${stem}.safetensors` };
}

function splitPath(path: string): { dir: string; base: string } {
  const i = Math.max(
    path.lastIndexOf("/"),
    Deno.build.os === "windows" ? path.lastIndexOf("\\") : -1,
  );
  if (i < 0) return { dir: ".", base: path };
  return { dir: i === 0 ? path.slice(0, 1) : path.slice(0, i), base: path.slice(i + 1) };
}

async function toHostTensor(
  name: string,
  t: Tensor | HostTensor | TensorInput,
  dir: string,
): Promise<TensorInput> {
  const at = `saveCheckpoint('${dir}'): tensor '${name}'`;
  if (t instanceof Tensor) {
    if (t.disposed) throw new Error(`${at} was disposed before the save (nothing written)`);
    return { shape: [...t.shape], data: await t.toArray() };
  }
  if (!t || typeof t !== "object") {
    throw new Error(
      `${at}: expected a Tensor or {shape, data}, got ${String(t)} (nothing written)`,
    );
  }
  if (!(t.data instanceof Float32Array) && !(t.data instanceof Int32Array)) {
    throw new Error(
      `${at}: data must be a Float32Array or an Int32Array, got ${
        describe(t.data)
      } (convert it, e.g. Float32Array.from(data); nothing written)`,
    );
  }
  return { shape: t.shape, data: t.data };
}

/** JSON-safe copy of the meta: non-finite numbers and -0 tagged; non-JSON values rejected. */
function encodeMeta(meta: unknown, op: string): Record<string, unknown> {
  if (!isPlainObject(meta)) {
    throw new Error(`${op}: meta must be a plain object, got ${describe(meta)} (nothing written)`);
  }
  const seen = new Set<object>();
  const enc = (v: unknown, path: string): unknown => {
    if (v === null || typeof v === "string" || typeof v === "boolean") return v;
    if (typeof v === "number") {
      if (Number.isNaN(v)) return { $number: "NaN" };
      if (v === Infinity) return { $number: "Infinity" };
      if (v === -Infinity) return { $number: "-Infinity" };
      if (Object.is(v, -0)) return { $number: "-0" };
      return v;
    }
    const bad = (what: string) =>
      new Error(`${op}: field '${path}' is ${what}, which JSON cannot hold (nothing written)`);
    if (typeof v !== "object") throw bad(typeof v);
    if (ArrayBuffer.isView(v)) {
      throw bad(`a ${v.constructor.name} (put arrays in the tensors Map)`);
    }
    if (seen.has(v)) throw bad("a circular reference");
    seen.add(v);
    try {
      if (Array.isArray(v)) {
        return v.map((x, i) => {
          if (x === undefined) throw bad(`an array holding undefined at [${i}]`);
          return enc(x, `${path}[${i}]`);
        });
      }
      if (!isPlainObject(v)) throw bad(`a ${v.constructor?.name ?? "non-plain object"}`);
      if (Object.keys(v).length === 1 && Object.hasOwn(v, "$number")) {
        throw bad(`an object with the reserved key '$number'`);
      }
      const out: Record<string, unknown> = {};
      for (const [k, x] of Object.entries(v)) {
        if (x === undefined) continue; // JSON's convention: an undefined property is absent
        out[k] = enc(x, path === "" ? k : `${path}.${k}`);
      }
      return out;
    } finally {
      seen.delete(v);
    }
  };
  const prefix = "meta";
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(meta)) {
    if (x === undefined) continue;
    out[k] = enc(x, `${prefix}.${k}`);
  }
  return out;
}

function decodeValue(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(decodeValue);
  if (isPlainObject(v)) {
    const keys = Object.keys(v);
    if (keys.length === 1 && keys[0] === "$number") {
      switch (v.$number) {
        case "NaN":
          return NaN;
        case "Infinity":
          return Infinity;
        case "-Infinity":
          return -Infinity;
        case "-0":
          return -0;
      }
      return v;
    }
    const out: Record<string, unknown> = {};
    for (const k of keys) out[k] = decodeValue(v[k]);
    return out;
  }
  return v;
}

function formatIssues(error: z.ZodError, prefix = ""): string {
  return `invalid checkpoint sidecar: ${describeIssues(error, prefix)}`;
}

async function advice(jsonPath: string): Promise<string> {
  const { dir, base } = splitPath(jsonPath);
  if (base === `${STEM}.json`) {
    const prev = pairPaths(dir, PREV).json;
    return (await exists(prev))
      ? `. Fall back to the previous checkpoint: load '${prev}' (or pass { fallback: true })`
      : `. No previous checkpoint (${prev}) exists: restart the run or restore the files from ` +
        `a backup`;
  }
  return `. Load another checkpoint, or restart the run`;
}

async function readSidecarText(path: string): Promise<string | undefined> {
  try {
    return await Deno.readTextFile(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return undefined;
    throw new Error(`saveCheckpoint: cannot read '${path}': ${message(e)}`);
  }
}

/** Whether a sidecar's text is valid and its tensor file matches it (size and sha256). */
async function pairIsComplete(
  paths: { json: string; safetensors: string },
  text: string,
): Promise<boolean> {
  let sidecar: Sidecar;
  try {
    sidecar = parseSidecar(text, paths.json, "");
  } catch {
    return false;
  }
  let bytes: Uint8Array;
  try {
    bytes = await Deno.readFile(paths.safetensors);
  } catch {
    return false;
  }
  return bytes.length === sidecar.tensors.bytes &&
    await sha256Hex(bytes) === sidecar.tensors.sha256;
}

/** Make `dst` a hard link to (or, where links fail, a copy of) `src`, atomically. */
async function linkOrCopyAtomic(src: string, dst: string): Promise<void> {
  const { dir, base } = splitPath(dst);
  const tmp = `${dir}/.${base}.${randomTag()}.tmp`;
  try {
    try {
      await Deno.link(src, tmp);
    } catch {
      await Deno.copyFile(src, tmp);
      const f = await Deno.open(tmp, { write: true });
      try {
        await f.syncData();
      } finally {
        f.close();
      }
    }
    await Deno.rename(tmp, dst);
  } catch (e) {
    await removeIfExists(tmp).catch(() => {});
    throw new Error(`saveCheckpoint: cannot keep '${src}' as '${dst}': ${message(e)}`);
  }
  await syncDir(dir);
}

async function removeStaleTemps(dir: string): Promise<void> {
  const stale = /^\.checkpoint(\.prev)?\.(json|safetensors)\.[0-9a-f]{12}\.tmp$/;
  try {
    for await (const e of Deno.readDir(dir)) {
      if (e.isFile && stale.test(e.name)) await removeIfExists(`${dir}/${e.name}`);
    }
  } catch { /* best effort */ }
}

async function removeIfExists(path: string): Promise<void> {
  try {
    await Deno.remove(path);
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) {
      throw new Error(`saveCheckpoint: cannot remove '${path}': ${message(e)}`);
    }
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
}

async function syncDir(dir: string): Promise<void> {
  if (Deno.build.os === "windows") return;
  let d: Deno.FsFile | undefined;
  try {
    d = await Deno.open(dir, { read: true });
    await d.syncData();
  } catch {
    /* some file systems refuse fsync on directories */
  } finally {
    try {
      d?.close();
    } catch { /* ignore */ }
  }
}

async function sha256Hex(bytes: Uint8Array): Promise<string> {
  const digest = new Uint8Array(
    await crypto.subtle.digest("SHA-256", bytes as Uint8Array<ArrayBuffer>),
  );
  return Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
}

function randomTag(): string {
  const b = new Uint8Array(6);
  crypto.getRandomValues(b);
  return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
}

function list(names: string[]): string {
  const shown = names.slice(0, 10).map((n) => `'${n}'`).join(", ");
  return names.length > 10 ? `${shown} and ${names.length - 10} more` : shown;
}

function isPlainObject(x: unknown): x is Record<string, unknown> {
  if (typeof x !== "object" || x === null) return false;
  const proto = Object.getPrototypeOf(x);
  return proto === Object.prototype || proto === null;
}

function describe(x: unknown): string {
  if (x === null || x === undefined) return String(x);
  if (ArrayBuffer.isView(x)) return `a ${x.constructor.name}`;
  if (Array.isArray(x)) return "an array";
  if (typeof x === "object") return `a ${x.constructor?.name ?? "object"}`;
  return `${typeof x} ${String(x)}`;
}

function message(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
