/**
 * A seeded random generator computed on the host in exact integer arithmetic, so the
 * same seed gives the same numbers on every adapter (GPU or software).
 *
 * xoshiro128** for uniforms (24-bit mantissa floats in [0, 1)), Box-Muller in float64
 * for normals. The state is four uint32 words and can be saved and restored.
 */

/** A seeded random number generator. */
export class Generator {
  #s: Uint32Array;
  #spare: number | null = null;

  /**
   * @example
   * ```ts
   * const g = new Generator(0);
   * g.uniform(); // a number in [0, 1)
   * ```
   */
  constructor(seed: number) {
    if (!Number.isFinite(seed) || !Number.isInteger(seed)) {
      throw new Error(`random seed must be a finite integer, got ${seed}`);
    }
    // splitmix32 expands the seed into the 128-bit state
    let x = (seed >>> 0) ^ Math.floor(seed / 2 ** 32);
    const s = new Uint32Array(4);
    for (let i = 0; i < 4; i++) {
      x = (x + 0x9e3779b9) >>> 0;
      let z = x;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
      s[i] = (z ^ (z >>> 16)) >>> 0;
    }
    if (s[0] === 0 && s[1] === 0 && s[2] === 0 && s[3] === 0) s[0] = 1;
    this.#s = s;
  }

  /** Next raw 32-bit word. */
  nextU32(): number {
    const s = this.#s;
    const r = Math.imul(rotl(Math.imul(s[1], 5) >>> 0, 7), 9) >>> 0;
    const t = (s[1] << 9) >>> 0;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 11);
    return r;
  }

  /** Uniform in [0, 1), exactly representable in float32. */
  uniform(): number {
    return (this.nextU32() >>> 8) / 16777216;
  }

  /** Uniform in [lo, hi). */
  range(lo: number, hi: number): number {
    return lo + (hi - lo) * this.uniform();
  }

  /** Integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.uniform() * n);
  }

  /** Standard normal (Box-Muller, float64). */
  normal(): number {
    if (this.#spare !== null) {
      const v = this.#spare;
      this.#spare = null;
      return v;
    }
    let u1 = 0;
    while (u1 === 0) u1 = this.uniform();
    const u2 = this.uniform();
    const r = Math.sqrt(-2 * Math.log(u1));
    this.#spare = r * Math.sin(2 * Math.PI * u2);
    return r * Math.cos(2 * Math.PI * u2);
  }

  /** A random permutation of 0..n-1 (Fisher-Yates). */
  permutation(n: number): Int32Array {
    const p = new Int32Array(n);
    for (let i = 0; i < n; i++) p[i] = i;
    for (let i = n - 1; i > 0; i--) {
      const j = this.int(i + 1);
      const t = p[i];
      p[i] = p[j];
      p[j] = t;
    }
    return p;
  }

  /** The state, for checkpoints. */
  getState(): number[] {
    return [...this.#s, this.#spare === null ? NaN : this.#spare];
  }

  /** Restore a state returned by `getState()`. */
  setState(state: number[]): void {
    if (state.length !== 5) {
      throw new Error(`generator state must have 5 numbers, got ${state.length}`);
    }
    this.#s = Uint32Array.from(state.slice(0, 4));
    this.#spare = Number.isNaN(state[4]) ? null : state[4];
  }
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}

let global = new Generator(0);

/**
 * Seed the global generator used by `randn`/`rand` when no seed is given.
 *
 * @example
 * ```ts
 * manualSeed(42);
 * ```
 */
export function manualSeed(seed: number): void {
  global = new Generator(seed);
}

/** The global generator. */
export function defaultGenerator(): Generator {
  return global;
}
