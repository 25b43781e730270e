import { decodeAnswerId, type PushDecisionRequest, type PushReason } from '@elevens/domain';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  type Channel,
  createPushDecide,
  type DecisionOutcome,
  decodeDecisionId,
  encodeDecisionId,
  type LedgerDecision,
  MAX_WINDOW_MS,
  type PushDecisionItem,
  type PushDecisionLedger,
  type PushRule,
  type QuietHours,
  type RetriedDecision,
  type RuleCheck,
  type TimezoneMemory,
} from '../src/index';

const NOW_MS = Date.UTC(2026, 10, 11, 12, 0, 0);
const EXCLUSION_MS = 7 * 86_400_000;
const DUPLICATE_MS = 86_400_000;
const UUID = '0b4f4c1e-6a39-4c2e-9f0e-2d1f6f3b7a10';

const okOutcome = (usage: DecisionOutcome['usage'] = []): DecisionOutcome => ({
  reason: 'ok',
  blockingIndex: -1,
  capFreeAtMs: null,
  duplicateUntilMs: null,
  usage,
});

/**
 * An in-memory ledger that answers each decision with `outcome` (or throws it), records what it was asked, and
 * keeps pushed items per user: a claim takes the first candidate not pushed since `nowMs − exclusionMs`.
 */
function fakeLedger(outcome: DecisionOutcome | Error, profileTimeZone = '') {
  const decisions: { decision: LedgerDecision<RuleCheck[]>; quiet: boolean | null }[] = [];
  const pushed = new Map<string, { itemId: string; atMs: number }[]>();
  const retried = new Map<string, RetriedDecision>();
  const ledger: PushDecisionLedger<RuleCheck[]> = {
    async decide(decision, quietFor, timezones) {
      decisions.push({ decision, quiet: quietFor?.(profileTimeZone) ?? null });
      if (outcome instanceof Error) throw outcome;
      timezones.set(decision.userId, profileTimeZone);
      return { result: outcome, timezone: profileTimeZone };
    },
    async recentlyPushedItems(userId, sinceMs) {
      return (pushed.get(userId) ?? []).filter((p) => p.atMs > sinceMs).map((p) => p.itemId);
    },
    async claimItem({ userId, nowMs, exclusionMs, candidates }) {
      const recent = new Set(await ledger.recentlyPushedItems(userId, nowMs - exclusionMs));
      const claimed = candidates.find((id) => !recent.has(id)) ?? null;
      if (claimed !== null)
        pushed.set(userId, [...(pushed.get(userId) ?? []), { itemId: claimed, atMs: nowMs }]);
      return claimed;
    },
    // Retried decisions are the Redis ledger's, tested against Redis (services/api/test/push-retry.test.ts); this
    // one records each, and the item answer of its first claim, and answers a retry with it, as that one does
    // while the retry period lasts.
    async decideRetried(decision, quietFor, timezones) {
      const recorded = retried.get(decision.retry.key);
      if (recorded) return { replay: recorded };
      const decided = await ledger.decide(decision, quietFor, timezones);
      retried.set(decision.retry.key, {
        atMs: decision.nowMs,
        decisionUuid: decision.decisionUuid,
        fingerprint: decision.retry.fingerprint,
        timezone: decided.timezone,
        context: decision.retry.context,
        result: decided.result,
        item: null,
      });
      return decided;
    },
    async claimRecordedItem({ retryKey, noItemAnswer, candidates, ...claim }) {
      const recorded = retried.get(retryKey);
      const decision = recorded?.decisionUuid === claim.decisionUuid ? recorded : undefined;
      if (decision !== undefined && decision.item !== null) return decision.item;
      const claimed = await ledger.claimItem({ ...claim, candidates: candidates.map((c) => c.itemId) });
      const answer = candidates.find((c) => c.itemId === claimed)?.answer ?? noItemAnswer;
      if (decision !== undefined) retried.set(retryKey, { ...decision, item: answer });
      return answer;
    },
  };
  return { ledger, decisions, pushed };
}

interface Harness {
  ledger: PushDecisionLedger<RuleCheck[]>;
  rules?: PushRule[];
  quietHours?: QuietHours | null;
  items?: PushDecisionItem[] | Error;
}

function decider({ ledger, rules = [], quietHours = null, items = [] }: Harness) {
  const counted: { channel: Channel; campaignId: string; reason: PushReason; nowMs: number }[] = [];
  const recommended: { userId: string; limit: number; exclude: string[] }[] = [];
  const warnings: string[] = [];
  const timezones = new Map<string, string>();
  const memory: TimezoneMemory = {
    get: (userId) => timezones.get(userId),
    set: (userId, zone) => timezones.set(userId, zone),
  };
  const decide = createPushDecide({
    ledger,
    packRules: (checks) => checks,
    servedConfig: () => ({ rules, quietHours }),
    async recommend(query) {
      recommended.push(query);
      if (items instanceof Error) throw items;
      return { items: items.filter((item) => !query.exclude.includes(item.itemId)).slice(0, query.limit) };
    },
    modelVersion: () => 'v7',
    countDecision: (nowMs, channel, campaignId, reason) =>
      counted.push({ nowMs, channel, campaignId, reason }),
    timezones: memory,
    now: () => NOW_MS,
    defaultTimezone: 'UTC',
    duplicateCampaignMs: DUPLICATE_MS,
    itemExclusionMs: EXCLUSION_MS,
  });
  const log = { warn: (_details: object, message: string) => warnings.push(message) };
  return {
    decide: (body: Partial<PushDecisionRequest>, retryKey?: string) =>
      decide({ ...request, ...body }, log, retryKey),
    counted,
    recommended,
    warnings,
    timezones,
  };
}

const request: PushDecisionRequest = {
  userId: 'u1',
  channel: 'push',
  campaignId: 'spring',
  priority: 'normal',
  transactional: false,
  dryRun: false,
  withItem: false,
  overrideCaps: false,
};

const rule = (ruleId: string, limit: number): PushRule => ({
  ruleId,
  channel: 'push',
  limit,
  windowMs: 3_600_000,
  category: null,
  activeFromMs: null,
  activeUntilMs: null,
  enabled: true,
});

const item = (itemId: string): PushDecisionItem => ({ itemId, score: 1, source: 'personalized' });

describe('decision ids', () => {
  it('name the uuid, instant and user they were made from', () => {
    fc.assert(
      fc.property(
        fc.uuid({ version: 4 }),
        fc.integer({ min: 0, max: 8_640_000_000_000 }),
        fc.string({ minLength: 1, maxLength: 64, unit: 'grapheme' }).filter((s) => !s.includes('\0')),
        (uuid, atMs, userId) => {
          expect(decodeDecisionId(encodeDecisionId(uuid, atMs, userId))).toEqual({ uuid, atMs, userId });
        },
      ),
    );
  });

  it('are refused when malformed', () => {
    const valid = encodeDecisionId(UUID, NOW_MS, 'u1');
    for (const id of [
      '',
      'not-an-id',
      `${valid}.extra`,
      valid.replace(UUID, UUID.toUpperCase()),
      `${UUID}..${Buffer.from('u1').toString('base64url')}`,
      `${UUID}.${NOW_MS.toString(36)}.`,
      `${UUID}.zzzzzzzzzzzz.${Buffer.from('u1').toString('base64url')}`,
    ])
      expect(decodeDecisionId(id)).toBeNull();
  });
});

describe('createPushDecide', () => {
  it('asks the ledger with the planned rules, the duplicate period and a retention covering both', async () => {
    const { ledger, decisions } = fakeLedger(okOutcome([{ used: 1, freeingSendMs: NOW_MS }]));
    const rules = [rule('push-1h', 3), { ...rule('email-1h', 1), channel: 'email' as const }];
    const { decide, counted } = decider({ ledger, rules });
    const reply = await decide({ category: 'sale' });

    expect(decisions).toHaveLength(1);
    const asked = decisions[0]!.decision;
    expect(asked).toMatchObject({
      userId: 'u1',
      nowMs: NOW_MS,
      channel: 'push',
      category: 'sale',
      campaignId: 'spring',
      duplicateMs: DUPLICATE_MS,
      checkCaps: true,
      reserve: 'counted',
      priority: 'normal',
      retentionMs: Math.max(MAX_WINDOW_MS, DUPLICATE_MS),
    });
    expect(asked.rules.map((check) => check.effectiveLimit)).toEqual([3]);
    expect(decisions[0]!.quiet).toBeNull();
    expect(decodeDecisionId(reply.decisionId)).toEqual({
      uuid: asked.decisionUuid,
      atMs: NOW_MS,
      userId: 'u1',
    });
    expect(reply).toMatchObject({
      allowed: true,
      reason: 'ok',
      remaining: [{ ruleId: 'push-1h', remaining: 2, resetsAt: new Date(NOW_MS + 3_600_000).toISOString() }],
    });
    expect(reply.item).toBeUndefined();
    expect(decodeAnswerId(reply.attributionId)).toMatchObject({
      kind: 'push',
      campaign: 'spring',
      modelVersion: null,
      answeredAtMs: NOW_MS,
    });
    expect(counted).toEqual([{ nowMs: NOW_MS, channel: 'push', campaignId: 'spring', reason: 'ok' }]);
  });

  it("hands the ledger the request's priority, which the reservation records for the previews", async () => {
    const { ledger, decisions } = fakeLedger(okOutcome([{ used: 1, freeingSendMs: NOW_MS }]));
    const { decide } = decider({ ledger, rules: [rule('push-1h', 3)] });
    await decide({ priority: 'low' });
    await decide({ priority: 'high', campaignId: 'autumn' });
    expect(decisions.map(({ decision }) => decision.priority)).toEqual(['low', 'high']);
    expect(decisions[0]!.decision.rules.map((check) => check.effectiveLimit)).toEqual([2]);
  });

  it('hands the ledger the quiet-hours test for the profile time zone, and remembers the zone it used', async () => {
    const { ledger, decisions } = fakeLedger(okOutcome(), 'Asia/Tokyo');
    // 12:00 UTC is 21:00 in Tokyo: inside 20:00–08:00 there, outside it in UTC.
    const quietHours: QuietHours = { startMinute: 20 * 60, endMinute: 8 * 60, channels: ['push'] };
    const { decide, timezones } = decider({ ledger, quietHours });
    await decide({});
    expect(decisions[0]!.quiet).toBe(true);
    expect(timezones.get('u1')).toBe('Asia/Tokyo');
    await decide({ transactional: true });
    expect(decisions[1]!.quiet).toBeNull();
    expect(decisions[1]!.decision).toMatchObject({ checkCaps: false, reserve: 'exempt' });
  });

  it('refuses with a retry a second later when the ledger is unavailable, counting it unless a dry run', async () => {
    const { ledger } = fakeLedger(new Error('connection is closed'));
    const { decide, counted, warnings } = decider({ ledger, rules: [rule('push-1h', 3)] });
    const reply = await decide({ withItem: true });
    expect(reply).toEqual({
      decisionId: reply.decisionId,
      allowed: false,
      reason: 'unavailable',
      retryAt: new Date(NOW_MS + 1000).toISOString(),
      remaining: [],
    });
    expect(warnings).toEqual(['push decision unavailable']);
    expect(counted.map((c) => c.reason)).toEqual(['unavailable']);
    await decide({ dryRun: true });
    expect(counted).toHaveLength(1);
  });

  it('answers a refusal with the binding rule, no attribution id and no item', async () => {
    const { ledger } = fakeLedger({
      reason: 'cap_exceeded',
      blockingIndex: 0,
      capFreeAtMs: NOW_MS + 60_000,
      duplicateUntilMs: null,
      usage: [{ used: 1, freeingSendMs: NOW_MS - 3_540_000 }],
    });
    const { decide, recommended } = decider({ ledger, rules: [rule('push-1h', 1)], items: [item('a')] });
    const reply = await decide({ withItem: true });
    expect(reply).toMatchObject({
      allowed: false,
      reason: 'cap_exceeded',
      ruleId: 'push-1h',
      retryAt: new Date(NOW_MS + 60_000).toISOString(),
    });
    expect(reply.attributionId).toBeUndefined();
    expect(reply.item).toBeUndefined();
    expect(recommended).toEqual([]);
  });

  it('retries a duplicate once its caps have room too, unless exempt from them; a retry says the same', async () => {
    // The campaign is a duplicate for another hour; the hourly cap is full for two.
    const duplicate: DecisionOutcome = {
      reason: 'duplicate_campaign',
      blockingIndex: 0,
      capFreeAtMs: NOW_MS + 2 * 3_600_000,
      duplicateUntilMs: NOW_MS + 3_600_000,
      usage: [{ used: 1, freeingSendMs: NOW_MS - 1_000 }],
    };
    const { ledger } = fakeLedger(duplicate);
    const { decide } = decider({ ledger, rules: [rule('push-1h', 1)] });
    for (const [body, retryAt] of [
      [{}, NOW_MS + 2 * 3_600_000],
      [{ transactional: true }, NOW_MS + 3_600_000],
      [{ overrideCaps: true }, NOW_MS + 3_600_000],
    ] as const) {
      const key = JSON.stringify(body);
      const first = await decide(body, key);
      const again = await decide(body, key);
      expect(first).toMatchObject({
        allowed: false,
        reason: 'duplicate_campaign',
        retryAt: new Date(retryAt).toISOString(),
      });
      expect(again).toEqual(first);
    }
  });

  it('claims the best item not pushed within the exclusion period, one per decision', async () => {
    const { ledger, pushed } = fakeLedger(okOutcome());
    const { decide, recommended } = decider({ ledger, items: [item('a'), item('b')] });
    const first = await decide({ withItem: true });
    const second = await decide({ withItem: true });
    const third = await decide({ withItem: true });
    expect([first.item?.itemId, second.item?.itemId, third.item]).toEqual(['a', 'b', null]);
    expect(recommended.map((query) => query.exclude)).toEqual([[], ['a'], ['a', 'b']]);
    expect(recommended.every((query) => query.limit === 10)).toBe(true);
    expect(pushed.get('u1')?.map((p) => p.itemId)).toEqual(['a', 'b']);
    expect(decodeAnswerId(first.attributionId)).toMatchObject({ campaign: 'spring', modelVersion: 'v7' });
  });

  it('shows a dry run its best item without claiming it or counting the decision', async () => {
    const { ledger, pushed, decisions } = fakeLedger(okOutcome());
    const { decide, counted } = decider({ ledger, items: [item('a')] });
    const reply = await decide({ withItem: true, dryRun: true });
    expect(reply.item).toEqual(item('a'));
    expect(decisions[0]!.decision.reserve).toBe('none');
    expect(pushed.size).toBe(0);
    expect(counted).toEqual([]);
  });

  it('allows the message with a null item when no item can be had', async () => {
    const { ledger } = fakeLedger(okOutcome());
    const { decide, warnings } = decider({ ledger, items: new Error('model unavailable') });
    const reply = await decide({ withItem: true });
    expect(reply).toMatchObject({ allowed: true, item: null });
    expect(warnings).toEqual(['no item for the push decision']);
  });

  it.each([
    ['nothing to recommend (no model yet)', [] as PushDecisionItem[]],
    ['no recommendation to be had', new Error('model unavailable')],
  ])(
    'answers a retry of a decision that got no item, %s, with no item, claiming none',
    async (_, firstItems) => {
      const { ledger, pushed } = fakeLedger(okOutcome());
      const first = await decider({ ledger, items: firstItems }).decide({ withItem: true }, 'send-1');
      expect(first).toMatchObject({ allowed: true, item: null });
      // The retry reaches a process with items to recommend (a model built since, say).
      const withItems = decider({ ledger, items: [item('a')] });
      expect(await withItems.decide({ withItem: true }, 'send-1')).toEqual(first);
      expect(pushed.size).toBe(0);
      const another = await withItems.decide({ withItem: true, campaignId: 'summer' }, 'send-2');
      expect(another.item).toEqual(item('a'));
    },
  );
});
