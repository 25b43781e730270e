import { setTimeout as sleep } from 'node:timers/promises';
import { createTestInfra, startTcpProxy, type TcpProxy, type TestInfra } from '@elevens/testkit';
import Fastify, { type FastifyInstance } from 'fastify';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createPool, dbPlugin, withTransaction } from '../src';

let infra: TestInfra;

beforeAll(async () => {
  infra = await createTestInfra('db-pool-time-limits');
  await infra.pool.query('CREATE TABLE pool_marks (mark text PRIMARY KEY)');
});

afterAll(async () => {
  await infra?.close();
});

/** Run after each test, in order: the proxy first, whose closing fails whatever is still stuck behind it. */
const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0)) await cleanup();
});

const QUERY_TIMEOUT_MS = 300;
/** Well above the time limit, far below "until the kernel's keepalive gives up" (minutes, or never). */
const BOUND_MS = 3_000;

async function proxyToPostgres(): Promise<TcpProxy> {
  const proxy = await startTcpProxy(infra.databaseUrl);
  cleanups.push(() => proxy.close());
  return proxy;
}

/** The stores as a serving process holds them (one pool connection), through `proxy`, with a short time limit. */
async function servingApp(proxy: TcpProxy): Promise<FastifyInstance> {
  const app = Fastify();
  await app.register(dbPlugin, {
    databaseUrl: proxy.url(infra.databaseUrl),
    max: 1,
    queryTimeoutMs: QUERY_TIMEOUT_MS,
  });
  await app.ready();
  return app;
}

/** `promise`'s outcome, or 'still waiting' once `ms` have passed. */
const within = <T>(promise: Promise<T>, ms: number) =>
  Promise.race([promise, sleep(ms).then(() => 'still waiting' as const)]);

describe('a Postgres connection that stops answering', () => {
  it('fails its query within the time limit and gives its pool slot back', async () => {
    const proxy = await proxyToPostgres();
    const app = await servingApp(proxy);
    cleanups.push(() => app.close());
    expect(await app.postgresHealth.ping()).toBe(true);

    // The server stalls: the query reaches the proxy, and no answer ever comes back.
    proxy.hold(/SELECT 1/);
    expect(await within(app.postgresHealth.ping(), BOUND_MS)).toBe(false);

    // Postgres answers again: the pool's one slot was not kept by the stuck connection.
    proxy.release();
    expect(await within(app.postgresHealth.ping(), BOUND_MS)).toBe(true);
  });

  it('does not hold up the shutdown of a process whose query is stuck on it', async () => {
    const proxy = await proxyToPostgres();
    const app = await servingApp(proxy);
    proxy.hold(/SELECT 1/);
    const stuck = app.postgresHealth.ping();
    await proxy.whenHeld(/SELECT 1/);

    expect(await within(app.close(), BOUND_MS)).toBeUndefined();
    expect(await stuck).toBe(false);
  });

  it('leaves no transaction open on a pooled connection after a statement in it timed out', async () => {
    const proxy = await proxyToPostgres();
    const pool = createPool(proxy.url(infra.databaseUrl), { max: 1, queryTimeoutMs: QUERY_TIMEOUT_MS });
    cleanups.push(() => pool.end());
    proxy.hold(/'stuck'/);

    const failed = withTransaction(pool, (client) => client.query("INSERT INTO pool_marks VALUES ('stuck')"));
    await expect(within(failed, BOUND_MS)).rejects.toThrow('Query read timeout');

    // The stalled server recovers and finishes what it had been sent. A connection given back to the pool inside
    // the transaction would run the next write in it, never committed.
    proxy.release();
    await within(pool.query("INSERT INTO pool_marks VALUES ('after')"), BOUND_MS);
    const { rows } = await infra.pool.query<{ mark: string }>('SELECT mark FROM pool_marks ORDER BY mark');
    expect(rows.map((row) => row.mark)).toEqual(['after']);
  });
});
