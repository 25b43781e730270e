/**
 * Small seeded PRNG: xoshiro128** seeded through splitmix32. 32-bit state words keep every step in
 * Math.imul / int32 arithmetic, which is fast in V8 and identical on every platform.
 */

export interface Rng {
  /** Uniform integer in [0, 2^32). */
  nextUint32(): number;
  /** Uniform float in [0, 1) with 32 bits of resolution. */
  next(): number;
  /** Uniform integer in [0, n); n must be a positive integer (bias is below n / 2^32). */
  nextInt(n: number): number;
}

const TWO_POW_32 = 4294967296;

function splitmix32(state: number): { state: number; value: number } {
  const next = (state + 0x9e3779b9) | 0;
  let z = next;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
  return { state: next, value: (z ^ (z >>> 16)) >>> 0 };
}

/** Folds any finite number (negative, fractional or above 2^32) into a 32-bit seed word. */
function seedWord(seed: number): number {
  if (!Number.isFinite(seed)) throw new RangeError(`seed must be a finite number, got ${seed}`);
  const whole = Math.trunc(seed);
  const low = whole >>> 0;
  const high = Math.floor(whole / TWO_POW_32) >>> 0;
  return (low ^ Math.imul(high, 0x9e3779b1)) >>> 0;
}

export function createRng(seed: number): Rng {
  let mix = seedWord(seed);
  const words: number[] = [];
  for (let i = 0; i < 4; i++) {
    const step = splitmix32(mix);
    mix = step.state;
    words.push(step.value);
  }
  let s0 = words[0]!;
  let s1 = words[1]!;
  let s2 = words[2]!;
  let s3 = words[3]!;
  // The all-zero state is the one fixed point of xoshiro; splitmix32 never yields four zeros, but be safe.
  if ((s0 | s1 | s2 | s3) === 0) s0 = 1;

  const nextUint32 = (): number => {
    const product = Math.imul(s1, 5);
    const result = Math.imul((product << 7) | (product >>> 25), 9) >>> 0;
    const t = s1 << 9;
    s2 ^= s0;
    s3 ^= s1;
    s1 ^= s2;
    s0 ^= s3;
    s2 ^= t;
    s3 = (s3 << 11) | (s3 >>> 21);
    return result;
  };
  const next = (): number => nextUint32() / TWO_POW_32;
  const nextInt = (n: number): number => Math.floor(next() * n);
  return { nextUint32, next, nextInt };
}

/** Derives an independent seed for a named sub-stream, so catalog and events never share draws. */
export function deriveSeed(seed: number, stream: number): number {
  let mix = seedWord(seed) ^ Math.imul(stream + 1, 0x85ebca6b);
  mix = splitmix32(mix).value;
  return splitmix32(mix ^ stream).value;
}
