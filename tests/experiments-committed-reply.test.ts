import { type ApiApp, buildApiApp, loadApiConfig } from '@elevens/api';
import { createApiKey } from '@elevens/db';
import {
  createLogSink,
  createTestInfra,
  startTcpProxy,
  type TcpProxy,
  type TestInfra,
} from '@elevens/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const NOW_MS = Date.parse('2026-11-10T12:00:00Z');
/** The query the api re-reads the experiment set with after a change (and on every poll). */
const VERSION_READ = /SELECT version FROM experiments_version/;
let infra: TestInfra;
let proxy: TcpProxy;
let app: ApiApp;
let admin: string;
const logs = createLogSink();

beforeAll(async () => {
  infra = await createTestInfra('experiments-committed');
  proxy = await startTcpProxy(infra.databaseUrl);
  admin = (await createApiKey(infra.pool, { name: 'ops', scopes: ['admin'] })).secret;
  app = await buildApiApp({
    // The api reaches Postgres only through the proxy; the poll is slow enough never to run during a test, so the
    // only version read after a change is the route's own.
    config: loadApiConfig({
      ...infra.env,
      DATABASE_URL: proxy.url(infra.databaseUrl),
      AUTH_REQUIRED: 'true',
      MODEL_POLL_MS: '60000',
    }),
    logging: { stream: logs.stream },
    now: () => NOW_MS,
  });
  await app.ready();
});

afterAll(async () => {
  await app?.close();
  await proxy?.close();
  await infra?.close();
});

const request = (method: 'PUT' | 'DELETE', id: string, payload?: Record<string, unknown>) =>
  app.inject({
    method,
    url: `/v1/experiments/${id}`,
    headers: { authorization: `Bearer ${admin}` },
    ...(payload ? { payload } : {}),
  });

const storedIds = async () =>
  (await infra.pool.query<{ id: string }>('SELECT id FROM experiments ORDER BY id')).rows.map((r) => r.id);

/** Sends `send`, lets its transaction commit, then breaks Postgres under the re-read that follows. */
async function withReadAfterCommitFailing<T>(send: () => Promise<T>, committed: () => Promise<boolean>) {
  proxy.hold(VERSION_READ);
  const answer = send();
  await proxy.whenHeld(VERSION_READ);
  expect(await committed()).toBe(true);
  proxy.cut();
  proxy.release();
  return answer;
}

const ARMS = [
  { name: 'control', share: 0.5 },
  { name: 'b', share: 0.5, settings: { historyHalfLifeHours: 72 } },
];

describe('a committed experiment change whose re-read fails', () => {
  it('PUT answers 200 with the stored experiment, not 503', async () => {
    const response = await withReadAfterCommitFailing(
      () => request('PUT', 'kept', { arms: ARMS, placement: 'home' }),
      async () => (await storedIds()).includes('kept'),
    );
    expect(response.statusCode, response.body).toBe(200);
    expect(response.json()).toMatchObject({
      id: 'kept',
      arms: ARMS,
      status: 'running',
      version: expect.any(Number),
    });
    expect(logs.messages()).toContain('experiment change stored; this process serves it from its next poll');
  });

  it('DELETE answers 200, and a retry after it answers 404 as documented', async () => {
    const created = await request('PUT', 'gone', { arms: ARMS, placement: 'cart' });
    expect(created.statusCode, created.body).toBe(200);
    const response = await withReadAfterCommitFailing(
      () => request('DELETE', 'gone'),
      async () => !(await storedIds()).includes('gone'),
    );
    expect(response.statusCode, response.body).toBe(200);
    expect(response.json()).toEqual({ id: 'gone', deleted: true, version: created.json().version + 1 });
    const retried = await request('DELETE', 'gone');
    expect(retried.statusCode, retried.body).toBe(404);
  });

  it('serves the change from the next successful read', async () => {
    await app.experiments.refresh();
    expect(app.experiments.current().experiments.map((e) => e.id)).toEqual(['kept']);
  });
});
