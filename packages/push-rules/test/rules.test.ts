import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  applicableRuleSpan,
  applicableRules,
  CHANNELS,
  compareRestrictiveness,
  effectiveLimit,
  evaluateCaps,
  type PushMessage,
  type PushRule,
  parseWindow,
  type RuleChannel,
  ruleUsage,
  type SendRecord,
} from '../src/index';

const channel = fc.constantFrom(...CHANNELS);
const ruleChannel = fc.constantFrom<RuleChannel>(...CHANNELS, 'any');
const category = fc.option(fc.constantFrom('sale', 'news'), { nil: null });

// Small integer clocks keep the brute force (a scan over every tick) cheap.
const rule = (index: number) =>
  fc
    .record({
      channel: ruleChannel,
      limit: fc.integer({ min: 0, max: 4 }),
      windowMs: fc.integer({ min: 1, max: 30 }),
      category,
      activeFromMs: fc.option(fc.integer({ min: 0, max: 120 }), { nil: null }),
      activeUntilMs: fc.option(fc.integer({ min: 0, max: 200 }), { nil: null }),
      enabled: fc.boolean(),
    })
    .map((r): PushRule => ({ ...r, ruleId: `r${index}` }));
const rules = fc
  .integer({ min: 0, max: 5 })
  .chain((n) => fc.tuple(...Array.from({ length: n }, (_, i) => rule(i))));
const sends = fc.array(fc.record({ atMs: fc.integer({ min: 0, max: 100 }), channel, category }), {
  maxLength: 25,
});
const message = fc.record({ channel, category });
const priority = fc.constantFrom('low' as const, 'normal' as const, 'high' as const);

const bruteActive = (r: PushRule, t: number) =>
  r.enabled &&
  (r.activeFromMs === null || r.activeFromMs <= t) &&
  (r.activeUntilMs === null || t < r.activeUntilMs);
const bruteMatches = (r: PushRule, m: PushMessage) =>
  (r.channel === 'any' || r.channel === m.channel) && (r.category === null || r.category === m.category);
const bruteCount = (r: PushRule, all: readonly SendRecord[], t: number) =>
  all.filter((s) => bruteMatches(r, s) && s.atMs <= t && s.atMs > t - r.windowMs).length;

describe('parseWindow', () => {
  it('reads minutes, hours and days and refuses anything else', () => {
    expect(parseWindow('1h')).toBe(3_600_000);
    expect(parseWindow('24h')).toBe(86_400_000);
    expect(parseWindow('7d')).toBe(604_800_000);
    expect(parseWindow('30m')).toBe(1_800_000);
    for (const bad of ['', '0h', '1w', '1.5h', 'h', '-1h', '32d', ' 1h'])
      expect(() => parseWindow(bad)).toThrow();
  });
});

describe('applicableRules', () => {
  it('keeps exactly the enabled, active, matching rules, most restrictive (fewest per unit time) first', () => {
    fc.assert(
      fc.property(rules, message, fc.integer({ min: 0, max: 200 }), (all, m, now) => {
        const result = applicableRules(all, m, now);
        const expected = all.filter((r) => bruteActive(r, now) && bruteMatches(r, m)).map((r) => r.ruleId);
        expect(result.map((r) => r.ruleId).sort()).toEqual(expected.sort());
        for (let i = 1; i < result.length; i++) {
          const [a, b] = [result[i - 1]!, result[i]!];
          expect(a.limit / a.windowMs).toBeLessThanOrEqual(b.limit / b.windowMs);
        }
      }),
      { numRuns: 300 },
    );
  });
});

describe('applicableRuleSpan', () => {
  it('answers applicableRules, and the same rules apply (and the same start later) at every tick of its span', () => {
    fc.assert(
      fc.property(rules, message, fc.integer({ min: 0, max: 200 }), (all, m, now) => {
        const span = applicableRuleSpan(all, m, now);
        const ids = (list: readonly PushRule[]) => list.map((r) => r.ruleId).join(' ');
        const startingAfter = (t: number) =>
          ids(
            all
              .filter((r) => r.enabled && bruteMatches(r, m) && r.activeFromMs !== null && r.activeFromMs > t)
              .sort((a, b) => a.activeFromMs! - b.activeFromMs! || compareRestrictiveness(a, b)),
          );
        expect(ids(span.rules)).toBe(ids(applicableRules(all, m, now)));
        expect(ids(span.upcoming)).toBe(startingAfter(now));
        expect(span.fromMs).toBeLessThanOrEqual(now);
        expect(span.untilMs).toBeGreaterThan(now);
        // One assertion per span, not per tick: the ticks whose answer differs from the span's.
        const differing: number[] = [];
        for (let t = Math.max(span.fromMs, -10); t < Math.min(span.untilMs, 210); t++)
          if (ids(applicableRules(all, m, t)) !== ids(span.rules) || startingAfter(t) !== ids(span.upcoming))
            differing.push(t);
        expect(differing).toEqual([]);
      }),
      { numRuns: 300 },
    );
  });
});

describe('evaluateCaps', () => {
  it('agrees with a tick-by-tick brute force on verdict, binding rule, free time and usage', () => {
    fc.assert(
      fc.property(
        rules,
        sends,
        message,
        priority,
        fc.integer({ min: 0, max: 120 }),
        (all, past, m, p, now) => {
          const history = past.filter((s) => s.atMs <= now);
          const verdict = evaluateCaps(all, history, m, p, now);
          const applicable = all.filter((r) => bruteActive(r, now) && bruteMatches(r, m));
          const blockedAt = (r: PushRule, t: number) =>
            bruteActive(r, t) && bruteCount(r, history, t) >= effectiveLimit(r.limit, p);
          const allowed = applicable.every((r) => !blockedAt(r, now));
          expect(verdict.allowed).toBe(allowed);
          if (allowed) {
            expect(verdict.blockingRuleId).toBeNull();
            expect(verdict.capFreeAtMs).toBeNull();
          } else {
            let free = Number.POSITIVE_INFINITY;
            for (let t = now; t <= 400; t++) {
              if (applicable.every((r) => !blockedAt(r, t))) {
                free = t;
                break;
              }
            }
            expect(verdict.capFreeAtMs).toBe(free);
            const binding = applicable.find((r) => r.ruleId === verdict.blockingRuleId)!;
            expect(blockedAt(binding, now)).toBe(true);
            if (Number.isFinite(free)) expect(blockedAt(binding, free - 1)).toBe(true);
          }
          const sent = allowed ? [...history, { atMs: now, ...m }] : history;
          for (const usage of verdict.usage) {
            const r = applicable.find((x) => x.ruleId === usage.ruleId)!;
            expect(usage.used).toBe(bruteCount(r, sent, now));
            expect(usage).toEqual(ruleUsage(r, sent, now, p));
          }
          expect(verdict.usage).toHaveLength(applicable.length);
        },
      ),
      { numRuns: 500 },
    );
  });

  it('counts sends stamped after now (by an api process whose clock is ahead), as the decision script does', () => {
    // Every send in the history has happened, whatever its stamp: a window counts those after t − window.
    const countSince = (r: PushRule, all: readonly SendRecord[], t: number) =>
      all.filter((s) => bruteMatches(r, s) && s.atMs > t - r.windowMs).map((s) => s.atMs);
    fc.assert(
      fc.property(
        rules,
        sends,
        message,
        priority,
        fc.integer({ min: 0, max: 120 }),
        (all, history, m, p, now) => {
          const verdict = evaluateCaps(all, history, m, p, now);
          const applicable = all.filter((r) => bruteActive(r, now) && bruteMatches(r, m));
          const blockedAt = (r: PushRule, t: number) =>
            bruteActive(r, t) && countSince(r, history, t).length >= effectiveLimit(r.limit, p);
          const allowed = applicable.every((r) => !blockedAt(r, now));
          expect(verdict.allowed).toBe(allowed);
          let free: number | null = null;
          if (!allowed) {
            free = Number.POSITIVE_INFINITY;
            for (let t = now; t <= 400; t++) {
              if (applicable.every((r) => !blockedAt(r, t))) {
                free = t;
                break;
              }
            }
          }
          expect(verdict.capFreeAtMs).toBe(free);
          for (const usage of verdict.usage) {
            const r = applicable.find((x) => x.ruleId === usage.ruleId)!;
            const times = [...countSince(r, history, now), ...(allowed ? [now] : [])].sort((x, y) => x - y);
            expect(usage.used).toBe(times.length);
            // Room grows when all but limit − 1 of them have left (the oldest while there is room), or the rule
            // ends; never for a limit of 0 that never ends.
            const limit = effectiveLimit(r.limit, p);
            const grows = Math.min(
              limit === 0 ? Infinity : times[Math.max(0, times.length - limit)]! + r.windowMs,
              r.activeUntilMs ?? Infinity,
            );
            expect(usage.resetsAtMs).toBe(times.length === 0 || grows === Infinity ? null : grows);
          }
        },
      ),
      { numRuns: 500 },
    );
  });

  it("answers each rule's room at the message's priority, and when a slot frees or the rule ends", () => {
    fc.assert(
      fc.property(
        rules,
        sends,
        message,
        priority,
        fc.integer({ min: 0, max: 120 }),
        (all, past, m, p, now) => {
          const history = past.filter((s) => s.atMs <= now);
          const verdict = evaluateCaps(all, history, m, p, now);
          const sent = verdict.allowed ? [...history, { atMs: now, ...m }] : history;
          for (const usage of verdict.usage) {
            const r = all.find((x) => x.ruleId === usage.ruleId)!;
            // Messages of this priority the rule alone would still let through now, one after another.
            let room = 0;
            const more = Array.from({ length: r.limit + 1 }, () => ({ atMs: now, ...m }));
            while (room <= r.limit && evaluateCaps([r], [...sent, ...more.slice(0, room)], m, p, now).allowed)
              room++;
            expect(usage.remaining).toBe(room);
            // The first tick at which the rule lets more of them through: enough of its counted sends have left,
            // or it ends (an ended rule lets everything through). Nothing counted: null.
            const roomAt = (t: number) =>
              bruteActive(r, t)
                ? Math.max(
                    0,
                    effectiveLimit(r.limit, p) -
                      sent.filter((s) => bruteMatches(r, s) && s.atMs > t - r.windowMs && s.atMs <= now)
                        .length,
                  )
                : Number.POSITIVE_INFINITY;
            let frees: number | null = null;
            for (let t = now + 1; usage.used > 0 && t <= 400; t++)
              if (roomAt(t) > roomAt(now)) {
                frees = t;
                break;
              }
            expect(usage.resetsAtMs).toBe(frees);
          }
        },
      ),
      { numRuns: 500 },
    );
  });

  it('names a refusal by a rule with no room left at low priority, and frees it when the rule ends', () => {
    const daily: PushRule = {
      ruleId: 'daily',
      channel: 'push',
      limit: 3,
      windowMs: 86_400_000,
      category: null,
      activeFromMs: null,
      activeUntilMs: 36_000_000,
      enabled: true,
    };
    const two = [1_000, 2_000].map((atMs) => ({ atMs, channel: 'push' as const, category: null }));
    const m = { channel: 'push' as const, category: null };
    expect(evaluateCaps([daily], two, m, 'low', 3_000)).toMatchObject({
      allowed: false,
      blockingRuleId: 'daily',
      usage: [{ ruleId: 'daily', used: 2, remaining: 0, resetsAtMs: 36_000_000 }],
    });
    expect(ruleUsage(daily, two, 3_000)).toEqual({
      ruleId: 'daily',
      used: 2,
      remaining: 1,
      resetsAtMs: 36_000_000,
    });
  });

  it('lets a low-priority message leave the last slot, but not of a limit-1 rule', () => {
    const hourly: PushRule = {
      ruleId: 'hourly',
      channel: 'push',
      limit: 2,
      windowMs: 3_600_000,
      category: null,
      activeFromMs: null,
      activeUntilMs: null,
      enabled: true,
    };
    const one = [{ atMs: 1_000, channel: 'push' as const, category: null }];
    const m = { channel: 'push' as const, category: null };
    expect(evaluateCaps([hourly], one, m, 'low', 2_000).allowed).toBe(false);
    expect(evaluateCaps([hourly], one, m, 'normal', 2_000).allowed).toBe(true);
    expect(evaluateCaps([{ ...hourly, limit: 1 }], [], m, 'low', 2_000).allowed).toBe(true);
  });

  it('frees a festival cap when its window closes, before its sends age out', () => {
    const festival: PushRule = {
      ruleId: 'festival',
      channel: 'any',
      limit: 1,
      windowMs: 86_400_000,
      category: null,
      activeFromMs: 0,
      activeUntilMs: 10_000,
      enabled: true,
    };
    const verdict = evaluateCaps(
      [festival],
      [{ atMs: 1_000, channel: 'sms', category: 'sale' }],
      {
        channel: 'push',
        category: null,
      },
      'normal',
      5_000,
    );
    expect(verdict).toMatchObject({ allowed: false, blockingRuleId: 'festival', capFreeAtMs: 10_000 });
  });
});
