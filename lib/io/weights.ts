/** Module state <-> safetensors: read every tensor back from the GPU, or load a file into a module. */
import type { Module } from "../nn/module.ts";
import { readSafetensors, type SafeFile, writeSafetensors } from "./safetensors.ts";
import type { Tensor } from "../tensor/tensor.ts";

/**
 * Copy named tensors to the host, in order.
 *
 * @example
 * ```ts
 * const host = await toHost(vit.stateDict());
 * ```
 */
export async function toHost(
  tensors: Map<string, Tensor> | [string, Tensor][],
): Promise<Map<string, { shape: number[]; data: Float32Array | Int32Array }>> {
  const out = new Map<string, { shape: number[]; data: Float32Array | Int32Array }>();
  for (const [name, t] of tensors) out.set(name, { shape: [...t.shape], data: await t.toArray() });
  return out;
}

/**
 * Write a module's parameters and buffers as safetensors (atomically), with metadata.
 *
 * @example
 * ```ts
 * await saveModule(vit, "vit.safetensors", { config: JSON.stringify(vit.config) });
 * ```
 */
export async function saveModule(
  m: Module,
  path: string,
  metadata: Record<string, string> = {},
): Promise<void> {
  await writeSafetensors(path, await toHost(m.stateDict()), { format: "pt", ...metadata });
}

/**
 * Read a safetensors file (path or URL) and load it into `m` by name (shape-checked).
 *
 * @example
 * ```ts
 * const file = await loadModule(vit, "dino_vits16.safetensors");
 * ```
 */
export async function loadModule(
  m: Module,
  pathOrUrl: string | URL,
  strict = true,
): Promise<SafeFile> {
  const file = await readSafetensors(pathOrUrl);
  m.loadStateDict(file.tensors, { strict, source: String(pathOrUrl) });
  return file;
}
