import { createApiKey } from '@elevens/db';
import type { PushBudgetReply, PushDecisionReply } from '@elevens/domain';
import { createTestInfra, type TestInfra } from '@elevens/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ApiApp, buildApiApp } from '../src/app';
import { loadApiConfig } from '../src/config';

let infra: TestInfra;
let app: ApiApp;
let senderHeaders: Record<string, string>;
const HOUR = 3_600_000;
/** Decisions are made on this fixed clock, moved by the tests, so no outcome depends on the time of day. */
const START = Date.parse('2026-11-11T12:00:00.000Z');
let clock = START;
const iso = (ms: number) => new Date(ms).toISOString();

beforeAll(async () => {
  infra = await createTestInfra('api-push-retry-at-later-rules');
  const admin = await createApiKey(infra.pool, { name: 'admin', scopes: ['admin'] });
  const sender = await createApiKey(infra.pool, { name: 'sender', scopes: ['push:decide'] });
  const adminHeaders = { authorization: `Bearer ${admin.secret}` };
  senderHeaders = { authorization: `Bearer ${sender.secret}` };
  app = await buildApiApp({
    config: loadApiConfig({ ...infra.env, PUSH_DEFAULT_TIMEZONE: 'UTC' }),
    now: () => clock,
  });
  for (const [ruleId, payload] of [
    ['daily', { channel: 'push', limit: 3, window: '24h' }],
    // A festival rule set up ahead: it starts at 15:00 today, after the refusal below, before its retry.
    ['festival', { channel: 'push', limit: 1, window: '24h', activeFrom: iso(START + 3 * HOUR) }],
  ] as const) {
    const rule = await app.inject({
      method: 'PUT',
      url: `/v1/push/rules/${ruleId}`,
      headers: adminHeaders,
      payload,
    });
    expect(rule.statusCode).toBe(200);
  }
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

describe('a refusal under a rule that starts before its retry', () => {
  it('names a retryAt the same request is allowed at, and refused 1 ms before; resetsAt at its priority', async () => {
    const userId = 'u-festival';
    for (const [at, campaignId] of [
      [START, 'c1'],
      [START + HOUR, 'c2'],
      [START + 1.5 * HOUR, 'c3'],
    ] as const) {
      clock = at;
      expect(await decide({ userId, channel: 'push', campaignId })).toMatchObject({ allowed: true });
    }

    // At 14:00 a low-priority message is held to 2 of the daily 3, and 3 are counted: the daily rule has room
    // again when the 13:00 send leaves (13:00 tomorrow), not the 12:00 one. By then the festival rule (1 a day)
    // has started and still counts the 13:30 send, until 13:30 tomorrow.
    clock = START + 2 * HOUR;
    const request = { userId, channel: 'push', campaignId: 'low-1', priority: 'low' };
    const refused = await decide(request, 'low-1-key');
    const retryAtMs = START + 25.5 * HOUR;
    expect(refused).toMatchObject({
      allowed: false,
      reason: 'cap_exceeded',
      ruleId: 'daily',
      retryAt: iso(retryAtMs),
      remaining: [{ ruleId: 'daily', remaining: 0, resetsAt: iso(START + 25 * HOUR) }],
    });
    // A retry with the key answers the same, its rules that start later included.
    expect(await decide(request, 'low-1-key')).toEqual(refused);

    const budget = await app.inject({
      method: 'GET',
      url: `/v1/push/users/${userId}/budget?priority=low`,
      headers: senderHeaders,
    });
    expect(budget.json<PushBudgetReply>().rules).toEqual([
      expect.objectContaining({ ruleId: 'daily', used: 3, remaining: 0, resetsAt: iso(START + 25 * HOUR) }),
    ]);

    clock = retryAtMs - 1;
    expect(await decide(request)).toMatchObject({
      allowed: false,
      reason: 'cap_exceeded',
      ruleId: 'festival',
    });
    clock = retryAtMs;
    expect(await decide(request)).toMatchObject({ allowed: true });
  });
});
