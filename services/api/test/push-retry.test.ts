import { createApiKey } from '@elevens/db';
import type { PushBudgetReply, PushDecisionReply, PushStatsReply } from '@elevens/domain';
import { createTestInfra, type TestInfra } from '@elevens/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ApiApp, buildApiApp } from '../src/app';
import { loadApiConfig } from '../src/config';
import { publishFixtureModel } from './recommendations-fixtures';

let infra: TestInfra;
/** Two api processes on one Redis, as a sender's retries may reach either. */
let app: ApiApp;
let other: ApiApp;
let headers: Record<string, string>;
let adminHeaders: Record<string, string>;
const HOUR = 3_600_000;
const DAY = 24 * HOUR;
/** Both processes' clock: a fixed instant, moved by the tests, so no outcome depends on the time of day. */
const START = Date.parse('2026-11-11T12:00:00.000Z');
let clock = START;

const build = () =>
  buildApiApp({
    config: loadApiConfig({
      ...infra.env,
      PUSH_CONFIG_POLL_MS: '100',
      MODEL_POLL_MS: '50',
      PUSH_DEFAULT_TIMEZONE: 'UTC',
    }),
    now: () => clock,
  });

beforeAll(async () => {
  infra = await createTestInfra('api-push-retry');
  const sender = await createApiKey(infra.pool, { name: 'sender', scopes: ['push:decide'] });
  const admin = await createApiKey(infra.pool, { name: 'admin', scopes: ['admin'] });
  headers = { authorization: `Bearer ${sender.secret}` };
  adminHeaders = { authorization: `Bearer ${admin.secret}` };
  app = await build();
  other = await build();
  const rule = await app.inject({
    method: 'PUT',
    url: '/v1/push/rules/push-daily',
    headers: adminHeaders,
    payload: { channel: 'push', limit: 3, window: '24h' },
  });
  expect(rule.statusCode).toBe(200);
  await other.pushConfig.refresh();
});

afterAll(async () => {
  await Promise.all([app?.close(), other?.close()]);
  await infra.close();
});

const post = (body: Record<string, unknown>, retryKey?: string, on = app) =>
  on.inject({
    method: 'POST',
    url: '/v1/push/decisions',
    headers: retryKey === undefined ? headers : { ...headers, 'idempotency-key': retryKey },
    payload: body,
  });

async function decide(
  body: Record<string, unknown>,
  retryKey?: string,
  on = app,
): Promise<PushDecisionReply> {
  const response = await post(body, retryKey, on);
  expect(response.statusCode).toBe(200);
  return response.json();
}

async function used(userId: string): Promise<number> {
  const response = await app.inject({ method: 'GET', url: `/v1/push/users/${userId}/budget`, headers });
  expect(response.statusCode).toBe(200);
  return (response.json() as PushBudgetReply).rules[0]!.used;
}

async function okCount(campaignId: string): Promise<number> {
  await other.pushStats.flush();
  const response = await app.inject({
    method: 'GET',
    url: `/v1/push/stats?from=${new Date(START - DAY).toISOString()}&to=${new Date(START + 3 * DAY).toISOString()}`,
    headers: adminHeaders,
  });
  expect(response.statusCode).toBe(200);
  const stats = response.json() as PushStatsReply;
  return stats.rows
    .filter((row) => row.campaignId === campaignId && row.reason === 'ok')
    .reduce((sum, row) => sum + row.count, 0);
}

describe('retrying a decision with an Idempotency-Key', () => {
  it('answers a retry whose first reply was lost with the first decision, reserved and counted once', async () => {
    const userId = 'u-retry';
    const body = { userId, channel: 'push', campaignId: 'flash-1' };
    const first = await decide(body, 'send-0001');
    expect(first).toMatchObject({ allowed: true, reason: 'ok' });
    // The sender never saw `first` (its request timed out) and sends the same request again, to another process.
    const retried = await decide(body, 'send-0001', other);
    expect(retried).toEqual(first);
    expect(await decide(body, 'send-0001')).toEqual(first);
    expect(await used(userId)).toBe(1);
    expect(await okCount('flash-1')).toBe(1);
    // The retry's decisionId releases the one reservation.
    const released = await app.inject({
      method: 'DELETE',
      url: `/v1/push/decisions/${encodeURIComponent(retried.decisionId)}`,
      headers,
    });
    expect(released.json()).toMatchObject({ released: true });
    expect(await used(userId)).toBe(0);
  });

  it('makes concurrent retries on two api processes one decision', async () => {
    const userId = 'u-retry-concurrent';
    const body = { userId, channel: 'push', campaignId: 'flash-2' };
    const replies = await Promise.all(
      Array.from({ length: 6 }, (_, i) => decide(body, 'send-0002', i % 2 === 0 ? app : other)),
    );
    expect(new Set(replies.map((reply) => reply.decisionId)).size).toBe(1);
    for (const reply of replies) expect(reply).toEqual(replies[0]);
    expect(replies[0]).toMatchObject({ allowed: true, reason: 'ok' });
    expect(await used(userId)).toBe(1);
    expect(await okCount('flash-2')).toBe(1);
  });

  it('answers a retry of a refusal with the same refusal, even once the refusing rule has room again', async () => {
    const userId = 'u-retry-refused';
    const sent = await Promise.all(
      ['a', 'b', 'c'].map((campaign) => decide({ userId, channel: 'push', campaignId: `fill-${campaign}` })),
    );
    const body = { userId, channel: 'push', campaignId: 'flash-3' };
    const refused = await decide(body, 'send-0003');
    expect(refused).toMatchObject({ allowed: false, reason: 'cap_exceeded', ruleId: 'push-daily' });
    await app.inject({
      method: 'DELETE',
      url: `/v1/push/decisions/${encodeURIComponent(sent[0]!.decisionId)}`,
      headers,
    });
    expect(await decide(body, 'send-0003', other)).toEqual(refused);
    expect(await used(userId)).toBe(2);
  });

  it('decides a retry of a released decision anew: its slot was given back, so nothing may be sent on it', async () => {
    const userId = 'u-retry-released';
    const body = { userId, channel: 'push', campaignId: 'flash-9' };
    const first = await decide(body, 'send-0009');
    expect(first).toMatchObject({ allowed: true, reason: 'ok' });
    // The send failed: the sender releases, and the released slot is taken by three other messages.
    const released = await app.inject({
      method: 'DELETE',
      url: `/v1/push/decisions/${encodeURIComponent(first.decisionId)}`,
      headers,
    });
    expect(released.json()).toMatchObject({ released: true });
    for (const campaign of ['a', 'b', 'c'])
      expect(await decide({ userId, channel: 'push', campaignId: `refill-${campaign}` })).toMatchObject({
        allowed: true,
      });
    // The sender's job runs the message again with its key: the daily cap is full now.
    const again = await decide(body, 'send-0009', other);
    expect(again).toMatchObject({ allowed: false, reason: 'cap_exceeded', ruleId: 'push-daily' });
    expect(again.decisionId).not.toBe(first.decisionId);
    expect(await used(userId)).toBe(3);
    // That decision is the key's now: a retry of it gets it again.
    expect(await decide(body, 'send-0009')).toEqual(again);
  });

  it('answers the item the first attempt claimed', async () => {
    await publishFixtureModel(infra.redis, infra.keys, 'v-retry');
    await Promise.all([app.model.refresh(), other.model.refresh()]);
    const body = { userId: 'u-retry-item', channel: 'push', campaignId: 'flash-4', withItem: true };
    const first = await decide(body, 'send-0004');
    expect(first.item).toMatchObject({ itemId: expect.any(String), score: expect.any(Number) });
    expect(await decide(body, 'send-0004', other)).toEqual(first);
  });

  it('refuses a key reused for a different request with 422, deciding nothing', async () => {
    const userId = 'u-retry-reused';
    await decide({ userId, channel: 'push', campaignId: 'flash-5' }, 'send-0005');
    const reused = await post({ userId, channel: 'push', campaignId: 'flash-6' }, 'send-0005');
    expect(reused.statusCode).toBe(422);
    expect(reused.json()).toMatchObject({ error: 'idempotency_key_reused' });
    expect(await used(userId)).toBe(1);
  });

  it('refuses a key reused for a different request with 422 also once its allowed decision was released', async () => {
    const userId = 'u-retry-reused-released';
    const body = { userId, channel: 'push', campaignId: 'flash-10' };
    const first = await decide(body, 'send-0010');
    expect(first).toMatchObject({ allowed: true });
    const released = await app.inject({
      method: 'DELETE',
      url: `/v1/push/decisions/${encodeURIComponent(first.decisionId)}`,
      headers,
    });
    expect(released.json()).toMatchObject({ released: true });
    const reused = await post({ ...body, campaignId: 'flash-11' }, 'send-0010', other);
    expect(reused.statusCode).toBe(422);
    expect(reused.json()).toMatchObject({ error: 'idempotency_key_reused' });
    expect(await used(userId)).toBe(0);
    // The request the key was made for is still decided anew.
    const again = await decide(body, 'send-0010');
    expect(again).toMatchObject({ allowed: true });
    expect(again.decisionId).not.toBe(first.decisionId);
    expect(await used(userId)).toBe(1);
  });

  it('decides again once the retry period is over, and keeps a key per user', async () => {
    const body = { userId: 'u-retry-late', channel: 'push', campaignId: 'flash-7' };
    const first = await decide(body, 'send-0007');
    // The same key for another user is that user's own decision.
    const elsewhere = await decide({ ...body, userId: 'u-retry-late-2' }, 'send-0007');
    expect(elsewhere.decisionId).not.toBe(first.decisionId);
    expect(elsewhere.allowed).toBe(true);
    clock = START + DAY + 1;
    try {
      const late = await decide(body, 'send-0007');
      expect(late.decisionId).not.toBe(first.decisionId);
    } finally {
      clock = START;
    }
  });

  it('answers 400 for a malformed key, and decides a dry run without recording it', async () => {
    const body = { userId: 'u-retry-bad', channel: 'push', campaignId: 'flash-8' };
    const bad = await post(body, 'has space');
    expect(bad.statusCode).toBe(400);
    expect((await post(body, 'k'.repeat(129))).statusCode).toBe(400);
    const preview = await decide({ ...body, dryRun: true }, 'send-0008');
    const real = await decide(body, 'send-0008');
    expect(real.decisionId).not.toBe(preview.decisionId);
    expect(await used('u-retry-bad')).toBe(1);
  });
});
