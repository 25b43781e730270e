import { setTimeout as sleep } from 'node:timers/promises';
import { buildApiApp, loadApiConfig } from '@elevens/api';
import { type CreatedApiKey, createApiKey, revokeApiKey } from '@elevens/db';
import {
  createLogSink,
  createTestInfra,
  startTcpProxy,
  type TcpProxy,
  type TestInfra,
} from '@elevens/testkit';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { publishFixtureModel } from '../services/api/test/recommendations-fixtures';

let infra: TestInfra;
let proxy: TcpProxy;
let api: FastifyInstance;
let env: Record<string, string>;
let shop: CreatedApiKey;
let ops: CreatedApiKey;
const logs = createLogSink();

beforeAll(async () => {
  infra = await createTestInfra('security-auth-key-mirror');
  proxy = await startTcpProxy(infra.databaseUrl);
  shop = await createApiKey(infra.pool, { name: 'shop', scopes: ['recommendations:read'] });
  ops = await createApiKey(infra.pool, { name: 'ops', scopes: ['recommendations:read'] });
  await publishFixtureModel(infra.redis, infra.keys);
  env = {
    ...infra.env,
    DATABASE_URL: proxy.url(infra.databaseUrl),
    AUTH_REQUIRED: 'true',
    AUTH_REFRESH_MS: '50',
  };
  api = (await buildApiApp({
    config: loadApiConfig(env),
    logging: { stream: logs.stream },
  })) as unknown as FastifyInstance;
  await api.ready();
});

afterAll(async () => {
  await api?.close();
  await proxy?.close();
  await infra?.close();
});

const mirrorKey = () => infra.keys.authKeyTable();
const mirroredIds = async () => {
  const json = await infra.redis.get(mirrorKey());
  return json === null ? null : (JSON.parse(json) as { id: string }[]).map((k) => k.id).sort();
};

/** Waits, up to `withinMs`, until the Redis copy lists exactly `ids` (null: no copy); false when it never does. */
async function mirrorBecomes(ids: string[] | null, withinMs: number): Promise<boolean> {
  const deadline = performance.now() + withinMs;
  const wanted = JSON.stringify(ids === null ? null : [...ids].sort());
  while (performance.now() < deadline) {
    if (JSON.stringify(await mirroredIds()) === wanted) return true;
    await sleep(10);
  }
  return JSON.stringify(await mirroredIds()) === wanted;
}

/** A serving process started while Postgres refuses connections, its answers to both keys. */
async function startedDuringOutage(): Promise<{ shop: number; ops: number }> {
  await proxy.refuse();
  try {
    const fresh = (await buildApiApp({
      config: loadApiConfig(env),
      logging: { stream: logs.stream },
    })) as unknown as FastifyInstance;
    try {
      const status = async (key: CreatedApiKey) =>
        (
          await fresh.inject({
            method: 'GET',
            url: '/v1/recommendations?userId=u1&limit=3',
            headers: { authorization: `Bearer ${key.secret}` },
          })
        ).statusCode;
      return { shop: await status(shop), ops: await status(ops) };
    } finally {
      await fresh.close();
    }
  } finally {
    await proxy.restore();
  }
}

// The documented bound: a revocation takes effect within AUTH_REFRESH_MS plus one query; a second is ample.
const BOUND_MS = 1_000;

describe('the Redis copy of the API key table', () => {
  it('is written again when Redis loses it, so a process starting during a Postgres outage still serves', async () => {
    expect(await mirrorBecomes([ops.id, shop.id], BOUND_MS)).toBe(true);
    // A flush, a restart without persistence: the copy is gone while the key table has not changed.
    await infra.redis.del(mirrorKey());
    expect(await mirrorBecomes([ops.id, shop.id], BOUND_MS)).toBe(true);
    expect(await startedDuringOutage()).toEqual({ shop: 200, ops: 200 });
  });

  it('is corrected when Redis goes back to an older copy holding a revoked key', async () => {
    const beforeRevocation = await infra.redis.get(mirrorKey());
    expect(beforeRevocation).not.toBeNull();
    expect(await revokeApiKey(infra.pool, ops.id)).toBe('revoked');
    expect(await mirrorBecomes([shop.id], BOUND_MS)).toBe(true);
    // A failover to a replica that missed the last write: the copy lists the revoked key again.
    await infra.redis.set(mirrorKey(), beforeRevocation!);
    expect(await mirrorBecomes([shop.id], BOUND_MS)).toBe(true);
    expect(await startedDuringOutage()).toEqual({ shop: 200, ops: 401 });
  });

  it('is restored, not relied on, while Postgres answers: a process starting then reads the keys from Postgres', async () => {
    await infra.redis.del(mirrorKey());
    const fresh = (await buildApiApp({
      config: loadApiConfig(env),
      logging: { stream: logs.stream },
    })) as unknown as FastifyInstance;
    try {
      const response = await fresh.inject({
        method: 'GET',
        url: '/v1/recommendations?userId=u1&limit=3',
        headers: { authorization: `Bearer ${shop.secret}` },
      });
      expect(response.statusCode, response.body).toBe(200);
    } finally {
      await fresh.close();
    }
    expect(await mirrorBecomes([shop.id], BOUND_MS)).toBe(true);
  });
});
