import { readUserHistory } from '@elevens/redis-stores';
import { createTestInfra, startTcpProxy, type TcpProxy, type TestInfra } from '@elevens/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildIngestApp, type IngestApp } from '../src/app';
import { loadIngestConfig } from '../src/config';

let infra: TestInfra;
let app: IngestApp;

beforeAll(async () => {
  infra = await createTestInfra('ingest-catalog-users');
  app = await buildIngestApp({ config: loadIngestConfig(infra.env) });
});

afterAll(async () => {
  await app.close();
  await infra.close();
});

const putItems = (items: unknown[]) => app.inject({ method: 'PUT', url: '/v1/items', payload: { items } });
const postEvents = (events: unknown[]) =>
  app.inject({ method: 'POST', url: '/v1/events', payload: { events } }).then((r) => r.json());
const unservable = (itemId: string) => infra.redis.sismember(infra.keys.catalogUnservable(), itemId);

/** Runs `fn` with a second ingest process whose Redis commands go through a proxy that can hold them back. */
async function withHeldIngest(fn: (proxy: TcpProxy, slow: IngestApp) => Promise<void>): Promise<void> {
  const proxy = await startTcpProxy(infra.redisUrl);
  const slow = await buildIngestApp({
    config: loadIngestConfig({ ...infra.env, REDIS_URL: proxy.url(infra.redisUrl) }),
  });
  try {
    await fn(proxy, slow);
  } finally {
    await slow.close();
    await proxy.close();
  }
}

/** Resolves once a statement of this database waits for a row lock (or after 2 s). */
async function untilAStatementWaitsForALock(): Promise<void> {
  for (let waited = 0; waited < 200; waited++) {
    const { rows } = await infra.pool.query(
      "SELECT 1 FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'",
    );
    if (rows.length > 0) return;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

describe('PUT /v1/items', () => {
  it('puts blocked and unavailable items into the unservable set as soon as it answers, and takes them out', async () => {
    const created = await putItems([
      { itemId: 'fake-bag', categoryId: 'bags', price: 10, blocked: true },
      { itemId: 'sold-out', categoryId: 'bags', available: false },
      { itemId: 'fine', categoryId: 'bags' },
    ]);
    expect(created.json()).toEqual({ upserted: 3 });
    expect([await unservable('fake-bag'), await unservable('sold-out'), await unservable('fine')]).toEqual([
      1, 1, 0,
    ]);
    const versionBefore = Number(await infra.redis.get(infra.keys.catalogVersion()));

    await putItems([
      { itemId: 'fake-bag', blocked: false },
      { itemId: 'sold-out', available: true },
    ]);
    expect([await unservable('fake-bag'), await unservable('sold-out')]).toEqual([0, 0]);
    expect(Number(await infra.redis.get(infra.keys.catalogVersion()))).toBe(versionBefore + 1);

    await putItems([{ itemId: 'fine', blocked: true }]);
    expect(await unservable('fine')).toBe(1);
    const { rows } = await infra.pool.query(
      "SELECT category_id, price FROM items WHERE item_id = 'fake-bag'",
    );
    expect(rows[0]).toEqual({ category_id: 'bags', price: 10 });
  });

  it('keeps an item unservable while either hold remains', async () => {
    await putItems([{ itemId: 'both', blocked: true, available: false }]);
    await putItems([{ itemId: 'both', blocked: false }]);
    expect(await unservable('both')).toBe(1);
  });

  it('applies every field of an item sent twice in one request, the later value winning', async () => {
    await putItems([{ itemId: 'kept', title: 'Old title', price: 5 }]);
    const response = await putItems([
      { itemId: 'twice-new', title: 'Tent', categoryId: 'camping' },
      { itemId: 'kept', title: 'New title' },
      { itemId: 'twice-new', blocked: true },
      { itemId: 'kept', available: false },
    ]);
    expect(response.json()).toEqual({ upserted: 2 });
    const { rows } = await infra.pool.query(
      "SELECT item_id, title, category_id, price, available, blocked FROM items WHERE item_id IN ('kept', 'twice-new') ORDER BY item_id",
    );
    expect(rows).toEqual([
      { item_id: 'kept', title: 'New title', category_id: null, price: 5, available: false, blocked: false },
      {
        item_id: 'twice-new',
        title: 'Tent',
        category_id: 'camping',
        price: null,
        available: true,
        blocked: true,
      },
    ]);
    expect([await unservable('kept'), await unservable('twice-new')]).toEqual([1, 1]);
  });

  it('blocks a new item whose row another writer inserts at the same time', async () => {
    // Another writer (a second ingest process, an import) has inserted the item and not yet committed.
    const other = await infra.pool.connect();
    try {
      await other.query('BEGIN');
      await other.query("INSERT INTO items (item_id, title) VALUES ('raced', 'Listed elsewhere')");
      const blocking = putItems([{ itemId: 'raced', blocked: true }]);
      // Commit only once the upsert waits for that row.
      await untilAStatementWaitsForALock();
      await other.query('COMMIT');
      expect((await blocking).json()).toEqual({ upserted: 1 });
    } finally {
      other.release();
    }
    const { rows } = await infra.pool.query("SELECT title, blocked FROM items WHERE item_id = 'raced'");
    expect(rows[0]).toEqual({ title: 'Listed elsewhere', blocked: true });
    expect(await unservable('raced')).toBe(1);
  });

  it('mirrors overlapping writes of one item in the order Postgres commits them: an earlier unblock never undoes a block', async () => {
    await putItems([{ itemId: 'recalled', blocked: true }]);
    await withHeldIngest(async (proxy, slow) => {
      proxy.hold();
      const unblocking = slow.inject({
        method: 'PUT',
        url: '/v1/items',
        payload: { items: [{ itemId: 'recalled', blocked: false }] },
      });
      // The unblock's copy (one script call naming the item) is held on its way to Redis.
      await proxy.whenHeld(/recalled/);
      // The item is blocked again through this process while the unblock's mirror is on its way.
      const blocking = putItems([{ itemId: 'recalled', blocked: true }]);
      await Promise.race([blocking, untilAStatementWaitsForALock()]);
      proxy.release();
      expect((await unblocking).statusCode).toBe(200);
      expect((await blocking).statusCode).toBe(200);
    });
    const { rows } = await infra.pool.query("SELECT blocked FROM items WHERE item_id = 'recalled'");
    expect(rows[0].blocked).toBe(true);
    expect(await unservable('recalled')).toBe(1);
  });

  it('rejects more than 1000 items and malformed items with 400', async () => {
    const tooMany = await putItems(Array.from({ length: 1001 }, (_, n) => ({ itemId: `i${n}` })));
    expect(tooMany.statusCode).toBe(400);
    const malformed = await putItems([{ itemId: 'x', price: 'cheap' }]);
    expect(malformed.statusCode).toBe(400);
    expect(malformed.json().error).toBe('bad_request');
  });
});

describe('PUT and DELETE /v1/users/:userId', () => {
  it('stores time zone and consent and mirrors them into the Redis profile', async () => {
    const response = await app.inject({
      method: 'PUT',
      url: '/v1/users/alice',
      payload: { timezone: 'Asia/Shanghai', consent: { personalization: true, push: false } },
    });
    expect(response.statusCode).toBe(200);
    expect(response.json()).toMatchObject({
      userId: 'alice',
      timezone: 'Asia/Shanghai',
      consent: { personalization: true, push: false },
    });
    const { rows } = await infra.pool.query("SELECT revision FROM users WHERE user_id = 'alice'");
    expect(await infra.redis.hgetall(infra.keys.userProfile('alice'))).toEqual({
      personalization: '1',
      push: '0',
      timezone: 'Asia/Shanghai',
      revision: String(rows[0].revision),
    });
    // A new stamp with every profile write: the API's cached answers of alice are then no longer served.
    const stamp = await infra.redis.get(infra.keys.userStamp('alice'));
    expect(stamp).not.toBeNull();
    await app.inject({ method: 'PUT', url: '/v1/users/alice', payload: { timezone: 'Asia/Tokyo' } });
    expect(await infra.redis.get(infra.keys.userStamp('alice'))).not.toBe(stamp);
    const badZone = await app.inject({
      method: 'PUT',
      url: '/v1/users/alice',
      payload: { timezone: 'Mars/Base' },
    });
    expect(badZone.statusCode).toBe(400);
  });

  it('leaves Redis with the profile Postgres committed last when writes of one user overlap', async () => {
    await withHeldIngest(async (proxy, slow) => {
      proxy.hold();
      const giving = slow.inject({
        method: 'PUT',
        url: '/v1/users/toggler',
        payload: { consent: { personalization: true, push: true } },
      });
      await proxy.whenHeld(/\beval(sha)?\r\n/i);
      // The consent is withdrawn through this process, and reaches Redis first.
      const withdrawing = await app.inject({
        method: 'PUT',
        url: '/v1/users/toggler',
        payload: { consent: { personalization: false, push: true } },
      });
      expect(withdrawing.statusCode).toBe(200);
      proxy.release();
      expect((await giving).statusCode).toBe(200);
    });
    const { rows } = await infra.pool.query(
      "SELECT consent_personalization, revision FROM users WHERE user_id = 'toggler'",
    );
    expect(rows[0].consent_personalization).toBe(false);
    expect(await infra.redis.hmget(infra.keys.userProfile('toggler'), 'personalization', 'revision')).toEqual(
      ['0', String(rows[0].revision)],
    );
  });

  it('keeps only anonymous events of a user without personalization consent, and no live state', async () => {
    await postEvents([
      { eventId: 'b1', userId: 'bob', itemId: 'i1', type: 'view', sessionId: 's1' },
      { eventId: 'b2', userId: 'bob', itemId: 'i2', type: 'purchase' },
    ]);
    expect(await readUserHistory(infra.redis, infra.keys, 'bob')).toHaveLength(2);

    await app.inject({
      method: 'PUT',
      url: '/v1/users/bob',
      payload: { consent: { personalization: false, push: true } },
    });
    // The event is counted in the trending hour it is received in, which may be the next one by the check.
    const receivedFromHour = Math.floor(Date.now() / 3_600_000);
    const reply = await postEvents([{ eventId: 'b3', userId: 'bob', itemId: 'i3', type: 'cart' }]);
    expect(reply).toEqual({ accepted: 1, duplicates: 0, rejected: [] });
    const resend = await postEvents([{ eventId: 'b3', userId: 'bob', itemId: 'i3', type: 'cart' }]);
    expect(resend.duplicates).toBe(1);

    const { rows } = await infra.pool.query(
      "SELECT event_id, user_id, session_id FROM events WHERE event_id LIKE 'b_' ORDER BY event_id",
    );
    expect(rows.map((r) => r.event_id)).toEqual(['b1', 'b2', 'b3']);
    for (const row of rows) {
      expect(row.user_id).toMatch(/^~anon:/);
      expect(row.session_id).toBeNull();
    }
    expect(new Set(rows.map((r) => r.user_id)).size).toBe(3);
    expect(await infra.redis.exists(infra.keys.userHistory('bob'), infra.keys.userPurchased('bob'))).toBe(0);
    expect(await infra.redis.hget(infra.keys.userProfile('bob'), 'personalization')).toBe('0');
    let trending = 0;
    for (let hour = receivedFromHour; hour <= Math.floor(Date.now() / 3_600_000); hour++)
      trending += Number(await infra.redis.zscore(infra.keys.trendingHour(hour), 'i3'));
    expect(trending).toBe(3);
  });

  it('erases events, idempotency keys, profile and every Redis key about the user, and says what it erased', async () => {
    await app.inject({ method: 'PUT', url: '/v1/users/carol', payload: { timezone: 'Europe/Berlin' } });
    await postEvents([
      { eventId: 'c1', userId: 'carol', itemId: 'i1', type: 'view' },
      { eventId: 'c2', userId: 'carol', itemId: 'i2', type: 'purchase' },
      { eventId: 'c3', userId: 'carol', itemId: 'i3', type: 'view', timestamp: '2017-11-26T01:00:00Z' },
      { eventId: 'd1', userId: 'dave', itemId: 'i1', type: 'view' },
    ]);
    const aboutCarol = infra.keys.keysAboutUser('carol');
    const hour = Math.floor(Date.now() / 3_600_000);
    const countedByCarol = [hour, hour + 1].map((h) => infra.keys.userTrendingCounted('carol', h));
    // history, purchases, profile and stamp, and what she counted of this hour's trending (her 2017 view is of
    // an hour no answer reads: not counted per shopper)
    expect(await infra.redis.exists(...aboutCarol)).toBe(4);
    expect(await infra.redis.exists(...countedByCarol)).toBe(1);

    const response = await app.inject({ method: 'DELETE', url: '/v1/users/carol' });
    expect(response.statusCode).toBe(200);
    expect(response.json()).toEqual({ userId: 'carol', erased: { events: 3, profile: true, redisKeys: 5 } });
    expect(await infra.redis.exists(...countedByCarol)).toBe(0);

    const events = await infra.pool.query("SELECT event_id FROM events WHERE user_id = 'carol'");
    const ids = await infra.pool.query("SELECT event_id FROM event_ids WHERE event_id IN ('c1', 'c2', 'c3')");
    const profile = await infra.pool.query("SELECT 1 FROM users WHERE user_id = 'carol'");
    expect([events.rowCount, ids.rowCount, profile.rowCount]).toEqual([0, 0, 0]);
    // Nothing but the erasure's mark in the history key, which reads as no history and expires within the hour.
    expect(await infra.redis.exists(...aboutCarol.slice(1))).toBe(0);
    expect(await readUserHistory(infra.redis, infra.keys, 'carol')).toEqual([]);
    expect(await infra.redis.pttl(infra.keys.userHistory('carol'))).toBeGreaterThan(0);
    expect(await readUserHistory(infra.redis, infra.keys, 'dave')).toHaveLength(1);

    const again = await app.inject({ method: 'DELETE', url: '/v1/users/carol' });
    expect(again.json()).toEqual({ userId: 'carol', erased: { events: 0, profile: false, redisKeys: 0 } });
  });
});
