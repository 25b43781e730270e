import { readUserHistory } from '@elevens/redis-stores';
import { createTestInfra, type TestInfra } from '@elevens/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildIngestApp, type IngestApp } from '../src/app';
import { loadIngestConfig } from '../src/config';

let infra: TestInfra;
let app: IngestApp;

beforeAll(async () => {
  infra = await createTestInfra('ingest-events');
  app = await buildIngestApp({ config: loadIngestConfig(infra.env) });
});

afterAll(async () => {
  await app.close();
  await infra.close();
});

const event = (n: number, extra: Record<string, unknown> = {}) => ({
  eventId: `e${n}`,
  userId: 'u1',
  itemId: `i${n}`,
  type: 'view',
  timestamp: '2026-11-11T00:00:0' + (n % 10) + 'Z',
  ...extra,
});

describe('POST /v1/events', () => {
  it('stores a batch once and counts a resend as duplicates', async () => {
    const body = { events: [event(1), event(2), event(3, { type: 'purchase' })] };
    const first = await app.inject({ method: 'POST', url: '/v1/events', payload: body });
    expect(first.statusCode).toBe(200);
    expect(first.json()).toEqual({ accepted: 3, duplicates: 0, rejected: [] });
    const second = await app.inject({ method: 'POST', url: '/v1/events', payload: body });
    expect(second.json()).toEqual({ accepted: 0, duplicates: 3, rejected: [] });
    const { rows } = await infra.pool.query('SELECT count(*)::int AS n FROM events');
    expect(rows[0].n).toBe(3);
    expect(await infra.redis.sismember(infra.keys.userPurchased('u1'), 'i3')).toBe(1);
    expect(await readUserHistory(infra.redis, infra.keys, 'u1')).toHaveLength(3);
  });

  it('stores the valid events of a partly bad batch and reports the rest by index', async () => {
    const response = await app.inject({
      method: 'POST',
      url: '/v1/events',
      payload: { events: [event(10), { userId: 'u1', type: 'view' }, event(11, { type: 'teleport' })] },
    });
    expect(response.statusCode).toBe(200);
    const body = response.json();
    expect(body.accepted).toBe(1);
    expect(body.rejected.map((r: { index: number }) => r.index)).toEqual([1, 2]);
  });

  it('answers 400 with the JSON error shape when no event is valid', async () => {
    const response = await app.inject({
      method: 'POST',
      url: '/v1/events',
      payload: { events: [{ userId: 'x' }] },
    });
    expect(response.statusCode).toBe(400);
    expect(response.json()).toMatchObject({ error: 'bad_request', message: expect.any(String) });
  });

  it('answers 415 for a wrong content type and 400 for invalid JSON', async () => {
    const wrongType = await app.inject({
      method: 'POST',
      url: '/v1/events',
      headers: { 'content-type': 'text/csv' },
      payload: 'a,b',
    });
    expect(wrongType.statusCode).toBe(415);
    expect(wrongType.json().error).toBe('unsupported_media_type');
    const badJson = await app.inject({
      method: 'POST',
      url: '/v1/events',
      headers: { 'content-type': 'application/json' },
      payload: '{"events": [',
    });
    expect(badJson.statusCode).toBe(400);
    expect(badJson.json().error).toBe('bad_request');
  });

  it('answers 415 for text/plain and form bodies too', async () => {
    for (const contentType of ['text/plain', 'application/x-www-form-urlencoded']) {
      const response = await app.inject({
        method: 'POST',
        url: '/v1/events',
        headers: { 'content-type': contentType },
        payload: JSON.stringify(event(30)),
      });
      expect(response.statusCode).toBe(415);
      expect(response.json().error).toBe('unsupported_media_type');
    }
  });

  it('answers 413 with a JSON error for a body over the limit (a 10 MB string)', async () => {
    const response = await app.inject({
      method: 'POST',
      url: '/v1/events',
      payload: event(31, { properties: { note: 'x'.repeat(10 * 1024 * 1024) } }),
    });
    expect(response.statusCode).toBe(413);
    expect(response.json()).toMatchObject({ error: 'payload_too_large', message: expect.any(String) });
  });

  it.each([
    ['a wrong type', { userId: 42 }, 'userId'],
    ['a missing field', { itemId: undefined }, 'itemId'],
    ['an unknown event type', { type: 'teleport' }, 'type'],
    ['an id over 128 characters', { userId: 'u'.repeat(129) }, 'userId'],
    ['a 1 MB string', { itemId: 'i'.repeat(1024 * 1024) }, 'itemId'],
    ['a NUL character', { sessionId: 'a\u0000b' }, 'sessionId'],
    ['an impossible date', { timestamp: '2026-02-30T10:00:00Z' }, 'timestamp'],
    ['a date without a zone', { timestamp: '2026-11-11 10:00' }, 'timestamp'],
    ['a negative epoch', { timestamp: -5 }, 'timestamp'],
    ['a fractional epoch', { timestamp: 1.5 }, 'timestamp'],
    ['a timestamp 25 h ahead', { timestamp: Date.now() + 25 * 3_600_000 }, 'timestamp'],
    ['properties over 4 KB', { properties: { note: 'x'.repeat(5000) } }, 'properties'],
    ['properties that are an array', { properties: [1, 2] }, 'properties'],
    ['a price beyond numeric(14,2)', { price: 1e12 }, 'price'],
    ['the anonymous user prefix', { userId: '~anon:someone' }, 'userId'],
  ])('rejects an event with %s as a 400 JSON error naming the field', async (_, fields, field) => {
    const response = await app.inject({
      method: 'POST',
      url: '/v1/events',
      payload: { events: [event(40, fields)] },
    });
    expect(response.statusCode).toBe(400);
    const body = response.json();
    expect(body.error).toBe('bad_request');
    expect(body.details.rejected[0].index).toBe(0);
    expect(body.details.rejected[0].error).toContain(field);
  });

  it('rejects properties nested 10,000 deep as a 400 JSON error naming the field', async () => {
    // Written as text: JSON.stringify of such a value overflows the stack.
    const properties = `{"a":${'['.repeat(10_000)}${']'.repeat(10_000)}}`;
    const response = await app.inject({
      method: 'POST',
      url: '/v1/events',
      headers: { 'content-type': 'application/json' },
      payload: `{"events":[{"eventId":"deep","userId":"u","itemId":"i","type":"view","properties":${properties}}]}`,
    });
    expect(response.statusCode).toBe(400);
    const body = response.json();
    expect(body.error).toBe('bad_request');
    expect(body.details.rejected[0].error).toContain('properties');
  });

  it.each([
    ['an empty batch', { events: [] }],
    ['a batch of 1001', { events: Array.from({ length: 1001 }, (_, n) => event(n)) }],
    ['events that are not an array', { events: 'e1' }],
    ['a JSON array body', [event(1)]],
    ['a JSON string body', 'hello'],
  ])('answers 400 for %s', async (_, payload) => {
    const response = await app.inject({
      method: 'POST',
      url: '/v1/events',
      headers: { 'content-type': 'application/json' },
      payload: JSON.stringify(payload),
    });
    expect(response.statusCode).toBe(400);
    expect(response.json()).toMatchObject({ error: 'bad_request', message: expect.any(String) });
  });

  it('takes a single event object, assigning an id and the receive time when absent', async () => {
    const before = Date.now();
    const response = await app.inject({
      method: 'POST',
      url: '/v1/events',
      payload: { userId: 'u-single', itemId: 'i-single', type: 'cart', properties: { color: 'red' } },
    });
    expect(response.json()).toEqual({ accepted: 1, duplicates: 0, rejected: [] });
    const { rows } = await infra.pool.query(
      "SELECT event_id, ts, properties FROM events WHERE user_id = 'u-single'",
    );
    expect(rows).toHaveLength(1);
    expect(rows[0].event_id).toMatch(/^[0-9a-f-]{36}$/);
    expect(rows[0].ts.getTime()).toBeGreaterThanOrEqual(before - 1);
    expect(rows[0].properties).toEqual({ color: 'red' });
  });

  it('counts an id repeated inside one batch as a duplicate of its first occurrence', async () => {
    const response = await app.inject({
      method: 'POST',
      url: '/v1/events',
      payload: { events: [event(50), event(50, { itemId: 'other' }), event(51)] },
    });
    expect(response.json()).toEqual({ accepted: 2, duplicates: 1, rejected: [] });
    const { rows } = await infra.pool.query("SELECT item_id FROM events WHERE event_id = 'e50'");
    expect(rows).toEqual([{ item_id: 'i50' }]);
  });

  it('stores a 2026 batch with partial rejects and answers duplicates and rejects together on resend', async () => {
    const body = { events: [event(60), { ...event(61), quantity: 0 }, event(62)] };
    const first = (await app.inject({ method: 'POST', url: '/v1/events', payload: body })).json();
    const second = (await app.inject({ method: 'POST', url: '/v1/events', payload: body })).json();
    expect(first).toMatchObject({ accepted: 2, duplicates: 0 });
    expect(second).toMatchObject({ accepted: 0, duplicates: 2 });
    expect(second.rejected).toEqual([{ index: 1, error: expect.stringContaining('quantity') }]);
  });

  it('accepts 2017 timestamps into an on-demand partition', async () => {
    const response = await app.inject({
      method: 'POST',
      url: '/v1/events',
      payload: event(20, { timestamp: 1511658000000 }),
    });
    expect(response.json()).toEqual({ accepted: 1, duplicates: 0, rejected: [] });
    const { rows } = await infra.pool.query(
      "SELECT tableoid::regclass::text AS part FROM events WHERE event_id = 'e20'",
    );
    expect(rows[0].part).toBe('events_2017_11');
  });
});

describe('POST /v1/events: event times, on a fixed clock', () => {
  const NOW = Date.UTC(2026, 10, 11, 12);
  const DAY = 86_400_000;
  let fixedClockApp: IngestApp;

  beforeAll(async () => {
    fixedClockApp = await buildIngestApp({ config: loadIngestConfig(infra.env), now: () => NOW });
  });

  afterAll(async () => {
    await fixedClockApp.close();
  });

  const post = (payload: object) => fixedClockApp.inject({ method: 'POST', url: '/v1/events', payload });

  it.each([
    ['a 1900 event', '1900-01-01T00:00:00Z', 'timestamp: before 1970-01-01'],
    ['an event 25 h ahead of the clock', NOW + 25 * 3_600_000, 'timestamp: more than a day in the future'],
    ['February 30th', '2026-02-30T00:00:00Z', 'timestamp: not a real instant'],
    ['month 13', '2026-13-01T00:00:00Z', 'timestamp: not a real instant'],
    ['a time without a zone', '2026-11-11 10:00', 'timestamp: not a real instant'],
  ])('answers 400 naming the field for %s alone', async (_, timestamp, reason) => {
    const response = await post(event(70, { timestamp }));
    expect(response.statusCode).toBe(400);
    const body = response.json();
    expect(body).toMatchObject({ error: 'bad_request', message: expect.stringContaining(reason) });
    expect(body.details.rejected).toEqual([{ index: 0, error: expect.stringContaining(reason) }]);
  });

  it('stores the valid events of a batch and rejects the bad times by index', async () => {
    const response = await post({
      events: [
        event(71, { timestamp: NOW + DAY }),
        event(72, { timestamp: '1900-01-01T00:00:00Z' }),
        event(73, { timestamp: NOW + DAY + 1 }),
        event(74, { timestamp: '2026-02-30T00:00:00Z' }),
        event(75, { timestamp: '1997-12-01T00:00:00Z' }),
      ],
    });
    expect(response.statusCode).toBe(200);
    expect(response.json()).toEqual({
      accepted: 2,
      duplicates: 0,
      rejected: [
        { index: 1, error: 'timestamp: before 1970-01-01' },
        { index: 2, error: 'timestamp: more than a day in the future' },
        { index: 3, error: expect.stringMatching(/^timestamp: not a real instant/) },
      ],
    });
    const { rows } = await infra.pool.query<{ event_id: string; ts: Date }>(
      "SELECT event_id, ts FROM events WHERE event_id IN ('e71', 'e72', 'e73', 'e74', 'e75') ORDER BY event_id",
    );
    expect(rows.map((r) => [r.event_id, r.ts.getTime()])).toEqual([
      ['e71', NOW + DAY],
      ['e75', Date.UTC(1997, 11, 1)],
    ]);
  });

  it('stamps an event without a timestamp with the injected clock', async () => {
    const response = await post({ eventId: 'e76', userId: 'u-clock', itemId: 'i76', type: 'view' });
    expect(response.json()).toEqual({ accepted: 1, duplicates: 0, rejected: [] });
    const { rows } = await infra.pool.query("SELECT ts FROM events WHERE event_id = 'e76'");
    expect(rows[0].ts.getTime()).toBe(NOW);
  });
});
