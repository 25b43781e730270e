import { type ApiApp, buildApiApp, loadApiConfig } from '@elevens/api';
import { createApiKey } from '@elevens/db';
import { armPersonalizes, assignArm, type ExperimentArm } from '@elevens/domain';
import { createTestInfra, type TestInfra } from '@elevens/testkit';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const NOW_MS = Date.parse('2026-11-10T12:00:00Z');
let infra: TestInfra;
let app: ApiApp;
let other: ApiApp;
let admin: string;
let reader: string;

const build = () =>
  buildApiApp({
    config: loadApiConfig({ ...infra.env, AUTH_REQUIRED: 'true', LOG_LEVEL: 'silent', MODEL_POLL_MS: '50' }),
    now: () => NOW_MS,
  });

const put = (id: string, body: unknown, key = admin) =>
  app.inject({
    method: 'PUT',
    url: `/v1/experiments/${id}`,
    headers: { authorization: `Bearer ${key}` },
    payload: body as Record<string, unknown>,
  });
const call = (method: 'GET' | 'DELETE', url: string, key = admin) =>
  app.inject({ method, url, headers: { authorization: `Bearer ${key}` } });

const TWO_ARMS = {
  arms: [
    { name: 'control', share: 0.5 },
    { name: 'b', share: 0.5, settings: { historyHalfLifeHours: 72 } },
  ],
};

beforeAll(async () => {
  infra = await createTestInfra('experiments');
  admin = (await createApiKey(infra.pool, { name: 'ops', scopes: ['admin'] })).secret;
  reader = (await createApiKey(infra.pool, { name: 'shop', scopes: ['recommendations:read'] })).secret;
  app = await build();
  other = await build();
});

afterAll(async () => {
  await app?.close();
  await other?.close();
  await infra.close();
});

describe('PUT/GET/DELETE /v1/experiments/:id', () => {
  it('stores the contract body and serves it back with a version', async () => {
    const response = await put('halflife', TWO_ARMS);
    expect(response.statusCode, response.body).toBe(200);
    const body = response.json();
    expect(body).toMatchObject({ id: 'halflife', arms: TWO_ARMS.arms, placement: null, status: 'running' });
    expect(body.from).toBe(new Date(NOW_MS).toISOString());
    expect(body.version).toBeGreaterThan(0);
    const read = await call('GET', '/v1/experiments/halflife');
    expect(read.json()).toEqual({ ...body, version: body.version });
    expect((await call('GET', '/v1/experiments')).json().experiments).toHaveLength(1);
  });

  it('reaches another api process through the version it polls', async () => {
    await other.experiments.refresh();
    expect(other.experiments.current().experiments.map((e) => e.id)).toEqual(['halflife']);
    expect(other.experiments.assign('u1', 'home', true)?.experiment).toBe('halflife');
  });

  it('answers bad input with 4xx and the error shape', async () => {
    const cases: [string, unknown, number][] = [
      ['unknown-fields', { arms: TWO_ARMS.arms, extra: 1 }, 400],
      [
        'sum',
        {
          arms: [
            { name: 'a', share: 0.5 },
            { name: 'b', share: 0.4 },
          ],
        },
        400,
      ],
      ['one-arm', { arms: [{ name: 'a', share: 1 }] }, 400],
      [
        'same-names',
        {
          arms: [
            { name: 'a', share: 0.5 },
            { name: 'a', share: 0.5 },
          ],
        },
        400,
      ],
      ['window', { ...TWO_ARMS, from: '2026-12-02T00:00:00Z', until: '2026-12-01T00:00:00Z' }, 400],
      [
        'two-models',
        {
          arms: [
            { name: 'a', share: 0.5 },
            { name: 'b', share: 0.5, modelVersion: 'v-other', algorithm: 'ease' },
          ],
        },
        400,
      ],
      [
        'unknown-algorithm',
        {
          arms: [
            { name: 'a', share: 0.5 },
            { name: 'b', share: 0.5, algorithm: 'nope' },
          ],
        },
        400,
      ],
      ['until-past', { ...TWO_ARMS, placement: 'cart', until: '2026-11-01T00:00:00Z' }, 400],
      ['overlap', { ...TWO_ARMS, placement: 'home' }, 409],
      [
        'bad settings',
        {
          arms: [
            { name: 'a', share: 0.5, settings: { nope: 1 } },
            { name: 'b', share: 0.5 },
          ],
        },
        400,
      ],
    ];
    for (const [id, body, status] of cases) {
      const response = await put(id, body);
      expect(response.statusCode, `${id}: ${response.body}`).toBe(status);
      expect(Object.keys(response.json()).sort()).toEqual(expect.arrayContaining(['error', 'message']));
    }
    expect((await put('overlap', { ...TWO_ARMS, placement: 'home' })).json().details).toEqual({
      conflictsWith: 'halflife',
    });
    expect((await call('GET', '/v1/experiments/nope')).statusCode).toBe(404);
    expect((await call('DELETE', '/v1/experiments/nope')).statusCode).toBe(404);
    expect((await put('bad id!', TWO_ARMS)).statusCode).toBe(400);
    expect((await put('halflife', TWO_ARMS, reader)).statusCode).toBe(403);
  });

  it('lets experiments on one placement follow each other, not overlap', async () => {
    const until = '2026-11-11T00:00:00Z';
    expect((await put('halflife', { ...TWO_ARMS, placement: 'home', until })).statusCode).toBe(200);
    const next = { ...TWO_ARMS, placement: 'home', from: until };
    expect((await put('next', next)).statusCode).toBe(200);
    expect((await put('cart-only', { ...TWO_ARMS, placement: 'cart' })).statusCode).toBe(200);
    expect((await put('everywhere', { ...TWO_ARMS, from: '2026-11-10T20:00:00Z' })).statusCode).toBe(409);
    expect((await call('GET', '/v1/experiments/next')).json().status).toBe('scheduled');
  });

  it('stops an experiment with DELETE', async () => {
    const response = await call('DELETE', '/v1/experiments/cart-only');
    expect(response.json()).toMatchObject({ id: 'cart-only', deleted: true });
    expect(app.experiments.assign('u1', 'cart', true)).toBeNull();
    expect(app.experiments.assign('u1', 'home', true)?.experiment).toBe('halflife');
  });

  it('refuses an arm history longer than the api reads, which would serve that arm as the default', async () => {
    const arms = (historyLength: number) => [
      { name: 'control', share: 0.5 },
      { name: 'long', share: 0.5, settings: { historyLength } },
    ];
    const longer = await put('long-history', { arms: arms(51), placement: 'search' });
    expect(longer.statusCode, longer.body).toBe(400);
    expect(longer.json()).toMatchObject({
      error: 'bad_request',
      message: 'arms.1.settings.historyLength: at most 50, the history this api reads (RECS_HISTORY_LENGTH)',
    });
    const within = await put('long-history', { arms: arms(50), placement: 'search' });
    expect(within.statusCode, within.body).toBe(200);
    expect((await call('DELETE', '/v1/experiments/long-history')).statusCode).toBe(200);
  });
});

describe('assignment', () => {
  const arms: ExperimentArm[] = [
    { name: 'control', share: 0.5 },
    { name: 'b', share: 0.3 },
    { name: 'c', share: 0.2, algorithm: 'popular' },
  ];

  it('respects the shares over 100,000 users and is sticky', () => {
    const counts = new Map<string, number>();
    for (let i = 0; i < 100_000; i++) {
      const arm = assignArm('exp-1', `user-${i}`, arms);
      counts.set(arm.name, (counts.get(arm.name) ?? 0) + 1);
    }
    // Binomial standard deviation at 100k is at most 0.16 %; 1 % is six of them.
    for (const arm of arms) expect(Math.abs(counts.get(arm.name)! / 100_000 - arm.share)).toBeLessThan(0.01);
    fc.assert(
      fc.property(fc.string({ minLength: 1, maxLength: 40 }), (userId) => {
        expect(assignArm('exp-1', userId, arms)).toBe(assignArm('exp-1', userId, [...arms]));
      }),
    );
  });

  it('shuffles users independently per experiment', () => {
    let same = 0;
    const half = [
      { name: 'a', share: 0.5 },
      { name: 'b', share: 0.5 },
    ];
    for (let i = 0; i < 20_000; i++)
      if (assignArm('one', `u${i}`, half).name === assignArm('two', `u${i}`, half).name) same++;
    expect(Math.abs(same / 20_000 - 0.5)).toBeLessThan(0.02);
  });

  it('never puts a user without personalization consent in a personalizing arm', async () => {
    await put('mixed', { arms, placement: 'product' });
    for (let i = 0; i < 2_000; i++) {
      const assigned = app.experiments.assign(`u${i}`, 'product', false);
      if (assigned !== null) expect(armPersonalizes(assigned.arm)).toBe(false);
    }
  });

  it('keeps the shares as set among the users in an experiment, whatever share of them withholds consent', async () => {
    // A third of the users without consent: were those of them hashed to arm c kept in, c would hold 27 %.
    const counts = new Map<string, number>();
    let assigned = 0;
    for (let i = 0; i < 30_000; i++) {
      const arm = app.experiments.assign(`user-${i}`, 'product', i % 3 !== 0)?.arm.name;
      if (arm === undefined) continue;
      counts.set(arm, (counts.get(arm) ?? 0) + 1);
      assigned++;
    }
    for (const arm of arms) expect(Math.abs(counts.get(arm.name)! / assigned - arm.share)).toBeLessThan(0.01);
    // An experiment none of whose arms personalizes takes them in.
    const lists = {
      arms: [
        { name: 'popular', share: 0.5, algorithm: 'popular' },
        { name: 'trending', share: 0.5, algorithm: 'trending' },
      ],
      placement: 'cart',
    };
    expect((await put('lists', lists)).statusCode).toBe(200);
    try {
      expect(app.experiments.assign('u1', 'cart', false)?.experiment).toBe('lists');
    } finally {
      await call('DELETE', '/v1/experiments/lists');
    }
  });
});
