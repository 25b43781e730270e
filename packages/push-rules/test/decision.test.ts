import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  applicableRules,
  CHANNELS,
  compareRestrictiveness,
  compiledRuleSets,
  decisionVerdict,
  effectiveLimit,
  isoInstant,
  type PushRule,
  planDecision,
  type RuleChannel,
  type RuleCheck,
  ruleMatches,
} from '../src/index';

const category = fc.option(fc.constantFrom('sale', 'news'), { nil: null });
const rule = (index: number) =>
  fc
    .record({
      channel: fc.constantFrom<RuleChannel>(...CHANNELS, 'any'),
      limit: fc.integer({ min: 0, max: 4 }),
      windowMs: fc.integer({ min: 1, max: 30 }),
      category,
      activeFromMs: fc.option(fc.integer({ min: 0, max: 120 }), { nil: null }),
      activeUntilMs: fc.option(fc.integer({ min: 0, max: 200 }), { nil: null }),
      enabled: fc.boolean(),
    })
    .map((r): PushRule => ({ ...r, ruleId: `r${index}` }));
const ruleList = fc
  .integer({ min: 0, max: 5 })
  .chain((n) => fc.tuple(...Array.from({ length: n }, (_, i) => rule(i))));
const message = fc.record({ channel: fc.constantFrom(...CHANNELS), category });

describe('compiledRuleSets', () => {
  it('answers what evaluating the rules afresh answers, over config changes and time in any order', () => {
    fc.assert(
      fc.property(
        fc.array(ruleList, { minLength: 1, maxLength: 3 }),
        fc.array(fc.record({ config: fc.nat(), message, nowMs: fc.integer({ min: 0, max: 250 }) }), {
          maxLength: 40,
        }),
        (configs, calls) => {
          const packs: RuleCheck[][] = [];
          const ruleSets = compiledRuleSets((checks) => {
            packs.push(checks);
            return checks;
          });
          for (const call of calls) {
            const rules = configs[call.config % configs.length]!;
            const set = ruleSets(rules, call.message, call.nowMs);
            const expected = applicableRules(rules, call.message, call.nowMs);
            // Every rule that would cap the message but starts later, soonest first.
            const upcoming = rules
              .filter(
                (r) =>
                  r.enabled &&
                  ruleMatches(r, call.message) &&
                  r.activeFromMs !== null &&
                  r.activeFromMs > call.nowMs,
              )
              .sort((a, b) => a.activeFromMs! - b.activeFromMs! || compareRestrictiveness(a, b));
            expect(set.rules.map((r) => r.ruleId)).toEqual(expected.map((r) => r.ruleId));
            expect(set.upcoming.map((r) => r.ruleId)).toEqual(upcoming.map((r) => r.ruleId));
            for (const [packed, priority] of [
              [set.packed, 'normal'],
              [set.packedLow, 'low'],
            ] as const)
              expect(packed).toEqual(
                [...expected, ...upcoming].map((r, i) => ({
                  channel: r.channel,
                  category: r.category,
                  windowMs: r.windowMs,
                  effectiveLimit: effectiveLimit(r.limit, priority),
                  activeUntilMs: r.activeUntilMs,
                  startsAtMs: i < expected.length ? null : r.activeFromMs,
                })),
              );
          }
        },
      ),
    );
  });
});

describe('planDecision', () => {
  const ruleSet = { fromMs: 0, untilMs: 1, rules: [], upcoming: [], packed: 'normal', packedLow: 'low' };
  const quiet = { startMinute: 0, endMinute: 60, channels: ['push' as const] };
  const request = {
    channel: 'push' as const,
    category: null,
    priority: 'normal' as const,
    transactional: false,
    overrideCaps: false,
    dryRun: false,
  };

  it('checks caps and quiet hours for an ordinary message and reserves it as counted', () => {
    expect(planDecision(request, ruleSet, quiet)).toEqual({
      rules: [],
      upcoming: [],
      packed: 'normal',
      priority: 'normal',
      checkCaps: true,
      reserve: 'counted',
      quiet,
    });
    expect(planDecision({ ...request, priority: 'low' }, ruleSet, quiet)).toMatchObject({
      packed: 'low',
      priority: 'low',
    });
  });

  it('exempts transactional and overriding messages from caps and quiet hours; a dry run reserves nothing', () => {
    expect(planDecision({ ...request, transactional: true }, ruleSet, quiet)).toMatchObject({
      checkCaps: false,
      reserve: 'exempt',
      quiet: null,
    });
    expect(planDecision({ ...request, overrideCaps: true }, ruleSet, quiet)).toMatchObject({
      checkCaps: false,
      reserve: 'counted',
      quiet: null,
    });
    expect(planDecision({ ...request, dryRun: true }, ruleSet, quiet).reserve).toBe('none');
    expect(planDecision({ ...request, channel: 'email' }, ruleSet, quiet).quiet).toBeNull();
  });
});

describe('decisionVerdict', () => {
  const rules: PushRule[] = [
    { ruleId: 'tight', channel: 'push', limit: 2, windowMs: 60_000, category: null },
    { ruleId: 'loose', channel: 'any', limit: 5, windowMs: 3_600_000, category: null },
  ].map((r) => ({ ...r, activeFromMs: null, activeUntilMs: null, enabled: true }) as PushRule);
  const plan = {
    rules,
    packed: null,
    priority: 'normal' as const,
    checkCaps: true,
    reserve: 'counted' as const,
    quiet: null,
  };
  const nowMs = Date.UTC(2026, 10, 11, 12, 0, 0);

  it('names the binding rule and when every rule has room again', () => {
    expect(
      decisionVerdict(
        plan,
        {
          reason: 'cap_exceeded',
          blockingIndex: 0,
          capFreeAtMs: nowMs + 30_000,
          duplicateUntilMs: null,
          usage: [
            { used: 2, freeingSendMs: nowMs - 30_000 },
            { used: 7, freeingSendMs: nowMs - 60_000 },
          ],
        },
        { nowMs, timeZone: 'UTC' },
      ),
    ).toEqual({
      allowed: false,
      reason: 'cap_exceeded',
      ruleId: 'tight',
      retryAt: '2026-11-11T12:00:30.000Z',
      remaining: [
        { ruleId: 'tight', remaining: 0, resetsAt: '2026-11-11T12:00:30.000Z' },
        { ruleId: 'loose', remaining: 0, resetsAt: '2026-11-11T12:59:00.000Z' },
      ],
    });
  });

  it('allows with the room left, and retries a duplicate when its period ends', () => {
    const usage = [
      { used: 1, freeingSendMs: nowMs },
      { used: 1, freeingSendMs: nowMs },
    ];
    const base = { blockingIndex: -1, capFreeAtMs: null, usage };
    const context = { nowMs, timeZone: 'UTC' };
    expect(decisionVerdict(plan, { ...base, reason: 'ok', duplicateUntilMs: null }, context)).toMatchObject({
      allowed: true,
      remaining: [{ remaining: 1 }, { remaining: 4 }],
    });
    expect(
      decisionVerdict(plan, { ...base, reason: 'duplicate_campaign', duplicateUntilMs: nowMs + 1 }, context),
    ).toMatchObject({ allowed: false, retryAt: '2026-11-11T12:00:00.001Z' });
  });
});

describe('isoInstant', () => {
  it('writes what Date#toISOString writes', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 4_102_444_800_000 }), (ms) => {
        expect(isoInstant(ms)).toBe(new Date(ms).toISOString());
      }),
    );
  });

  it('writes what Date#toISOString writes past year 9999, where a rule ending then sends a retry', () => {
    // A rule may end at 9999-12-31 late in the day at a negative offset; quiet hours can move a retry later still.
    const lastRuleEndMs = Date.parse('9999-12-31T23:59:59.999-15:59');
    fc.assert(
      fc.property(
        fc.integer({ min: lastRuleEndMs - 86_400_000, max: lastRuleEndMs + 2 * 86_400_000 }),
        (ms) => {
          expect(isoInstant(ms)).toBe(new Date(ms).toISOString());
        },
      ),
    );
    expect(isoInstant(Date.parse('+010000-01-01T08:00:00Z'))).toBe('+010000-01-01T08:00:00.000Z');
  });
});
