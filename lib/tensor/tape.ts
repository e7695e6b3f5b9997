/**
 * The autograd tape. An op whose inputs need a gradient records a node on its output:
 * the op's name, its inputs and a backward function mapping the output's gradient to
 * the inputs' gradients. `backward()` walks the nodes in reverse topological order and
 * accumulates into leaves' `.grad` (summing into an existing `.grad`, as PyTorch does).
 */
import type { Tensor } from "./tensor.ts";
import { keep } from "./scope.ts";

/** One recorded op. */
export interface Node {
  name: string;
  inputs: Tensor[];
  /** Gradients for each input (null where an input needs none). May return `g` itself. */
  backward: (g: Tensor) => (Tensor | null)[];
}

let enabled = true;

/** Whether ops currently record on the tape. */
export function gradEnabled(): boolean {
  return enabled;
}

/**
 * Run `fn` without recording gradients (like `torch.no_grad()`).
 *
 * @example
 * ```ts
 * const y = noGrad(() => teacher.forward(x));
 * ```
 */
export function noGrad<T>(fn: () => T): T {
  const prev = enabled;
  enabled = false;
  try {
    const r = fn();
    if (r instanceof Promise) {
      return r.finally(() => (enabled = prev)) as T;
    }
    enabled = prev;
    return r;
  } catch (e) {
    enabled = prev;
    throw e;
  }
}

/** Attach a node to `out` when grad mode is on and an input requires a gradient. */
export function record(
  out: Tensor,
  name: string,
  inputs: Tensor[],
  backward: (g: Tensor) => (Tensor | null)[],
): Tensor {
  if (enabled && inputs.some((t) => t.requiresGrad)) {
    out.requiresGrad = true;
    out.node = { name, inputs, backward };
  }
  return out;
}

/** Back-propagate from `root` with upstream gradient `grad` (no graph of the backward is built). */
export function runBackward(root: Tensor, grad: Tensor): void {
  noGrad(() => backwardPass(root, grad));
}

function backwardPass(root: Tensor, grad: Tensor): void {
  // reverse topological order by iterative DFS
  const order: Tensor[] = [];
  const seen = new Set<Tensor>();
  const stack: [Tensor, number][] = [[root, 0]];
  seen.add(root);
  while (stack.length) {
    const top = stack[stack.length - 1];
    const [t, i] = top;
    const inputs = t.node?.inputs ?? [];
    if (i < inputs.length) {
      top[1]++;
      const c = inputs[i];
      if (c.requiresGrad && !seen.has(c)) {
        seen.add(c);
        stack.push([c, 0]);
      }
    } else {
      order.push(t);
      stack.pop();
    }
  }

  const grads = new Map<Tensor, Tensor>();
  const holds = new Map<Tensor, number>();
  const protect = new Set<Tensor>([grad]);
  const hold = (t: Tensor) => holds.set(t, (holds.get(t) ?? 0) + 1);
  const release = (t: Tensor) => {
    const n = (holds.get(t) ?? 1) - 1;
    if (n > 0) return void holds.set(t, n);
    holds.delete(t);
    if (!protect.has(t)) t.dispose();
  };
  const accumulate = (x: Tensor, gi: Tensor, current: Tensor) => {
    if (gi.shape.join() !== x.shape.join()) {
      throw new Error(
        `backward of '${
          x.node?.name ?? "leaf"
        }': gradient shape [${gi.shape}] does not match [${x.shape}]`,
      );
    }
    const old = grads.get(x);
    if (!old) {
      grads.set(x, gi);
      hold(gi);
      return;
    }
    const s = old.add(gi);
    grads.set(x, s);
    hold(s);
    release(old);
    if (gi !== current && !holds.has(gi) && !protect.has(gi)) gi.dispose();
  };

  grads.set(root, grad);
  hold(grad);
  for (let k = order.length - 1; k >= 0; k--) {
    const t = order[k];
    const g = grads.get(t);
    if (!g) continue;
    grads.delete(t);
    const node = t.node;
    if (node) {
      const gs = node.backward(g);
      for (let i = 0; i < node.inputs.length; i++) {
        const gi = gs[i];
        const x = node.inputs[i];
        if (gi && x.requiresGrad) accumulate(x, gi, g);
        else if (gi && gi !== g && !holds.has(gi)) gi.dispose();
      }
      t.node = null; // free the graph (retain_graph=False)
      release(g);
    } else {
      // a leaf
      let mine: Tensor;
      if (holds.get(g) === 1 && !protect.has(g)) {
        holds.delete(g);
        mine = g;
      } else {
        mine = g.mul(1);
        release(g);
      }
      if (t.grad) {
        const s = t.grad.add(mine);
        t.grad.dispose();
        mine.dispose();
        mine = s;
      }
      protect.add(mine);
      t.grad = keep(mine);
    }
  }
}
