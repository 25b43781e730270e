import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  type DecisionCounts,
  type GroupCounts,
  holmAdjusted,
  homogeneityP,
  pushReportFrom,
  recommendationsReportFrom,
  summariseGroups,
  twoProportionP,
  welchP,
  wilsonInterval,
} from '../src/index';

const counts = (group: string | null, figures: Partial<GroupCounts>): GroupCounts => ({
  group,
  impressions: 0,
  clicks: 0,
  carts: 0,
  purchases: 0,
  units: 0,
  revenue: 0,
  revenueSquares: 0,
  ...figures,
});
const WINDOW = { fromMs: Date.parse('2026-11-11T00:00:00Z'), toMs: Date.parse('2026-11-12T00:00:00Z') };
const decided = (entries: [string, number][]): Map<string, DecisionCounts> =>
  new Map(entries.map(([campaign, sends]) => [campaign, { sends, suppressed: {} }]));

describe('Wilson interval bounds', () => {
  it('are exactly 1 for all successes and exactly 0 for none', () => {
    expect(wilsonInterval(19, 19)![1]).toBe(1);
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 1_000_000 }), (n) => {
        expect(wilsonInterval(n, n)![1]).toBe(1);
        expect(wilsonInterval(0, n)![0]).toBe(0);
      }),
      { numRuns: 2_000 },
    );
  });

  it('are no interval of counts that are no proportion', () => {
    expect(wilsonInterval(3, 2)).toBeNull();
    expect(wilsonInterval(-1, 2)).toBeNull();
    expect(twoProportionP(3, 2, 1, 10)).toBeNull();
    expect(twoProportionP(1, 10, 3, 2)).toBeNull();
    // Left out of the test of homogeneity, as a group without trials is.
    expect(homogeneityP([3, 10, 20], [2, 100, 100])).toBe(twoProportionP(10, 100, 20, 100));
  });
});

describe('a group with more clicks than impressions', () => {
  it('shows its CTR above 1 with no interval or test that would contradict it', () => {
    const summary = summariseGroups([
      counts('control', { impressions: 100, clicks: 10 }),
      counts('b', { impressions: 4, clicks: 6 }),
    ]);
    const b = summary.groups[1]!;
    expect(b.ctr).toBe(1.5);
    expect(b.ctrInterval).toBeNull();
    expect(b.pValue).toBeNull();
    expect(summary.pValue).toBeNull();
  });

  it('leaves the figures of proportions as they were', () => {
    const groups = [
      counts('control', {
        impressions: 1_000,
        clicks: 50,
        purchases: 10,
        revenue: 200,
        revenueSquares: 4_000,
      }),
      counts('b', { impressions: 1_000, clicks: 70, purchases: 14, revenue: 300, revenueSquares: 7_000 }),
    ];
    const report = recommendationsReportFrom(
      { ...WINDOW, groupBy: 'arm', experiment: 'x', placement: null },
      groups,
      null,
    );
    expect(report.groups[1]).toMatchObject({
      ctr: 0.07,
      ctrInterval: wilsonInterval(70, 1_000),
      conversionRate: 0.014,
      revenuePerImpression: 0.3,
      pValue: twoProportionP(70, 1_000, 50, 1_000),
      revenuePValue: welchP(
        { n: 1_000, sum: 300, sumOfSquares: 7_000 },
        { n: 1_000, sum: 200, sumOfSquares: 4_000 },
      ),
    });
    expect(report.pValue).toBe(twoProportionP(50, 1_000, 70, 1_000));
  });
});

describe('pushReportFrom', () => {
  it('counts rates, intervals and tests per send, and keeps the impressions posted', () => {
    // Storefronts post no impression of most pushes: clicks far above impressions, well below sends.
    const attributed = [
      counts('a', { impressions: 2, clicks: 120, purchases: 30, revenue: 600, revenueSquares: 12_000 }),
      counts('b', { impressions: 0, clicks: 90, purchases: 12, revenue: 300, revenueSquares: 7_500 }),
      counts('control', { impressions: 1, clicks: 80, purchases: 10, revenue: 250, revenueSquares: 6_250 }),
    ];
    const sends = decided([
      ['a', 2_000],
      ['b', 2_000],
      ['control', 2_000],
    ]);
    const report = pushReportFrom(
      { ...WINDOW, groupBy: 'campaign', campaign: null },
      attributed,
      sends,
      null,
    );
    expect(report.reference).toBe('control');
    const [a, b, control] = report.groups;
    expect(a).toMatchObject({
      group: 'a',
      sends: 2_000,
      impressions: 2,
      clicks: 120,
      clickRate: 0.06,
      clickInterval: wilsonInterval(120, 2_000),
      conversionRate: 0.015,
      conversionInterval: wilsonInterval(30, 2_000),
      revenuePerSend: 0.3,
    });
    expect(a).not.toHaveProperty('ctr');
    expect(control!.pValue).toBeNull();
    const moments = (g: GroupCounts) => ({ n: 2_000, sum: g.revenue, sumOfSquares: g.revenueSquares });
    expect([a!.pValue, b!.pValue]).toEqual(
      holmAdjusted([twoProportionP(120, 2_000, 80, 2_000), twoProportionP(90, 2_000, 80, 2_000)]),
    );
    expect([a!.revenuePValue, b!.revenuePValue]).toEqual(
      holmAdjusted([
        welchP(moments(attributed[0]!), moments(attributed[2]!)),
        welchP(moments(attributed[1]!), moments(attributed[2]!)),
      ]),
    );
    expect(a!.pValue).toBeLessThan(0.05);
    expect(report.pValue).toBe(homogeneityP([120, 90, 80], [2_000, 2_000, 2_000]));
    expect(report.conversionPValue).toBe(homogeneityP([30, 12, 10], [2_000, 2_000, 2_000]));
  });

  it('gives no rate without sends, and no interval or test where clicks exceed sends', () => {
    const report = pushReportFrom(
      { ...WINDOW, groupBy: 'campaign', campaign: null },
      [counts('late', { clicks: 3 }), counts('few', { clicks: 5 }), counts('control', { clicks: 10 })],
      decided([
        ['few', 2],
        ['control', 100],
      ]),
      null,
    );
    const [control, few, late] = report.groups;
    expect(late).toMatchObject({ sends: 0, clickRate: null, clickInterval: null, pValue: null });
    expect(few).toMatchObject({ sends: 2, clickRate: 2.5, clickInterval: null, pValue: null });
    expect(control).toMatchObject({ clickRate: 0.1, clickInterval: wilsonInterval(10, 100) });
    expect(report.pValue).toBeNull();
  });
});
