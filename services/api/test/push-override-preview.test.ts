import { createApiKey } from '@elevens/db';
import type { PushDecisionReply } from '@elevens/domain';
import { createTestInfra, type TestInfra } from '@elevens/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ApiApp, buildApiApp } from '../src/app';
import { loadApiConfig } from '../src/config';

let infra: TestInfra;
let app: ApiApp;
let adminHeaders: Record<string, string>;
let senderHeaders: Record<string, string>;
const HOUR = 3_600_000;
/** The api's clock: fixed and moved by the test, so no outcome depends on the time of day. */
const NOW = Date.parse('2026-11-11T12:00:00.000Z');
let clock = NOW;

beforeAll(async () => {
  infra = await createTestInfra('api-push-override-preview');
  const adminKey = await createApiKey(infra.pool, { name: 'marketing-lead', scopes: ['admin'] });
  const senderKey = await createApiKey(infra.pool, { name: 'sender', scopes: ['push:decide'] });
  adminHeaders = { authorization: `Bearer ${adminKey.secret}` };
  senderHeaders = { authorization: `Bearer ${senderKey.secret}` };
  app = await buildApiApp({
    config: loadApiConfig({ ...infra.env, PUSH_DEFAULT_TIMEZONE: 'UTC' }),
    now: () => clock,
  });
});

afterAll(async () => {
  await app?.close();
  await infra?.close();
});

async function decideAt(hoursAgo: number, body: Record<string, unknown>, headers: Record<string, string>) {
  clock = NOW - hoursAgo * HOUR;
  const response = await app.inject({ method: 'POST', url: '/v1/push/decisions', headers, payload: body });
  clock = NOW;
  expect(response.statusCode, response.body).toBe(200);
  const reply = response.json() as PushDecisionReply;
  expect(reply).toMatchObject({ allowed: true, reason: 'ok' });
  return reply;
}

async function preview(kind: 'push-rule' | 'quiet-hours', payload: Record<string, unknown>) {
  const response = await app.inject({
    method: 'POST',
    url: `/v1/dashboard/preview/${kind}`,
    headers: adminHeaders,
    payload,
  });
  expect(response.statusCode, response.body).toBe(200);
  return response.json();
}

describe("an admin's override send in the dashboard previews", () => {
  it('counts in a candidate cap’s window, as a live decision counts it, but is never suppressed', async () => {
    // A live cap the overrides go past.
    const rule = await app.inject({
      method: 'PUT',
      url: '/v1/push/rules/one-a-day',
      headers: adminHeaders,
      payload: { channel: 'push', limit: 1, window: '24h' },
    });
    expect(rule.statusCode, rule.body).toBe(200);

    // 'mixed': an override, then (below) a capped send.
    await decideAt(
      3,
      { userId: 'mixed', channel: 'push', campaignId: 'ceo-letter', overrideCaps: true },
      adminHeaders,
    );
    // 'ceo-only': two overrides an hour apart, past the live cap of one a day.
    await decideAt(
      4,
      { userId: 'ceo-only', channel: 'push', campaignId: 'recall-1', overrideCaps: true },
      adminHeaders,
    );
    await decideAt(
      3,
      { userId: 'ceo-only', channel: 'push', campaignId: 'recall-2', overrideCaps: true },
      adminHeaders,
    );
    // Live, the override 3 hours ago fills the daily cap: 'mixed' is refused now.
    const refused = await app.inject({
      method: 'POST',
      url: '/v1/push/decisions',
      headers: senderHeaders,
      payload: { userId: 'mixed', channel: 'push', campaignId: 'late' },
    });
    expect(refused.json()).toMatchObject({ allowed: false, reason: 'cap_exceeded', ruleId: 'one-a-day' });
    await app.inject({ method: 'DELETE', url: '/v1/push/rules/one-a-day', headers: adminHeaders });
    await decideAt(1, { userId: 'mixed', channel: 'push', campaignId: 'late' }, senderHeaders);

    // The candidate: one push a day. The capped send an hour ago meets the override in its window (suppressed);
    // the overrides themselves went out whatever the caps, so the candidate would not have refused them.
    expect(await preview('push-rule', { channel: 'push', limit: 1, window: '24h' })).toMatchObject({
      users: 2,
      decisions: 4,
      suppressed: 1,
      usersAffected: 1,
      complete: true,
    });
    // Quiet hours all day: overrides skip quiet hours too, so only the capped send an hour ago is held.
    expect(await preview('quiet-hours', { start: '00:00', end: '23:59', channels: ['any'] })).toMatchObject({
      users: 2,
      decisions: 4,
      suppressed: 1,
      usersAffected: 1,
    });
  });
});
