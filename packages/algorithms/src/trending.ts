import { requireFinite, requireInteger, requirePositive } from './validate';

export interface TrendingOptions {
  /** length of the recent window, ending at the reference time */
  recentHours: number;
  /** the baseline window is (ref − baselineHours, ref − recentHours], as in `BuildInputOptions` */
  baselineHours: number;
  /** items with fewer recent (type-weighted) events than this score 0 */
  minRecent: number;
  /** items engaged with by fewer distinct users in the recent window than this score 0 */
  minRecentUsers: number;
  /** pseudo-events added to both the observed and the expected recent count; > 0 */
  prior: number;
}

/**
 * Trending score = (recent + prior) / (expected + prior), where expected = baseline × recentHours /
 * (baselineHours − recentHours) is the recent count the baseline rate predicts. It is the ratio of the recent
 * rate to the baseline rate, smoothed additively: the prior shrinks low-volume items toward 1 (an item going
 * from 0 to 1 event is not a trend, one going from 100 to 300 is), and keeps items without baseline finite.
 * `recentUsers` are the distinct users behind each item's recent count: one shopper is not a trend, however much
 * they did.
 */
export function trendingScores(
  recent: Float64Array,
  baseline: Float64Array,
  recentUsers: Uint32Array,
  opts: TrendingOptions,
): Float64Array {
  requirePositive('recentHours', opts.recentHours);
  if (!(opts.baselineHours > opts.recentHours)) {
    throw new RangeError('baselineHours must be greater than recentHours');
  }
  requireFinite('minRecent', opts.minRecent, 0);
  requireInteger('minRecentUsers', opts.minRecentUsers, 0);
  requirePositive('prior', opts.prior);
  if (recent.length !== baseline.length || recent.length !== recentUsers.length)
    throw new RangeError('recent, baseline and recentUsers must have the same length');
  const windowRatio = opts.recentHours / (opts.baselineHours - opts.recentHours);
  const scores = new Float64Array(recent.length);
  for (let i = 0; i < recent.length; i++) {
    const observed = recent[i]!;
    if (observed < opts.minRecent || recentUsers[i]! < opts.minRecentUsers) continue;
    scores[i] = (observed + opts.prior) / (baseline[i]! * windowRatio + opts.prior);
  }
  return scores;
}
