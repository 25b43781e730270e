import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  compiledRuleSets,
  countedSends,
  type DecisionOutcome,
  decisionVerdict,
  effectiveLimit,
  evaluateCaps,
  freeingSendIndex,
  isoInstant,
  isQuietAt,
  type PushRule,
  parseClock,
  planDecision,
  type QuietHours,
  type SendRecord,
} from '../src/index';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const at = (iso: string) => Date.parse(iso);

/** A past send of the user's, and whether it was of the campaign being decided. */
interface PastSend extends SendRecord {
  sameCampaign: boolean;
}

interface Scenario {
  nowMs: number;
  timeZone: string;
  rules: PushRule[];
  sends: PastSend[];
  duplicateMs: number;
  quietHours: QuietHours | null;
  request: { priority: 'low' | 'normal'; transactional: boolean; overrideCaps: boolean };
}

const message = { channel: 'push' as const, category: null };

/** The plan and what the decision script finds, as push-decide.lua decides (evaluateCaps is its reference). */
function decide(scenario: Scenario) {
  const { nowMs, rules, sends, duplicateMs, quietHours, request, timeZone } = scenario;
  const ruleSet = compiledRuleSets((checks) => checks)(rules, message, nowMs);
  const plan = planDecision({ ...request, channel: 'push', dryRun: false }, ruleSet, quietHours);
  const campaignSends = sends.filter((send) => send.sameCampaign && send.atMs > nowMs - duplicateMs);
  const duplicateUntilMs =
    campaignSends.length === 0 ? null : Math.max(...campaignSends.map((send) => send.atMs)) + duplicateMs;
  const caps = evaluateCaps(rules, sends, message, request.priority, nowMs);
  const limitOf = (rule: PushRule) => effectiveLimit(rule.limit, request.priority);
  const reason =
    duplicateUntilMs !== null
      ? 'duplicate_campaign'
      : plan.quiet && isQuietAt(plan.quiet, timeZone, nowMs)
        ? 'quiet_hours'
        : plan.checkCaps && !caps.allowed
          ? 'cap_exceeded'
          : 'ok';
  // The script works out the caps whatever refuses the message, and answers them with every reason; a counted
  // reservation is among the sends it answers.
  const counts =
    reason === 'ok' && plan.reserve === 'counted' ? [...sends, { atMs: nowMs, ...message }] : sends;
  const outcome: DecisionOutcome = {
    reason,
    blockingIndex: plan.rules.findIndex((rule) => rule.ruleId === caps.blockingRuleId),
    capFreeAtMs: caps.capFreeAtMs,
    duplicateUntilMs,
    // The rules in force as counted now, then those that start later as counted when they start.
    usage: [
      ...plan.rules.map((rule) => countedSends(rule, counts, nowMs)),
      ...plan.upcoming.map((rule) => countedSends(rule, counts, rule.activeFromMs!)),
    ].map((counted, i) => ({
      used: counted.length,
      freeingSendMs:
        counted[freeingSendIndex(counted.length, limitOf([...plan.rules, ...plan.upcoming][i]!))] ?? null,
    })),
  };
  return { plan, outcome };
}

/** Whether the same request, asked again at `t` with nothing sent meanwhile, would be allowed. */
function allowedAt(s: Scenario, plan: { checkCaps: boolean; quiet: QuietHours | null }, t: number): boolean {
  if (s.sends.some((send) => send.sameCampaign && send.atMs > t - s.duplicateMs)) return false;
  if (plan.quiet && isQuietAt(plan.quiet, s.timeZone, t)) return false;
  return !plan.checkCaps || evaluateCaps(s.rules, s.sends, message, s.request.priority, t).allowed;
}

/**
 * The first instant from `nowMs` at which the request would be allowed, by trying every instant at which the answer
 * can change: a send leaving a rule's window or the duplicate period, a rule ending, or a whole UTC minute (quiet
 * hours begin and end at whole minutes of zones whose offsets are whole minutes). Null within `horizonMs` if none.
 */
function bruteRetryAt(
  scenario: Scenario,
  plan: { checkCaps: boolean; quiet: QuietHours | null },
  horizonMs: number,
): number | null {
  const { nowMs, rules, sends, duplicateMs } = scenario;
  const candidates = [nowMs];
  for (const send of sends) {
    candidates.push(send.atMs + duplicateMs);
    for (const rule of rules) candidates.push(send.atMs + rule.windowMs);
  }
  for (const rule of rules)
    for (const boundary of [rule.activeFromMs, rule.activeUntilMs])
      if (boundary !== null) candidates.push(boundary);
  if (plan.quiet)
    for (let minute = Math.ceil(nowMs / MINUTE); minute * MINUTE <= nowMs + horizonMs; minute++)
      candidates.push(minute * MINUTE);
  const ordered = candidates.filter((t) => t >= nowMs && t <= nowMs + horizonMs).sort((a, b) => a - b);
  return ordered.find((t) => allowedAt(scenario, plan, t)) ?? null;
}

const zones = [
  'UTC',
  'America/New_York',
  'Europe/Berlin',
  'Australia/Lord_Howe',
  'Asia/Kolkata',
  'Pacific/Chatham',
];
// DST changes of those zones in 2026, so windows and quiet hours end across them.
const transitions = [
  '2026-03-08T07:00:00Z',
  '2026-11-01T06:00:00Z',
  '2026-03-29T01:00:00Z',
  '2026-10-25T01:00:00Z',
  '2026-04-05T01:00:00Z',
  '2026-10-03T15:30:00Z',
].map(at);

const scenario: fc.Arbitrary<Scenario> = fc
  .record({
    nowMs: fc
      .tuple(fc.constantFrom(...transitions), fc.integer({ min: -36 * HOUR, max: 36 * HOUR }))
      .map(([base, offset]) => base + offset),
    timeZone: fc.constantFrom(...zones),
    rules: fc.array(
      fc.record({
        channel: fc.constantFrom('push' as const, 'any' as const),
        limit: fc.integer({ min: 0, max: 3 }),
        windowMs: fc.integer({ min: 1, max: 48 * 60 }).map((minutes) => minutes * MINUTE + 7),
        // Started already, or starting within 3 days; ending within 3 days of now or of its start, or never.
        startsInMs: fc.option(fc.integer({ min: -72 * HOUR, max: 72 * HOUR }), { nil: null }),
        endsInMs: fc.option(fc.integer({ min: 1, max: 72 * HOUR }), { nil: null }),
      }),
      { maxLength: 3 },
    ),
    sends: fc.array(
      fc.record({ agoMs: fc.integer({ min: 1, max: 48 * HOUR }), sameCampaign: fc.boolean() }),
      { maxLength: 8 },
    ),
    duplicateMs: fc.integer({ min: 1, max: 48 * 60 }).map((minutes) => minutes * MINUTE + 3),
    quietHours: fc.option(
      fc.record({
        startMinute: fc.integer({ min: 0, max: 1439 }),
        endMinute: fc.integer({ min: 0, max: 1439 }),
        channels: fc.constant(['push' as const]),
      }),
      { nil: null },
    ),
    request: fc.record({
      priority: fc.constantFrom('low' as const, 'normal' as const),
      transactional: fc.boolean(),
      overrideCaps: fc.boolean(),
    }),
  })
  .map(({ nowMs, rules, sends, ...rest }) => ({
    ...rest,
    nowMs,
    rules: rules.map(({ startsInMs, endsInMs, ...rule }, i): PushRule => {
      const activeFromMs = startsInMs === null ? null : nowMs + startsInMs;
      return {
        ...rule,
        ruleId: `r${i}`,
        category: null,
        activeFromMs,
        activeUntilMs: endsInMs === null ? null : Math.max(nowMs, activeFromMs ?? nowMs) + endsInMs,
        enabled: true,
      };
    }),
    sends: sends.map(({ agoMs, sameCampaign }) => ({
      atMs: nowMs - agoMs,
      channel: 'push' as const,
      category: null,
      sameCampaign,
    })),
  }));

describe('retryAt of a refusal', () => {
  it('is the first instant the same request would be allowed, whatever refused it', () => {
    // Every instant retryAt can name is within the latest rule end (6 days: a start within 3 days, then up to 3
    // more), then a day of quiet hours (25 h when clocks go back), of now.
    const horizonMs = 8 * 24 * HOUR;
    fc.assert(
      fc.property(scenario, (s) => {
        const { plan, outcome } = decide(s);
        if (outcome.reason === 'ok') return;
        const verdict = decisionVerdict(plan, outcome, { nowMs: s.nowMs, timeZone: s.timeZone });
        const expected = bruteRetryAt(s, plan, horizonMs);
        expect(verdict.retryAt).toBe(expected === null ? undefined : isoInstant(expected));
      }),
      { numRuns: 500 },
    );
  });

  it('is allowed when retried at it with the same rules and nothing sent, and refused 1 ms before', () => {
    fc.assert(
      fc.property(scenario, (s) => {
        const { plan, outcome } = decide(s);
        if (outcome.reason === 'ok') return;
        const verdict = decisionVerdict(plan, outcome, { nowMs: s.nowMs, timeZone: s.timeZone });
        if (verdict.retryAt === undefined) return;
        const retryMs = Date.parse(verdict.retryAt);
        expect(allowedAt(s, plan, retryMs)).toBe(true);
        if (retryMs > s.nowMs) expect(allowedAt(s, plan, retryMs - 1)).toBe(false);
      }),
      { numRuns: 1000 },
    );
  });

  it('waits for a festival rule that starts before the caps in force free, and is full then', () => {
    // 2 of 3 per day sent at 09:00 and 10:00; a festival "1 per day" starts at 12:00, before the daily cap (held
    // at 2 for a low-priority message) frees at 09:00 tomorrow: the retry must wait until 10:00 tomorrow, when
    // the festival rule counts one send fewer than its limit.
    const nowMs = at('2026-11-11T11:00:00Z');
    const daily: PushRule = { ...rule, ruleId: 'daily', limit: 3 };
    const festival: PushRule = {
      ...rule,
      ruleId: 'festival',
      limit: 1,
      activeFromMs: at('2026-11-11T12:00:00Z'),
      activeUntilMs: at('2026-11-13T00:00:00Z'),
    };
    const s: Scenario = {
      nowMs,
      timeZone: 'UTC',
      rules: [daily, festival],
      sends: ['2026-11-11T09:00:00Z', '2026-11-11T10:00:00Z'].map((iso) => ({
        atMs: at(iso),
        channel: 'push' as const,
        category: null,
        sameCampaign: false,
      })),
      duplicateMs: HOUR,
      quietHours: null,
      request: { ...ordinary, priority: 'low' },
    };
    const { plan, outcome } = decide(s);
    expect(outcome.reason).toBe('cap_exceeded');
    const verdict = decisionVerdict(plan, outcome, { nowMs, timeZone: 'UTC' });
    expect(verdict).toMatchObject({ ruleId: 'daily', retryAt: '2026-11-12T10:00:00.000Z' });
    // Before the fix the retry named when the daily cap frees, and the festival rule refused it then.
    expect(allowedAt(s, plan, at('2026-11-12T09:00:00Z'))).toBe(false);
    // The daily rule has room for a low-priority message again when the 09:00 send leaves, not when either does.
    expect(verdict.remaining).toEqual([
      { ruleId: 'daily', remaining: 0, resetsAt: '2026-11-12T09:00:00.000Z' },
    ]);
  });

  it('is named with the remaining and resetsAt of the limits the request was held to', () => {
    fc.assert(
      fc.property(scenario, (s) => {
        const { plan, outcome } = decide(s);
        const verdict = decisionVerdict(plan, outcome, { nowMs: s.nowMs, timeZone: s.timeZone });
        const priority = s.request.priority;
        verdict.remaining.forEach((entry, i) => {
          const rule = plan.rules[i]!;
          // A counted reservation is one of the rule's sends.
          const sends: SendRecord[] =
            outcome.reason === 'ok' && plan.reserve === 'counted'
              ? [...s.sends, { atMs: s.nowMs, ...message }]
              : s.sends;
          const held = (t: number) =>
            rule.activeUntilMs !== null && t >= rule.activeUntilMs
              ? 0
              : countedSends(rule, sends, s.nowMs).filter((atMs) => atMs > t - rule.windowMs).length;
          // How many more messages of the request's priority the rule alone lets through now, one after another.
          let room = 0;
          const more = (k: number): SendRecord[] =>
            Array.from({ length: k }, () => ({ atMs: s.nowMs, ...message }));
          while (
            room <= rule.limit &&
            evaluateCaps([rule], [...sends, ...more(room)], message, priority, s.nowMs).allowed
          )
            room++;
          expect(entry.remaining).toBe(room);
          // `remaining` next grows at the first instant the rule lets more of them through: a send leaves its window
          // or the rule ends (an ended rule lets everything through). Nothing counted: null.
          const limit = effectiveLimit(rule.limit, priority);
          const roomAt = (t: number) =>
            rule.activeUntilMs !== null && t >= rule.activeUntilMs
              ? Number.POSITIVE_INFINITY
              : Math.max(0, limit - held(t));
          const used = held(s.nowMs);
          const candidates = [
            ...countedSends(rule, sends, s.nowMs).map((atMs) => atMs + rule.windowMs),
            ...(rule.activeUntilMs === null ? [] : [rule.activeUntilMs]),
          ].sort((a, b) => a - b);
          const frees =
            used === 0 ? undefined : candidates.find((t) => t > s.nowMs && roomAt(t) > roomAt(s.nowMs));
          expect(entry.resetsAt).toBe(frees === undefined ? null : isoInstant(frees));
        });
        if (verdict.reason === 'cap_exceeded')
          expect(verdict.remaining.find((entry) => entry.ruleId === verdict.ruleId)?.remaining).toBe(0);
      }),
      { numRuns: 300 },
    );
  });

  const night: QuietHours = {
    startMinute: parseClock('22:00'),
    endMinute: parseClock('08:00'),
    channels: ['push'],
  };
  const rule: PushRule = {
    ruleId: 'push-daily',
    channel: 'push',
    limit: 1,
    windowMs: 24 * HOUR,
    category: null,
    activeFromMs: null,
    activeUntilMs: null,
    enabled: true,
  };
  const ordinary = { priority: 'normal' as const, transactional: false, overrideCaps: false };

  it('of a duplicate whose period ends in quiet hours is when they end, on the local clock across DST', () => {
    // Sent 2026-03-07 01:30 EST; the duplicate period (24 h) ends 2026-03-08 01:30 EST, inside 22:00–08:00, the
    // night clocks spring forward: quiet hours end at 08:00 EDT, 12:00Z.
    const sentMs = at('2026-03-07T06:30:00Z');
    const s: Scenario = {
      nowMs: at('2026-03-07T20:00:00Z'),
      timeZone: 'America/New_York',
      rules: [],
      sends: [{ atMs: sentMs, channel: 'push', category: null, sameCampaign: true }],
      duplicateMs: 24 * HOUR,
      quietHours: night,
      request: ordinary,
    };
    const { plan, outcome } = decide(s);
    expect(outcome.reason).toBe('duplicate_campaign');
    expect(decisionVerdict(plan, outcome, { nowMs: s.nowMs, timeZone: s.timeZone }).retryAt).toBe(
      '2026-03-08T12:00:00.000Z',
    );
  });

  it('of a duplicate waits for a full cap to free, unless the message is exempt from caps', () => {
    // The campaign went at 10:00 (duplicate for 1 h); another campaign at 10:30 filled the daily cap until 10:30
    // tomorrow.
    const nowMs = at('2026-11-11T10:45:00Z');
    const s: Scenario = {
      nowMs,
      timeZone: 'UTC',
      rules: [rule],
      sends: [
        { atMs: at('2026-11-11T10:00:00Z'), channel: 'push', category: null, sameCampaign: true },
        { atMs: at('2026-11-11T10:30:00Z'), channel: 'push', category: null, sameCampaign: false },
      ],
      duplicateMs: HOUR,
      quietHours: night,
      request: ordinary,
    };
    const refused = decide(s);
    expect(refused.outcome.reason).toBe('duplicate_campaign');
    expect(decisionVerdict(refused.plan, refused.outcome, { nowMs, timeZone: 'UTC' }).retryAt).toBe(
      '2026-11-12T10:30:00.000Z',
    );
    const transactional = decide({ ...s, request: { ...ordinary, transactional: true } });
    expect(
      decisionVerdict(transactional.plan, transactional.outcome, { nowMs, timeZone: 'UTC' }).retryAt,
    ).toBe('2026-11-11T11:00:00.000Z');
  });
});
