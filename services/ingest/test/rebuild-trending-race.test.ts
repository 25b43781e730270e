import { createRedisClient, epochHourOf, LuaScript, waitUntilReady } from '@elevens/redis-stores';
import { createTestInfra, startTcpProxy, type TestInfra } from '@elevens/testkit';
import { afterAll, beforeAll, expect, it, vi } from 'vitest';
import { buildIngestApp } from '../src/app';
import { loadIngestConfig } from '../src/config';
import { rebuildLiveState } from '../src/rebuild-live-state';

const HOUR = 3_600_000;
/** 40 minutes into this hour: a rebuilt counter expires a fixed time after its hour, so the clock cannot lie days back. */
const NOW = Math.floor(Date.now() / HOUR) * HOUR + 40 * 60_000;
const THIS_HOUR = epochHourOf(NOW);

let infra: TestInfra;

beforeAll(async () => {
  infra = await createTestInfra('ingest-rebuild-trending-race');
});

afterAll(async () => {
  await infra.close();
});

type Event = { eventId: string; userId: string; itemId: string; type: string; timestamp: number };
const view = (eventId: string, userId: string, itemId: string, type = 'view'): Event => ({
  eventId,
  userId,
  itemId,
  type,
  timestamp: NOW - 5 * 60_000,
});

/**
 * Posts `events` through an ingest process whose clock reads NOW (its Redis at `redisUrl`), closed once its
 * trending counters are sent; `meanwhile` runs after the answer, before the close.
 */
async function ingest(events: Event[], { redisUrl = infra.redisUrl, meanwhile = async () => {} } = {}) {
  const app = await buildIngestApp({
    config: loadIngestConfig({ ...infra.env, REDIS_URL: redisUrl }),
    now: () => NOW,
  });
  try {
    const response = await app.inject({ method: 'POST', url: '/v1/events', payload: { events } });
    expect(response.statusCode, response.body).toBe(200);
    await meanwhile();
  } finally {
    // Closing waits for the trending counters, which follow the answer.
    await app.close();
  }
}

async function withdrawConsent(...userIds: string[]) {
  const app = await buildIngestApp({ config: loadIngestConfig(infra.env), now: () => NOW });
  try {
    for (const userId of userIds) {
      const put = await app.inject({
        method: 'PUT',
        url: `/v1/users/${userId}`,
        payload: { consent: { personalization: false, push: false } },
      });
      expect(put.statusCode, put.body).toBe(200);
    }
  } finally {
    await app.close();
  }
}

const countOf = async (itemId: string) =>
  Number(await infra.redis.zscore(infra.keys.trendingHour(THIS_HOUR), itemId));

const rebuild = (beforeTrendingRead?: () => Promise<void>) =>
  rebuildLiveState(infra.pool, infra.redis, infra.keys, {
    sinceMs: NOW - 3 * HOUR,
    nowMs: NOW,
    beforeTrendingRead,
  });

it('counts each event once when ingest records it between the clear of the counters and the read of the events', async () => {
  await withdrawConsent('private');
  await ingest([view('a-view', 'ann', 'kettle'), view('p-view-1', 'private', 'kettle')]);
  expect(await countOf('kettle')).toBe(2);

  await rebuild(() =>
    ingest([
      // Ann's heavier event adds what it weighs above her view; Bob is a new shopper; the private view is anonymous.
      view('a-cart', 'ann', 'kettle', 'cart'),
      view('b-view', 'bob', 'kettle'),
      view('p-view-2', 'private', 'kettle'),
    ]),
  );
  // Ann 3 (her cart), Bob 1, two anonymous views 1 each.
  expect(await countOf('kettle')).toBe(6);

  await ingest([
    view('a-buy', 'ann', 'kettle', 'purchase'),
    view('b-again', 'bob', 'kettle'),
    view('c-view', 'cid', 'kettle'),
    view('p-view-3', 'private', 'kettle'),
  ]);
  // Ann's purchase adds 2 above her cart, Bob's second view nothing, Cid 1, the third anonymous view 1.
  expect(await countOf('kettle')).toBe(10);
});

it('counts an event once when its counter increment, decided before the rebuild, reaches Redis after it', async () => {
  const proxy = await startTcpProxy(infra.redisUrl);
  try {
    const probe = createRedisClient({ url: proxy.url(infra.redisUrl) });
    expect(await waitUntilReady(probe, 5_000)).toBe(true);
    probe.disconnect();
    // Ingest's user script answers what Dee's view adds; the increment it then sends is held until the rebuild,
    // which reads her committed view, is done.
    proxy.hold(new RegExp(new LuaScript('add-trending').sha));
    await ingest([view('d-view', 'dee', 'toaster'), view('e-cart', 'eve', 'toaster', 'cart')], {
      redisUrl: proxy.url(infra.redisUrl),
      meanwhile: async () => {
        await proxy.whenHeld(new RegExp(new LuaScript('add-trending').sha));
        await rebuild();
        expect(await countOf('toaster')).toBe(4);
        proxy.release();
      },
    });
  } finally {
    await proxy.close();
  }
  expect(await countOf('toaster')).toBe(4);
  await ingest([view('d-cart', 'dee', 'toaster', 'cart')]);
  expect(await countOf('toaster')).toBe(6);
});

it('sweeps each trending shoppers hash once for all the withdrawn users of a page of profiles, not once per user', async () => {
  await withdrawConsent('wes', 'wyn', 'wil', 'wax');
  // Restarts the hours the api reads: their shoppers hashes now exist, and each withdrawn user is swept from them.
  await rebuild();
  const hscan = vi.spyOn(infra.redis, 'hscan');
  let scans: string[];
  try {
    await rebuild();
    scans = hscan.mock.calls.map(([key, cursor]) => `${key} from ${cursor}`);
  } finally {
    hscan.mockRestore();
  }
  expect(scans).toContain(`${infra.keys.trendingHourShoppers(THIS_HOUR)} from 0`);
  // One pass per hash: no page scanned twice.
  expect(scans).toEqual([...new Set(scans)]);
});
