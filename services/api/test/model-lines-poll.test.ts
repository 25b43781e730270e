import { ModelLine, ModelStore } from '@elevens/redis-stores';
import { createLogSink, createTestInfra, type TestInfra } from '@elevens/testkit';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
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
  vi.restoreAllMocks();
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

    // The llr line's keys become unreadable (on a cluster: the node holding its slot is down), and meanwhile a
    // build publishes the default line and another the llr line.
    const unreadable = new Error('CLUSTERDOWN The cluster is down');
    const current = ModelLine.prototype.current;
    const spy = vi.spyOn(ModelLine.prototype, 'current').mockImplementation(function (this: ModelLine) {
      return this.name === 'llr' ? Promise.reject(unreadable) : current.call(this);
    });
    await store.line().publish(fixtureModel('d2'));
    await store.line('llr').publish({ ...fixtureModel('l2'), algorithm: 'llr' });
    for (let poll = 0; poll < 2; poll++) await app.model.refresh().catch(() => {});
    // Every answer outside the arm comes from the new default version; the arm keeps the llr version it had.
    expect(app.model.current()?.version).toBe('d2');
    expect(app.model.forArm({ algorithm: 'llr' })).toMatchObject({
      snapshot: { version: 'l1' },
      modelFallback: false,
    });
    // The failure is told, not swallowed.
    expect(
      logs.entries().some((entry) => entry.level >= 40 && entry.err?.message === unreadable.message),
    ).toBe(true);

    spy.mockRestore();
    await app.model.refresh();
    expect(app.model.forArm({ algorithm: 'llr' }).snapshot?.version).toBe('l2');
    expect(app.model.current()?.version).toBe('d2');
  }, 60_000);
});
