/**
 * Memory buffers of the Mugs training state: the InfoNCE negative queue (`FifoQueue`)
 * and the local-group memory with cosine top-k neighbour search (`LocalGroupMemory`), and
 * the neighbour purity of what the memory retrieves (`neighbourPurity`).
 *
 * @example
 * ```ts
 * import { FifoQueue, LocalGroupMemory } from "./lib/memory/mod.ts";
 * ```
 */
export {
  checkBatch,
  checkState,
  FifoQueue,
  type FifoQueueOptions,
  type QueueInit,
  type RingState,
} from "./queue.ts";
export {
  type KeepMask,
  LocalGroupMemory,
  type LocalGroupMemoryOptions,
  type MemoryState,
  MUGS_MEMORY_SIZE,
  MUGS_TOP_K,
  type Neighbours,
  UNKNOWN_SOURCE,
} from "./local_group.ts";
export {
  addPurity,
  emptyPurity,
  imagePurity,
  neighbourPurity,
  type Purity,
  purityChance,
  purityValue,
  queryImages,
  readPurity,
} from "./purity.ts";
