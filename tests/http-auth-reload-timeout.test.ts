import { createServer, type Server, Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  apiKeySource,
  type CreatedApiKey,
  createApiKey,
  createPool,
  type Pool,
  revokeApiKey,
} from '@elevens/db';
import { authPlugin, createBaseApp, type ElevensApp } from '@elevens/http';
import { createLogSink, createTestInfra, startTcpProxy, type TestInfra } from '@elevens/testkit';
import type { FastifyInstance } from 'fastify';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';

let infra: TestInfra;
let shop: CreatedApiKey;

beforeAll(async () => {
  infra = await createTestInfra('http-auth-reload-timeout');
  shop = await createApiKey(infra.pool, { name: 'shop', scopes: ['recommendations:read'] });
});

afterAll(async () => {
  await infra?.close();
});

/** A test's proxy, app and pool, closed in that order: closing the proxy fails the queries stuck behind it. */
const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0)) await cleanup();
});

/**
 * Forwards to Postgres; `freezeOpen()` stops forwarding on the connections open now, in both directions, while
 * new connections pass: a connection left half-open by a network fault, which neither answers nor fails.
 */
async function startFreezingProxy(target: string) {
  const upstream = new URL(target);
  const open = new Set<Socket>();
  const frozen = new Set<Socket>();
  const server: Server = createServer((client) => {
    const remote = new Socket();
    const drop = () => {
      for (const socket of [client, remote]) {
        socket.destroy();
        open.delete(socket);
      }
    };
    open.add(client);
    client.on('error', drop).on('close', drop);
    remote.on('error', drop).on('close', drop);
    client.on('data', (chunk: Buffer) => {
      if (!frozen.has(client)) remote.write(chunk);
    });
    remote.on('data', (chunk: Buffer) => {
      if (!frozen.has(client)) client.write(chunk);
    });
    remote.connect(Number(upstream.port), upstream.hostname);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  const proxied = new URL(target);
  proxied.hostname = '127.0.0.1';
  proxied.port = String(port);
  return {
    url: proxied.toString(),
    freezeOpen() {
      for (const socket of open) frozen.add(socket);
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of open) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

/** An app checking keys from `pool`, reloaded every 50 ms, with one route needing `recommendations:read`. */
async function appWithKeysFrom(pool: Pool, logs = createLogSink()): Promise<ElevensApp> {
  const app = createBaseApp({ logging: { level: 'warn', stream: logs.stream } });
  cleanups.push(
    () => app.close(),
    () => pool.end(),
  );
  await app.register(authPlugin, {
    required: true,
    refreshMs: 50,
    reloadTimeoutMs: 300,
    keys: apiKeySource(pool),
  });
  app.get('/r', { config: { scope: 'recommendations:read' } }, async () => ({ ok: true }));
  await app.ready();
  return app;
}

const statusWith = async (app: ElevensApp, key: CreatedApiKey) =>
  (await app.inject({ url: '/r', headers: { authorization: `Bearer ${key.secret}` } })).statusCode;

/** Polls until `app` answers `status` to `key`, for up to `withinMs`; the last status seen. */
async function statusBecomes(app: ElevensApp, key: CreatedApiKey, status: number, withinMs: number) {
  const deadline = performance.now() + withinMs;
  let seen = await statusWith(app, key);
  while (seen !== status && performance.now() < deadline) {
    await sleep(20);
    seen = await statusWith(app, key);
  }
  return seen;
}

describe('the API key reload', () => {
  it('gives up on a Postgres connection that stopped answering, so a revocation still takes effect', async () => {
    const proxy = await startFreezingProxy(infra.databaseUrl);
    cleanups.push(() => proxy.close());
    const pool = createPool(proxy.url, { max: 3 });
    const key = await createApiKey(infra.pool, { name: 'revoked', scopes: ['recommendations:read'] });
    const logs = createLogSink();
    const app = await appWithKeysFrom(pool, logs);
    expect(await statusWith(app, key)).toBe(200);

    // The pool's idle connection goes silent: the next reload's query waits on it, and nothing ever fails it.
    proxy.freezeOpen();
    await sleep(100);
    expect(await revokeApiKey(infra.pool, key.id)).toBe('revoked');

    expect(await statusBecomes(app, key, 401, 3_000)).toBe(401);
    expect(await statusWith(app, shop)).toBe(200);
    expect(logs.messages()).toContain('could not reload API keys; keeping the last table');
  });

  it('lets a process start while Postgres accepts connections but answers nothing, refusing with 503', async () => {
    const proxy = await startTcpProxy(infra.databaseUrl);
    cleanups.push(() => proxy.close());
    const pool = createPool(proxy.url(infra.databaseUrl), { max: 3 });
    // The connection is made; its first query, and everything sent after it, waits unanswered.
    proxy.hold(/api_keys/);
    const started = appWithKeysFrom(pool);
    const app = await Promise.race([started, sleep(3_000).then(() => null)]);
    expect(app, 'the app did not start within 3 s').not.toBeNull();
    const response = await (app as FastifyInstance).inject({
      url: '/r',
      headers: { authorization: `Bearer ${shop.secret}` },
    });
    expect(response.statusCode).toBe(503);
    expect(response.json()).toMatchObject({ error: 'unavailable' });

    // Postgres answers again: the next reload installs the keys.
    proxy.release();
    expect(await statusBecomes(app as ElevensApp, shop, 200, 3_000)).toBe(200);
  });
});
