/**
 * A float64 reference ViT on the host (DINO's vision_transformer.py, line by line), used to
 * check the GPU modules' forward passes and, by finite differences, their gradients.
 */

/** Named float64 weights with shapes. */
export type Weights = Map<string, { shape: number[]; data: Float64Array }>;

/** y[r, o] = sum_i x[r, i] w[o, i] + b[o]; x is [R, I]. */
export function linear(
  x: Float64Array,
  R: number,
  I: number,
  w: Float64Array,
  b: Float64Array | null,
  O: number,
) {
  const y = new Float64Array(R * O);
  for (let r = 0; r < R; r++) {
    for (let o = 0; o < O; o++) {
      let s = b ? b[o] : 0;
      for (let i = 0; i < I; i++) s += x[r * I + i] * w[o * I + i];
      y[r * O + o] = s;
    }
  }
  return y;
}

/** LayerNorm over rows of length D (biased variance). */
export function layerNorm(
  x: Float64Array,
  R: number,
  D: number,
  w: Float64Array,
  b: Float64Array,
  eps: number,
) {
  const y = new Float64Array(R * D);
  for (let r = 0; r < R; r++) {
    let m = 0;
    for (let i = 0; i < D; i++) m += x[r * D + i];
    m /= D;
    let v = 0;
    for (let i = 0; i < D; i++) v += (x[r * D + i] - m) ** 2;
    v /= D;
    const rs = 1 / Math.sqrt(v + eps);
    for (let i = 0; i < D; i++) y[r * D + i] = (x[r * D + i] - m) * rs * w[i] + b[i];
  }
  return y;
}

/** erf to float64 precision (series for |x| < 3, asymptotic beyond). */
export function erf(x: number): number {
  const t = Math.abs(x);
  if (t < 3) {
    let sum = 0;
    let term = t;
    for (let n = 0; n < 200; n++) {
      const add = term / (2 * n + 1);
      sum += add;
      if (Math.abs(add) < 1e-17 * Math.abs(sum)) break;
      term *= (-t * t) / (n + 1);
    }
    return (Math.sign(x) * 2 * sum) / Math.sqrt(Math.PI);
  }
  let s = 1;
  let term = 1;
  for (let n = 1; n < 12; n++) {
    term *= -(2 * n - 1) / (2 * t * t);
    s += term;
  }
  return Math.sign(x) * (1 - (Math.exp(-t * t) / (t * Math.sqrt(Math.PI))) * s);
}

export function gelu(x: Float64Array): Float64Array {
  return x.map((v) => 0.5 * v * (1 + erf(v / Math.SQRT2)));
}

/** Multi-head attention on [B, N, C] with fused qkv weights; returns [B, N, C] and the maps. */
export function attention(
  x: Float64Array,
  B: number,
  N: number,
  C: number,
  H: number,
  wqkv: Float64Array,
  bqkv: Float64Array | null,
  wp: Float64Array,
  bp: Float64Array,
) {
  const d = C / H;
  const qkv = linear(x, B * N, C, wqkv, bqkv, 3 * C); // [B, N, 3, H, d]
  const out = new Float64Array(B * N * C);
  const maps = new Float64Array(B * H * N * N);
  const at = (b: number, n: number, s: number, h: number, j: number) =>
    qkv[(b * N + n) * 3 * C + s * C + h * d + j];
  for (let b = 0; b < B; b++) {
    for (let h = 0; h < H; h++) {
      for (let i = 0; i < N; i++) {
        const row = new Float64Array(N);
        let mx = -Infinity;
        for (let j = 0; j < N; j++) {
          let s = 0;
          for (let e = 0; e < d; e++) s += at(b, i, 0, h, e) * at(b, j, 1, h, e);
          row[j] = s * d ** -0.5;
          mx = Math.max(mx, row[j]);
        }
        let z = 0;
        for (let j = 0; j < N; j++) z += row[j] = Math.exp(row[j] - mx);
        for (let j = 0; j < N; j++) {
          row[j] /= z;
          maps[((b * H + h) * N + i) * N + j] = row[j];
        }
        for (let e = 0; e < d; e++) {
          let s = 0;
          for (let j = 0; j < N; j++) s += row[j] * at(b, j, 2, h, e);
          out[(b * N + i) * C + h * d + e] = s;
        }
      }
    }
  }
  return { out: linear(out, B * N, C, wp, bp, C), maps };
}

function add(a: Float64Array, b: Float64Array): Float64Array {
  return a.map((v, i) => v + b[i]);
}

/** Configuration the reference needs. */
export interface RefConfig {
  patchSize: number;
  inChans: number;
  embedDim: number;
  depth: number;
  numHeads: number;
  mlpRatio: number;
  eps: number;
}

/**
 * The whole ViT forward (no stochastic depth) on images [B, C, S, S] at the training size.
 * Returns the normed tokens [B, 1 + L, D] and the last block's attention maps.
 */
export function vitForward(w: Weights, cfg: RefConfig, img: Float64Array, B: number, S: number) {
  const g = (n: string) => {
    const t = w.get(n);
    if (!t) throw new Error(`reference: no weight ${n}`);
    return t.data;
  };
  const { patchSize: p, inChans: C, embedDim: D, numHeads: H } = cfg;
  const G = S / p;
  const L = G * G;
  const T = L + 1;
  // patch embedding = Conv2d(C, D, p, stride p)
  let x: Float64Array = new Float64Array(B * T * D);
  const pw = g("patch_embed.proj.weight");
  const pb = g("patch_embed.proj.bias");
  for (let b = 0; b < B; b++) {
    for (let d = 0; d < D; d++) x[(b * T) * D + d] = g("cls_token")[d];
    for (let gy = 0; gy < G; gy++) {
      for (let gx = 0; gx < G; gx++) {
        for (let d = 0; d < D; d++) {
          let s = pb[d];
          for (let c = 0; c < C; c++) {
            for (let i = 0; i < p; i++) {
              for (let j = 0; j < p; j++) {
                s += pw[((d * C + c) * p + i) * p + j] *
                  img[((b * C + c) * S + gy * p + i) * S + gx * p + j];
              }
            }
          }
          x[(b * T + 1 + gy * G + gx) * D + d] = s;
        }
      }
    }
  }
  const pos = g("pos_embed");
  for (let b = 0; b < B; b++) for (let i = 0; i < T * D; i++) x[b * T * D + i] += pos[i];
  let maps = new Float64Array(0);
  const hidden = Math.round(D * cfg.mlpRatio);
  for (let k = 0; k < cfg.depth; k++) {
    const pre = `blocks.${k}.`;
    const h1 = layerNorm(x, B * T, D, g(pre + "norm1.weight"), g(pre + "norm1.bias"), cfg.eps);
    const a = attention(
      h1,
      B,
      T,
      D,
      H,
      g(pre + "attn.qkv.weight"),
      w.has(pre + "attn.qkv.bias") ? g(pre + "attn.qkv.bias") : null,
      g(pre + "attn.proj.weight"),
      g(pre + "attn.proj.bias"),
    );
    maps = a.maps;
    x = add(x, a.out);
    const h2 = layerNorm(x, B * T, D, g(pre + "norm2.weight"), g(pre + "norm2.bias"), cfg.eps);
    const m = linear(
      gelu(linear(h2, B * T, D, g(pre + "mlp.fc1.weight"), g(pre + "mlp.fc1.bias"), hidden)),
      B * T,
      hidden,
      g(pre + "mlp.fc2.weight"),
      g(pre + "mlp.fc2.bias"),
      D,
    );
    x = add(x, m);
  }
  return { tokens: layerNorm(x, B * T, D, g("norm.weight"), g("norm.bias"), cfg.eps), maps };
}
