/**
 * Tests and intervals for the reports, as pure functions. Probabilities come from the regularized upper
 * incomplete gamma function Q(a, x): the two-sided normal tail is Q(1/2, z²/2) and the χ² tail with k degrees
 * of freedom is Q(k/2, x/2); Student's two-sided t tail with ν degrees is the regularized incomplete beta
 * function I at ν/(ν + t²), I(ν/2, 1/2).
 */

/** z of a two-sided 95 % interval. */
export const Z95 = 1.959963984540054;

const LANCZOS = [
  676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059, 12.507343278686905,
  -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7,
];

/** ln Γ(a) for a > 0 (Lanczos, g = 7: about 15 significant digits). */
export function lnGamma(a: number): number {
  if (a < 0.5) return Math.log(Math.PI / Math.sin(Math.PI * a)) - lnGamma(1 - a);
  const x = a - 1;
  let sum = 0.99999999999980993;
  for (let i = 0; i < LANCZOS.length; i++) sum += LANCZOS[i]! / (x + i + 1);
  const t = x + LANCZOS.length - 0.5;
  return 0.5 * Math.log(2 * Math.PI) + (x + 0.5) * Math.log(t) - t + Math.log(sum);
}

const EPSILON = 1e-15;
const MAX_ITERATIONS = 10_000;

/** P(a, x) by its series; converges fast for x < a + 1. */
function lowerSeries(a: number, x: number): number {
  let term = 1 / a;
  let sum = term;
  for (let n = 1; n < MAX_ITERATIONS; n++) {
    term *= x / (a + n);
    sum += term;
    if (Math.abs(term) < Math.abs(sum) * EPSILON) break;
  }
  return sum * Math.exp(-x + a * Math.log(x) - lnGamma(a));
}

/** Q(a, x) by its continued fraction (modified Lentz); converges fast for x ≥ a + 1. */
function upperFraction(a: number, x: number): number {
  const tiny = 1e-300;
  let b = x + 1 - a;
  let c = 1 / tiny;
  let d = 1 / b;
  let h = d;
  for (let i = 1; i < MAX_ITERATIONS; i++) {
    const an = -i * (i - a);
    b += 2;
    d = an * d + b;
    if (Math.abs(d) < tiny) d = tiny;
    c = b + an / c;
    if (Math.abs(c) < tiny) c = tiny;
    d = 1 / d;
    const delta = d * c;
    h *= delta;
    if (Math.abs(delta - 1) < EPSILON) break;
  }
  return Math.exp(-x + a * Math.log(x) - lnGamma(a)) * h;
}

/** The regularized upper incomplete gamma function Q(a, x) = Γ(a, x) / Γ(a), for a > 0 and x ≥ 0. */
export function upperGammaRegularized(a: number, x: number): number {
  if (!(a > 0) || !(x >= 0)) return Number.NaN;
  if (x === 0) return 1;
  if (x === Number.POSITIVE_INFINITY) return 0;
  return x < a + 1 ? Math.max(0, 1 - lowerSeries(a, x)) : upperFraction(a, x);
}

/** The continued fraction of the incomplete beta function (modified Lentz); converges fast for x < (a+1)/(a+b+2). */
function betaFraction(a: number, b: number, x: number): number {
  const tiny = 1e-300;
  const guard = (v: number) => (Math.abs(v) < tiny ? tiny : v);
  let c = 1;
  let d = 1 / guard(1 - ((a + b) * x) / (a + 1));
  let h = d;
  for (let m = 1; m < MAX_ITERATIONS; m++) {
    const even = (m * (b - m) * x) / ((a + 2 * m - 1) * (a + 2 * m));
    d = 1 / guard(1 + even * d);
    c = guard(1 + even / c);
    h *= d * c;
    const odd = (-(a + m) * (a + b + m) * x) / ((a + 2 * m) * (a + 2 * m + 1));
    d = 1 / guard(1 + odd * d);
    c = guard(1 + odd / c);
    const delta = d * c;
    h *= delta;
    if (Math.abs(delta - 1) < EPSILON) break;
  }
  return h;
}

/** The regularized incomplete beta function I_x(a, b), for a, b > 0 and 0 ≤ x ≤ 1. */
export function betaRegularized(a: number, b: number, x: number): number {
  if (!(a > 0) || !(b > 0) || !(x >= 0 && x <= 1)) return Number.NaN;
  if (x === 0 || x === 1) return x;
  const front = Math.exp(lnGamma(a + b) - lnGamma(a) - lnGamma(b) + a * Math.log(x) + b * Math.log1p(-x));
  return x < (a + 1) / (a + b + 2)
    ? (front * betaFraction(a, b, x)) / a
    : 1 - (front * betaFraction(b, a, 1 - x)) / b;
}

/** P(|Z| ≥ |z|) for a standard normal Z. */
export const normalTwoSidedP = (z: number): number =>
  Number.isNaN(z) ? Number.NaN : upperGammaRegularized(0.5, (z * z) / 2);

/** P(|T| ≥ |t|) for T Student-t-distributed with `degrees` (> 0, not necessarily whole) degrees of freedom. */
export const studentTwoSidedP = (t: number, degrees: number): number =>
  Number.isNaN(t) ? Number.NaN : betaRegularized(degrees / 2, 0.5, degrees / (degrees + t * t));

/** P(X ≥ statistic) for X χ²-distributed with `degrees` degrees of freedom. */
export const chiSquareSurvival = (statistic: number, degrees: number): number =>
  upperGammaRegularized(degrees / 2, Math.max(0, statistic) / 2);

/** Whether `successes` of `trials` is a proportion: some trials, and successes from none to all of them. */
export const isProportion = (successes: number, trials: number): boolean =>
  trials > 0 && successes >= 0 && successes <= trials;

/**
 * The Wilson score interval of a proportion: the ps whose score test at `z` does not reject `successes` of
 * `trials`. Null when the counts are no proportion (`isProportion`): an interval of capped counts would not
 * contain the rate the counts give. None or all successes bound it at exactly 0 or 1, which the formula
 * reaches only up to rounding.
 */
export function wilsonInterval(successes: number, trials: number, z = Z95): [number, number] | null {
  if (!isProportion(successes, trials)) return null;
  const p = successes / trials;
  const z2 = z * z;
  const denominator = 1 + z2 / trials;
  const centre = (p + z2 / (2 * trials)) / denominator;
  const half = (z / denominator) * Math.sqrt((p * (1 - p)) / trials + z2 / (4 * trials * trials));
  return [
    successes === 0 ? 0 : Math.max(0, centre - half),
    successes === trials ? 1 : Math.min(1, centre + half),
  ];
}

/** Below this expected count in a cell of a 2 × 2 table the normal approximation is not used (Cochran's rule). */
const MIN_EXPECTED_COUNT = 5;

/**
 * Two-sided p-value of Fisher's exact test on the 2 × 2 table (x1 of n1, x2 of n2): the probability, with both
 * margins fixed, of the tables no likelier than the one observed (R's `fisher.test`, same 1e-7 tolerance on
 * ties). Terms are built by the hypergeometric ratio from one end of the support, so no binomial coefficient of
 * millions is ever formed; the support is at most min(x1 + x2, n1 + n2 − x1 − x2, n1, n2) + 1 tables.
 */
export function fisherExactP(x1: number, n1: number, x2: number, n2: number): number {
  const successes = x1 + x2;
  const first = Math.max(0, successes - n2);
  const last = Math.min(successes, n1);
  const logWeights: number[] = [0];
  for (let k = first; k < last; k++)
    logWeights.push(
      logWeights[logWeights.length - 1]! +
        Math.log((n1 - k) * (successes - k)) -
        Math.log((k + 1) * (n2 - successes + k + 1)),
    );
  const top = logWeights.reduce((max, w) => Math.max(max, w), Number.NEGATIVE_INFINITY);
  const observed = logWeights[x1 - first]! + Math.log1p(1e-7);
  let total = 0;
  let asLikely = 0;
  for (const logWeight of logWeights) {
    const weight = Math.exp(logWeight - top);
    total += weight;
    if (logWeight <= observed) asLikely += weight;
  }
  return Math.min(1, asLikely / total);
}

/**
 * Two-sided p-value that two proportions differ: the pooled two-proportion z-test, or Fisher's exact test when
 * a cell of the table expects fewer than 5 (the first conversions of a new experiment: 5 of 1,000 against 0 of
 * 1,000 is p = 0.025 by the normal, 0.062 exactly). Null when either side is no proportion (`isProportion`:
 * no trials, or more successes than trials); 1 when the pooled proportion is 0 or 1 (nothing varies).
 */
export function twoProportionP(x1: number, n1: number, x2: number, n2: number): number | null {
  if (!isProportion(x1, n1) || !isProportion(x2, n2)) return null;
  const pooled = (x1 + x2) / (n1 + n2);
  if (pooled <= 0 || pooled >= 1) return 1;
  if (Math.min(n1, n2) * Math.min(pooled, 1 - pooled) < MIN_EXPECTED_COUNT)
    return fisherExactP(x1, n1, x2, n2);
  const se = Math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2));
  return normalTwoSidedP((x1 / n1 - x2 / n2) / se);
}

/**
 * p-value that k proportions are not all equal: Pearson's χ² test of homogeneity on the k × 2 table, k − 1
 * degrees of freedom. Two groups are `twoProportionP` (the same χ² test, or Fisher's when counts are small);
 * with more, small expected counts make the χ² approximate. Groups whose counts are no proportion
 * (`isProportion`: no trials, or more successes than trials) are left out; null when fewer than two remain.
 */
export function homogeneityP(successes: readonly number[], trials: readonly number[]): number | null {
  const groups = trials.map((n, i) => ({ x: successes[i] ?? 0, n })).filter((g) => isProportion(g.x, g.n));
  if (groups.length < 2) return null;
  if (groups.length === 2) return twoProportionP(groups[0]!.x, groups[0]!.n, groups[1]!.x, groups[1]!.n);
  const n = groups.reduce((sum, g) => sum + g.n, 0);
  const pooled = groups.reduce((sum, g) => sum + g.x, 0) / n;
  if (pooled <= 0 || pooled >= 1) return 1;
  const statistic = groups.reduce(
    (sum, g) => sum + (g.x - g.n * pooled) ** 2 / (g.n * pooled * (1 - pooled)),
    0,
  );
  return chiSquareSurvival(statistic, groups.length - 1);
}

/** A sample summarised by its count, sum and sum of squares. */
export interface Moments {
  n: number;
  sum: number;
  sumOfSquares: number;
}

/**
 * Two-sided p-value that two means differ: Welch's t-test, Student's t with the Welch–Satterthwaite degrees of
 * freedom (a new experiment's few impressions are far from normal; with thousands the t is the normal). Null
 * with fewer than two values on either side; 1 when neither varies.
 */
export function welchP(a: Moments, b: Moments): number | null {
  if (a.n < 2 || b.n < 2) return null;
  const varianceOfMean = (m: Moments) =>
    Math.max(0, (m.sumOfSquares - (m.sum * m.sum) / m.n) / (m.n - 1)) / m.n;
  const [va, vb] = [varianceOfMean(a), varianceOfMean(b)];
  const se = Math.sqrt(va + vb);
  const difference = a.sum / a.n - b.sum / b.n;
  if (se === 0) return difference === 0 ? 1 : 0;
  const degrees = (va + vb) ** 2 / (va ** 2 / (a.n - 1) + vb ** 2 / (b.n - 1));
  // Variances too small to square in floating point leave no degrees to count: the normal is the limit.
  return Number.isFinite(degrees)
    ? studentTwoSidedP(difference / se, degrees)
    : normalTwoSidedP(difference / se);
}

/**
 * Holm's step-down adjustment of a family of p-values (R's `p.adjust(p, "holm")`): each group compared with the
 * reference is one more chance of a false difference, and with four arms against control unadjusted p-values
 * find one at p < 0.05 about one time in six when no arm differs. Controls the family-wise error under any
 * dependence between the tests. Nulls stay null and are not counted in the family.
 */
export function holmAdjusted(pValues: readonly (number | null)[]): (number | null)[] {
  const ranked = pValues.flatMap((p, index) => (p === null ? [] : [{ p, index }])).sort((a, b) => a.p - b.p);
  const adjusted = [...pValues];
  let floor = 0;
  ranked.forEach(({ p, index }, rank) => {
    floor = Math.max(floor, Math.min(1, (ranked.length - rank) * p));
    adjusted[index] = floor;
  });
  return adjusted;
}

/**
 * Per-user sums of one arm for a ratio metric such as clicks per impression: user i contributed `x_i` to the
 * numerator (clicks) and `n_i` to the denominator (impressions). Users are the unit randomised into arms, and
 * one user's impressions are correlated, so a ratio's variance comes from these, not from the impressions.
 */
export interface UserRatioMoments {
  /** users with at least one event counted: m */
  users: number;
  /** Σ x_i */
  numerator: number;
  /** Σ n_i */
  denominator: number;
  /** Σ x_i² */
  numeratorSquares: number;
  /** Σ n_i² */
  denominatorSquares: number;
  /** Σ x_i n_i */
  crossProducts: number;
}

/**
 * Variance of the ratio Σx / Σn by the delta method with the user as the unit (Deng et al., "Applying the Delta
 * Method in Metric Analytics", 2018): Σ(x_i − R n_i)² / (m − 1) / (m n̄²), R = Σx / Σn. The residuals sum to 0
 * at that R, so their sum of squares is Σx² − 2R Σxn + R² Σn², which the moments give. Null with fewer than two
 * users or no denominator.
 */
export function ratioVariance(m: UserRatioMoments): number | null {
  if (m.users < 2 || !(m.denominator > 0)) return null;
  const ratio = m.numerator / m.denominator;
  const residualSquares = Math.max(
    0,
    m.numeratorSquares - 2 * ratio * m.crossProducts + ratio * ratio * m.denominatorSquares,
  );
  return (residualSquares * m.users) / ((m.users - 1) * m.denominator * m.denominator);
}

/**
 * Two-sided p-value that two arms' ratios (Σx / Σn) differ, with the user as the unit: the difference over the
 * delta-method standard error (`ratioVariance`), Student's t with the Welch–Satterthwaite degrees of freedom
 * over users (a few users with many impressions each are few samples, not many). With one impression per user
 * this is `welchP` on the users' clicks. Null when either arm has no variance to give; 1 when neither varies and
 * the ratios agree.
 */
export function ratioDifferenceP(a: UserRatioMoments, b: UserRatioMoments): number | null {
  const [va, vb] = [ratioVariance(a), ratioVariance(b)];
  if (va === null || vb === null) return null;
  const difference = a.numerator / a.denominator - b.numerator / b.denominator;
  const se = Math.sqrt(va + vb);
  if (se === 0) return difference === 0 ? 1 : 0;
  const degrees = (va + vb) ** 2 / (va ** 2 / (a.users - 1) + vb ** 2 / (b.users - 1));
  return Number.isFinite(degrees)
    ? studentTwoSidedP(difference / se, degrees)
    : normalTwoSidedP(difference / se);
}

/**
 * The 95 % interval (at `z`) of an arm's ratio Σx / Σn with the user as the unit: the ratio ± z delta-method
 * standard errors, floored at 0 (counts are never negative). Null where `ratioVariance` is.
 */
export function ratioInterval(m: UserRatioMoments, z = Z95): [number, number] | null {
  const variance = ratioVariance(m);
  if (variance === null) return null;
  const ratio = m.numerator / m.denominator;
  const half = z * Math.sqrt(variance);
  return [Math.max(0, ratio - half), ratio + half];
}

/**
 * Whether the ratios of several arms differ at all, with the user as the unit: for two arms `ratioDifferenceP`;
 * for more, the Wald test of equal ratios over independent arms, Σ w_i (R_i − R̄)² with w_i = 1 / `ratioVariance`
 * and R̄ their w-weighted mean, χ² with k − 1 degrees of freedom. Arms without a variance are left out; null when
 * fewer than two remain. Arms of variance 0 (no user differs from the ratio: an arm without clicks) are the
 * test's limit as their weight grows: their ratio is known, so the others are tested against it, χ² with as
 * many degrees of freedom as they are, and two of them that differ give 0.
 */
export function ratioHomogeneityP(arms: readonly UserRatioMoments[]): number | null {
  const usable = arms.filter((m) => ratioVariance(m) !== null);
  if (usable.length < 2) return null;
  if (usable.length === 2) return ratioDifferenceP(usable[0]!, usable[1]!);
  const estimates = usable.map((m) => ({ ratio: m.numerator / m.denominator, variance: ratioVariance(m)! }));
  const varying = estimates.filter((e) => e.variance > 0);
  const known = estimates.find((e) => e.variance === 0)?.ratio;
  if (known !== undefined) {
    if (estimates.some((e) => e.variance === 0 && e.ratio !== known)) return 0;
    if (varying.length === 0) return 1;
    const statistic = varying.reduce((sum, e) => sum + (e.ratio - known) ** 2 / e.variance, 0);
    return chiSquareSurvival(statistic, varying.length);
  }
  const weights = varying.map((e) => 1 / e.variance);
  const totalWeight = weights.reduce((sum, w) => sum + w, 0);
  const mean = varying.reduce((sum, e, i) => sum + weights[i]! * e.ratio, 0) / totalWeight;
  const statistic = varying.reduce((sum, e, i) => sum + weights[i]! * (e.ratio - mean) ** 2, 0);
  return chiSquareSurvival(statistic, varying.length - 1);
}
