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
    expect(await infra.redis.llen(infra.keys.userHistory('u1'))).toBe(3);
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
