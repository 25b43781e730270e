import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  chiSquareSurvival,
  fisherExactP,
  holmAdjusted,
  homogeneityP,
  lnGamma,
  normalTwoSidedP,
  studentTwoSidedP,
  summariseGroups,
  twoProportionP,
  upperGammaRegularized,
  welchP,
  wilsonInterval,
  Z95,
} from '../src/index';

/** Q(a, x) by brute force: 1 − ∫₀ˣ t^(a−1) e^(−t) dt / Γ(a), Simpson's rule after t = u² (smooth at 0). */
function upperGammaByIntegration(a: number, x: number): number {
  const steps = 20_000;
  const end = Math.sqrt(x);
  const h = end / steps;
  const f = (u: number) => (u === 0 ? (a === 0.5 ? 2 : 0) : 2 * u ** (2 * a - 1) * Math.exp(-u * u));
  let sum = f(0) + f(end);
  for (let i = 1; i < steps; i++) sum += (i % 2 === 0 ? 2 : 4) * f(i * h);
  return 1 - (sum * h) / 3 / Math.exp(lnGamma(a));
}

/** P(|T| ≥ |t|) for Student's t with ν degrees of freedom by brute force: 1 − 2∫₀^|t| density, Simpson's rule. */
function studentTailByIntegration(t: number, degrees: number): number {
  const steps = 20_000;
  const h = Math.abs(t) / steps;
  const scale = Math.exp(lnGamma((degrees + 1) / 2) - lnGamma(degrees / 2)) / Math.sqrt(degrees * Math.PI);
  const f = (x: number) => scale * (1 + (x * x) / degrees) ** (-(degrees + 1) / 2);
  let sum = f(0) + f(Math.abs(t));
  for (let i = 1; i < steps; i++) sum += (i % 2 === 0 ? 2 : 4) * f(i * h);
  return 1 - (2 * sum * h) / 3;
}

/** The Wilson bounds by brute force: bisection for the ps where |p̂ − p| = z √(p(1 − p)/n). */
function wilsonByBisection(x: number, n: number, z: number): [number, number] {
  const pHat = x / n;
  const rejects = (p: number) => Math.abs(pHat - p) > z * Math.sqrt((p * (1 - p)) / n);
  const edge = (inside: number, outside: number) => {
    let [a, b] = [inside, outside];
    for (let i = 0; i < 200; i++) {
      const mid = (a + b) / 2;
      if (rejects(mid)) b = mid;
      else a = mid;
    }
    return (a + b) / 2;
  };
  return [x === 0 ? 0 : edge(pHat, 0), x === n ? 1 : edge(pHat, 1)];
}

/** C(n, k) exactly. */
function choose(n: number, k: number): bigint {
  let result = 1n;
  for (let i = 0; i < k; i++) result = (result * BigInt(n - i)) / BigInt(i + 1);
  return result;
}

/**
 * Fisher's two-sided p by brute force: every table of the margins with its exact hypergeometric weight as a
 * BigInt, summing those no likelier than the observed one.
 */
function fisherByEnumeration(x1: number, n1: number, x2: number, n2: number): number {
  const s = x1 + x2;
  const weights: bigint[] = [];
  for (let k = Math.max(0, s - n2); k <= Math.min(s, n1); k++)
    weights.push(choose(n1, k) * choose(n2, s - k));
  const observed = choose(n1, x1) * choose(n2, x2);
  const asLikely = weights.filter((w) => w <= observed).reduce((t, w) => t + w, 0n);
  const total = weights.reduce((t, w) => t + w, 0n);
  // Ten decimal digits of the exact ratio.
  return Number((asLikely * 10n ** 10n) / total) / 1e10;
}

/** Holm's procedure at level α, as the textbook states it: reject in order of p while p_(j) ≤ α / (m − j). */
function holmRejects(pValues: readonly number[], alpha: number): Set<number> {
  const order = pValues.map((p, i) => ({ p, i })).sort((a, b) => a.p - b.p);
  const rejected = new Set<number>();
  for (const [j, { p, i }] of order.entries()) {
    if (p > alpha / (order.length - j)) break;
    rejected.add(i);
  }
  return rejected;
}

describe('incomplete gamma and the tails built on it', () => {
  it('agrees with numerical integration on small random inputs', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 12 }).map((twice) => twice / 2),
        fc.double({ min: 0.01, max: 20, noNaN: true }),
        (a, x) => {
          expect(upperGammaRegularized(a, x)).toBeCloseTo(upperGammaByIntegration(a, x), 6);
        },
      ),
      { numRuns: 200 },
    );
  });

  it('gives the textbook values', () => {
    expect(normalTwoSidedP(Z95)).toBeCloseTo(0.05, 12);
    expect(normalTwoSidedP(3)).toBeCloseTo(0.0026997960632601866, 14);
    expect(normalTwoSidedP(0)).toBe(1);
    expect(chiSquareSurvival(3.841458820694124, 1)).toBeCloseTo(0.05, 12);
    expect(chiSquareSurvival(5.991464547107979, 2)).toBeCloseTo(0.05, 12);
    // With two degrees of freedom the tail is exp(−x/2) exactly.
    for (const x of [0.1, 1, 7.5, 30]) expect(chiSquareSurvival(x, 2)).toBeCloseTo(Math.exp(-x / 2), 12);
    expect(lnGamma(5)).toBeCloseTo(Math.log(24), 12);
    expect(studentTwoSidedP(2, 10)).toBeCloseTo(0.0733880347, 9);
    expect(studentTwoSidedP(12.706204736174698, 1)).toBeCloseTo(0.05, 12);
    expect(studentTwoSidedP(0, 3)).toBe(1);
  });
});

describe('Wilson interval', () => {
  it('equals the inverted score test on small random inputs', () => {
    fc.assert(
      fc.property(
        fc
          .integer({ min: 1, max: 500 })
          .chain((n) => fc.tuple(fc.integer({ min: 0, max: n }), fc.constant(n))),
        ([x, n]) => {
          const [lo, hi] = wilsonInterval(x, n)!;
          const [bruteLo, bruteHi] = wilsonByBisection(x, n, Z95);
          expect(lo).toBeCloseTo(bruteLo, 9);
          expect(hi).toBeCloseTo(bruteHi, 9);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('is null without trials and brackets the known cases', () => {
    expect(wilsonInterval(0, 0)).toBeNull();
    const [lo, hi] = wilsonInterval(5, 10)!;
    expect(lo).toBeCloseTo(0.236593, 5);
    expect(hi).toBeCloseTo(0.763407, 5);
    expect(wilsonInterval(0, 10)![1]).toBeCloseTo(0.277533, 5);
  });
});

describe('tests between groups', () => {
  it('two-proportion z-test: known value, and the χ² test agrees for two groups', () => {
    expect(twoProportionP(45, 100, 55, 100)).toBeCloseTo(0.157299, 5);
    fc.assert(
      fc.property(
        fc
          .integer({ min: 1, max: 10_000 })
          .chain((n) => fc.tuple(fc.integer({ min: 0, max: n }), fc.constant(n))),
        fc
          .integer({ min: 1, max: 10_000 })
          .chain((n) => fc.tuple(fc.integer({ min: 0, max: n }), fc.constant(n))),
        ([x1, n1], [x2, n2]) => {
          expect(homogeneityP([x1, x2], [n1, n2])).toBeCloseTo(twoProportionP(x1, n1, x2, n2)!, 9);
        },
      ),
    );
    expect(twoProportionP(0, 10, 0, 20)).toBe(1);
    expect(twoProportionP(1, 0, 1, 2)).toBeNull();
    expect(homogeneityP([3], [10])).toBeNull();
  });

  it("Welch's test from moments equals the textbook test (Student's t, Welch–Satterthwaite) on the raw samples", () => {
    const sample = fc.array(fc.integer({ min: 0, max: 500 }), { minLength: 2, maxLength: 60 });
    fc.assert(
      fc.property(sample, sample, (a, b) => {
        const moments = (s: number[]) => ({
          n: s.length,
          sum: s.reduce((t, v) => t + v, 0),
          sumOfSquares: s.reduce((t, v) => t + v * v, 0),
        });
        const mean = (s: number[]) => s.reduce((t, v) => t + v, 0) / s.length;
        const variance = (s: number[]) => s.reduce((t, v) => t + (v - mean(s)) ** 2, 0) / (s.length - 1);
        const [va, vb] = [variance(a) / a.length, variance(b) / b.length];
        const se = Math.sqrt(va + vb);
        const degrees = (va + vb) ** 2 / (va ** 2 / (a.length - 1) + vb ** 2 / (b.length - 1));
        const expected =
          se === 0
            ? mean(a) === mean(b)
              ? 1
              : 0
            : studentTailByIntegration((mean(a) - mean(b)) / se, degrees);
        expect(welchP(moments(a), moments(b))).toBeCloseTo(expected, 6);
      }),
      { numRuns: 200 },
    );
  });

  it("Welch's test gives the textbook values of small samples, and the normal's for large ones", () => {
    const moments = (s: number[]) => ({
      n: s.length,
      sum: s.reduce((t, v) => t + v, 0),
      sumOfSquares: s.reduce((t, v) => t + v * v, 0),
    });
    // One purchase of 10 in three impressions against none in four: t = 1 with 2 degrees of freedom, where
    // P(|T| ≥ t) = 1 − t / √(2 + t²); the normal would say 0.317.
    expect(welchP(moments([10, 0, 0]), moments([0, 0, 0, 0]))).toBeCloseTo(1 - 1 / Math.sqrt(3), 9);
    // Two against two, one varying: 1 degree of freedom (Cauchy), P(|T| ≥ t) = 1 − (2/π) atan(t).
    expect(welchP(moments([4, 0]), moments([0, 0]))).toBeCloseTo(1 - (2 / Math.PI) * Math.atan(1), 9);
    // Millions of impressions: the normal's tail.
    const large = { n: 2_000_000, sum: 20_000, sumOfSquares: 2_000_000 };
    const other = { n: 2_000_000, sum: 20_600, sumOfSquares: 2_060_000 };
    const se = Math.sqrt(
      (large.sumOfSquares - large.sum ** 2 / large.n) / (large.n - 1) / large.n +
        (other.sumOfSquares - other.sum ** 2 / other.n) / (other.n - 1) / other.n,
    );
    expect(welchP(large, other)).toBeCloseTo(normalTwoSidedP((large.sum - other.sum) / large.n / se), 5);
  });
});

describe("Fisher's exact test for small counts", () => {
  it('gives the textbook value and agrees with exact enumeration', () => {
    // Fisher's lady tasting tea: 3 of 4 against 1 of 4; R's fisher.test gives 0.4857 (34/70).
    expect(fisherExactP(3, 4, 1, 4)).toBeCloseTo(34 / 70, 12);
    fc.assert(
      fc.property(
        fc
          .integer({ min: 1, max: 60 })
          .chain((n) => fc.tuple(fc.integer({ min: 0, max: n }), fc.constant(n))),
        fc
          .integer({ min: 1, max: 60 })
          .chain((n) => fc.tuple(fc.integer({ min: 0, max: n }), fc.constant(n))),
        ([x1, n1], [x2, n2]) => {
          expect(fisherExactP(x1, n1, x2, n2)).toBeCloseTo(fisherByEnumeration(x1, n1, x2, n2), 9);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('is what the two-proportion and χ² tests answer when a cell expects fewer than 5', () => {
    // The first conversions of an experiment: the normal approximation says p = 0.025, a difference that is
    // not there; exactly, five conversions all landing in one of two equal arms has p = 0.062.
    const exact = fisherByEnumeration(5, 1_000, 0, 1_000);
    expect(exact).toBeGreaterThan(0.06);
    expect(twoProportionP(5, 1_000, 0, 1_000)).toBeCloseTo(exact, 9);
    expect(homogeneityP([5, 0], [1_000, 1_000])).toBeCloseTo(exact, 9);
    expect(twoProportionP(3, 4, 1, 4)).toBeCloseTo(34 / 70, 12);
    // Large expected counts keep the z-test.
    expect(twoProportionP(45, 100, 55, 100)).toBeCloseTo(0.157299, 5);
    // Millions of impressions with a handful of purchases stay exact and fast.
    expect(twoProportionP(3, 4_000_000, 0, 4_000_000)).toBeCloseTo(0.25, 6);
  });
});

describe("Holm's adjustment of the comparisons with the reference", () => {
  it("gives R's p.adjust values and keeps nulls", () => {
    // p.adjust(c(0.01, 0.04, 0.03, 0.005), "holm") in R: 0.03 0.06 0.06 0.02.
    const adjusted = holmAdjusted([0.01, null, 0.04, 0.03, 0.005]);
    expect(adjusted[1]).toBeNull();
    for (const [i, expected] of [0.03, null, 0.06, 0.06, 0.02].entries())
      if (expected !== null) expect(adjusted[i]).toBeCloseTo(expected, 12);
    expect(holmAdjusted([0.3, 0.02])).toEqual([0.3, 0.04]);
    expect(holmAdjusted([0.9, 0.8])).toEqual([1, 1]);
    expect(holmAdjusted([0.3])).toEqual([0.3]);
  });

  it("rejects at every level exactly what Holm's step-down procedure rejects", () => {
    fc.assert(
      fc.property(
        fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { minLength: 1, maxLength: 8 }),
        fc.double({ min: 0.0001, max: 0.5, noNaN: true }),
        (pValues, alpha) => {
          const adjusted = holmAdjusted(pValues);
          const rejected = holmRejects(pValues, alpha);
          for (const [i, p] of adjusted.entries()) expect(p! <= alpha, `p ${i}`).toBe(rejected.has(i));
        },
      ),
      { numRuns: 500 },
    );
  });
});

describe('summariseGroups', () => {
  it('compares every group with control and finds a real difference', () => {
    const group = (name: string, impressions: number, clicks: number) => ({
      group: name,
      impressions,
      clicks,
      carts: 0,
      purchases: 0,
      units: 0,
      revenue: 0,
      revenueSquares: 0,
    });
    const summary = summariseGroups([group('b', 10_000, 600), group('control', 10_000, 500)]);
    expect(summary.reference).toBe('control');
    expect(summary.groups[1]!.pValue).toBeNull();
    expect(summary.groups[0]!.pValue).toBeCloseTo(twoProportionP(600, 10_000, 500, 10_000)!, 12);
    expect(summary.pValue).toBeLessThan(0.05);
    expect(summary.groups[0]!.ctr).toBe(0.06);
    expect(summariseGroups([group('h1', 10, 1)], false).pValue).toBeNull();
  });

  it("adjusts each arm's p-values for the number of arms compared with control", () => {
    const group = (name: string, impressions: number, clicks: number, purchases: number) => ({
      group: name,
      impressions,
      clicks,
      carts: 0,
      purchases,
      units: purchases,
      revenue: purchases * 10,
      revenueSquares: purchases * 100,
    });
    // Four arms no better than control by design; one looks better by chance (p = 0.046 alone).
    const arms = [
      group('a', 10_000, 542, 40),
      group('b', 10_000, 505, 30),
      group('c', 10_000, 498, 28),
      group('control', 10_000, 480, 30),
      group('d', 10_000, 470, 25),
    ];
    const summary = summariseGroups(arms);
    const control = arms[3]!;
    const raw = arms.map((g) =>
      g === control ? null : twoProportionP(g.clicks, g.impressions, control.clicks, control.impressions),
    );
    expect(raw[0]).toBeLessThan(0.05);
    expect(summary.groups.map((g) => g.pValue)).toEqual(holmAdjusted(raw));
    expect(summary.groups[0]!.pValue).toBeGreaterThan(0.05);
    const moments = (g: (typeof arms)[number]) => ({
      n: g.impressions,
      sum: g.revenue,
      sumOfSquares: g.revenueSquares,
    });
    expect(summary.groups.map((g) => g.revenuePValue)).toEqual(
      holmAdjusted(arms.map((g) => (g === control ? null : welchP(moments(g), moments(control))))),
    );
    // Two groups: one comparison, nothing to adjust.
    const two = summariseGroups([arms[0]!, control]);
    expect(two.groups[0]!.pValue).toBe(raw[0]);
  });
});
