import { type ApiApp, buildApiApp, loadApiConfig } from '@elevens/api';
import { createTestInfra, type TestInfra } from '@elevens/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const NOW_MS = Date.parse('2026-11-10T12:00:00Z');
let infra: TestInfra;
let app: ApiApp;

const ARMS = [
  { name: 'control', share: 0.5 },
  { name: 'b', share: 0.5, settings: { historyHalfLifeHours: 72 } },
];

beforeAll(async () => {
  infra = await createTestInfra('experiments-refresh-order');
  app = await buildApiApp({
    // The timer's poll never runs during the test: the test makes each refresh itself.
    config: loadApiConfig({ ...infra.env, LOG_LEVEL: 'silent', MODEL_POLL_MS: '60000' }),
    now: () => NOW_MS,
  });
  await app.ready();
});

afterAll(async () => {
  await app?.close();
  await infra?.close();
});

/**
 * Wraps the app's real store: the next `list` reads Postgres at once but hands its rows back only when released,
 * as a poll that read before a change and finishes after it. `listed` settles once that read has its rows;
 * `versionReads` counts the version reads.
 */
function holdNextList() {
  const store = app.experimentStore;
  const readList = store.list.bind(store);
  const readVersion = store.version.bind(store);
  let release!: () => void;
  const released = new Promise<void>((resolve) => {
    release = resolve;
  });
  let markListed!: () => void;
  const listed = new Promise<void>((resolve) => {
    markListed = resolve;
  });
  const counts = { versionReads: 0 };
  let held = false;
  store.list = async () => {
    const rows = await readList();
    if (!held) {
      held = true;
      markListed();
      await released;
    }
    return rows;
  };
  store.version = () => {
    counts.versionReads++;
    return readVersion();
  };
  return {
    counts,
    listed,
    release,
    restore() {
      store.list = readList;
      store.version = readVersion;
    },
  };
}

const put = (id: string, placement: string) =>
  app.experimentStore.put(id, { arms: ARMS, placement }, null, NOW_MS);

describe('experiment refreshes that overlap', () => {
  it('never apply an older read over a newer one', async () => {
    const first = await put('before', 'home');
    expect(first.ok).toBe(true);
    const hold = holdNextList();
    try {
      // The poll sees the new version and reads the list with `before` only; its answer is held.
      const poll = app.experiments.refresh();
      await hold.listed;
      // A change commits, and the route's re-read after it starts while the poll is still under way.
      const second = await put('after', 'cart');
      expect(second.ok).toBe(true);
      const versionReadsBefore = hold.counts.versionReads;
      const reread = app.experiments.refresh();
      // A re-read that reads at once, beside the held poll, is let finish first: the order that lost the change.
      if (hold.counts.versionReads > versionReadsBefore) await reread;
      hold.release();
      await Promise.all([poll, reread]);
    } finally {
      hold.restore();
    }
    const served = app.experiments.current();
    expect(served.experiments.map((e) => e.id)).toEqual(['after', 'before']);
    expect(served.version).toBe(await app.experimentStore.version());
    expect(app.experiments.assign('u1', 'cart', true)?.experiment).toBe('after');
  });

  it('gives a refresh that fails its own error, and the next one reads again', async () => {
    const store = app.experimentStore;
    const readVersion = store.version.bind(store);
    store.version = () => Promise.reject(new Error('Postgres is down'));
    try {
      await expect(app.experiments.refresh()).rejects.toThrow('Postgres is down');
    } finally {
      store.version = readVersion;
    }
    expect((await put('later', 'product')).ok).toBe(true);
    await app.experiments.refresh();
    expect(app.experiments.current().experiments.map((e) => e.id)).toEqual(['after', 'before', 'later']);
  });
});
