import { createApiKey } from '@elevens/db';
import type { PushBudgetReply, PushChannel, PushDecisionReply } from '@elevens/domain';
import { createTestInfra, type TestInfra } from '@elevens/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ApiApp, buildApiApp } from '../src/app';
import { loadApiConfig } from '../src/config';

let infra: TestInfra;
let app: ApiApp;
let senderHeaders: Record<string, string>;
/** Every decision and budget is evaluated at this instant, so no outcome depends on the time of day. */
const NOW = Date.parse('2026-11-11T12:00:00.000Z');
/** More decisions than any rule here lets through: a sequence that reaches it has not been refused. */
const MAX_DECISIONS = 20;

beforeAll(async () => {
  infra = await createTestInfra('api-push-budget-priority');
  const admin = await createApiKey(infra.pool, { name: 'admin', scopes: ['admin'] });
  const sender = await createApiKey(infra.pool, { name: 'sender', scopes: ['push:decide'] });
  const adminHeaders = { authorization: `Bearer ${admin.secret}` };
  senderHeaders = { authorization: `Bearer ${sender.secret}` };
  app = await buildApiApp({
    config: loadApiConfig({ ...infra.env, PUSH_CONFIG_POLL_MS: '100', PUSH_DEFAULT_TIMEZONE: 'UTC' }),
    now: () => NOW,
  });
  const rules = {
    'push-hourly': { channel: 'push', limit: 3, window: '1h' },
    'sale-daily': { channel: 'any', limit: 4, window: '24h', category: 'sale' },
    // A limit of 1 keeps no slot back from low priority.
    'sms-daily': { channel: 'sms', limit: 1, window: '24h' },
  };
  for (const [ruleId, body] of Object.entries(rules)) {
    const response = await app.inject({
      method: 'PUT',
      url: `/v1/push/rules/${ruleId}`,
      headers: adminHeaders,
      payload: body,
    });
    expect(response.statusCode).toBe(200);
  }
});

afterAll(async () => {
  await app?.close();
  await infra?.close();
});

async function decide(body: Record<string, unknown>): Promise<PushDecisionReply> {
  const response = await app.inject({
    method: 'POST',
    url: '/v1/push/decisions',
    headers: senderHeaders,
    payload: body,
  });
  expect(response.statusCode).toBe(200);
  return response.json();
}

async function budget(userId: string, query: string): Promise<PushBudgetReply> {
  const response = await app.inject({
    method: 'GET',
    url: `/v1/push/users/${userId}/budget${query}`,
    headers: senderHeaders,
  });
  expect(response.statusCode).toBe(200);
  return response.json();
}

/** A customer sent one normal-priority sale push already. */
async function customerWithOneSale(userId: string): Promise<void> {
  expect(await decide({ userId, channel: 'push', campaignId: 'earlier', category: 'sale' })).toMatchObject({
    allowed: true,
  });
}

/** How many sale messages of the channel low-priority decisions let through before the first refusal. */
async function lowPriorityLetThrough(userId: string, channel: PushChannel): Promise<number> {
  for (let sent = 0; sent < MAX_DECISIONS; sent++) {
    const reply = await decide({
      userId,
      channel,
      campaignId: `low-${channel}-${sent}`,
      category: 'sale',
      priority: 'low',
    });
    if (!reply.allowed) {
      expect(reply.reason).toBe('cap_exceeded');
      return sent;
    }
  }
  throw new Error(`${MAX_DECISIONS} low-priority decisions were all allowed`);
}

describe('the budget for a priority', () => {
  it('answers, per channel, what a sequence of low-priority decisions actually lets through', async () => {
    for (const channel of ['push', 'email', 'sms'] as const) {
      const userId = `u-low-${channel}`;
      await customerWithOneSale(userId);
      const before = await budget(userId, '?category=sale&priority=low');
      const planned = before.channels.find((figures) => figures.channel === channel)!.remaining;
      expect(planned).toBe(await lowPriorityLetThrough(userId, channel));
      expect(before.priority).toBe('low');
      const after = await budget(userId, '?category=sale&priority=low');
      expect(after.channels.find((figures) => figures.channel === channel)!.remaining).toBe(0);
    }
  });

  it('gives each rule the remaining of a low-priority decision, the last slot of each limit above 1 kept', async () => {
    const userId = 'u-low-rules';
    await customerWithOneSale(userId);
    const reply = await budget(userId, '?category=sale&priority=low');
    const decided = await decide({
      userId,
      channel: 'push',
      campaignId: 'preview',
      category: 'sale',
      priority: 'low',
      dryRun: true,
    });
    expect(reply.rules.map((rule) => [rule.ruleId, rule.used, rule.remaining])).toEqual([
      ['sms-daily', 0, 1],
      ['sale-daily', 1, 2],
      ['push-hourly', 1, 1],
    ]);
    // A low-priority preview of a sale push gives the same figures for the rules that apply to it.
    expect(decided.remaining.map((rule) => [rule.ruleId, rule.remaining])).toEqual([
      ['sale-daily', 2],
      ['push-hourly', 1],
    ]);
  });

  it('is for normal messages by default, as before, and the last slot low priority leaves goes to them', async () => {
    const userId = 'u-default';
    await customerWithOneSale(userId);
    const byDefault = await budget(userId, '?category=sale');
    expect(byDefault.priority).toBe('normal');
    expect(byDefault.rules.map((rule) => [rule.ruleId, rule.used, rule.remaining])).toEqual([
      ['sms-daily', 0, 1],
      ['sale-daily', 1, 3],
      ['push-hourly', 1, 2],
    ]);
    expect(byDefault.channels).toEqual([
      { channel: 'push', remaining: 2, ruleId: 'push-hourly', quietUntil: null },
      { channel: 'email', remaining: 3, ruleId: 'sale-daily', quietUntil: null },
      { channel: 'sms', remaining: 1, ruleId: 'sms-daily', quietUntil: null },
      { channel: 'inapp', remaining: 3, ruleId: 'sale-daily', quietUntil: null },
    ]);
    expect(await budget(userId, '?category=sale&priority=normal')).toEqual(byDefault);
    expect(await budget(userId, '?category=sale&priority=high')).toEqual({ ...byDefault, priority: 'high' });

    expect(await lowPriorityLetThrough(userId, 'push')).toBe(1);
    const afterLow = await budget(userId, '?category=sale');
    expect(afterLow.channels[0]).toMatchObject({ channel: 'push', remaining: 1, ruleId: 'push-hourly' });
    expect(
      await decide({ userId, channel: 'push', campaignId: 'normal-last', category: 'sale' }),
    ).toMatchObject({ allowed: true });
  });

  it('refuses a priority decisions do not take with a 400 in the error shape', async () => {
    const response = await app.inject({
      method: 'GET',
      url: '/v1/push/users/u-bad/budget?priority=urgent',
      headers: senderHeaders,
    });
    expect(response.statusCode).toBe(400);
    expect(response.json()).toMatchObject({
      error: expect.any(String),
      message: expect.stringContaining('priority'),
    });
  });
});
