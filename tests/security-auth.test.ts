import { buildApiApp, loadApiConfig } from '@elevens/api';
import { type CreatedApiKey, createApiKey, revokeApiKey } from '@elevens/db';
import type { ApiScope } from '@elevens/domain';
import type { RouteAccess } from '@elevens/http';
import { buildIngestApp, loadIngestConfig } from '@elevens/ingest';
import { createTestInfra, type TestInfra } from '@elevens/testkit';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { z } from 'zod';

let infra: TestInfra;
let api: FastifyInstance;
let ingest: FastifyInstance;
const keys = {} as Record<'reader' | 'writer' | 'pusher' | 'admin', CreatedApiKey>;

const authEnv = () => ({ ...infra.env, AUTH_REQUIRED: 'true', LOG_LEVEL: 'silent' });

beforeAll(async () => {
  infra = await createTestInfra('security-auth');
  keys.reader = await createApiKey(infra.pool, { name: 'storefront', scopes: ['recommendations:read'] });
  keys.writer = await createApiKey(infra.pool, { name: 'backend', scopes: ['events:write'] });
  keys.pusher = await createApiKey(infra.pool, { name: 'crm', scopes: ['push:decide'] });
  keys.admin = await createApiKey(infra.pool, { name: 'ops', scopes: ['admin'] });
  api = (await buildApiApp({ config: loadApiConfig(authEnv()) })) as unknown as FastifyInstance;
  // A route someone forgot to give a scope: it must be refused, not opened.
  api.get(
    '/v1/undeclared',
    { schema: { response: { 200: z.object({ opened: z.boolean() }) } } },
    async () => ({ opened: true }),
  );
  ingest = (await buildIngestApp({ config: loadIngestConfig(authEnv()) })) as unknown as FastifyInstance;
  await Promise.all([api.ready(), ingest.ready()]);
});

afterAll(async () => {
  await Promise.all([api?.close(), ingest?.close()]);
  await infra?.close();
});

const bearer = (key: CreatedApiKey) => ({ authorization: `Bearer ${key.secret}` });
/** A concrete URL for a route pattern: every parameter and wildcard filled with a plain id. */
const concrete = (url: string) => url.replace(/:[A-Za-z0-9_]+/g, 'x1').replace(/\*/g, 'x1');
const keyWithout = (scope: ApiScope) =>
  Object.values(keys).find((key) => !key.scopes.includes(scope) && !key.scopes.includes('admin'))!;

/**
 * Every (method, url) Fastify itself reports, HEAD included. printRoutes draws a tree of path segments, four
 * characters of indentation per level; a route's URL is its segment appended to its ancestors'.
 */
function printedRoutes(app: FastifyInstance): { method: string; url: string }[] {
  const routes: { method: string; url: string }[] = [];
  const ancestors: string[] = [];
  for (const line of app.printRoutes({ commonPrefix: false }).split('\n')) {
    const match = /^([│├└─ ]*)(\S.*?)(?: \(([A-Z, ]+)\))?\s*$/.exec(line);
    if (!match) continue;
    const depth = match[1]!.length / 4 - 1;
    ancestors.length = depth;
    const url = ancestors.join('') + match[2]!;
    ancestors.push(match[2]!);
    for (const method of match[3]?.split(',') ?? []) routes.push({ method: method.trim(), url });
  }
  return routes;
}

/** Routes needing a key; HEAD twins of GET routes answer the same without a body, so they are left out. */
const scopedRoutes = (app: FastifyInstance) =>
  app.routeAccess.filter(
    (r): r is RouteAccess & { scope: ApiScope } => r.scope !== null && !r.public && r.method !== 'HEAD',
  );
/**
 * Whether a URL printRoutes shows is a registered pattern. Fastify serves `/prefix` and `/prefix/` for a
 * plugin's root route but reports it once, and the tree prints a wildcard under its parent without the static
 * segments between them (`/docs/static/*` shows as `/docs/*`).
 */
function samePattern(printed: string, registered: string): boolean {
  const trim = (url: string) => (url.length > 1 ? url.replace(/\/$/, '') : url);
  if (trim(printed) === trim(registered)) return true;
  return printed.endsWith('*') && registered.endsWith('*') && registered.startsWith(printed.slice(0, -1));
}

describe.each([
  ['api', () => api],
  ['ingest', () => ingest],
])('the %s service', (_name, appOf) => {
  it('knows every route Fastify serves, and each declares a scope or is public', () => {
    const app = appOf();
    const printed = printedRoutes(app);
    expect(printed.length).toBeGreaterThan(3);
    for (const route of printed) {
      const known = app.routeAccess.some((r) => r.method === route.method && samePattern(route.url, r.url));
      expect(known, `${route.method} ${route.url}`).toBe(true);
    }
    const undeclared = app.routeAccess.filter(
      (r) => r.scope === null && !r.public && r.url !== '/v1/undeclared',
    );
    expect(undeclared).toEqual([]);
  });

  it('serves health checks, docs and metrics without a key', async () => {
    const app = appOf();
    for (const url of ['/healthz', '/docs/json', '/metrics']) {
      const response = await app.inject({ method: 'GET', url });
      expect(response.statusCode, url).toBe(200);
    }
    const publicRoutes = app.routeAccess.filter((r) => r.public).map((r) => r.url);
    expect(publicRoutes).toEqual(expect.arrayContaining(['/healthz', '/readyz', '/metrics', '/docs/json']));
  });

  it('answers 401 without a key and with an unknown one on every scoped route', async () => {
    const app = appOf();
    const routes = scopedRoutes(app);
    expect(routes.length).toBeGreaterThan(0);
    for (const route of routes) {
      const url = concrete(route.url);
      const method = route.method as 'GET';
      const none = await app.inject({ method, url });
      expect(none.statusCode, `${method} ${url}`).toBe(401);
      expect(none.json()).toMatchObject({ error: 'unauthorized', message: expect.any(String) });
      const unknown = await app.inject({ method, url, headers: { 'x-api-key': 'elv_not-a-key' } });
      expect(unknown.statusCode, `${method} ${url}`).toBe(401);
    }
  });

  it('answers 403 with a key lacking the scope, and lets the right scope and admin through', async () => {
    const app = appOf();
    for (const route of scopedRoutes(app)) {
      const url = concrete(route.url);
      const method = route.method as 'GET';
      const wrong = await app.inject({ method, url, headers: bearer(keyWithout(route.scope)) });
      expect(wrong.statusCode, `${method} ${url}`).toBe(403);
      expect(wrong.json()).toMatchObject({ error: 'forbidden' });
      const holders = Object.values(keys).filter((k) => k.scopes.includes(route.scope) || k === keys.admin);
      for (const key of holders) {
        const allowed = await app.inject({ method, url, headers: bearer(key) });
        expect([401, 403], `${method} ${url} with ${key.name}`).not.toContain(allowed.statusCode);
      }
    }
  });
});

describe('presenting a key', () => {
  const recommendations = '/v1/recommendations?userId=u1';

  it('accepts `authorization: Bearer` (any case) and `x-api-key`', async () => {
    for (const headers of [
      { authorization: `Bearer ${keys.reader.secret}` },
      { authorization: `bearer ${keys.reader.secret}` },
      { 'x-api-key': keys.reader.secret },
    ]) {
      const response = await api.inject({ method: 'GET', url: recommendations, headers });
      expect(response.statusCode).toBe(200);
    }
  });

  it('reads x-api-key when the authorization header holds something else', async () => {
    const response = await api.inject({
      method: 'GET',
      url: recommendations,
      headers: { authorization: 'Basic cHJveHk6cGFzcw==', 'x-api-key': keys.reader.secret },
    });
    expect(response.statusCode).toBe(200);
  });

  it('refuses malformed authorization headers with 401 and the error shape', async () => {
    for (const authorization of [
      'Basic dXNlcjpwYXNz',
      'Bearer',
      `Bearer ${keys.reader.secret} extra`,
      'Token x',
    ]) {
      const response = await api.inject({ method: 'GET', url: recommendations, headers: { authorization } });
      expect(response.statusCode, authorization).toBe(401);
      expect(response.json().error).toBe('unauthorized');
    }
  });

  it('refuses a route that declares no scope even to an admin key', async () => {
    const response = await api.inject({ method: 'GET', url: '/v1/undeclared', headers: bearer(keys.admin) });
    expect(response.statusCode).toBe(403);
    expect(response.json().message).toMatch(/declares no scope/);
  });

  it('answers 404 for unknown routes without asking for a key', async () => {
    const response = await api.inject({ method: 'GET', url: '/v1/nothing-here' });
    expect(response.statusCode).toBe(404);
  });
});

describe('key lifecycle', () => {
  it('accepts a new key and refuses a revoked one at the next key reload, without a restart', async () => {
    const key = await createApiKey(infra.pool, { name: 'rotating', scopes: ['events:write'] });
    const send = () =>
      ingest.inject({
        method: 'PUT',
        url: '/v1/users/u-lifecycle',
        headers: bearer(key),
        payload: { timezone: 'Europe/Berlin' },
      });
    // Keys are reloaded every AUTH_REFRESH_MS (at most 1 s); the wait is longer so a loaded machine passes too.
    const reload = { timeout: 10_000, interval: 50 };
    await vi.waitFor(async () => expect((await send()).statusCode).toBe(200), reload);
    expect(await revokeApiKey(infra.pool, key.id)).toBe('revoked');
    const refused = await vi.waitFor(async () => {
      const response = await send();
      expect(response.statusCode).toBe(401);
      return response;
    }, reload);
    expect(refused.json()).toMatchObject({ error: 'unauthorized' });
    expect(await revokeApiKey(infra.pool, key.id)).toBe('already-revoked');
    expect(await revokeApiKey(infra.pool, 'key_missing')).toBe('not-found');
  });

  it('stores only a SHA-256 of the secret', async () => {
    const { rows } = await infra.pool.query(
      "SELECT to_jsonb(k)::text AS row, encode(secret_hash, 'hex') AS hash FROM api_keys k WHERE id = $1",
      [keys.reader.id],
    );
    expect(rows[0].row).not.toContain(keys.reader.secret);
    expect(rows[0].row).not.toContain(keys.reader.secret.slice(4));
    const { createHash } = await import('node:crypto');
    expect(rows[0].hash).toBe(createHash('sha256').update(keys.reader.secret).digest('hex'));
    expect(keys.reader.secret).toMatch(/^elv_[A-Za-z0-9_-]{43}$/);
  });
});

describe('AUTH_REQUIRED=false', () => {
  it('checks nothing but still tells routes which valid key was sent', async () => {
    const open = await buildApiApp({ config: loadApiConfig({ ...infra.env, LOG_LEVEL: 'silent' }) });
    open.get('/whoami', { config: { public: true } }, async (request) => ({ apiKey: request.apiKey }));
    try {
      const anonymous = await open.inject({ method: 'GET', url: '/v1/recommendations?userId=u1' });
      expect(anonymous.statusCode).toBe(200);
      const wrongScope = await open.inject({
        method: 'GET',
        url: '/v1/recommendations?userId=u1',
        headers: bearer(keys.writer),
      });
      expect(wrongScope.statusCode).toBe(200);
      const known = await open.inject({ method: 'GET', url: '/whoami', headers: bearer(keys.pusher) });
      expect(known.json()).toEqual({ apiKey: { id: keys.pusher.id, name: 'crm', scopes: ['push:decide'] } });
      const unknown = await open.inject({
        method: 'GET',
        url: '/whoami',
        headers: { 'x-api-key': 'elv_nope' },
      });
      expect(unknown.json()).toEqual({ apiKey: null });
    } finally {
      await open.close();
    }
  });
});
