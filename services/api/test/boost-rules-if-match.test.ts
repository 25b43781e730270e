import type { BoostRulesReply } from '@elevens/domain';
import { createTestInfra, type TestInfra } from '@elevens/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ApiApp, buildApiApp } from '../src/app';
import { testApiConfig } from './recommendations-fixtures';

let infra: TestInfra;
let app: ApiApp;

beforeAll(async () => {
  infra = await createTestInfra('api-boost-rules-if-match');
  app = await buildApiApp({ config: testApiConfig(infra.env) });
});

afterAll(async () => {
  await app?.close();
  await infra?.close();
});

const pins = (itemId: string) => [{ itemId, position: 1 }];
const getRules = (query = '') => app.inject({ method: 'GET', url: `/v1/rules/boosts${query}` });
const putRules = (payload: object, ifMatch?: string) =>
  app.inject({
    method: 'PUT',
    url: '/v1/rules/boosts',
    payload,
    headers: ifMatch === undefined ? {} : { 'if-match': ifMatch },
  });
const current = async () => (await getRules()).json() as BoostRulesReply;

describe('concurrent edits of /v1/rules/boosts', () => {
  it('GET answers the version in force as its ETag, version 0 before any PUT', async () => {
    const response = await getRules();
    expect(response.statusCode).toBe(200);
    expect(response.headers.etag).toBe('"0"');
    expect(response.json().version).toBe(0);
  });

  it('refuses the second of two PUTs sent with the same If-Match, 412 naming the version in force', async () => {
    const read = await getRules();
    const etag = read.headers.etag as string;
    const first = await putRules({ pins: pins('first') }, etag);
    expect(first.statusCode).toBe(200);
    const stored = first.json() as BoostRulesReply;
    expect(first.headers.etag).toBe(`"${stored.version}"`);

    const second = await putRules({ pins: pins('second') }, etag);
    expect(second.statusCode).toBe(412);
    expect(second.headers['content-type']).toMatch(/^application\/json/);
    expect(second.headers.etag).toBe(`"${stored.version}"`);
    const body = second.json();
    expect(body).toMatchObject({ error: 'precondition_failed', details: { currentVersion: stored.version } });
    expect(body.message).toContain(`"${stored.version}"`);
    expect(await current()).toEqual(stored);
  });

  it('stores exactly one of two PUTs racing with the same If-Match', async () => {
    const etag = (await getRules()).headers.etag as string;
    const answers = await Promise.all([
      putRules({ pins: pins('racer-a') }, etag),
      putRules({ pins: pins('racer-b') }, etag),
    ]);
    expect(answers.map((a) => a.statusCode).sort()).toEqual([200, 412]);
    const winner = answers.find((a) => a.statusCode === 200)!.json() as BoostRulesReply;
    const loser = answers.find((a) => a.statusCode === 412)!.json();
    expect(loser.details).toEqual({ currentVersion: winner.version });
    expect(await current()).toEqual(winner);
  });

  it('stores a PUT whose If-Match lists the version in force, or is *, and one without If-Match (last write wins)', async () => {
    const { version } = await current();
    const listed = await putRules({ pins: pins('listed') }, `"1000000", W/"${version}"`);
    expect(listed.statusCode).toBe(200);
    const any = await putRules({ pins: pins('any') }, '*');
    expect(any.statusCode).toBe(200);
    const blind = await putRules({ pins: pins('blind') });
    expect(blind.statusCode).toBe(200);
    expect((await current()).pins).toEqual(pins('blind'));
  });

  it('refuses an If-Match that names no version with 400, storing nothing', async () => {
    const before = await current();
    for (const ifMatch of ['7', '"v7"', '""', '"1",'])
      expect((await putRules({ pins: pins('bad') }, ifMatch)).statusCode, ifMatch).toBe(400);
    expect(await current()).toEqual(before);
  });
});

describe('GET /v1/rules/boosts?version=N', () => {
  it('answers an earlier stored version, so a rollback is a GET and a PUT', async () => {
    const old = (await putRules({ pins: pins('old') })).json() as BoostRulesReply;
    const newer = (await putRules({ pins: pins('newer') })).json() as BoostRulesReply;
    const read = await getRules(`?version=${old.version}`);
    expect(read.statusCode).toBe(200);
    expect(read.json()).toEqual(old);

    const rollback = await putRules(read.json(), `"${newer.version}"`);
    expect(rollback.statusCode).toBe(200);
    expect((await current()).pins).toEqual(pins('old'));
  });

  it('answers 404 for a version never stored and 400 for one that is no version', async () => {
    const { version } = await current();
    const missing = await getRules(`?version=${version + 1000}`);
    expect(missing.statusCode).toBe(404);
    expect(missing.json()).toMatchObject({ error: 'not_found' });
    for (const query of ['?version=', '?version=0', '?version=-1', '?version=1.5', '?version=abc'])
      expect((await getRules(query)).statusCode, query).toBe(400);
  });
});

describe('the OpenAPI document of /v1/rules/boosts', () => {
  it('declares If-Match, the 412 answer and ?version', async () => {
    const doc = (await app.inject({ method: 'GET', url: '/docs/json' })).json();
    const { put, get } = doc.paths['/v1/rules/boosts'];
    expect(put.parameters).toContainEqual(expect.objectContaining({ in: 'header', name: 'if-match' }));
    expect(put.responses['412']).toBeDefined();
    expect(get.parameters).toContainEqual(expect.objectContaining({ in: 'query', name: 'version' }));
    expect(get.responses['404']).toBeDefined();
  });
});
