import { buildApiApp, loadApiConfig } from '@elevens/api';
import { type PushDecisionReply, TimeZone } from '@elevens/domain';
import { buildIngestApp, loadIngestConfig } from '@elevens/ingest';
import { createTestInfra, type TestInfra } from '@elevens/testkit';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

let infra: TestInfra;
let api: FastifyInstance;
let ingest: FastifyInstance;
/** Every decision is made at this instant (summer in the north: daylight saving time applies). */
const NOW = Date.parse('2026-07-01T15:30:00.000Z');
/** Quiet hours of the test, 22:00–08:00 local time, as hours of the day. */
const QUIET = { start: 22, end: 8 };

beforeAll(async () => {
  infra = await createTestInfra('wire-values-services');
  api = (await buildApiApp({
    config: loadApiConfig({ ...infra.env, PUSH_DEFAULT_TIMEZONE: 'UTC', LOG_LEVEL: 'silent' }),
    now: () => NOW,
  })) as unknown as FastifyInstance;
  ingest = (await buildIngestApp({
    config: loadIngestConfig({ ...infra.env, LOG_LEVEL: 'silent' }),
  })) as unknown as FastifyInstance;
  const quiet = await api.inject({
    method: 'PUT',
    url: '/v1/push/quiet-hours',
    payload: { start: '22:00', end: '08:00', channels: ['push'] },
  });
  expect(quiet.statusCode).toBe(200);
});

afterAll(async () => {
  await Promise.all([api?.close(), ingest?.close()]);
  await infra?.close();
});

const putUser = (userId: string, body: unknown) =>
  ingest.inject({ method: 'PUT', url: `/v1/users/${encodeURIComponent(userId)}`, payload: body as object });
/** A JSON body sent as text: `inject` would otherwise re-encode it. */
const sendJson = (app: FastifyInstance, method: 'PUT' | 'POST', url: string, body: unknown) =>
  app.inject({ method, url, payload: JSON.stringify(body), headers: { 'content-type': 'application/json' } });

/** The local hour at NOW in `zone`, by the zone as the client named it. */
const localHour = (zone: string) =>
  Number(
    new Intl.DateTimeFormat('en-US', { timeZone: zone, hour: 'numeric', hourCycle: 'h23' })
      .formatToParts(NOW)
      .find((p) => p.type === 'hour')!.value,
  );

const runtimeId = (zone: string) =>
  new Intl.DateTimeFormat('en-US', { timeZone: zone }).resolvedOptions().timeZone;

describe('user time zones', () => {
  it.each(['+08:00', '-0530', 'CST', 'IST', 'PST', 'SystemV/EST5'])(
    'refuses %s with a 400 naming the field',
    async (zone) => {
      const response = await putUser('u-refused', { timezone: zone });
      expect(response.statusCode).toBe(400);
      expect(response.json()).toMatchObject({
        error: 'bad_request',
        details: [{ path: 'body.timezone' }],
      });
    },
  );

  it('holds a push in quiet hours of every zone it accepts, stored under one name per zone', async () => {
    const names = [
      ...Intl.supportedValuesOf('timeZone'),
      'asia/shanghai',
      'ASIA/TOKYO',
      'US/Eastern',
      'us/eastern',
      'Asia/Kolkata',
      'etc/gmt-14',
      'EST',
      'utc',
      'Australia/Adelaide',
    ];
    const wrong: string[] = [];
    const check = async (zone: string, index: number) => {
      const userId = `tz-${index}`;
      const put = await putUser(userId, { timezone: zone, consent: { personalization: true, push: true } });
      expect(put.statusCode).toBe(200);
      const stored = put.json().timezone as string;
      // The zone the client named, under the one name every spelling of it is stored as.
      expect(runtimeId(stored)).toBe(runtimeId(zone));
      expect(TimeZone.parse(stored)).toBe(stored);
      if (zone.toLowerCase() === 'us/eastern') expect(stored).toBe('America/New_York');
      const decision = await api.inject({
        method: 'POST',
        url: '/v1/push/decisions',
        payload: { userId, channel: 'push', campaignId: `c-${index}`, dryRun: true },
      });
      const reply = decision.json() as PushDecisionReply;
      const hour = localHour(zone);
      const quiet = hour >= QUIET.start || hour < QUIET.end;
      if ((reply.reason === 'quiet_hours') !== quiet)
        wrong.push(`${zone} (${stored}) at ${hour}h: ${reply.reason}`);
    };
    // Each zone is its own user: a few dozen at a time, as many storefront sessions would set theirs.
    const AT_A_TIME = 32;
    for (let start = 0; start < names.length; start += AT_A_TIME)
      await Promise.all(names.slice(start, start + AT_A_TIME).map((zone, n) => check(zone, start + n)));
    expect(wrong).toEqual([]);
  });
});

describe('text the client sent is stored as sent or refused', () => {
  it.each([
    ['title', { title: 'bag \ud800' }, 'must not contain unpaired UTF-16 surrogates'],
    ['itemId', { itemId: 'bag\udc00' }, 'must not contain unpaired UTF-16 surrogates'],
    ['tags.0', { tags: ['\ud800'] }, 'must not contain unpaired UTF-16 surrogates'],
    ['title', { title: 'a\u0000b' }, 'must not contain NUL characters'],
    ['price', { price: 1e12 }, 'Too big: expected number to be <=999999999999.99'],
  ])('refuses an item whose %s Postgres could not hold as sent, naming it', async (path, fields, message) => {
    const response = await sendJson(ingest, 'PUT', '/v1/items', { items: [{ itemId: 'bag', ...fields }] });
    expect(response.statusCode).toBe(400);
    expect(response.json().details).toEqual([{ path: `body.items.0.${path}`, message }]);
  });

  it('rejects an event whose ids hold an unpaired surrogate instead of storing U+FFFD', async () => {
    const response = await sendJson(ingest, 'POST', '/v1/events', {
      events: [
        { userId: '\ud800', itemId: 'bag', type: 'view' },
        { userId: 'u1', itemId: 'bag\udfff', type: 'view' },
      ],
    });
    expect(response.statusCode).toBe(400);
    expect(response.json().details.rejected).toEqual([
      { index: 0, error: 'userId: must not contain unpaired UTF-16 surrogates' },
      { index: 1, error: 'itemId: must not contain unpaired UTF-16 surrogates' },
    ]);
    const { rows } = await infra.pool.query('SELECT count(*)::int AS n FROM events');
    expect(rows[0].n).toBe(0);
  });

  it('answers a push decision for a user id with an unpaired surrogate with a 400', async () => {
    const response = await sendJson(api, 'POST', '/v1/push/decisions', {
      userId: 'u\ud800',
      channel: 'push',
      campaignId: 'c1',
    });
    expect(response.statusCode).toBe(400);
    expect(response.json().details).toEqual([
      { path: 'body.userId', message: 'must not contain unpaired UTF-16 surrogates' },
    ]);
  });
});
