import { randomUUID } from 'node:crypto';
import type { PushDecisionReply } from '@elevens/domain';
import {
  applicableRuleSpan,
  CHANNELS,
  countedSends,
  effectiveLimit,
  evaluateCaps,
  freeingSendIndex,
  MAX_WINDOW_MS,
  type PushRule,
  type SendRecord,
  slotFreesAtMs,
} from '@elevens/push-rules';
import {
  type PushLedger,
  type PushLedgerDecision,
  packPushRules,
  parsePushReservation,
} from '@elevens/redis-stores';
import { createTestInfra, type TestInfra } from '@elevens/testkit';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ApiApp, buildApiApp } from '../src/app';
import { loadApiConfig } from '../src/config';

let infra: TestInfra;
let app: ApiApp;
let ledger: PushLedger;

beforeAll(async () => {
  infra = await createTestInfra('api-push-exact');
  // Thousands of in-process requests at once would trip load shedding; this file is about exactness.
  app = await buildApiApp({
    config: loadApiConfig({ ...infra.env, LOG_LEVEL: 'error', PRESSURE_MAX_EVENT_LOOP_DELAY_MS: '0' }),
  });
  ledger = app.pushLedger;
});

afterAll(async () => {
  await app?.close();
  await infra.close();
});

/** The decision script's settings when called directly: no quiet hours, caps checked, reservations counted. */
const SCRIPT_SETTINGS = {
  duplicateMs: 60_000,
  checkCaps: true,
  reserve: 'counted',
  retentionMs: MAX_WINDOW_MS,
} as const;

const putRule = async (ruleId: string, body: Record<string, unknown>) => {
  const response = await app.inject({ method: 'PUT', url: `/v1/push/rules/${ruleId}`, payload: body });
  expect(response.statusCode).toBe(200);
};

const decide = async (body: Record<string, unknown>): Promise<PushDecisionReply> => {
  const response = await app.inject({ method: 'POST', url: '/v1/push/decisions', payload: body });
  expect(response.statusCode).toBe(200);
  return response.json();
};

describe('concurrent decisions', () => {
  it('allows exactly 5 of 1,000 concurrent decisions for one user against 5 per hour', async () => {
    await putRule('five-an-hour', { channel: 'push', limit: 5, window: '1h' });
    const replies = await Promise.all(
      Array.from({ length: 1000 }, (_, i) =>
        decide({ userId: 'one-user', channel: 'push', campaignId: `c${i}` }),
      ),
    );
    const allowed = replies.filter((r) => r.allowed);
    expect(allowed).toHaveLength(5);
    expect(new Set(replies.filter((r) => !r.allowed).map((r) => `${r.reason}:${r.ruleId}`))).toEqual(
      new Set(['cap_exceeded:five-an-hour']),
    );
    expect(await infra.redis.zcard(infra.keys.pushSends('one-user'))).toBe(5);
    await app.inject({ method: 'DELETE', url: '/v1/push/rules/five-an-hour' });
  });
});

describe('the decision script against the reference evaluation', () => {
  it('agrees on verdict, binding rule, free time, usage (later rules too) and duplicates over histories with releases', async () => {
    const windows = [1_000, 5_000, 20_000];
    // A category may hold anything, tabs and multi-byte characters included.
    const categories = ['sale', 'news', 'sä\tlé'];
    // So may a campaign id; one is another's prefix.
    const campaigns = ['c1', 'c1\t', 'çä\t2', 'sale'];
    const rule = (i: number) =>
      fc
        .record({
          channel: fc.constantFrom(...CHANNELS, 'any' as const),
          limit: fc.integer({ min: 0, max: 3 }),
          windowMs: fc.constantFrom(...windows),
          category: fc.option(fc.constantFrom(...categories), { nil: null }),
          activeFromMs: fc.option(fc.integer({ min: 0, max: 40_000 }), { nil: null }),
          activeUntilMs: fc.option(fc.integer({ min: 0, max: 40_000 }), { nil: null }),
        })
        // A rule body's activeUntil is after its activeFrom.
        .map(
          (r): PushRule => ({
            ...r,
            activeUntilMs:
              r.activeUntilMs !== null && r.activeFromMs !== null && r.activeUntilMs <= r.activeFromMs
                ? null
                : r.activeUntilMs,
            ruleId: `r${i}`,
            enabled: true,
          }),
        );
    const step = fc.record({
      advanceMs: fc.integer({ min: 0, max: 3_000 }),
      channel: fc.constantFrom(...CHANNELS),
      category: fc.option(fc.constantFrom(...categories), { nil: null }),
      priority: fc.constantFrom('low' as const, 'normal' as const),
      release: fc.option(fc.nat(), { nil: null }),
      campaignId: fc.constantFrom(...campaigns),
    });
    await fc.assert(
      fc.asyncProperty(
        fc
          .integer({ min: 1, max: 4 })
          .chain((n) => fc.tuple(...Array.from({ length: n }, (_, i) => rule(i)))),
        fc.array(step, { minLength: 1, maxLength: 25 }),
        async (rules, steps) => {
          const userId = `ref-${randomUUID()}`;
          const base = 1_800_000_000_000;
          let now = base;
          const held: { uuid: string; campaignId: string; send: SendRecord }[] = [];
          for (const s of steps) {
            now += s.advanceMs;
            if (s.release !== null && held.length > 0) {
              const [gone] = held.splice(s.release % held.length, 1);
              expect(await ledger.release(userId, gone!.uuid, gone!.send.atMs)).toBe(true);
            }
            const message = { channel: s.channel, category: s.category };
            // Rule activity windows are relative to the run's start.
            const shifted = rules.map((r) => ({
              ...r,
              activeFromMs: r.activeFromMs === null ? null : base + r.activeFromMs,
              activeUntilMs: r.activeUntilMs === null ? null : base + r.activeUntilMs,
            }));
            const { rules: applicable, upcoming } = applicableRuleSpan(shifted, message, now);
            const history = held.map((h) => h.send);
            const expected = evaluateCaps(shifted, history, message, s.priority, now);
            const sameCampaign = held.filter(
              (h) => h.campaignId === s.campaignId && h.send.atMs > now - SCRIPT_SETTINGS.duplicateMs,
            );
            const duplicateUntilMs =
              sameCampaign.length === 0
                ? null
                : Math.max(...sameCampaign.map((h) => h.send.atMs)) + SCRIPT_SETTINGS.duplicateMs;
            const expectedReason =
              duplicateUntilMs !== null ? 'duplicate_campaign' : expected.allowed ? 'ok' : 'cap_exceeded';
            const uuid = randomUUID();
            const { result } = await ledger.decide(
              {
                userId,
                decisionUuid: uuid,
                nowMs: now,
                channel: s.channel,
                category: s.category,
                campaignId: s.campaignId,
                ...SCRIPT_SETTINGS,
                rules: packPushRules(
                  [...applicable, ...upcoming].map((r, i) => ({
                    channel: r.channel,
                    category: r.category,
                    windowMs: r.windowMs,
                    effectiveLimit: effectiveLimit(r.limit, s.priority),
                    activeUntilMs: r.activeUntilMs,
                    startsAtMs: i < applicable.length ? null : r.activeFromMs,
                  })),
                ),
              },
              null,
            );
            expect(result.reason).toBe(expectedReason);
            expect(result.duplicateUntilMs).toBe(duplicateUntilMs);
            expect(result.blockingIndex < 0 ? null : applicable[result.blockingIndex]!.ruleId).toBe(
              expected.blockingRuleId,
            );
            expect(result.capFreeAtMs).toBe(expected.capFreeAtMs);
            expect(
              result.usage.slice(0, applicable.length).map((u, i) => ({
                used: u.used,
                resetsAtMs: slotFreesAtMs(
                  u.used,
                  u.freeingSendMs,
                  applicable[i]!.windowMs,
                  applicable[i]!.activeUntilMs,
                ),
              })),
            ).toEqual(
              expected.usage.map((u) =>
                // The reference counts an allowed message in; a duplicate of a campaign is not reserved.
                expected.allowed && expectedReason !== 'ok'
                  ? { used: u.used - 1, resetsAtMs: u.used === 1 ? null : u.resetsAtMs }
                  : { used: u.used, resetsAtMs: u.resetsAtMs },
              ),
            );
            // A rule that starts later counts, never refusing now, what it will count when it starts.
            expect(result.usage.slice(applicable.length)).toEqual(
              upcoming.map((r) => {
                const times = countedSends(r, history, r.activeFromMs!);
                const limit = effectiveLimit(r.limit, s.priority);
                return {
                  used: times.length,
                  freeingSendMs: times[freeingSendIndex(times.length, limit)] ?? null,
                };
              }),
            );
            if (expectedReason === 'ok')
              held.push({ uuid, campaignId: s.campaignId, send: { atMs: now, ...message } });
          }
        },
      ),
      { numRuns: 100 },
    );
  });
});

describe('the decision script upkeep', () => {
  const decideAt = (userId: string, nowMs: number, campaignId: string) =>
    ledger.decide(
      {
        userId,
        decisionUuid: randomUUID(),
        nowMs,
        channel: 'push',
        category: null,
        campaignId,
        ...SCRIPT_SETTINGS,
        rules: packPushRules([
          {
            channel: 'any',
            category: null,
            windowMs: 3_600_000,
            effectiveLimit: 100,
            activeUntilMs: null,
            startsAtMs: null,
          },
        ]),
      } satisfies PushLedgerDecision,
      null,
    );

  it('keeps the reservations a full retention past every reservation of a minute, then drops them', async () => {
    const userId = `upkeep-${randomUUID()}`;
    const minute = Math.floor(Date.now() / 60_000) * 60_000;
    await decideAt(userId, minute + 1_000, 'c1');
    // A later reservation of the same minute relies on the first one's upkeep.
    await decideAt(userId, minute + 59_000, 'c2');
    const sendsTtl = await infra.redis.pttl(infra.keys.pushSends(userId));
    expect(Date.now() + sendsTtl).toBeGreaterThanOrEqual(minute + 59_000 + MAX_WINDOW_MS - 1_000);

    // Past retention, the next minute's first reservation drops both old ones.
    const later = minute + 60_000 + MAX_WINDOW_MS;
    const result = await decideAt(userId, later, 'c3');
    expect(result.result.reason).toBe('ok');
    expect(await infra.redis.zcard(infra.keys.pushSends(userId))).toBe(1);
  });

  it('names the decision itself the oldest counted send when its clock is behind every counted one', async () => {
    const userId = `oldest-behind-${randomUUID()}`;
    const nowMs = Date.now();
    await decideAt(userId, nowMs + 5_000, 'ahead');
    const behind = await decideAt(userId, nowMs, 'behind');
    expect(behind.result).toMatchObject({ reason: 'ok', usage: [{ used: 2, freeingSendMs: nowMs }] });
  });
});

describe('the reservation record', () => {
  it('holds category, campaign and claimed item whatever they contain, and a release undoes all of them', async () => {
    const userId = `record-${randomUUID()}`;
    const uuid = randomUUID();
    const nowMs = Date.now();
    const message = { channel: 'email', category: 'sä\tlé', campaignId: 'ç\t1' };
    const decided = await ledger.decide(
      { userId, decisionUuid: uuid, nowMs, ...message, ...SCRIPT_SETTINGS, rules: packPushRules([]) },
      null,
    );
    expect(decided.result.reason).toBe('ok');
    const claim = { userId, decisionUuid: uuid, nowMs, exclusionMs: 60_000 };
    expect(await ledger.claimItem({ ...claim, candidates: ['ïtem\t1', 'other'] })).toBe('ïtem\t1');
    // One item per decision.
    expect(await ledger.claimItem({ ...claim, candidates: ['other'] })).toBeNull();

    const [member] = await infra.redis.zrangeBuffer(infra.keys.pushSends(userId), 0, -1);
    expect(parsePushReservation(member!)).toEqual({
      uuid,
      counted: true,
      overridden: false,
      lowPriority: false,
      channel: 'email',
      category: 'sä\tlé',
      campaignId: 'ç\t1',
      itemId: 'ïtem\t1',
    });
    expect((await ledger.readUserState(userId, nowMs - 1)).sends).toEqual([
      { atMs: nowMs, channel: 'email', category: 'sä\tlé', overridden: false, priority: 'normal' },
    ]);

    expect(await ledger.release(userId, uuid, nowMs)).toBe(true);
    expect(await infra.redis.zcard(infra.keys.pushSends(userId))).toBe(0);
    expect(await infra.redis.zcard(infra.keys.pushItems(userId))).toBe(0);
    expect(await ledger.release(userId, uuid, nowMs)).toBe(false);
  });
});
