import { randomUUID } from 'node:crypto';
import { decidePush, releasePushDecision } from '@elevens/cache';
import type { PushDecisionReply } from '@elevens/domain';
import {
  applicableRules,
  CHANNELS,
  effectiveLimit,
  evaluateCaps,
  MAX_WINDOW_MS,
  type PushRule,
  ruleMatches,
  type SendRecord,
} from '@elevens/push-rules';
import { createTestInfra, type TestInfra } from '@elevens/testkit';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ApiApp, buildApiApp } from '../src/app';
import { loadApiConfig } from '../src/config';

let infra: TestInfra;
let app: ApiApp;

beforeAll(async () => {
  infra = await createTestInfra('api-push-exact');
  // Thousands of in-process requests at once would trip load shedding; this file is about exactness.
  app = await buildApiApp({
    config: loadApiConfig({ ...infra.env, LOG_LEVEL: 'error', PRESSURE_MAX_EVENT_LOOP_DELAY_MS: '0' }),
  });
});

afterAll(async () => {
  await app?.close();
  await infra.close();
});

const putRule = async (ruleId: string, body: Record<string, unknown>) => {
  const response = await app.inject({ method: 'PUT', url: `/v1/push/rules/${ruleId}`, payload: body });
  expect(response.statusCode).toBe(200);
};

const decide = async (body: Record<string, unknown>): Promise<PushDecisionReply> => {
  const response = await app.inject({ method: 'POST', url: '/v1/push/decisions', payload: body });
  expect(response.statusCode).toBe(200);
  return response.json();
};

/** A small seeded generator, so a failing mix of messages can be replayed. */
function mulberry32(seed: number) {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

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

  it('lets no user exceed any rule across 1,000 users × 20 concurrent decisions, refusing only at a full rule', async () => {
    const rules: PushRule[] = [
      { ruleId: 'push-3h', channel: 'push', limit: 3, windowMs: 3_600_000, category: null },
      { ruleId: 'any-5d', channel: 'any', limit: 5, windowMs: 86_400_000, category: null },
      { ruleId: 'sale-2w', channel: 'any', limit: 2, windowMs: 7 * 86_400_000, category: 'sale' },
    ].map((r) => ({ ...r, activeFromMs: null, activeUntilMs: null, enabled: true }) as PushRule);
    await putRule('push-3h', { channel: 'push', limit: 3, window: '1h' });
    await putRule('any-5d', { channel: 'any', limit: 5, window: '24h' });
    await putRule('sale-2w', { channel: 'any', limit: 2, window: '7d', category: 'sale' });
    const random = mulberry32(1111);
    const channels = ['push', 'email', 'sms'] as const;
    const users = Array.from({ length: 1000 }, (_, u) =>
      Array.from({ length: 20 }, (_, i) => ({
        userId: `crowd-${u}`,
        channel: channels[Math.floor(random() * channels.length)]!,
        campaignId: `c${i}`,
        ...(random() < 0.4 ? { category: 'sale' } : {}),
      })),
    );
    // 100 users (2,000 decisions) in flight at a time keeps memory small; each user's 20 are concurrent.
    for (let start = 0; start < users.length; start += 100) {
      const batch = users.slice(start, start + 100);
      const replies = await Promise.all(batch.map((messages) => Promise.all(messages.map(decide))));
      batch.forEach((messages, u) => {
        const sent = messages.filter((_, i) => replies[u]![i]!.allowed);
        const asSends = sent.map((m) => ({ channel: m.channel, category: m.category ?? null }));
        for (const rule of rules) {
          expect(asSends.filter((s) => ruleMatches(rule, s)).length).toBeLessThanOrEqual(rule.limit);
        }
        messages.forEach((m, i) => {
          const reply = replies[u]![i]!;
          if (reply.allowed) return;
          expect(reply.reason).toBe('cap_exceeded');
          const rule = rules.find((r) => r.ruleId === reply.ruleId)!;
          // a refusal is only right when the rule it names ended up full for this message
          expect(ruleMatches(rule, { channel: m.channel, category: m.category ?? null })).toBe(true);
          expect(asSends.filter((s) => ruleMatches(rule, s)).length).toBe(rule.limit);
        });
      });
    }
  });
});

describe('the decision script against the reference evaluation', () => {
  it('agrees on verdict, binding rule, free time and usage over random histories with releases', async () => {
    const windows = [1_000, 5_000, 20_000];
    const rule = (i: number) =>
      fc
        .record({
          channel: fc.constantFrom(...CHANNELS, 'any' as const),
          limit: fc.integer({ min: 0, max: 3 }),
          windowMs: fc.constantFrom(...windows),
          category: fc.option(fc.constantFrom('sale', 'news'), { nil: null }),
          activeUntilMs: fc.option(fc.integer({ min: 0, max: 40_000 }), { nil: null }),
        })
        .map((r): PushRule => ({ ...r, ruleId: `r${i}`, activeFromMs: null, enabled: true }));
    const step = fc.record({
      advanceMs: fc.integer({ min: 0, max: 3_000 }),
      channel: fc.constantFrom(...CHANNELS),
      category: fc.option(fc.constantFrom('sale', 'news'), { nil: null }),
      priority: fc.constantFrom('low' as const, 'normal' as const),
      release: fc.option(fc.nat(), { nil: null }),
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
          const held: { uuid: string; send: SendRecord }[] = [];
          for (const [n, s] of steps.entries()) {
            now += s.advanceMs;
            if (s.release !== null && held.length > 0) {
              const [gone] = held.splice(s.release % held.length, 1);
              expect(await releasePushDecision(infra.redis, infra.keys, userId, gone!.uuid)).toBe(true);
            }
            const message = { channel: s.channel, category: s.category };
            // Rule activity windows are relative to the run's start.
            const shifted = rules.map((r) => ({
              ...r,
              activeUntilMs: r.activeUntilMs === null ? null : base + r.activeUntilMs,
            }));
            const applicable = applicableRules(shifted, message, now);
            const history = held.map((h) => h.send);
            const expected = evaluateCaps(shifted, history, message, s.priority, now);
            const uuid = randomUUID();
            const result = await decidePush(infra.redis, infra.keys, {
              userId,
              decisionUuid: uuid,
              nowMs: now,
              channel: s.channel,
              category: s.category,
              campaignId: `c${n}`,
              duplicateMs: 60_000,
              assumedTimezone: null,
              quiet: false,
              checkCaps: true,
              reserve: 'counted',
              retentionMs: MAX_WINDOW_MS,
              rules: applicable.map((r) => ({
                channel: r.channel,
                category: r.category,
                windowMs: r.windowMs,
                effectiveLimit: effectiveLimit(r.limit, s.priority),
                activeUntilMs: r.activeUntilMs,
              })),
            });
            if (result.kind !== 'decided') throw new Error('unexpected time-zone answer');
            expect(result.reason === 'ok').toBe(expected.allowed);
            expect(result.blockingIndex < 0 ? null : applicable[result.blockingIndex]!.ruleId).toBe(
              expected.blockingRuleId,
            );
            expect(result.capFreeAtMs).toBe(expected.capFreeAtMs);
            expect(
              result.usage.map((u, i) => ({
                used: u.used,
                resetsAtMs: u.oldestMs === null ? null : u.oldestMs + applicable[i]!.windowMs,
              })),
            ).toEqual(expected.usage.map((u) => ({ used: u.used, resetsAtMs: u.resetsAtMs })));
            if (expected.allowed) held.push({ uuid, send: { atMs: now, ...message } });
          }
        },
      ),
      { numRuns: 100 },
    );
  });
});
