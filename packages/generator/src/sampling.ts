import type { Rng } from './rng';

/**
 * Walker/Vose alias table: O(n) setup, O(1) per draw. Column i keeps index i with probability prob[i] and
 * yields alias[i] otherwise; columns are picked uniformly.
 */
export interface AliasTable {
  readonly size: number;
  readonly prob: Float64Array;
  readonly alias: Uint32Array;
}

export function buildAliasTable(weights: ArrayLike<number>): AliasTable {
  const n = weights.length;
  if (n === 0) throw new RangeError('alias table needs at least one weight');
  let total = 0;
  for (let i = 0; i < n; i++) {
    const w = weights[i]!;
    if (!(w >= 0) || !Number.isFinite(w))
      throw new RangeError(`weight ${i} must be finite and >= 0, got ${w}`);
    total += w;
  }
  if (!(total > 0)) throw new RangeError('alias table needs a positive total weight');

  const scaled = new Float64Array(n);
  const small = new Uint32Array(n);
  const large = new Uint32Array(n);
  let smallCount = 0;
  let largeCount = 0;
  for (let i = 0; i < n; i++) {
    const v = (weights[i]! * n) / total;
    scaled[i] = v;
    if (v < 1) small[smallCount++] = i;
    else large[largeCount++] = i;
  }

  const prob = new Float64Array(n);
  const alias = new Uint32Array(n);
  while (smallCount > 0 && largeCount > 0) {
    const s = small[--smallCount]!;
    const l = large[--largeCount]!;
    prob[s] = scaled[s]!;
    alias[s] = l;
    const rest = scaled[l]! + scaled[s]! - 1;
    scaled[l] = rest;
    if (rest < 1) small[smallCount++] = l;
    else large[largeCount++] = l;
  }
  // Whatever remains is 1 up to rounding error: those columns always keep their own index.
  while (largeCount > 0) {
    const l = large[--largeCount]!;
    prob[l] = 1;
    alias[l] = l;
  }
  while (smallCount > 0) {
    const s = small[--smallCount]!;
    prob[s] = 1;
    alias[s] = s;
  }
  return { size: n, prob, alias };
}

export function sampleAlias(table: AliasTable, rng: Rng): number {
  const column = rng.nextInt(table.size);
  return rng.next() < table.prob[column]! ? column : table.alias[column]!;
}

/** A discrete sampler over 0..size-1. */
export interface Sampler {
  readonly size: number;
  sample(): number;
}

/** Unnormalised Zipf weights: rank r (0-based) gets 1 / (r + 1)^s. */
export function zipfWeights(n: number, s: number): Float64Array {
  const weights = new Float64Array(n);
  for (let r = 0; r < n; r++) weights[r] = 1 / (r + 1) ** s;
  return weights;
}

/** Zipf(s) over ranks 0..n-1 (rank 0 most likely) via an alias table: O(n) setup, O(1) per draw. */
export function createZipfSampler(n: number, s: number, rng: Rng): Sampler {
  if (!Number.isInteger(n) || n < 1) throw new RangeError(`zipf size must be a positive integer, got ${n}`);
  if (!(s >= 0) || !Number.isFinite(s))
    throw new RangeError(`zipf exponent must be finite and >= 0, got ${s}`);
  const table = buildAliasTable(zipfWeights(n, s));
  return { size: n, sample: () => sampleAlias(table, rng) };
}

/** Exponential with the given mean. */
export function sampleExponential(rng: Rng, mean: number): number {
  return -Math.log(1 - rng.next()) * mean;
}

/** Number of failures before the first success, success probability p (mean (1 - p) / p). */
export function sampleGeometric(rng: Rng, p: number): number {
  return Math.floor(Math.log(1 - rng.next()) / Math.log(1 - p));
}

/** Standard normal via Box–Muller (one value per call; the twin is dropped to keep the stream simple). */
export function sampleStandardNormal(rng: Rng): number {
  const u = 1 - rng.next();
  const v = rng.next();
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
}
