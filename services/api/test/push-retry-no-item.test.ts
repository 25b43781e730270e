import { createApiKey } from '@elevens/db';
import type { PushDecisionReply } from '@elevens/domain';
import { createTestInfra, type TestInfra } from '@elevens/testkit';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { type ApiApp, buildApiApp } from '../src/app';
import { loadApiConfig } from '../src/config';
import { publishFixtureModel } from './recommendations-fixtures';

/** A push decision asked withItem before the first model build, and its retry once a model is served. */
let infra: TestInfra;
let app: ApiApp;
let headers: Record<string, string>;
const NOW = Date.parse('2026-11-11T12:00:00.000Z');

beforeAll(async () => {
  infra = await createTestInfra('api-push-retry-no-item');
  const sender = await createApiKey(infra.pool, { name: 'sender', scopes: ['push:decide'] });
  headers = { authorization: `Bearer ${sender.secret}` };
  app = await buildApiApp({
    config: loadApiConfig({ ...infra.env, MODEL_POLL_MS: '50', PUSH_DEFAULT_TIMEZONE: 'UTC' }),
    now: () => NOW,
  });
});

afterAll(async () => {
  await app?.close();
  await infra?.close();
});

async function decide(body: Record<string, unknown>, retryKey: string): Promise<PushDecisionReply> {
  const response = await app.inject({
    method: 'POST',
    url: '/v1/push/decisions',
    headers: { ...headers, 'idempotency-key': retryKey },
    payload: body,
  });
  expect(response.statusCode).toBe(200);
  return response.json();
}

it('answers a retry of a decision that got no item (no model yet) with no item, though a model is served since', async () => {
  const body = { userId: 'u-no-item', channel: 'push', campaignId: 'flash-1', withItem: true };
  const first = await decide(body, 'send-0001');
  expect(first).toMatchObject({ allowed: true, item: null });

  await publishFixtureModel(infra.redis, infra.keys, 'v-since');
  await app.model.refresh();
  expect(app.model.current()?.version).toBe('v-since');

  expect(await decide(body, 'send-0001')).toEqual(first);
  // A new message, with a new key, gets an item from the model.
  const next = await decide({ ...body, campaignId: 'flash-2' }, 'send-0002');
  expect(next.item).toMatchObject({ itemId: expect.any(String) });
});
