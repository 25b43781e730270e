import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  chiSquareSurvival,
  ratioDifferenceP,
  ratioHomogeneityP,
  ratioInterval,
  ratioVariance,
  twoProportionP,
  type UserRatioMoments,
  welchP,
  Z95,
} from '../src/index';

/** One user's contribution to a ratio: x clicks (or purchases, revenue) of n impressions. */
interface UserCounts {
  x: number;
  n: number;
}

const momentsOf = (users: readonly UserCounts[]): UserRatioMoments => ({
  users: users.length,
  numerator: users.reduce((sum, u) => sum + u.x, 0),
  denominator: users.reduce((sum, u) => sum + u.n, 0),
  numeratorSquares: users.reduce((sum, u) => sum + u.x * u.x, 0),
  denominatorSquares: users.reduce((sum, u) => sum + u.n * u.n, 0),
  crossProducts: users.reduce((sum, u) => sum + u.x * u.n, 0),
});

/**
 * The delta method's variance of mean(x) / mean(n) from the users' rows, as Deng et al. write it: with sample
 * means μ and sample (co)variances σ over the m users, (σx²/μn² − 2 μx σxn/μn³ + μx² σn²/μn⁴) / m.
 */
function deltaVarianceByRows(users: readonly UserCounts[]): number {
  const m = users.length;
  const mean = (f: (u: UserCounts) => number) => users.reduce((sum, u) => sum + f(u), 0) / m;
  const [mx, mn] = [mean((u) => u.x), mean((u) => u.n)];
  const covariance = (f: (u: UserCounts) => number, g: (u: UserCounts) => number) =>
    users.reduce((sum, u) => sum + (f(u) - mean(f)) * (g(u) - mean(g)), 0) / (m - 1);
  const vx = covariance(
    (u) => u.x,
    (u) => u.x,
  );
  const vn = covariance(
    (u) => u.n,
    (u) => u.n,
  );
  const cxn = covariance(
    (u) => u.x,
    (u) => u.n,
  );
  return (vx / mn ** 2 - (2 * mx * cxn) / mn ** 3 + (mx ** 2 * vn) / mn ** 4) / m;
}

const user = fc
  .record({ n: fc.integer({ min: 1, max: 50 }), share: fc.double({ min: 0, max: 1, noNaN: true }) })
  .map(({ n, share }) => ({ n, x: Math.floor(n * share) }));
const arm = fc.array(user, { minLength: 2, maxLength: 40 });
/** Arms whose users' clicks spread over their impressions, so that most vary. */
const variedArm = fc.array(
  fc.integer({ min: 1, max: 50 }).chain((n) => fc.integer({ min: 0, max: n }).map((x) => ({ n, x }))),
  { minLength: 3, maxLength: 30 },
);

const close = (actual: number, expected: number) =>
  expect(Math.abs(actual - expected)).toBeLessThanOrEqual(1e-9 * Math.max(1, Math.abs(expected)));

describe('ratio metrics with the user as the unit', () => {
  it("gives the delta method's variance computed from the users' rows", () => {
    fc.assert(
      fc.property(arm, (users) => {
        close(ratioVariance(momentsOf(users))!, deltaVarianceByRows(users));
      }),
    );
  });

  it("is Welch's test on the users' clicks when every user has one impression", () => {
    const oneImpressionEach = fc.array(fc.integer({ min: 0, max: 1 }), { minLength: 2, maxLength: 60 });
    fc.assert(
      fc.property(oneImpressionEach, oneImpressionEach, (a, b) => {
        const asUsers = (clicks: number[]) => clicks.map((x) => ({ x, n: 1 }));
        const asSample = (clicks: number[]) => ({
          n: clicks.length,
          sum: clicks.reduce((s, x) => s + x, 0),
          sumOfSquares: clicks.reduce((s, x) => s + x * x, 0),
        });
        const byUsers = ratioDifferenceP(momentsOf(asUsers(a)), momentsOf(asUsers(b)))!;
        close(byUsers, welchP(asSample(a), asSample(b))!);
      }),
    );
  });

  it('centres its interval on the ratio, z delta-method standard errors wide, never below 0', () => {
    fc.assert(
      fc.property(arm, (users) => {
        const m = momentsOf(users);
        const [low, high] = ratioInterval(m)!;
        const ratio = m.numerator / m.denominator;
        const half = Z95 * Math.sqrt(deltaVarianceByRows(users));
        close(high, ratio + half);
        close(low, Math.max(0, ratio - half));
      }),
    );
  });

  it('gives nothing for fewer than two users or no impressions, and 1 for arms alike that do not vary', () => {
    const one = momentsOf([{ x: 3, n: 10 }]);
    const two = momentsOf([
      { x: 1, n: 10 },
      { x: 2, n: 20 },
    ]);
    expect(ratioVariance(one)).toBeNull();
    expect(ratioInterval(one)).toBeNull();
    expect(ratioDifferenceP(one, two)).toBeNull();
    expect(
      ratioVariance(
        momentsOf([
          { x: 0, n: 0 },
          { x: 0, n: 0 },
        ]),
      ),
    ).toBeNull();
    expect(ratioDifferenceP(two, two)).toBe(1);
  });

  it('finds no winner in one user who clicks everything, where a test per impression does', () => {
    // 200 users a side with 10 impressions each, half of them clicking once; one treatment user instead
    // sees 150 recommendations and clicks every one.
    const control = Array.from({ length: 200 }, (_, i) => ({ n: 10, x: i < 100 ? 1 : 0 }));
    const treatment = [
      ...Array.from({ length: 199 }, (_, i) => ({ n: 10, x: i < 99 ? 1 : 0 })),
      { n: 150, x: 150 },
    ];
    const [t, c] = [momentsOf(treatment), momentsOf(control)];
    expect(twoProportionP(t.numerator, t.denominator, c.numerator, c.denominator)).toBeLessThan(1e-6);
    expect(ratioDifferenceP(t, c)).toBeGreaterThan(0.05);
  });

  it('finds a real difference spread over many users', () => {
    const control = Array.from({ length: 2_000 }, (_, i) => ({ n: 10, x: i % 10 === 0 ? 1 : 0 }));
    const treatment = Array.from({ length: 2_000 }, (_, i) => ({ n: 10, x: i % 10 < 3 ? 1 : 0 }));
    expect(ratioDifferenceP(momentsOf(treatment), momentsOf(control))).toBeLessThan(1e-6);
  });

  it("tests several arms by the Wald χ² over the users' rows, and two by the t-test", () => {
    fc.assert(
      fc.property(fc.array(variedArm, { minLength: 3, maxLength: 5 }), (arms) => {
        const estimates = arms.map((users) => ({
          ratio: users.reduce((s, u) => s + u.x, 0) / users.reduce((s, u) => s + u.n, 0),
          variance: deltaVarianceByRows(users),
        }));
        fc.pre(estimates.every((e) => e.variance > 1e-9));
        const w = estimates.map((e) => 1 / e.variance);
        const mean = estimates.reduce((s, e, i) => s + w[i]! * e.ratio, 0) / w.reduce((s, x) => s + x, 0);
        const statistic = estimates.reduce((s, e, i) => s + w[i]! * (e.ratio - mean) ** 2, 0);
        close(ratioHomogeneityP(arms.map(momentsOf))!, chiSquareSurvival(statistic, arms.length - 1));
      }),
    );
    fc.assert(
      fc.property(arm, arm, (a, b) => {
        expect(ratioHomogeneityP([momentsOf(a), momentsOf(b)])).toBe(
          ratioDifferenceP(momentsOf(a), momentsOf(b)),
        );
      }),
    );
  });

  it('tests the other arms against the ratio of an arm that does not vary', () => {
    const varying = (clicked: number) =>
      momentsOf(Array.from({ length: 20 }, (_, i) => ({ n: 10, x: i < clicked ? 2 : 0 })));
    const none = momentsOf(Array.from({ length: 20 }, () => ({ n: 10, x: 0 })));
    const statistic = [varying(5), varying(8)].reduce(
      (s, m) => s + (m.numerator / m.denominator) ** 2 / ratioVariance(m)!,
      0,
    );
    close(ratioHomogeneityP([none, varying(5), varying(8)])!, chiSquareSurvival(statistic, 2));
    expect(ratioHomogeneityP([none, none, none])).toBe(1);
  });
});
