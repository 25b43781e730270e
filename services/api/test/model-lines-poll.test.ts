import { ModelStore } from '@elevens/redis-stores';
import { createLogSink, createTestInfra, startTcpProxy, type TestInfra } from '@elevens/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ApiApp, buildApiApp } from '../src/app';
import { fixtureModel, testApiConfig } from './recommendations-fixtures';

/**
 * The model poll follows several lines at once (the default one and those experiment arms name): one line that
 * cannot be read must not hold the others back.
 */
let infra: TestInfra;
let app: ApiApp;
const logs = createLogSink();

beforeAll(async () => {
  infra = await createTestInfra('api-model-lines-poll');
  // Polls only when the test asks (refresh).
  app = await buildApiApp({
    config: { ...testApiConfig(infra.env), MODEL_POLL_MS: 60_000 },
    logging: { stream: logs.stream },
  });
}, 60_000);

afterAll(async () => {
  await app?.close();
  await infra?.close();
});

describe('the model poll over several lines', () => {
  it('serves a new default version while a line an experiment names cannot be read, and that line again once it can', async () => {
    const store = new ModelStore(infra.redis, infra.keys);
    await store.line().publish(fixtureModel('d1'));
    await store.line('llr').publish({ ...fixtureModel('l1'), algorithm: 'llr' });
    const arms = [
      { name: 'control', share: 0.5 },
      { name: 'b', share: 0.5, algorithm: 'llr' as const },
    ];
    expect((await app.experimentStore.put('lines', { arms }, null, Date.now())).ok).toBe(true);
    await app.experiments.refresh();
    await app.model.refresh();
    expect(app.model.current()?.version).toBe('d1');
    expect(app.model.forArm({ algorithm: 'llr' }).snapshot?.version).toBe('l1');

    // Builds publish both lines; then the llr line's pointer becomes unreadable (a real Redis error, as on a
    // cluster whose node holding that slot is down): here a key of the wrong type.
    await store.line().publish(fixtureModel('d2'));
    await store.line('llr').publish({ ...fixtureModel('l2'), algorithm: 'llr' });
    const llrCurrent = infra.keys.modelCurrent('llr');
    await infra.redis.del(llrCurrent);
    await infra.redis.hset(llrCurrent, 'unreadable', '1');
    for (let poll = 0; poll < 2; poll++) await app.model.refresh().catch(() => {});
    // Every answer outside the arm comes from the new default version; the arm keeps the llr version it had.
    expect(app.model.current()?.version).toBe('d2');
    expect(app.model.forArm({ algorithm: 'llr' })).toMatchObject({
      snapshot: { version: 'l1' },
      modelFallback: false,
    });
    // The failure is told, not swallowed.
    expect(
      logs.entries().some((entry) => entry.level >= 40 && /WRONGTYPE/.test(entry.err?.message ?? '')),
    ).toBe(true);

    await infra.redis.del(llrCurrent);
    await infra.redis.set(llrCurrent, 'l2');
    await app.model.refresh();
    expect(app.model.forArm({ algorithm: 'llr' }).snapshot?.version).toBe('l2');
    expect(app.model.current()?.version).toBe('d2');
  }, 60_000);

  it('keeps the version it serves when the one it loads is deleted while its lists are read', async () => {
    const store = new ModelStore(infra.redis, infra.keys);
    await store.line().publish(fixtureModel('e1'));
    // An api whose Redis commands the test can hold back.
    const proxy = await startTcpProxy(infra.redisUrl);
    const loader = await buildApiApp({
      config: {
        ...testApiConfig({ ...infra.env, REDIS_URL: proxy.url(infra.redisUrl) }),
        MODEL_POLL_MS: 60_000,
      },
    });
    try {
      // The first load finishes by the app's ready.
      await loader.ready();
      expect(loader.model.current()?.version).toBe('e1');
      await store.line().publish(fixtureModel('e2'));
      // The poll reads e2's small parts; its first list read is held back.
      proxy.hold(/hscan/i);
      const polled = loader.model.refresh();
      await proxy.whenHeld(/hscan/i);
      // Meanwhile an operator rolls back to e1 and a clean-up with no grace deletes the retired e2.
      expect(await store.line().rollback()).toEqual({ retired: 'e2', restored: 'e1' });
      await store.line().deleteVersion('e2');
      proxy.release();
      await polled;
      expect(loader.model.current()?.version).toBe('e1');
      expect(loader.model.current()?.lists.neighbors.idx.length).toBeGreaterThan(0);
    } finally {
      await loader.close();
      await proxy.close();
    }
  }, 60_000);
});
