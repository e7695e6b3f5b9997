/**
 * Per-iteration schedules as in DINO's `cosine_scheduler`: a linear warm-up from
 * `startWarmup` to `base` over `warmupEpochs`, then a cosine from `base` to `final`.
 */

/** Options of `cosineSchedule`. */
export interface CosineOptions {
  base: number;
  final: number;
  epochs: number;
  itersPerEpoch: number;
  warmupEpochs?: number;
  startWarmup?: number;
}

/**
 * One value per iteration (length epochs * itersPerEpoch).
 *
 * @example
 * ```ts
 * const lr = cosineSchedule({ base: 5e-4, final: 1e-6, epochs: 100, itersPerEpoch: 50, warmupEpochs: 10 });
 * ```
 */
export function cosineSchedule(o: CosineOptions): Float64Array {
  const total = o.epochs * o.itersPerEpoch;
  const warm = Math.round((o.warmupEpochs ?? 0) * o.itersPerEpoch);
  if (warm > total) {
    throw new Error(`cosineSchedule: ${warm} warm-up iterations exceed ${total} in total`);
  }
  const out = new Float64Array(total);
  const start = o.startWarmup ?? 0;
  for (let i = 0; i < warm; i++) {
    // numpy.linspace(start, base, warm): endpoint included
    out[i] = warm === 1 ? start : start + ((o.base - start) * i) / (warm - 1);
  }
  const n = total - warm;
  for (let i = 0; i < n; i++) {
    out[warm + i] = o.final + 0.5 * (o.base - o.final) * (1 + Math.cos((Math.PI * i) / n));
  }
  return out;
}
