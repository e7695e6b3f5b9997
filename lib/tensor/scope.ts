/**
 * Scopes that release intermediate tensors: `tidy(fn)` disposes every tensor made
 * inside `fn` except those it returns (or `keep()`s), like tf.tidy. GPU memory is not
 * garbage collected, so a training step runs inside `tidy` to stay flat.
 */

/** Anything a scope can track. */
export interface Disposable {
  dispose(): void;
  readonly disposed: boolean;
}

const stack: Set<Disposable>[] = [];

/** Register a new tensor with the innermost scope (no-op outside scopes). */
export function track(t: Disposable): void {
  if (stack.length) stack[stack.length - 1].add(t);
}

/** Remove `t` from every open scope so it outlives them; returns `t`. */
export function keep<T extends Disposable>(t: T): T {
  for (const s of stack) s.delete(t);
  return t;
}

function collect(value: unknown, out: Set<Disposable>, seen = new Set<unknown>()): void {
  if (value === null || typeof value !== "object" || seen.has(value)) return;
  seen.add(value);
  if (typeof (value as Disposable).dispose === "function" && "disposed" in (value as object)) {
    out.add(value as Disposable);
    return;
  }
  if (Array.isArray(value)) { for (const v of value) collect(v, out, seen); }
  else if (value instanceof Map) { for (const v of value.values()) collect(v, out, seen); }
  else if (Object.getPrototypeOf(value) === Object.prototype) {
    for (const v of Object.values(value as object)) collect(v, out, seen);
  }
}

/**
 * Run `fn`, then dispose every tensor created during it that is not part of its
 * result. `fn` must be synchronous.
 *
 * @example
 * ```ts
 * const y = tidy(() => x.mul(2).add(1)); // the x*2 intermediate is released
 * ```
 */
export function tidy<T>(fn: () => T): T {
  const scope = new Set<Disposable>();
  stack.push(scope);
  let result: T;
  try {
    result = fn();
    if (result instanceof Promise) {
      throw new Error("tidy(fn): fn must be synchronous (it returned a Promise)");
    }
  } catch (e) {
    stack.pop();
    for (const t of scope) if (!t.disposed) t.dispose();
    throw e;
  }
  stack.pop();
  release(scope, result);
  return result;
}

/** Dispose what `scope` tracked except the tensors in `result` (handed to the enclosing scope). */
function release(scope: Set<Disposable>, result: unknown): void {
  const kept = new Set<Disposable>();
  collect(result, kept);
  for (const t of scope) {
    if (kept.has(t)) track(t);
    else if (!t.disposed) t.dispose();
  }
}

/**
 * `tidy` for an async `fn` (profiling: sync the GPU between phases of one step). Only
 * `fn`'s own work may create tensors until it settles: anything else that runs meanwhile
 * would land in this scope too.
 *
 * @example
 * ```ts
 * await tidyAsync(async () => { const y = x.mul(2); await sync(); return y.sum(); });
 * ```
 */
export async function tidyAsync<T>(fn: () => Promise<T>): Promise<T> {
  const scope = new Set<Disposable>();
  stack.push(scope);
  const close = () => {
    const i = stack.lastIndexOf(scope);
    if (i !== stack.length - 1) throw new Error("tidyAsync: scopes closed out of order");
    stack.pop();
  };
  let result: T;
  try {
    result = await fn();
  } catch (e) {
    close();
    for (const t of scope) if (!t.disposed) t.dispose();
    throw e;
  }
  close();
  release(scope, result);
  return result;
}
