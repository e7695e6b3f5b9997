/**
 * Local-group discrimination (Mugs): the same InfoNCE form as the instance loss
 * (`instance.ts`), applied to the local-group features, with its own queue of teacher
 * local-group targets.
 *
 * Official pairing (`src/model.py`, `src/loss.py`, `main.py`): the local-group feature
 * is computed for every crop (the backbone returns the local-group token for each crop
 * batch, global and local), so the student provides 2 global + `n` local views and the
 * teacher its 2 global views; the loss is a second `InfoNCELoss` instance with the
 * same pairing (teacher view t with every student view v != t) and the same averaging
 * (large and small crops separately, then `0.5 * (large + small)`), temperature 0.2, no
 * `2 * T` factor. Its queue is refreshed with both teacher views' local-group targets
 * after the loss (view 0 first), exactly as the instance queue.
 */
import type { Tensor } from "../tensor/tensor.ts";
import { multiCropInfoNCE, type MultiCropInfoNCEOptions } from "./instance.ts";

/**
 * The local-group loss of Mugs: multi-crop InfoNCE of the student's local-group
 * predictions `student` [V_s*B, D] against the teacher's local-group targets `teacher`
 * [V_t*B, D], with the local-group queue [K, D] of negatives (T = 0.2 by default).
 *
 * @example
 * ```ts
 * const loss = localGroupLoss(studentLG, teacherLG, lgQueue, { studentViews: 2 + nLocal });
 * ```
 */
export function localGroupLoss(
  student: Tensor,
  teacher: Tensor,
  queue: Tensor,
  opts: MultiCropInfoNCEOptions,
): Tensor {
  return multiCropInfoNCE("localGroupLoss", student, teacher, queue, opts);
}
