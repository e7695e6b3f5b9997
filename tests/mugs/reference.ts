/**
 * Float64 host references of Mugs' heads and local-group transformer (sail-sg/mugs
 * `src/model.py` and `src/vision_transformer.py`, formula by formula), reusing the reference
 * ViT pieces of tests/nn/reference.ts.
 */
import { attention, gelu, layerNorm, linear, type Weights } from "../nn/reference.ts";

/** A weight by name (throws when missing). */
export function get(w: Weights, name: string): Float64Array {
  const t = w.get(name);
  if (!t) throw new Error(`reference: no weight ${name}`);
  return t.data;
}

/** Rows of length L divided by max(||row||, 1e-12) (F.normalize). */
export function l2rows(x: Float64Array, L: number): Float64Array {
  const y = new Float64Array(x.length);
  for (let r = 0; r < x.length / L; r++) {
    let s = 0;
    for (let i = 0; i < L; i++) s += x[r * L + i] ** 2;
    const n = Math.max(Math.sqrt(s), 1e-12);
    for (let i = 0; i < L; i++) y[r * L + i] = x[r * L + i] / n;
  }
  return y;
}

/**
 * An `nn.Sequential(Linear, GELU, …, Linear)` named `<prefix>.0`, `<prefix>.2`, … (or a bare
 * Linear `<prefix>` when `single`), on rows x [R, in]; widths come from the weights.
 */
export function mlp(w: Weights, prefix: string, x: Float64Array, R: number, single = false) {
  const names: string[] = [];
  if (single) names.push(prefix);
  else for (let i = 0; w.has(`${prefix}.${2 * i}.weight`); i++) names.push(`${prefix}.${2 * i}`);
  let h = x;
  let dim = x.length / R;
  names.forEach((n, i) => {
    if (i > 0) h = gelu(h);
    const [O, I] = w.get(`${n}.weight`)!.shape;
    if (I !== dim) throw new Error(`reference: ${n} expects ${I} inputs, got ${dim}`);
    h = linear(h, R, I, get(w, `${n}.weight`), w.has(`${n}.bias`) ? get(w, `${n}.bias`) : null, O);
    dim = O;
  });
  return { out: h, dim };
}

/** Instance / local-group head: normalize(projector(x)), or the student's prediction. */
export function instanceHead(
  w: Weights,
  x: Float64Array,
  R: number,
  opts: { predict: boolean; normBeforePred?: boolean },
): Float64Array {
  const p = mlp(w, "projector", x, R);
  if (!opts.predict) return l2rows(p.out, p.dim);
  const feat = opts.normBeforePred ?? true ? l2rows(p.out, p.dim) : p.out;
  const q = mlp(w, "predictor", feat, R);
  return l2rows(q.out, q.dim);
}

/** Weight norm: W[o, i] = g[o] * v[o, i] / ||v[o, :]||. */
export function weightNorm(g: Float64Array, v: Float64Array, O: number, I: number): Float64Array {
  const W = new Float64Array(O * I);
  for (let o = 0; o < O; o++) {
    let s = 0;
    for (let i = 0; i < I; i++) s += v[o * I + i] ** 2;
    const n = Math.sqrt(s);
    for (let i = 0; i < I; i++) W[o * I + i] = (g[o] * v[o * I + i]) / n;
  }
  return W;
}

/** Group head: last_layer(normalize(projector(x))) with a weight-normalised last layer. */
export function groupHead(w: Weights, x: Float64Array, R: number, single = false): Float64Array {
  const p = mlp(w, "projector", x, R, single);
  const z = l2rows(p.out, p.dim);
  const [O, I] = w.get("last_layer.weight_v")!.shape;
  const W = weightNorm(get(w, "last_layer.weight_g"), get(w, "last_layer.weight_v"), O, I);
  return linear(z, R, I, W, null, O);
}

/** One pre-norm ViT block `<prefix>` on x [B, N, D] (DINO's Block, no stochastic depth). */
export function block(
  w: Weights,
  prefix: string,
  x: Float64Array,
  B: number,
  N: number,
  D: number,
  H: number,
  eps: number,
): Float64Array {
  const g = (n: string) => get(w, prefix + n);
  const h1 = layerNorm(x, B * N, D, g("norm1.weight"), g("norm1.bias"), eps);
  const a = attention(
    h1,
    B,
    N,
    D,
    H,
    g("attn.qkv.weight"),
    w.has(prefix + "attn.qkv.bias") ? g("attn.qkv.bias") : null,
    g("attn.proj.weight"),
    g("attn.proj.bias"),
  );
  const x1 = x.map((v, i) => v + a.out[i]);
  const h2 = layerNorm(x1, B * N, D, g("norm2.weight"), g("norm2.bias"), eps);
  const hidden = w.get(prefix + "mlp.fc1.weight")!.shape[0];
  const m = linear(
    gelu(linear(h2, B * N, D, g("mlp.fc1.weight"), g("mlp.fc1.bias"), hidden)),
    B * N,
    hidden,
    g("mlp.fc2.weight"),
    g("mlp.fc2.bias"),
    D,
  );
  return x1.map((v, i) => v + m[i]);
}

/**
 * The local-group transformer: [query; neighbours] [B, 1 + k, D] through the blocks
 * `relation_blocks.N.`, token 0, then the final norm (`norm.weight`, `norm.bias`).
 */
export function localGroupTransformer(
  w: Weights,
  query: Float64Array,
  neighbours: Float64Array,
  B: number,
  k: number,
  D: number,
  H: number,
  eps: number,
): Float64Array {
  const T = k + 1;
  let x: Float64Array = new Float64Array(B * T * D);
  for (let b = 0; b < B; b++) {
    for (let d = 0; d < D; d++) x[b * T * D + d] = query[b * D + d];
    for (let j = 0; j < k * D; j++) x[(b * T + 1) * D + j] = neighbours[b * k * D + j];
  }
  for (let i = 0; w.has(`relation_blocks.${i}.norm1.weight`); i++) {
    x = block(w, `relation_blocks.${i}.`, x, B, T, D, H, eps);
  }
  const first = new Float64Array(B * D);
  for (let b = 0; b < B; b++) for (let d = 0; d < D; d++) first[b * D + d] = x[b * T * D + d];
  return layerNorm(first, B, D, get(w, "norm.weight"), get(w, "norm.bias"), eps);
}
