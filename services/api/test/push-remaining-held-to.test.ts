import { createApiKey } from '@elevens/db';
import type { PushBudgetReply, PushDecisionReply } from '@elevens/domain';
import { createTestInfra, type TestInfra } from '@elevens/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ApiApp, buildApiApp } from '../src/app';
import { loadApiConfig } from '../src/config';

let infra: TestInfra;
let app: ApiApp;
let adminHeaders: Record<string, string>;
let senderHeaders: Record<string, string>;
const HOUR = 3_600_000;
/** Decisions are made on this fixed clock, moved by the tests, so no outcome depends on the time of day. */
const START = Date.parse('2026-11-11T12:00:00.000Z');
let clock = START;
/** The festival rule ends six hours after the start, long before its 24 h window lets its first send go. */
const FESTIVAL_ENDS = '2026-11-11T18:00:00.000Z';

beforeAll(async () => {
  infra = await createTestInfra('api-push-remaining-held-to');
  const admin = await createApiKey(infra.pool, { name: 'admin', scopes: ['admin'] });
  const sender = await createApiKey(infra.pool, { name: 'sender', scopes: ['push:decide'] });
  adminHeaders = { authorization: `Bearer ${admin.secret}` };
  senderHeaders = { authorization: `Bearer ${sender.secret}` };
  app = await buildApiApp({
    config: loadApiConfig({ ...infra.env, PUSH_CONFIG_POLL_MS: '100', PUSH_DEFAULT_TIMEZONE: 'UTC' }),
    now: () => clock,
  });
  const rule = await app.inject({
    method: 'PUT',
    url: '/v1/push/rules/festival-daily',
    headers: adminHeaders,
    payload: { channel: 'push', limit: 3, window: '24h', activeUntil: FESTIVAL_ENDS },
  });
  expect(rule.statusCode).toBe(200);
});

afterAll(async () => {
  await app?.close();
  await infra?.close();
});

async function decide(body: Record<string, unknown>, retryKey?: string): Promise<PushDecisionReply> {
  const response = await app.inject({
    method: 'POST',
    url: '/v1/push/decisions',
    headers: retryKey === undefined ? senderHeaders : { ...senderHeaders, 'idempotency-key': retryKey },
    payload: body,
  });
  expect(response.statusCode).toBe(200);
  return response.json();
}

describe("a decision's remaining and resetsAt", () => {
  it('are those of the limits a low-priority request was held to, and a slot frees when the rule ends', async () => {
    const userId = 'u-low';
    clock = START;
    expect(await decide({ userId, channel: 'push', campaignId: 'normal-1' })).toMatchObject({
      allowed: true,
      remaining: [{ ruleId: 'festival-daily', remaining: 2, resetsAt: FESTIVAL_ENDS }],
    });
    await decide({ userId, channel: 'push', campaignId: 'normal-1b' });
    clock = START + HOUR;
    const refused = await decide(
      { userId, channel: 'push', campaignId: 'low-1', priority: 'low' },
      'low-key-1',
    );
    // Low priority leaves the last of 3 slots: 2 are taken. The refusal's rule has none left for it, and the rule
    // ending frees it.
    expect(refused).toMatchObject({
      allowed: false,
      reason: 'cap_exceeded',
      ruleId: 'festival-daily',
      retryAt: FESTIVAL_ENDS,
      remaining: [{ ruleId: 'festival-daily', remaining: 0, resetsAt: FESTIVAL_ENDS }],
    });
    clock = START + 2 * HOUR;
    expect(
      await decide({ userId, channel: 'push', campaignId: 'low-1', priority: 'low' }, 'low-key-1'),
    ).toEqual(refused);
    // The budget is that of normal and high messages: one slot is left for them.
    const budget = await app.inject({
      method: 'GET',
      url: `/v1/push/users/${userId}/budget`,
      headers: senderHeaders,
    });
    expect((budget.json() as PushBudgetReply).rules).toEqual([
      expect.objectContaining({ ruleId: 'festival-daily', used: 2, remaining: 1, resetsAt: FESTIVAL_ENDS }),
    ]);
  });

  it('of a retried decision recorded before they heeded priority and rule ends answer as they did then', async () => {
    const userId = 'u-old-record';
    clock = START;
    await decide({ userId, channel: 'push', campaignId: 'normal-2' });
    await decide({ userId, channel: 'push', campaignId: 'normal-3' });
    clock = START + HOUR;
    const first = await decide(
      { userId, channel: 'push', campaignId: 'low-2', priority: 'low' },
      'low-key-2',
    );
    expect(first.remaining).toEqual([{ ruleId: 'festival-daily', remaining: 0, resetsAt: FESTIVAL_ENDS }]);
    // The record as an earlier version made it: its context had neither the rules' ends nor the priority.
    const key = infra.keys.pushRetries(userId);
    const recorded = JSON.parse((await infra.redis.hget(key, 'klow-key-2'))!);
    const context = JSON.parse(recorded.context);
    delete context.priority;
    for (const rule of context.rules) delete rule.activeUntilMs;
    await infra.redis.hset(
      key,
      'klow-key-2',
      JSON.stringify({ ...recorded, context: JSON.stringify(context) }),
    );
    const retried = await decide(
      { userId, channel: 'push', campaignId: 'low-2', priority: 'low' },
      'low-key-2',
    );
    expect(retried).toEqual({
      ...first,
      remaining: [
        { ruleId: 'festival-daily', remaining: 1, resetsAt: new Date(START + 24 * HOUR).toISOString() },
      ],
    });
  });
});
