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
  infra = await createTestInfra('api-push-low-priority-preview');
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

/** The sends of one user: hours before NOW, each its own campaign, at a priority. */
const SENDS = [
  { hoursAgo: 5, priority: 'low' },
  { hoursAgo: 4, priority: 'low' },
  { hoursAgo: 3, priority: 'low' },
  { hoursAgo: 2, priority: 'low' },
] as const;

async function decideAt(hoursAgo: number, body: Record<string, unknown>) {
  clock = NOW - hoursAgo * HOUR;
  const response = await app.inject({
    method: 'POST',
    url: '/v1/push/decisions',
    headers: senderHeaders,
    payload: body,
  });
  clock = NOW;
  expect(response.statusCode, response.body).toBe(200);
  return response.json() as PushDecisionReply;
}

/** Every send of `SENDS` for `userId` at `priority` (or the send's own); how many were refused. */
async function sendAll(userId: string, priority?: 'low' | 'normal') {
  let refused = 0;
  for (const send of SENDS) {
    const reply = await decideAt(send.hoursAgo, {
      userId,
      channel: 'push',
      campaignId: `flash-${send.hoursAgo}`,
      priority: priority ?? send.priority,
    });
    if (!reply.allowed) {
      expect(reply.reason).toBe('cap_exceeded');
      refused++;
    }
  }
  return refused;
}

describe('a low-priority campaign in the dashboard preview of a cap', () => {
  it('is replayed at the priority it was decided at: suppressed as the live rule refuses it', async () => {
    const candidate = { channel: 'push', limit: 3, window: '24h' };
    // No rule yet: every send goes out.
    expect(await sendAll('low-only')).toBe(0);
    expect(await sendAll('normal-only', 'normal')).toBe(0);

    const response = await app.inject({
      method: 'POST',
      url: '/v1/dashboard/preview/push-rule',
      headers: adminHeaders,
      payload: candidate,
    });
    expect(response.statusCode, response.body).toBe(200);
    const preview = response.json() as { decisions: number; suppressed: number; usersAffected: number };

    // The same sends to fresh users with the candidate live: what the decider refuses.
    const rule = await app.inject({
      method: 'PUT',
      url: '/v1/push/rules/three-a-day',
      headers: adminHeaders,
      payload: candidate,
    });
    expect(rule.statusCode, rule.body).toBe(200);
    const refusedLow = await sendAll('low-only-live');
    const refusedNormal = await sendAll('normal-only-live', 'normal');
    // A low-priority send leaves the last of three slots: refused once two went out.
    expect(refusedLow).toBe(2);
    expect(refusedNormal).toBe(1);

    expect(preview).toMatchObject({
      decisions: 2 * SENDS.length,
      suppressed: refusedLow + refusedNormal,
      usersAffected: 2,
    });
  });
});
