import { getModelRun, insertEvents } from '@elevens/db';
import type { EventType, StoredEvent } from '@elevens/domain';
import { generateEvents } from '@elevens/generator';
import { currentModelVersion } from '@elevens/redis-stores';
import { createTestInfra, type TestInfra } from '@elevens/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type BuildConfig, decideGate, loadBuildConfig, runBuild } from '../src';

describe('decideGate', () => {
  const options = { margin: 0.1, force: false, minUsers: 50, minShare: 0.5 };
  const size = { users: 2000, items: 400, events: 50_000 };
  const current = { version: 'v1', ndcg10: 0.2, target: 'any', users: 500, size };
  const figure = (ndcg10: number, users = 500, built = size) => ({
    ndcg10,
    users,
    ndcg10StdErr: 0.01,
    target: 'any' as const,
    size: built,
  });

  it('publishes when nothing evaluated is served', () => {
    expect(decideGate(figure(0), null, options)).toMatchObject({ publish: true, threshold: null });
  });

  it('publishes within the margin, down to exactly (1 − margin) × current', () => {
    expect(decideGate(figure(0.25), current, options).publish).toBe(true);
    // Binary-exact figures: 0.75 × 0.5 is exactly 0.375.
    const half = { ...current, ndcg10: 0.5 };
    const atThreshold = decideGate(figure(0.375), half, { ...options, margin: 0.25 });
    expect(atThreshold).toEqual({
      publish: true,
      forced: false,
      threshold: 0.375,
      reason: atThreshold.reason,
    });
    expect(decideGate(figure(0.374), half, { ...options, margin: 0.25 }).publish).toBe(false);
  });

  it('refuses below the threshold, and says so with both figures and the standard error', () => {
    const verdict = decideGate(figure(0.17), current, options);
    expect(verdict).toMatchObject({ publish: false, forced: false });
    expect(verdict.reason).toContain('NDCG@10 0.1700 ± 0.0100 (500 users)');
    expect(verdict.reason).toContain('0.2000');
  });

  it('publishes a refused model when forced, marked as forced', () => {
    expect(decideGate(figure(0.01), current, { ...options, force: true })).toMatchObject({
      publish: true,
      forced: true,
    });
  });

  it('does not judge on fewer holdout users than minUsers', () => {
    expect(decideGate(figure(0, 49), current, options).publish).toBe(true);
  });

  it('does not judge against a served figure scored on fewer holdout users than minUsers', () => {
    // A first build on a young shop's few users recorded a lucky 0.5; every later build on 500 users scores far less.
    const noisy = { ...current, ndcg10: 0.5, users: 12 };
    const verdict = decideGate(figure(0.15), noisy, options);
    expect(verdict).toMatchObject({ publish: true, forced: false, threshold: null });
    expect(verdict.reason).toContain('12 users');
    expect(decideGate(figure(0.15), { ...noisy, users: 50 }, options).publish).toBe(false);
  });

  it('does not compare figures scored on different targets (or on an unnamed one)', () => {
    for (const target of ['purchase', null]) {
      const verdict = decideGate(figure(0.01), { ...current, target }, options);
      expect(verdict).toMatchObject({ publish: true, forced: false, threshold: null });
      expect(verdict.reason).toContain('not comparable');
    }
  });

  it('refuses a model built from less than minShare of the users, items or events of a judged served model', () => {
    const empty = { users: 0, items: 0, events: 0 };
    for (const built of [
      empty,
      { ...size, users: 999 },
      { ...size, items: 199 },
      { ...size, events: 24_999 },
    ]) {
      const verdict = decideGate(figure(0.2, Math.min(built.users, 500), built), current, options);
      expect(verdict, JSON.stringify(built)).toMatchObject({
        publish: false,
        forced: false,
        threshold: null,
      });
      expect(verdict.reason).toContain(
        'against 2000 users, 400 items, 50000 events of v1: less than 50% of its',
      );
    }
    expect(decideGate(figure(0, 0, empty), current, options).reason).toContain('of its users, items, events');
    expect(
      decideGate(figure(0.2, 500, { users: 1000, items: 200, events: 25_000 }), current, options),
    ).toMatchObject({ publish: true });
  });

  it('publishes a shrunken model when forced, when the served model was not judged, or its size is unknown', () => {
    const tiny = figure(0, 3, { users: 3, items: 5, events: 9 });
    expect(decideGate(tiny, current, { ...options, force: true })).toMatchObject({
      publish: true,
      forced: true,
    });
    expect(decideGate(tiny, { ...current, users: 49 }, options)).toMatchObject({
      publish: true,
      forced: false,
    });
    expect(decideGate(tiny, { ...current, size: null }, options)).toMatchObject({
      publish: true,
      forced: false,
    });
    expect(decideGate(tiny, null, options)).toMatchObject({ publish: true, forced: false });
  });

  it('rejects a margin outside [0, 1]', () => {
    expect(() => decideGate(figure(0), current, { ...options, margin: 1.5 })).toThrow(RangeError);
  });
});

const HOUR = 3_600_000;
const NEWEST = Date.UTC(2026, 10, 11, 12);
const CLUSTERS = 8;
const ITEMS_PER_CLUSTER = 8;
const USERS = 160;

/**
 * Taste clusters: each user views 4 items of their cluster, then buys a fifth. The purchase is the held-out
 * target; neighbours of the viewed items find it, popularity alone mostly does not.
 */
function clusteredEvents(): StoredEvent[] {
  let state = 12345;
  const random = () => {
    state = (Math.imul(state, 1103515245) + 12345) >>> 0;
    return state / 2 ** 32;
  };
  const events: StoredEvent[] = [];
  const event = (userId: string, itemId: string, type: EventType, timestampMs: number): StoredEvent => ({
    eventId: `${userId}:${itemId}:${type}`,
    userId,
    itemId,
    type,
    timestampMs,
    sessionId: null,
    recommendationId: null,
    quantity: null,
    price: null,
    properties: null,
  });
  for (let u = 0; u < USERS; u++) {
    const cluster = u % CLUSTERS;
    const items = Array.from({ length: ITEMS_PER_CLUSTER }, (_, j) => `c${cluster}-i${j}`);
    for (let j = items.length - 1; j > 0; j--) {
      const k = Math.floor(random() * (j + 1));
      [items[j], items[k]] = [items[k]!, items[j]!];
    }
    const start = NEWEST - (u % 48) * HOUR - 5 * HOUR;
    for (let j = 0; j < 4; j++) events.push(event(`u${u}`, items[j]!, 'view', start + j * HOUR));
    events.push(event(`u${u}`, items[4]!, 'purchase', start + 4 * HOUR));
  }
  return events;
}

let infra: TestInfra;

const config = (overrides: Record<string, string> = {}): BuildConfig =>
  loadBuildConfig({ ...infra.env, BUILD_ALGORITHM: 'cosine', ...overrides });

/** What `elevens build` runs: the build job with its default gate, configured from the environment. */
const build = (cfg: BuildConfig) => runBuild({ ...infra, log: () => {} }, cfg);

beforeAll(async () => {
  infra = await createTestInfra('quality-gate');
  await insertEvents(infra.pool, clusteredEvents());
});

afterAll(async () => {
  await infra?.close();
});

describe('elevens build with the quality gate', () => {
  let firstNdcg = 0;
  let goodVersion = '';

  it('accepts the first model and records its holdout figures', async () => {
    const report = await build(config());
    expect(report.status).toBe('published');
    const run = (await getModelRun(infra.pool, report.version))!;
    expect(run.status).toBe('published');
    expect(run.metrics).toMatchObject({
      users: USERS,
      currentNdcg10: null,
      currentVersion: null,
      // Each user buys an item they never viewed: purchases are targets the ranking can hit.
      target: 'purchase',
      purchaseTargets: USERS,
      newPurchaseTargets: USERS,
    });
    expect(run.metrics!.ndcg10StdErr as number).toBeGreaterThan(0);
    expect(run.metrics!.gate).toContain('Target: last new purchase');
    firstNdcg = run.metrics!.ndcg10 as number;
    // Neighbours find the cluster's items: far better than popularity on this data.
    expect(firstNdcg).toBeGreaterThan(2 * (run.metrics!.popularityNdcg10 as number));
  });

  it('accepts a model as good as the served one, comparing with its recorded figure', async () => {
    const served = await currentModelVersion(infra.redis, infra.keys);
    const report = await build(config());
    expect(report.status).toBe('published');
    expect(report.metrics).toMatchObject({ currentVersion: served, currentNdcg10: firstNdcg, forced: false });
    expect(report.metrics!.ndcg10).toBe(firstNdcg);
    goodVersion = report.version;
  });

  it('rejects a model more than the margin worse: nothing is published, the run holds both figures', async () => {
    // A minimum support no pair reaches leaves the model without neighbours: popularity alone.
    const report = await build(config({ BUILD_MIN_SUPPORT: '1000' }));
    expect(report.status).toBe('rejected');
    expect(await currentModelVersion(infra.redis, infra.keys)).toBe(goodVersion);
    const run = (await getModelRun(infra.pool, report.version))!;
    expect(run.status).toBe('rejected');
    expect(run.metrics).toMatchObject({ currentVersion: goodVersion, currentNdcg10: firstNdcg, margin: 0.1 });
    expect(run.metrics!.ndcg10 as number).toBeLessThan(0.9 * firstNdcg);
    expect(run.error).toContain('more than 10% below');
  });

  it('accepts the same model under a wider margin (BUILD_GATE_MARGIN)', async () => {
    const report = await build(config({ BUILD_MIN_SUPPORT: '1000', BUILD_GATE_MARGIN: '0.99' }));
    expect(report.status).toBe('published');
    expect(report.metrics).toMatchObject({ margin: 0.99, forced: false, currentVersion: goodVersion });
    // Put the good model back for the next test.
    expect((await build(config())).status).toBe('published');
  });

  it('publishes a refused model when forced (--force), recording that it was forced', async () => {
    const served = await currentModelVersion(infra.redis, infra.keys);
    const report = await build(config({ BUILD_MIN_SUPPORT: '1000', BUILD_GATE_FORCE: 'true' }));
    expect(report.status).toBe('published');
    expect(await currentModelVersion(infra.redis, infra.keys)).toBe(report.version);
    const run = (await getModelRun(infra.pool, report.version))!;
    expect(run.status).toBe('published');
    expect(run.metrics).toMatchObject({ forced: true, currentVersion: served, currentNdcg10: firstNdcg });
    expect(run.metrics!.ndcg10 as number).toBeLessThan(0.9 * firstNdcg);
  });
});

describe('the quality gate on data whose purchases follow views of the same item', () => {
  let shop: TestInfra;

  beforeAll(async () => {
    shop = await createTestInfra('quality-gate-shop');
    const generated = generateEvents({ users: 400, items: 300, events: 12_000, seed: 5 });
    await insertEvents(
      shop.pool,
      Array.from(
        generated,
        (e): StoredEvent => ({
          eventId: e.eventId,
          userId: e.userId,
          itemId: e.itemId,
          type: e.type,
          timestampMs: e.timestamp,
          sessionId: e.sessionId,
          recommendationId: null,
          quantity: null,
          price: null,
          properties: null,
        }),
      ),
    );
  });

  afterAll(async () => {
    await shop?.close();
  });

  it('says purchase targets are vacuous, scores the last new item instead, and scores returns to seen items', async () => {
    const report = await runBuild(
      { ...shop, log: () => {} },
      loadBuildConfig({ ...shop.env, BUILD_ALGORITHM: 'cosine' }),
    );
    expect(report.status).toBe('published');
    const metrics = (await getModelRun(shop.pool, report.version))!.metrics!;
    expect(metrics.target).toBe('any');
    expect(metrics.newPurchaseTargets as number).toBeLessThan(0.05 * (metrics.purchaseTargets as number));
    expect(metrics.targetReason).toContain('would score zero whatever the model');
    expect(metrics.gate).toContain('Target: last new item of any type');
    for (const key of ['hr10', 'ndcg10', 'returnHr10', 'returnNdcg10', 'recentlySeenHr10'])
      expect(metrics[key] as number, key).toBeGreaterThan(0);
    expect(metrics.users as number).toBeGreaterThan(100);
    expect(metrics.returnUsers as number).toBeGreaterThan(50);
  });
});

describe('the quality gate against a build from far fewer events than the served model (a wrong database, a prune)', () => {
  let shop: TestInfra;
  let goodVersion = '';

  const shopBuild = (overrides: Record<string, string> = {}) =>
    runBuild(
      { ...shop, log: () => {} },
      loadBuildConfig({ ...shop.env, BUILD_ALGORITHM: 'cosine', ...overrides }),
    );
  const keepUsersBelow = (users: number) =>
    shop.pool.query(`DELETE FROM events WHERE substring(user_id FROM 2)::int >= $1`, [users]);
  const served = () => currentModelVersion(shop.redis, shop.keys);

  beforeAll(async () => {
    shop = await createTestInfra('quality-gate-shrink');
  });

  afterAll(async () => {
    await shop?.close();
  });

  it('publishes the first build of an empty shop, and the first one with events after it', async () => {
    expect((await shopBuild()).status).toBe('published');
    await insertEvents(shop.pool, clusteredEvents());
    const report = await shopBuild();
    expect(report.status).toBe('published');
    expect(report.metrics).toMatchObject({ users: USERS });
    goodVersion = report.version;
  });

  it('refuses a build from a few users, too few to judge, while the served model was judged on many', async () => {
    await keepUsersBelow(10);
    const report = await shopBuild();
    expect(report.status).toBe('rejected');
    expect(await served()).toBe(goodVersion);
    const run = (await getModelRun(shop.pool, report.version))!;
    expect(run.status).toBe('rejected');
    expect(run.error).toContain(
      `(10 users), built from 10 users, 45 items, 50 events, against ${USERS} users`,
    );
    expect(run.error).toContain(`of ${goodVersion}: less than 50% of its users, events`);
    expect(run.metrics).toMatchObject({ users: 10, forced: false, currentVersion: goodVersion });
  });

  it('refuses a build over an empty events table', async () => {
    await keepUsersBelow(0);
    const report = await shopBuild();
    expect(report).toMatchObject({ status: 'rejected', events: 0 });
    expect(await served()).toBe(goodVersion);
    expect((await getModelRun(shop.pool, report.version))!.error).toContain(
      `built from 0 users, 0 items, 0 events, against ${USERS} users`,
    );
  });

  it('refuses a build from less than half the served model’s users, though enough to judge', async () => {
    // New event ids: ingest remembers the deleted ones as already recorded.
    const again = clusteredEvents()
      .filter((e) => Number(e.userId.slice(1)) < 64)
      .map((e) => ({ ...e, eventId: `${e.eventId}:again` }));
    await insertEvents(shop.pool, again);
    const report = await shopBuild();
    expect(report.status).toBe('rejected');
    expect(await served()).toBe(goodVersion);
    const run = (await getModelRun(shop.pool, report.version))!;
    expect(run.metrics).toMatchObject({ users: 64 });
    expect(run.error).toContain(`64 users, 64 items, 320 events, against ${USERS} users`);
    expect(run.error).toContain(
      'less than 50% of its users, events (a wrong database? events pruned?); --force',
    );
  });

  it('publishes it when forced, and judges the next build against it', async () => {
    const forced = await shopBuild({ BUILD_GATE_FORCE: 'true' });
    expect(forced.status).toBe('published');
    expect(await served()).toBe(forced.version);
    expect(forced.metrics).toMatchObject({ forced: true, currentVersion: goodVersion });
    const next = await shopBuild();
    expect(next.status).toBe('published');
    expect(next.metrics).toMatchObject({ forced: false, currentVersion: forced.version });
  });
});
