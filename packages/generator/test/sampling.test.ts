import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { buildAliasTable, createRng, createZipfSampler, sampleAlias } from '../src/index';

describe('createRng', () => {
  it('repeats the same sequence for the same seed and differs for another seed', () => {
    const draw = (seed: number) => {
      const rng = createRng(seed);
      return Array.from({ length: 8 }, () => rng.nextUint32());
    };
    expect(draw(42)).toEqual(draw(42));
    expect(draw(42)).not.toEqual(draw(43));
    expect(draw(-1)).not.toEqual(draw(2 ** 32 - 1 + 2 ** 33));
  });

  it('draws floats in [0, 1) with mean near 1/2 and integers in range', () => {
    const rng = createRng(1);
    let sum = 0;
    let outOfRange = 0;
    const buckets = new Uint32Array(7);
    for (let i = 0; i < 70_000; i++) {
      const x = rng.next();
      if (x < 0 || x >= 1) outOfRange++;
      sum += x;
      buckets[rng.nextInt(7)]!++;
    }
    expect(outOfRange).toBe(0);
    expect(sum / 70_000).toBeCloseTo(0.5, 2);
    for (const count of buckets) expect(Math.abs(count - 10_000)).toBeLessThan(500);
  });
});

/** Brute-force probability that the alias table yields each index: column mass kept plus aliased-in mass. */
function impliedDistribution(prob: Float64Array, alias: Uint32Array): number[] {
  const n = prob.length;
  const p = new Array<number>(n).fill(0);
  for (let column = 0; column < n; column++) {
    p[column]! += prob[column]! / n;
    p[alias[column]!]! += (1 - prob[column]!) / n;
  }
  return p;
}

describe('buildAliasTable', () => {
  it('encodes exactly the normalised weights (brute force over random weight vectors)', () => {
    fc.assert(
      fc.property(
        fc
          .array(fc.double({ min: 0, max: 100, noNaN: true }), { minLength: 1, maxLength: 40 })
          .filter((ws) => ws.reduce((a, b) => a + b, 0) > 1e-6),
        (weights) => {
          const table = buildAliasTable(weights);
          const total = weights.reduce((a, b) => a + b, 0);
          const implied = impliedDistribution(table.prob, table.alias);
          weights.forEach((w, i) => {
            expect(implied[i]!).toBeCloseTo(w / total, 9);
          });
        },
      ),
    );
  });

  it('never samples a zero-weight index', () => {
    const table = buildAliasTable([0, 3, 0, 1, 0]);
    const rng = createRng(5);
    const seen = new Set<number>();
    for (let i = 0; i < 5_000; i++) seen.add(sampleAlias(table, rng));
    expect([...seen].sort()).toEqual([1, 3]);
  });

  it('rejects empty, negative and all-zero weights', () => {
    expect(() => buildAliasTable([])).toThrow(RangeError);
    expect(() => buildAliasTable([1, -1])).toThrow(RangeError);
    expect(() => buildAliasTable([0, 0])).toThrow(RangeError);
  });
});

describe('createZipfSampler', () => {
  const n = 1_000;
  const s = 1.1;
  const draws = 200_000;
  const pmf = (() => {
    const raw = Array.from({ length: n }, (_, r) => 1 / (r + 1) ** s);
    const total = raw.reduce((a, b) => a + b, 0);
    return raw.map((w) => w / total);
  })();
  const counts = (() => {
    const sampler = createZipfSampler(n, s, createRng(11));
    const c = new Uint32Array(n);
    for (let i = 0; i < draws; i++) c[sampler.sample()]!++;
    return c;
  })();

  it('gives the top 1% of ranks the head share of the Zipf pmf, far above uniform', () => {
    const headRanks = n / 100;
    const expectedHead = pmf.slice(0, headRanks).reduce((a, b) => a + b, 0);
    let observedHead = 0;
    for (let r = 0; r < headRanks; r++) observedHead += counts[r]!;
    expect(Math.abs(observedHead / draws - expectedHead)).toBeLessThan(0.01);
    expect(observedHead / draws).toBeGreaterThan(10 * (headRanks / n));
  });

  it('matches the pmf rank by rank at the head and in aggregate at the tail', () => {
    for (let r = 0; r < 5; r++) {
      const sd = Math.sqrt((draws * pmf[r]! * (1 - pmf[r]!)) / draws ** 2);
      expect(Math.abs(counts[r]! / draws - pmf[r]!)).toBeLessThan(5 * sd);
    }
    const expectedTail = pmf.slice(500).reduce((a, b) => a + b, 0);
    let observedTail = 0;
    for (let r = 500; r < n; r++) observedTail += counts[r]!;
    expect(Math.abs(observedTail / draws - expectedTail)).toBeLessThan(0.01);
  });

  it('rejects a non-positive size', () => {
    expect(() => createZipfSampler(0, 1.1, createRng(1))).toThrow(RangeError);
  });
});
