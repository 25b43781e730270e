import type { PushRuleView, QuietHoursView } from '@elevens/domain';
import { createTestInfra, type TestInfra } from '@elevens/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ApiApp, buildApiApp } from '../src/app';
import { loadApiConfig } from '../src/config';

let infra: TestInfra;
let app: ApiApp;
let other: ApiApp;

beforeAll(async () => {
  infra = await createTestInfra('api-push-rules-if-match');
  const config = loadApiConfig({ ...infra.env, PUSH_CONFIG_POLL_MS: '50', MODEL_POLL_MS: '50' });
  app = await buildApiApp({ config });
  // A second api process: two marketers' saves reach different servers, sharing only Postgres and Redis.
  other = await buildApiApp({ config });
});

afterAll(async () => {
  await Promise.all([app?.close(), other?.close()]);
  await infra?.close();
});

const ifMatchHeaders = (ifMatch?: string) => (ifMatch === undefined ? {} : { 'if-match': ifMatch });
const rule = (limit: number) => ({ channel: 'push', limit, window: '24h' });
const putRule = (ruleId: string, payload: object, ifMatch?: string, via = app) =>
  via.inject({ method: 'PUT', url: `/v1/push/rules/${ruleId}`, payload, headers: ifMatchHeaders(ifMatch) });
const deleteRule = (ruleId: string, ifMatch?: string, via = app) =>
  via.inject({ method: 'DELETE', url: `/v1/push/rules/${ruleId}`, headers: ifMatchHeaders(ifMatch) });
const getRule = (ruleId: string) => app.inject({ method: 'GET', url: `/v1/push/rules/${ruleId}` });
const quiet = (start: string) => ({ start, end: '08:00', channels: ['push'] });
const putQuietHours = (payload: object, ifMatch?: string, via = app) =>
  via.inject({ method: 'PUT', url: '/v1/push/quiet-hours', payload, headers: ifMatchHeaders(ifMatch) });
const getQuietHours = () => app.inject({ method: 'GET', url: '/v1/push/quiet-hours' });
const storedRules = async () =>
  ((await app.inject({ method: 'GET', url: '/v1/push/rules' })).json() as { rules: PushRuleView[] }).rules;

describe('concurrent edits of a push rule', () => {
  it('GET /v1/push/rules/:ruleId answers the rule with its version as ETag, 404 when there is none', async () => {
    const saved = await putRule('etag-read', rule(3));
    expect(saved.statusCode).toBe(200);
    expect(saved.headers.etag).toBe(`"${saved.json().version}"`);
    const read = await getRule('etag-read');
    expect(read.statusCode).toBe(200);
    expect(read.headers.etag).toBe(`"${saved.json().version}"`);
    expect(read.json()).toEqual(saved.json());
    const missing = await getRule('never-made');
    expect(missing.statusCode).toBe(404);
    expect(missing.json()).toMatchObject({ error: 'not_found' });
  });

  it('refuses the second of two PUTs sent with the same If-Match, 412 naming the version in force', async () => {
    const etag = (await putRule('stale-put', rule(3))).headers.etag as string;
    const first = await putRule('stale-put', rule(4), etag);
    expect(first.statusCode).toBe(200);
    const stored = first.json() as PushRuleView;
    expect(first.headers.etag).toBe(`"${stored.version}"`);

    const second = await putRule('stale-put', rule(5), etag, other);
    expect(second.statusCode).toBe(412);
    expect(second.headers['content-type']).toMatch(/^application\/json/);
    expect(second.headers.etag).toBe(`"${stored.version}"`);
    const body = second.json();
    expect(body).toMatchObject({ error: 'precondition_failed', details: { currentVersion: stored.version } });
    expect(body.message).toContain(`"${stored.version}"`);
    expect((await getRule('stale-put')).json()).toEqual(stored);
    const served = JSON.parse((await app.pushLedger.readConfig()).configJson!) as { rules: PushRuleView[] };
    expect(served.rules.find((r) => r.ruleId === 'stale-put')).toEqual(stored);
  });

  it('stores exactly one of two PUTs racing with the same If-Match, on two api processes', async () => {
    const etag = (await putRule('race-put', rule(1))).headers.etag as string;
    const answers = await Promise.all([
      putRule('race-put', rule(7), etag, app),
      putRule('race-put', rule(8), etag, other),
    ]);
    expect(answers.map((a) => a.statusCode).sort()).toEqual([200, 412]);
    const winner = answers.find((a) => a.statusCode === 200)!.json() as PushRuleView;
    const loser = answers.find((a) => a.statusCode === 412)!.json();
    expect(loser.details).toEqual({ currentVersion: winner.version });
    expect((await getRule('race-put')).json()).toEqual(winner);
    const history = (await app.inject({ method: 'GET', url: '/v1/push/rules/race-put/versions' })).json();
    expect(history.versions.map((v: { version: number }) => v.version)).toEqual([2, 1]);
  });

  it('If-Match "0" creates a rule only while none of that id exists', async () => {
    const racers = await Promise.all([
      putRule('create-once', rule(2), '"0"', app),
      putRule('create-once', rule(9), '"0"', other),
    ]);
    expect(racers.map((a) => a.statusCode).sort()).toEqual([200, 412]);
    const created = racers.find((a) => a.statusCode === 200)!.json() as PushRuleView;
    const refused = racers.find((a) => a.statusCode === 412)!;
    expect(refused.json().details).toEqual({ currentVersion: created.version });
    expect((await storedRules()).filter((r) => r.ruleId === 'create-once')).toEqual([created]);
  });

  it('refuses a PUT naming a rule deleted since, with currentVersion 0, and recreates it with "0"', async () => {
    const etag = (await putRule('deleted-since', rule(3))).headers.etag as string;
    expect((await deleteRule('deleted-since', etag, other)).statusCode).toBe(200);
    const stale = await putRule('deleted-since', rule(4), etag);
    expect(stale.statusCode).toBe(412);
    expect(stale.headers.etag).toBe('"0"');
    expect(stale.json()).toMatchObject({ error: 'precondition_failed', details: { currentVersion: 0 } });
    expect((await getRule('deleted-since')).statusCode).toBe(404);
    const recreated = await putRule('deleted-since', rule(4), '"0"');
    expect(recreated.statusCode).toBe(200);
    // Versions keep counting over the deletion (version 2), so "3" names only this rule.
    expect(recreated.headers.etag).toBe('"3"');
  });

  it('refuses a DELETE naming an older version, keeping the rule; exactly one of two racing DELETEs', async () => {
    const etag = (await putRule('stale-delete', rule(3))).headers.etag as string;
    const changed = (await putRule('stale-delete', rule(4), etag, other)).json() as PushRuleView;
    const stale = await deleteRule('stale-delete', etag);
    expect(stale.statusCode).toBe(412);
    expect(stale.json()).toMatchObject({ details: { currentVersion: changed.version } });
    expect((await getRule('stale-delete')).json()).toEqual(changed);

    const racers = await Promise.all([
      deleteRule('stale-delete', `"${changed.version}"`, app),
      putRule('stale-delete', rule(6), `"${changed.version}"`, other),
    ]);
    expect(racers.map((a) => a.statusCode).sort()).toEqual([200, 412]);
  });

  it('stores a PUT whose If-Match lists the version in force, or is *, and one without If-Match', async () => {
    const { version } = (await putRule('unconditional', rule(1))).json() as PushRuleView;
    expect((await putRule('unconditional', rule(2), `"1000000", W/"${version}"`)).statusCode).toBe(200);
    expect((await putRule('unconditional', rule(3), '*')).statusCode).toBe(200);
    expect((await putRule('unconditional', rule(4))).statusCode).toBe(200);
    expect((await getRule('unconditional')).json()).toMatchObject({ limit: 4, version: version + 3 });
  });

  it('refuses an If-Match that names no version with 400, storing nothing', async () => {
    const before = (await putRule('bad-if-match', rule(1))).json() as PushRuleView;
    for (const ifMatch of ['7', '"v7"', '""', '"1",']) {
      expect((await putRule('bad-if-match', rule(2), ifMatch)).statusCode, ifMatch).toBe(400);
      expect((await deleteRule('bad-if-match', ifMatch)).statusCode, ifMatch).toBe(400);
    }
    expect((await getRule('bad-if-match')).json()).toEqual(before);
  });

  it("rolls a rule back to an earlier version: the version's definition PUT with the If-Match in force", async () => {
    await putRule('rollback', { ...rule(3), category: 'shoes' });
    const newer = (await putRule('rollback', rule(10))).json() as PushRuleView;
    const history = (await app.inject({ method: 'GET', url: '/v1/push/rules/rollback/versions' })).json();
    const first = history.versions.find((v: { version: number }) => v.version === 1);
    const rolledBack = await putRule('rollback', first.definition, `"${newer.version}"`);
    expect(rolledBack.statusCode).toBe(200);
    expect(rolledBack.json()).toMatchObject({ limit: 3, category: 'shoes', version: 3 });
  });
});

describe('concurrent edits of the quiet hours', () => {
  it('GET answers the version in force as its ETag, "0" before any PUT; a PUT answers its new version', async () => {
    const before = await getQuietHours();
    expect(before.headers.etag).toBe('"0"');
    expect(before.json().current).toBeNull();
    const first = await putQuietHours(quiet('22:00'), '"0"');
    expect(first.statusCode).toBe(200);
    expect(first.headers.etag).toBe(`"${first.json().version}"`);
    expect((await getQuietHours()).headers.etag).toBe(`"${first.json().version}"`);
  });

  it('stores exactly one of two PUTs racing with the same If-Match, on two api processes', async () => {
    const etag = (await getQuietHours()).headers.etag as string;
    const answers = await Promise.all([
      putQuietHours(quiet('21:00'), etag, app),
      putQuietHours(quiet('23:00'), etag, other),
    ]);
    expect(answers.map((a) => a.statusCode).sort()).toEqual([200, 412]);
    const winner = answers.find((a) => a.statusCode === 200)!.json() as QuietHoursView;
    const loser = answers.find((a) => a.statusCode === 412)!;
    expect(loser.json()).toMatchObject({
      error: 'precondition_failed',
      details: { currentVersion: winner.version },
    });
    expect(loser.headers.etag).toBe(`"${winner.version}"`);
    const read = await getQuietHours();
    expect(read.json().current).toEqual(winner);
    expect(read.headers.etag).toBe(`"${winner.version}"`);
  });
});

describe('the OpenAPI document of the push rules', () => {
  it('declares If-Match and the 412 answer on every change, and the GET of one rule', async () => {
    const doc = (await app.inject({ method: 'GET', url: '/docs/json' })).json();
    const changes = [
      doc.paths['/v1/push/rules/{ruleId}'].put,
      doc.paths['/v1/push/rules/{ruleId}'].delete,
      doc.paths['/v1/push/quiet-hours'].put,
    ];
    for (const change of changes) {
      expect(change.parameters).toContainEqual(expect.objectContaining({ in: 'header', name: 'if-match' }));
      expect(change.responses['412']).toBeDefined();
    }
    expect(doc.paths['/v1/push/rules/{ruleId}'].get.responses['404']).toBeDefined();
  });
});
