import { generateCatalog, generateEvents } from '@elevens/generator';
import { createTestInfra, type TestInfra } from '@elevens/testkit';
import { loadBuildConfig, runBuild } from '@elevens/trainer';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { sendJson, startThinPath, type ThinPath } from './support/thin-path';

/**
 * A product launched with a campaign is in the catalog (PUT /v1/items) before anyone has seen it: the served model
 * holds it all the same, so marketers' pins and boosts of it apply from the build after its upsert.
 */
let infra: TestInfra;
let path: ThinPath;

const SHOP = { users: 120, items: 80, events: 4_000, seed: 11 };
const LAUNCHED = { itemId: 'launch-1111', categoryId: 'c000', title: 'Festival edition', price: 111.1 };
const DAY_MS = 86_400_000;

beforeAll(async () => {
  infra = await createTestInfra('catalog-in-model');
  path = await startThinPath(infra);
  const items = [...generateCatalog(SHOP), LAUNCHED];
  expect((await sendJson(`${path.ingestUrl}/v1/items`, 'PUT', { items })).status).toBe(200);
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
  await path.api.model.refresh();
});

afterAll(async () => {
  await path?.close();
  await infra?.close();
});

describe('a catalog item with no events', () => {
  it('is pinned at its position by the build after its upsert', async () => {
    const now = Date.now();
    const pins = [
      { itemId: LAUNCHED.itemId, position: 2, from: new Date(now - DAY_MS), until: new Date(now + DAY_MS) },
    ];
    expect((await sendJson(`${path.apiUrl}/v1/rules/boosts`, 'PUT', { pins })).status).toBe(200);
    const buyer = [...generateEvents(SHOP)].find((e) => e.type === 'purchase')!.userId;
    for (const userId of [buyer, 'nobody-yet']) {
      await vi.waitFor(
        async () => {
          const reply = await fetch(`${path.apiUrl}/v1/recommendations?userId=${userId}&limit=5`);
          const body = (await reply.json()) as { items: { itemId: string }[] };
          expect(body.items.map((i) => i.itemId).indexOf(LAUNCHED.itemId)).toBe(1);
        },
        { timeout: 10_000, interval: 50 },
      );
    }
  });

  it('has no similar items yet, rather than being unknown', async () => {
    const reply = await fetch(`${path.apiUrl}/v1/items/${LAUNCHED.itemId}/similar`);
    expect(reply.status).toBe(200);
    expect(await reply.json()).toMatchObject({ itemId: LAUNCHED.itemId, items: [] });
  });
});
