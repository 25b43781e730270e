import type { BoostRulesReply, RecommendationsReply } from '@elevens/domain';
import { generateCatalog, generateEvents } from '@elevens/generator';
import { createTestInfra, type TestInfra } from '@elevens/testkit';
import { loadBuildConfig, runBuild } from '@elevens/trainer';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { sendJson, startThinPath, type ThinPath } from './support/thin-path';

/**
 * A product put after the served model was built (the festival's launch, hours before the nightly build) is pinned
 * from the api's next poll, where the pin used to be dropped until a build held the item; the boosts reply names
 * the items its rules name that cannot be served.
 */
let infra: TestInfra;
let path: ThinPath;
let version: string;

const SHOP = { users: 120, items: 80, events: 4_000, seed: 23 };
const DAY_MS = 86_400_000;
/** Within a poll (50 ms in tests); longer so a loaded machine passes too. */
const NEXT_POLL = { timeout: 10_000, interval: 50 };

const answer = async (query: string) => {
  const reply = await fetch(`${path.apiUrl}/v1/recommendations?${query}`);
  expect(reply.status).toBe(200);
  return (await reply.json()) as RecommendationsReply;
};
const putItems = async (items: object[]) =>
  expect((await sendJson(`${path.ingestUrl}/v1/items`, 'PUT', { items })).status).toBe(200);
const putRules = async (rules: object) => {
  const reply = await sendJson(`${path.apiUrl}/v1/rules/boosts`, 'PUT', rules);
  expect(reply.status).toBe(200);
  return reply.body as BoostRulesReply;
};
const open = () => ({ from: new Date(Date.now() - DAY_MS), until: new Date(Date.now() + DAY_MS) });

beforeAll(async () => {
  infra = await createTestInfra('pins-of-new-items');
  infra.env.MODEL_POLL_MS = '50';
  infra.env.BOOST_RULES_POLL_MS = '50';
  path = await startThinPath(infra);
  await putItems([...generateCatalog(SHOP)]);
  const events = [...generateEvents(SHOP)];
  for (let i = 0; i < events.length; i += 1_000) {
    const reply = await sendJson(`${path.ingestUrl}/v1/events`, 'POST', {
      events: events.slice(i, i + 1_000),
    });
    expect(reply.status).toBe(200);
  }
  const report = await runBuild(
    { pool: infra.pool, redis: infra.redis, keys: infra.keys, log: () => {} },
    loadBuildConfig(infra.env),
  );
  expect(report.status).toBe('published');
  version = report.version!;
  await path.api.model.refresh();
});

afterAll(async () => {
  await path?.close();
  await infra?.close();
});

describe('a pin of an item put after the build', () => {
  it('is served at its position from the next poll, by the model built before it', async () => {
    const launched = {
      itemId: 'launch-after-build',
      categoryId: 'c001',
      title: 'Festival edition',
      price: 11.11,
    };
    await putItems([launched]);
    const before = await answer('userId=shopper&limit=5');
    const stored = await putRules({ pins: [{ itemId: launched.itemId, position: 1, ...open() }] });
    expect(stored.unservableItems).toBeUndefined();
    await vi.waitFor(async () => {
      const reply = await answer('userId=shopper&limit=5');
      expect(reply.modelVersion).toBe(version);
      expect(reply.items.map((i) => i.itemId)).toEqual([
        launched.itemId,
        ...before.items.map((i) => i.itemId).slice(0, 4),
      ]);
    }, NEXT_POLL);
    // Restricted to its category it shows; to another, not.
    expect((await answer('userId=shopper&limit=5&category=c001')).items[0]!.itemId).toBe(launched.itemId);
    expect((await answer('userId=shopper&limit=5&category=c002')).items.map((i) => i.itemId)).not.toContain(
      launched.itemId,
    );
  });

  it('is served once the item is put, when the pin came first', async () => {
    const pinned = { itemId: 'pinned-before-put', categoryId: 'c002', title: 'Pre-announced' };
    const stored = await putRules({ pins: [{ itemId: pinned.itemId, position: 2, ...open() }] });
    expect(stored.unservableItems).toEqual([{ itemId: pinned.itemId, reason: 'not_in_catalog' }]);
    // Fills the reply cache with the answer without the pin: the put must make it stale.
    await answer('userId=early&limit=5');
    await answer('userId=early&limit=5');
    await putItems([pinned]);
    await vi.waitFor(
      async () => expect((await answer('userId=early&limit=5')).items[1]!.itemId).toBe(pinned.itemId),
      NEXT_POLL,
    );
  });

  it('is never served once blocked, and the boosts reply says why', async () => {
    const blocked = { itemId: 'launch-blocked', categoryId: 'c001', title: 'Recalled' };
    await putItems([blocked]);
    await putRules({ pins: [{ itemId: blocked.itemId, position: 1, ...open() }] });
    await vi.waitFor(
      async () => expect((await answer('userId=someone&limit=5')).items[0]!.itemId).toBe(blocked.itemId),
      NEXT_POLL,
    );
    await putItems([{ itemId: blocked.itemId, blocked: true }]);
    await vi.waitFor(
      async () =>
        expect((await answer('userId=someone&limit=5')).items.map((i) => i.itemId)).not.toContain(
          blocked.itemId,
        ),
      NEXT_POLL,
    );
    const read = await fetch(`${path.apiUrl}/v1/rules/boosts`);
    expect(((await read.json()) as BoostRulesReply).unservableItems).toEqual([
      { itemId: blocked.itemId, reason: 'blocked' },
    ]);
  });

  it('is read again at each poll while missing: a write reaches Redis before its commit', async () => {
    const { catalog } = path.api;
    await catalog.follow(['committed-late']);
    expect(catalog.followed('committed-late')).toBeUndefined();
    const before = catalog.version();
    // The row as a write's commit makes it visible after its Redis copy moved the version: no version moves now.
    await infra.pool.query(
      "INSERT INTO items (item_id, category_id, title) VALUES ('committed-late', 'c003', 'Late')",
    );
    await catalog.refresh();
    expect(catalog.followed('committed-late')).toEqual({ category: 'c003' });
    // An answer cached without it is stale: the version answers are cached under has moved.
    expect(catalog.version()).not.toBe(before);
    const after = catalog.version();
    await catalog.refresh();
    expect(catalog.version()).toBe(after);
  });
});
