/**
 * The self-supervised losses: instance and local-group InfoNCE with queues, the DINO/Mugs
 * group loss (centring and sharpening), SwAV's swapped prediction with Sinkhorn-Knopp codes,
 * the multi-crop pairing rule and the weighted total.
 *
 * @example
 * ```ts
 * import { instanceLoss } from "./lib/losses/mod.ts";
 * const loss = instanceLoss(studentPred, teacherTarget, queue, { studentViews: 6 });
 * ```
 * @module
 */
export * from "./pairing.ts";
export * from "./instance.ts";
export * from "./local_group.ts";
export * from "./group.ts";
export * from "./swav.ts";
export * from "./total.ts";
