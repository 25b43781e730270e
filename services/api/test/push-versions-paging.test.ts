import type { PushRuleVersionsReply, QuietHoursVersionsReply } from '@elevens/domain';
import { createTestInfra, type TestInfra } from '@elevens/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ApiApp, buildApiApp } from '../src/app';
import { loadApiConfig } from '../src/config';

/**
 * The histories a rollback reads are paged: the quiet hours' used to stop at their newest 100 versions, so an older
 * one could not be read back, and a rule's was answered whole however long it grew.
 */
let infra: TestInfra;
let app: ApiApp;

beforeAll(async () => {
  infra = await createTestInfra('api-push-versions-paging');
  app = await buildApiApp({ config: loadApiConfig(infra.env) });
});

afterAll(async () => {
  await app?.close();
  await infra?.close();
});

const get = (url: string) => app.inject({ method: 'GET', url });
const clock = (minutes: number) =>
  `${String(Math.floor(minutes / 60)).padStart(2, '0')}:${String(minutes % 60).padStart(2, '0')}`;

describe('GET /v1/push/quiet-hours', () => {
  it('reads every version back, a page at a time, the one in force on each page', async () => {
    const starts: string[] = [];
    for (let i = 0; i < 105; i++) {
      const start = clock(i);
      starts.push(start);
      const put = await app.inject({
        method: 'PUT',
        url: '/v1/push/quiet-hours',
        payload: { start, end: '23:59', channels: ['push'] },
      });
      expect(put.statusCode, put.body).toBe(200);
    }
    const first = await get('/v1/push/quiet-hours');
    expect(first.statusCode).toBe(200);
    const newest = first.json() as QuietHoursVersionsReply;
    expect(newest.versions).toHaveLength(100);
    expect(newest.current).toEqual(newest.versions[0]);
    expect(newest.nextBefore).toBe(newest.versions.at(-1)!.version);

    const older = await get(`/v1/push/quiet-hours?before=${newest.nextBefore}`);
    expect(older.statusCode).toBe(200);
    expect(older.headers.etag).toBe(first.headers.etag);
    const oldest = older.json() as QuietHoursVersionsReply;
    expect(oldest.current).toEqual(newest.current);
    expect(oldest.nextBefore).toBeNull();
    expect([...newest.versions, ...oldest.versions].map((v) => v.start)).toEqual(starts.toReversed());

    const small = (await get('/v1/push/quiet-hours?limit=2')).json() as QuietHoursVersionsReply;
    expect(small.versions.map((v) => v.start)).toEqual([starts[104], starts[103]]);
    const next = (await get(`/v1/push/quiet-hours?limit=2&before=${small.nextBefore}`)).json();
    expect(next.versions.map((v: { start: string }) => v.start)).toEqual([starts[102], starts[101]]);
  });

  it('refuses a page size out of range with 400', async () => {
    for (const query of ['limit=0', 'limit=1001', 'before=0', 'before=x']) {
      const reply = await get(`/v1/push/quiet-hours?${query}`);
      expect(reply.statusCode, query).toBe(400);
      expect(reply.json()).toMatchObject({ error: 'bad_request' });
    }
  });
});

describe('GET /v1/push/rules/:ruleId/versions', () => {
  it('pages a long history, newest first, and 404s only a rule that never was', async () => {
    for (let limit = 1; limit <= 5; limit++) {
      const put = await app.inject({
        method: 'PUT',
        url: '/v1/push/rules/paged',
        payload: { channel: 'push', limit, window: '24h' },
      });
      expect(put.statusCode, put.body).toBe(200);
    }
    const whole = (await get('/v1/push/rules/paged/versions')).json() as PushRuleVersionsReply;
    expect(whole.versions.map((v) => v.version)).toEqual([5, 4, 3, 2, 1]);
    expect(whole.nextBefore).toBeNull();

    const first = (await get('/v1/push/rules/paged/versions?limit=2')).json() as PushRuleVersionsReply;
    expect(first.versions.map((v) => v.version)).toEqual([5, 4]);
    expect(first.nextBefore).toBe(4);
    const second = (await get('/v1/push/rules/paged/versions?limit=2&before=4')).json();
    expect(second).toMatchObject({ versions: [{ version: 3 }, { version: 2 }], nextBefore: 2 });
    const last = (await get('/v1/push/rules/paged/versions?limit=2&before=2')).json();
    expect(last).toMatchObject({ versions: [{ version: 1, definition: { limit: 1 } }], nextBefore: null });

    const past = await get('/v1/push/rules/paged/versions?before=1');
    expect(past.statusCode).toBe(200);
    expect(past.json()).toEqual({ ruleId: 'paged', versions: [], nextBefore: null });
    expect((await get('/v1/push/rules/never-made/versions?before=3')).statusCode).toBe(404);
    expect((await get('/v1/push/rules/never-made/versions')).statusCode).toBe(404);
    expect((await get('/v1/push/rules/paged/versions?limit=0')).statusCode).toBe(400);
  });
});
