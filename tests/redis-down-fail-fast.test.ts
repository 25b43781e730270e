import { buildApiApp, loadApiConfig } from '@elevens/api';
import { createTestInfra, startTcpProxy, type TestInfra } from '@elevens/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requireRedis } from '../packages/cli/src/infra';

/**
 * With Redis down, `elevens model list` and the api's start-up answer as soon as the connection is refused (or the
 * host does not resolve), not after the 3 s a Redis that is starting or slow to answer is given.
 */
const REFUSED = 'redis://127.0.0.1:1';
/** Well under the 3 s a Redis that answers slowly is waited for, and well over a refused connection's time. */
const PROMPT_MS = 1_500;

let infra: TestInfra;

beforeAll(async () => {
  infra = await createTestInfra('redis-down-fail-fast');
});

afterAll(async () => {
  await infra?.close();
});

/** Runs `work` and resolves how many ms it took, and its outcome. */
async function timed<T>(work: () => Promise<T>) {
  const started = performance.now();
  const outcome = await work().then(
    (value) => ({ value, error: undefined }),
    (error: unknown) => ({ value: undefined, error }),
  );
  return { ...outcome, ms: performance.now() - started };
}

describe('requireRedis (elevens model list, model rollback, Redis-only commands)', () => {
  it.for<[string, Parameters<typeof requireRedis>[0]]>([
    ['a refused connection', { REDIS_URL: REFUSED }],
    ['a host that does not resolve', { REDIS_URL: 'redis://no-such-host.invalid:6379' }],
    [
      'cluster seeds that refuse',
      { REDIS_URL: REFUSED, REDIS_CLUSTER_NODES: [{ host: '127.0.0.1', port: 1 }] },
    ],
  ])('says Redis is not reachable at once for %s', async ([, env]) => {
    const { error, ms } = await timed(() => requireRedis(env));
    expect(String(error)).toMatch(/Redis is not reachable at /);
    expect(ms).toBeLessThan(PROMPT_MS);
  });

  it('still waits for a Redis that is slow to answer its first command', async () => {
    const proxy = await startTcpProxy(infra.redisUrl);
    try {
      // The ready check's INFO is held until the wait is under way: answered late, never refused.
      proxy.hold();
      const check = timed(() => requireRedis({ REDIS_URL: proxy.url(infra.redisUrl) }));
      await proxy.whenHeld(/info/i);
      proxy.release();
      expect((await check).error).toBeUndefined();
    } finally {
      await proxy.close();
    }
  });
});

describe('the api with Redis down at start', () => {
  it('starts at once, serving without Redis, instead of waiting out the readiness wait', async () => {
    const {
      value: app,
      error,
      ms,
    } = await timed(() =>
      buildApiApp({ config: loadApiConfig({ ...infra.env, REDIS_URL: REFUSED, LOG_LEVEL: 'silent' }) }),
    );
    try {
      expect(error).toBeUndefined();
      expect(ms).toBeLessThan(PROMPT_MS);
      const ready = await app?.inject({ method: 'GET', url: '/readyz' });
      expect(ready?.statusCode).toBe(503);
    } finally {
      await app?.close();
    }
  });
});
