/**
 * `Module`: named parameters, buffers and child modules in a stable (registration) order,
 * with PyTorch-style dotted names (`blocks.3.attn.qkv.weight`), train/eval modes and
 * state dicts that are shape-checked on load.
 */
import { Tensor } from "../tensor/tensor.ts";
import { keep } from "../tensor/scope.ts";

/** A host-side tensor as read from a weight file. */
export interface HostTensor {
  shape: number[];
  data: Float32Array | Int32Array | Uint8Array;
}

/** Names that did not line up in `loadStateDict`. */
export interface LoadResult {
  missing: string[];
  unexpected: string[];
}

export class Module {
  /** Training mode (dropout/stochastic depth active); set with `train()`/`eval()`. */
  training = true;
  #params = new Map<string, Tensor>();
  #buffers = new Map<string, Tensor>();
  #children = new Map<string, Module>();

  /** Register a trainable parameter (it is marked `requiresGrad` and kept out of `tidy`). */
  protected param(name: string, t: Tensor): Tensor {
    if (this.#params.has(name) || this.#children.has(name)) {
      throw new Error(`duplicate name '${name}'`);
    }
    t.requiresGrad = true;
    this.#params.set(name, keep(t));
    return t;
  }

  /** Register a non-trainable state tensor (saved in the state dict). */
  protected buffer(name: string, t: Tensor): Tensor {
    if (this.#buffers.has(name)) throw new Error(`duplicate buffer '${name}'`);
    this.#buffers.set(name, keep(t));
    return t;
  }

  /** Register a child module. */
  protected module<M extends Module>(name: string, m: M): M {
    if (this.#children.has(name) || this.#params.has(name)) {
      throw new Error(`duplicate name '${name}'`);
    }
    this.#children.set(name, m);
    return m;
  }

  /** Child modules with their names. */
  children(): [string, Module][] {
    return [...this.#children];
  }

  /**
   * Parameters with dotted names, depth-first in registration order (like PyTorch).
   *
   * @example
   * ```ts
   * for (const [name, p] of vit.namedParameters()) console.log(name, p.shape);
   * ```
   */
  namedParameters(prefix = ""): [string, Tensor][] {
    const out: [string, Tensor][] = [];
    for (const [n, p] of this.#params) out.push([prefix + n, p]);
    for (const [n, c] of this.#children) out.push(...c.namedParameters(`${prefix}${n}.`));
    return out;
  }

  /** The parameters, in `namedParameters` order. */
  parameters(): Tensor[] {
    return this.namedParameters().map(([, p]) => p);
  }

  /** Buffers with dotted names. */
  namedBuffers(prefix = ""): [string, Tensor][] {
    const out: [string, Tensor][] = [];
    for (const [n, b] of this.#buffers) out.push([prefix + n, b]);
    for (const [n, c] of this.#children) out.push(...c.namedBuffers(`${prefix}${n}.`));
    return out;
  }

  /** Set training mode on this module and its children. */
  train(on = true): this {
    this.training = on;
    for (const c of this.#children.values()) c.train(on);
    return this;
  }

  /** Evaluation mode (no stochastic depth). */
  eval(): this {
    return this.train(false);
  }

  /** Parameters and buffers by name (the tensors themselves, not copies). */
  stateDict(): Map<string, Tensor> {
    return new Map([...this.namedParameters(), ...this.namedBuffers()]);
  }

  /** Number of trainable scalars. */
  numParameters(): number {
    return this.parameters().reduce((a, p) => a + p.size, 0);
  }

  /**
   * Copy tensors into this module's parameters and buffers by name. Shapes must match
   * exactly; with `strict` (default) missing or unexpected names are an error that lists them.
   *
   * @example
   * ```ts
   * const { missing, unexpected } = vit.loadStateDict(file.tensors, { strict: false });
   * ```
   */
  loadStateDict(
    state: Map<string, Tensor | HostTensor> | Record<string, Tensor | HostTensor>,
    opts: { strict?: boolean; source?: string } = {},
  ): LoadResult {
    const src = state instanceof Map ? state : new Map(Object.entries(state));
    const own = this.stateDict();
    const missing = [...own.keys()].filter((k) => !src.has(k));
    const unexpected = [...src.keys()].filter((k) => !own.has(k));
    const where = opts.source ? `${opts.source}: ` : "";
    if ((opts.strict ?? true) && (missing.length || unexpected.length)) {
      throw new Error(
        `${where}state dict does not match the model: missing [${missing.join(", ")}], ` +
          `unexpected [${unexpected.join(", ")}]`,
      );
    }
    for (const [name, dst] of own) {
      const s = src.get(name);
      if (!s) continue;
      if (s.shape.join() !== dst.shape.join()) {
        throw new Error(
          `${where}'${name}' has shape [${s.shape}] but the model expects [${dst.shape}]`,
        );
      }
    }
    for (const [name, dst] of own) {
      const s = src.get(name);
      if (!s) continue;
      copyInto(dst, s);
    }
    return { missing, unexpected };
  }
}

/** Overwrite `dst`'s data with `src` (same shape). */
export function copyInto(dst: Tensor, src: Tensor | HostTensor): void {
  if (src instanceof Tensor) {
    dst.storage!.rt.copy(src.buffer, 0, dst.buffer, 0, dst.size * 4);
    return;
  }
  const data = dst.dtype === "i32" ? Int32Array.from(src.data) : Float32Array.from(src.data);
  dst.storage!.rt.upload(dst.buffer, data);
}

/** A list of modules named "0", "1", … (PyTorch's `nn.ModuleList`). */
export class ModuleList<M extends Module = Module> extends Module {
  readonly items: M[];

  /**
   * @example
   * ```ts
   * const blocks = new ModuleList([new Block(cfg), new Block(cfg)]);
   * ```
   */
  constructor(items: M[]) {
    super();
    this.items = items;
    items.forEach((m, i) => this.module(String(i), m));
  }

  get length(): number {
    return this.items.length;
  }
}
