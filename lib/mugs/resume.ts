/**
 * Save and restore the whole Mugs training state (student, teacher, AdamW moments and step
 * counts, both queues, both local-group memories with the dataset index of each entry's
 * image, the group loss's centre, the stochastic-depth generator) through
 * `lib/io/checkpoint.ts`, so a resumed run continues bit for bit.
 *
 * The memories' dataset indices are the i32 tensors `teacher_memory.sources` and
 * `student_memory.sources`. A checkpoint written before the memories kept them still
 * resumes: every entry's image is then unknown (-1) until the run overwrites it, so the
 * neighbour purity of the first epoch after such a resume counts those entries as misses.
 */
import type { MugsState } from "./step.ts";
import type { Tensor } from "../tensor/tensor.ts";
import type { FifoQueue } from "../memory/queue.ts";
import type { LocalGroupMemory } from "../memory/local_group.ts";
import { loadCheckpoint, restoreInto, saveCheckpoint } from "../io/checkpoint.ts";

const RINGS = ["instance_queue", "local_group_queue", "teacher_memory", "student_memory"] as const;

function rings(s: MugsState): Record<(typeof RINGS)[number], FifoQueue | LocalGroupMemory> {
  return {
    instance_queue: s.instanceQueue,
    local_group_queue: s.localGroupQueue,
    teacher_memory: s.teacherMemory,
    student_memory: s.studentMemory,
  };
}

/** The tensors restored in place by name (models, optimiser moments, centre). */
function liveTensors(s: MugsState): Map<string, Tensor> {
  const out = new Map<string, Tensor>();
  for (const [n, t] of s.student.stateDict()) out.set(`student.${n}`, t);
  for (const [n, t] of s.teacher.stateDict()) out.set(`teacher.${n}`, t);
  for (const [n, t] of s.optimizer.stateDict().tensors) out.set(`optimizer.${n}`, t);
  out.set("group_loss.center", s.groupLoss.center);
  return out;
}

/**
 * Write the training state to `dir` (atomically; see `saveCheckpoint`), with `meta`
 * (epoch, step, config, …) in the JSON sidecar.
 *
 * @example
 * ```ts
 * await saveTrainingState("out/ckpt", state, { epoch: 1, step: 120 });
 * ```
 */
export async function saveTrainingState(
  dir: string,
  s: MugsState,
  meta: { epoch: number; step: number; [key: string]: unknown },
): Promise<void> {
  const tensors = new Map<string, Tensor | { shape: number[]; data: Float32Array | Int32Array }>(
    liveTensors(s),
  );
  const queues: Record<string, { pointer: number; filled: number }> = {};
  for (const [name, ring] of Object.entries(rings(s))) {
    const st = await ring.state();
    tensors.set(`${name}.rows`, { shape: [...st.shape], data: st.data });
    if ("sources" in st && st.sources instanceof Int32Array) {
      tensors.set(`${name}.sources`, { shape: [st.shape[0]], data: st.sources });
    }
    queues[name] = { pointer: st.pointer, filled: st.filled };
  }
  await saveCheckpoint(dir, {
    tensors,
    meta: {
      ...meta,
      optimizerSteps: s.optimizer.stateDict().steps,
      queues,
      rng: { dropPath: s.student.backbone.gen.getState() },
    },
  });
}

/**
 * Restore a state written by `saveTrainingState` into a freshly built `MugsState` of the same
 * configuration; returns the sidecar's meta (epoch, step, …).
 *
 * @example
 * ```ts
 * const meta = await restoreTrainingState("out/ckpt", state);
 * ```
 */
export async function restoreTrainingState(
  dir: string,
  s: MugsState,
): Promise<Record<string, unknown> & { epoch: number; step: number }> {
  const loaded = await loadCheckpoint(dir, { fallback: true });
  const meta = loaded.meta as Record<string, unknown> & {
    epoch: number;
    step: number;
    optimizerSteps?: Record<string, number>;
    queues?: Record<string, { pointer: number; filled: number }>;
    rng?: { dropPath?: number[] };
  };
  const ringNames = new Set(RINGS.flatMap((r) => [`${r}.rows`, `${r}.sources`]));
  const modelPart = new Map([...loaded.tensors].filter(([n]) => !ringNames.has(n)));
  restoreInto(liveTensors(s), modelPart, dir);
  if (!meta.optimizerSteps) throw new Error(`${dir}: checkpoint has no optimizerSteps`);
  s.optimizer.setSteps(meta.optimizerSteps);
  for (const [name, ring] of Object.entries(rings(s))) {
    const rows = loaded.tensors.get(`${name}.rows`);
    const q = meta.queues?.[name];
    if (!rows || !q) throw new Error(`${dir}: checkpoint has no state for '${name}'`);
    const state = {
      shape: [rows.shape[0], rows.shape[1]] as [number, number],
      data: Float32Array.from(rows.data),
      pointer: q.pointer,
      filled: q.filled,
    };
    // a memory restored without sources (an older checkpoint) keeps its images as unknown
    const sources = loaded.tensors.get(`${name}.sources`);
    if (sources && !(sources.data instanceof Int32Array)) {
      throw new Error(`${dir}: '${name}.sources' must be an i32 tensor, got ${sources.dtype}`);
    }
    ring.load(sources ? { ...state, sources: sources.data as Int32Array } : state);
  }
  if (!meta.rng?.dropPath) throw new Error(`${dir}: checkpoint has no stochastic-depth RNG state`);
  s.student.backbone.gen.setState(meta.rng.dropPath);
  return meta;
}
