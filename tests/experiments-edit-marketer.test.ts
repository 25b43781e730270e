import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { type ApiApp, buildApiApp, loadApiConfig } from '@elevens/api';
import { createApiKey } from '@elevens/db';
import { createTestInfra, type TestInfra } from '@elevens/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const HOUR_MS = 3_600_000;
const START_MS = Date.parse('2026-11-10T12:00:00Z');
const iso = (ms: number) => new Date(ms).toISOString();
let nowMs = START_MS;
let infra: TestInfra;
let app: ApiApp;
let admin: string;

beforeAll(async () => {
  infra = await createTestInfra('experiments-edit');
  admin = (await createApiKey(infra.pool, { name: 'growth', scopes: ['admin'] })).secret;
  app = await buildApiApp({
    config: loadApiConfig({
      ...infra.env,
      AUTH_REQUIRED: 'true',
      LOG_LEVEL: 'silent',
      MODEL_POLL_MS: '60000',
    }),
    now: () => nowMs,
  });
});

afterAll(async () => {
  await app?.close();
  await infra?.close();
});

const put = (id: string, body: Record<string, unknown>) =>
  app.inject({
    method: 'PUT',
    url: `/v1/experiments/${id}`,
    headers: { authorization: `Bearer ${admin}` },
    payload: body,
  });
const get = (id: string) =>
  app.inject({ method: 'GET', url: `/v1/experiments/${id}`, headers: { authorization: `Bearer ${admin}` } });

const arms = (bShare = 0.5, settings: Record<string, unknown> = {}) => [
  { name: 'control', share: 1 - bShare },
  { name: 'b', share: bShare, settings },
];

describe('a PUT of an existing experiment without `from`', () => {
  it('keeps the start of a scheduled experiment when only `until` changes', async () => {
    nowMs = START_MS;
    const from = iso(START_MS + 24 * HOUR_MS);
    const created = await put('festival', {
      arms: arms(),
      placement: 'home',
      from,
      until: iso(START_MS + 48 * HOUR_MS),
    });
    expect(created.statusCode, created.body).toBe(200);
    const edited = await put('festival', {
      arms: arms(),
      placement: 'home',
      until: iso(START_MS + 72 * HOUR_MS),
    });
    expect(edited.statusCode, edited.body).toBe(200);
    expect(edited.json()).toMatchObject({ from, until: iso(START_MS + 72 * HOUR_MS), status: 'scheduled' });
    expect((await get('festival')).json()).toMatchObject({ from, status: 'scheduled' });
  });

  it('keeps the start of a running experiment when its shares change', async () => {
    nowMs = START_MS;
    expect((await put('shares', { arms: arms(), placement: 'cart' })).statusCode).toBe(200);
    nowMs = START_MS + 5 * HOUR_MS;
    const edited = await put('shares', { arms: arms(0.2), placement: 'cart' });
    expect(edited.statusCode, edited.body).toBe(200);
    expect(edited.json()).toMatchObject({ from: iso(START_MS), status: 'running', arms: arms(0.2) });
  });

  it('is checked against the experiments it follows at its stored start, not at now', async () => {
    nowMs = START_MS;
    const handover = iso(START_MS + 24 * HOUR_MS);
    expect((await put('before', { arms: arms(), placement: 'product', until: handover })).statusCode).toBe(
      200,
    );
    expect((await put('after', { arms: arms(), placement: 'product', from: handover })).statusCode).toBe(200);
    const edited = await put('after', { arms: arms(0.3), placement: 'product' });
    expect(edited.statusCode, edited.body).toBe(200);
    expect(edited.json()).toMatchObject({ from: handover, status: 'scheduled' });
  });

  it('is refused with 400, not 500, when its `until` is not after the stored start', async () => {
    nowMs = START_MS;
    const from = iso(START_MS + 24 * HOUR_MS);
    expect((await put('later', { arms: arms(), placement: 'search', from })).statusCode).toBe(200);
    const edited = await put('later', {
      arms: arms(),
      placement: 'search',
      until: iso(START_MS + 12 * HOUR_MS),
    });
    expect(edited.statusCode, edited.body).toBe(400);
    expect(edited.json()).toMatchObject({
      error: 'bad_request',
      message: `until: must be after from (${from})`,
    });
    expect((await get('later')).json()).toMatchObject({ from, until: null });
  });

  it('may end a running experiment at an instant already past', async () => {
    nowMs = START_MS;
    expect((await put('ending', { arms: arms(), placement: 'pdp' })).statusCode).toBe(200);
    nowMs = START_MS + 5 * HOUR_MS;
    const ended = await put('ending', { arms: arms(), placement: 'pdp', until: iso(START_MS + HOUR_MS) });
    expect(ended.statusCode, ended.body).toBe(200);
    expect(ended.json()).toMatchObject({
      from: iso(START_MS),
      until: iso(START_MS + HOUR_MS),
      status: 'ended',
    });
  });

  it('still starts a new experiment now, and refuses a new one whose `until` is not after now', async () => {
    nowMs = START_MS + 7 * HOUR_MS;
    const created = await put('fresh', { arms: arms(), placement: 'email' });
    expect(created.statusCode, created.body).toBe(200);
    expect(created.json()).toMatchObject({ from: iso(nowMs), status: 'running' });
    const past = await put('stale', { arms: arms(), placement: 'banner', until: iso(nowMs - HOUR_MS) });
    expect(past.statusCode, past.body).toBe(400);
    expect(past.json().message).toBe(`until: must be after from (${iso(nowMs)})`);
  });
});

describe('experiment ids', () => {
  let port: number;
  beforeAll(async () => {
    await app.listen({ port: 0, host: '127.0.0.1' });
    port = (app.server.address() as AddressInfo).port;
  });

  /** A request whose path is sent as written: `inject()` and fetch resolve dot segments first, as browsers do. */
  const raw = (method: 'PUT' | 'GET' | 'DELETE', path: string, body?: unknown) =>
    new Promise<{ status: number; json: Record<string, unknown> }>((resolve, reject) => {
      const payload = body === undefined ? undefined : JSON.stringify(body);
      const request = http.request(
        {
          host: '127.0.0.1',
          port,
          method,
          path,
          headers: {
            authorization: `Bearer ${admin}`,
            ...(payload === undefined ? {} : { 'content-type': 'application/json' }),
          },
        },
        async (response) => {
          const chunks: Buffer[] = [];
          for await (const chunk of response) chunks.push(chunk as Buffer);
          resolve({ status: response.statusCode!, json: JSON.parse(Buffer.concat(chunks).toString()) });
        },
      );
      request.on('error', reject);
      request.end(payload);
    });

  it('refuses `.` and `..`, which a client normalising the URL path cannot reach, with 400', async () => {
    nowMs = START_MS;
    for (const path of [
      '/v1/experiments/.',
      '/v1/experiments/..',
      '/v1/experiments/%2E',
      '/v1/experiments/%2e%2E',
    ]) {
      const response = await raw('PUT', path, { arms: arms(), placement: 'dots' });
      expect(response.status, `${path}: ${JSON.stringify(response.json)}`).toBe(400);
      expect(response.json).toMatchObject({ error: 'bad_request' });
    }
    expect(
      (await infra.pool.query<{ id: string }>("SELECT id FROM experiments WHERE id IN ('.', '..')")).rows,
    ).toEqual([]);
  });

  it('accepts ids with dots that are not whole dot segments', async () => {
    for (const [id, placement] of [
      ['...', 'p1'],
      ['.hidden', 'p2'],
      ['v1.2', 'p3'],
      ['a:b', 'p4'],
    ]) {
      const response = await put(id!, { arms: arms(), placement });
      expect(response.statusCode, `${id}: ${response.body}`).toBe(200);
      expect((await get(id!)).json()).toMatchObject({ id });
    }
  });

  it('still lists, reads and deletes an experiment stored under such an id before', async () => {
    await infra.pool.query(
      `INSERT INTO experiments (id, arms, placement, starts_at) VALUES ('.', $1::jsonb, 'legacy', now())`,
      [JSON.stringify(arms())],
    );
    const list = await raw('GET', '/v1/experiments');
    expect(list.status).toBe(200);
    expect((list.json.experiments as { id: string }[]).map((e) => e.id)).toContain('.');
    expect((await raw('GET', '/v1/experiments/.')).json).toMatchObject({ id: '.', placement: 'legacy' });
    expect((await raw('DELETE', '/v1/experiments/.')).json).toMatchObject({ id: '.', deleted: true });
  });
});

describe('arm settings at their edges', () => {
  const withSettings = (settings: Record<string, unknown>) => ({
    arms: arms(0.5, settings),
    placement: 'edges',
  });

  it('refuses a history half-life under one minute, and takes one of a minute', async () => {
    for (const hours of [1e-320, Number.MIN_VALUE, 0.01, 1 / 61]) {
      const response = await put('halflife-edge', withSettings({ historyHalfLifeHours: hours }));
      expect(response.statusCode, `${hours}: ${response.body}`).toBe(400);
      expect(response.json()).toMatchObject({ error: 'bad_request' });
    }
    const minute = await put('halflife-edge', withSettings({ historyHalfLifeHours: 1 / 60 }));
    expect(minute.statusCode, minute.body).toBe(200);
  });

  it('refuses huge numbers in every numeric setting with 400', async () => {
    for (const key of [
      'historyLength',
      'maxAnchors',
      'positionDecay',
      'sequenceShare',
      'historyHalfLifeHours',
      'maxPerCategory',
    ]) {
      for (const value of [1e308, -1e308, 2 ** 53]) {
        const response = await put('huge', withSettings({ [key]: value }));
        expect(response.statusCode, `${key}=${value}: ${response.body}`).toBe(400);
      }
    }
  });
});
