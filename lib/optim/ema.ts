/** Exponential moving average of one module's parameters into another's (teacher = EMA of student). */
import type { Module } from "../nn/module.ts";
import { emaKernel } from "./kernels.ts";

/**
 * teacher = momentum * teacher + (1 - momentum) * student, parameter by parameter
 * (matched by name; both modules must have the same structure).
 *
 * @example
 * ```ts
 * emaUpdate(teacher, student, 0.996);
 * ```
 */
export function emaUpdate(teacher: Module, student: Module, momentum: number): void {
  const s = new Map(student.namedParameters());
  for (const [name, t] of teacher.namedParameters()) {
    const p = s.get(name);
    if (!p) throw new Error(`emaUpdate: the student has no parameter '${name}'`);
    if (p.shape.join() !== t.shape.join()) {
      throw new Error(
        `emaUpdate: '${name}' is [${t.shape}] in the teacher but [${p.shape}] in the student`,
      );
    }
    emaKernel(t, p, momentum);
  }
}
