/**
 * One error contract on both services: identifiers follow one rule wherever a route takes them (body, path,
 * query), a wrong method on an existing path is 405 with `Allow`, and a port already in use stops the process
 * with one line.
 */
import { execFile } from 'node:child_process';
import { once } from 'node:events';
import net from 'node:net';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { buildApiApp, loadApiConfig } from '@elevens/api';
import { buildIngestApp, loadIngestConfig } from '@elevens/ingest';
import { createTestInfra, type TestInfra } from '@elevens/testkit';
import type { FastifyInstance, InjectOptions } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { errorShapeProblem } from './support/fuzz-inputs';

type Json = Record<string, unknown>;

/** Names of values that are external identifiers wherever a request carries them. */
const ID_NAMES = new Set([
  'userId',
  'itemId',
  'categoryId',
  'category',
  'campaignId',
  'eventId',
  'sessionId',
  'recommendationId',
]);
/** `ExternalId` as the OpenAPI documents show it. */
const EXTERNAL_ID_SCHEMA = { type: 'string', minLength: 1, maxLength: 128, pattern: '^[^\\0]*$' };
const NUL_MESSAGE = 'must not contain NUL characters';

let infra: TestInfra;
let api: FastifyInstance;
let ingest: FastifyInstance;

beforeAll(async () => {
  infra = await createTestInfra('error-contract');
  api = await buildApiApp({ config: loadApiConfig(infra.env) });
  ingest = await buildIngestApp({ config: loadIngestConfig(infra.env) });
  await Promise.all([api.ready(), ingest.ready()]);
});

afterAll(async () => {
  await api?.close();
  await ingest?.close();
  await infra?.close();
});

interface OpenApiDocument {
  paths: Record<string, Record<string, Json>>;
  components?: { schemas?: Record<string, Json> };
}

/**
 * Every identifier schema a request may carry, with where it is: parameters and request bodies, following their
 * `$ref`s into the components.
 */
function requestIdSchemas(doc: OpenApiDocument): [string, Json][] {
  const found: [string, Json][] = [];
  const visit = (value: unknown, where: string, seen: Set<string>) => {
    if (Array.isArray(value)) {
      for (const [i, inner] of value.entries()) visit(inner, `${where}.${i}`, seen);
      return;
    }
    if (value === null || typeof value !== 'object') return;
    const ref = (value as Json).$ref;
    if (typeof ref === 'string') {
      const name = ref.replace('#/components/schemas/', '');
      if (!seen.has(name)) visit(doc.components?.schemas?.[name], name, new Set(seen).add(name));
      return;
    }
    for (const [key, inner] of Object.entries(value)) {
      if (ID_NAMES.has(key) && inner !== null && typeof inner === 'object' && 'type' in inner)
        found.push([`${where}.${key}`, inner as Json]);
      else visit(inner, `${where}.${key}`, seen);
    }
  };
  for (const [path, item] of Object.entries(doc.paths)) {
    for (const [method, operation] of Object.entries(item)) {
      const where = `${method.toUpperCase()} ${path}`;
      for (const parameter of (operation.parameters as Json[] | undefined) ?? []) {
        visit({ [String(parameter.name)]: parameter.schema }, `${where} ${parameter.in}`, new Set());
      }
      visit(operation.requestBody, `${where} body`, new Set());
    }
  }
  return found;
}

describe('identifiers', () => {
  it('follow the one ExternalId rule in every parameter and request body of both services', () => {
    const ids = [api, ingest].flatMap((app) => requestIdSchemas(app.swagger() as unknown as OpenApiDocument));
    expect(ids.length).toBeGreaterThan(10);
    for (const [where, schema] of ids) expect(schema, where).toMatchObject(EXTERNAL_ID_SCHEMA);
  });

  const nulRequests: [string, 'api' | 'ingest', InjectOptions][] = [
    ['recommendations userId', 'api', { method: 'GET', url: '/v1/recommendations?userId=a%00b' }],
    ['recommendations itemId', 'api', { method: 'GET', url: '/v1/recommendations?userId=u&itemId=%00' }],
    ['recommendations exclude', 'api', { method: 'GET', url: '/v1/recommendations?userId=u&exclude=a,b%00' }],
    ['similar items path', 'api', { method: 'GET', url: '/v1/items/a%00/similar' }],
    ['trending category', 'api', { method: 'GET', url: '/v1/trending?category=%00' }],
    ['push budget path', 'api', { method: 'GET', url: '/v1/push/users/a%00/budget' }],
    ['push budget category', 'api', { method: 'GET', url: '/v1/push/users/u/budget?category=%00' }],
    [
      'push decision userId',
      'api',
      {
        method: 'POST',
        url: '/v1/push/decisions',
        payload: { userId: 'a\0', channel: 'push', campaignId: 'c' },
      },
    ],
    [
      'push decision campaignId',
      'api',
      {
        method: 'POST',
        url: '/v1/push/decisions',
        payload: { userId: 'u', channel: 'push', campaignId: '\0' },
      },
    ],
    [
      'event userId',
      'ingest',
      { method: 'POST', url: '/v1/events', payload: { userId: 'a\0', itemId: 'i', type: 'view' } },
    ],
    [
      'catalog itemId',
      'ingest',
      { method: 'PUT', url: '/v1/items', payload: { items: [{ itemId: 'a\0' }] } },
    ],
    ['user path', 'ingest', { method: 'PUT', url: '/v1/users/a%00', payload: {} }],
  ];
  it.each(nulRequests)('refuse NUL in the %s with 400 and one message', async (_name, service, request) => {
    const response = await (service === 'api' ? api : ingest).inject(request);
    expect(response.statusCode).toBe(400);
    expect(errorShapeProblem(response)).toBeNull();
    const { message } = response.json() as { message: string };
    expect(message).toContain(NUL_MESSAGE);
    expect(message.split(NUL_MESSAGE)).toHaveLength(2);
  });

  it('are accepted in paths up to the longest id, percent-encoded', async () => {
    const longest = '€'.repeat(128);
    const encoded = encodeURIComponent(longest);
    const similar = await api.inject({ method: 'GET', url: `/v1/items/${encoded}/similar` });
    expect(similar.statusCode).toBe(200);
    const budget = await api.inject({ method: 'GET', url: `/v1/push/users/${encoded}/budget` });
    expect(budget.statusCode).toBe(200);
    const user = await ingest.inject({ method: 'PUT', url: `/v1/users/${encoded}`, payload: {} });
    expect(user.statusCode).toBe(200);
    expect(user.json().userId).toBe(longest);
    const tooLong = await api.inject({ method: 'GET', url: `/v1/items/${encoded}x/similar` });
    expect(tooLong.statusCode).toBe(400);
  });

  it('make a decision for the longest user id that can be released again', async () => {
    const decision = await api.inject({
      method: 'POST',
      url: '/v1/push/decisions',
      payload: { userId: '€'.repeat(128), channel: 'push', campaignId: 'c' },
    });
    expect(decision.statusCode).toBe(200);
    const { decisionId } = decision.json() as { decisionId: string };
    const release = await api.inject({ method: 'DELETE', url: `/v1/push/decisions/${decisionId}` });
    expect(release.statusCode).toBe(200);
    expect(release.json()).toEqual({ decisionId, released: true });
  });
});

const METHODS = ['DELETE', 'GET', 'HEAD', 'OPTIONS', 'PATCH', 'POST', 'PUT'] as const;

describe('a method a path does not have', () => {
  it.each([
    ['api', () => api],
    ['ingest', () => ingest],
  ])(
    'is answered 405 on every route of %s, with Allow naming exactly the methods that work',
    async (_name, app) => {
      const paths = new Set(app().routeAccess.map((route) => route.url.replace(/:[A-Za-z0-9_]+|\*/g, 'x1')));
      expect(paths.size).toBeGreaterThan(3);
      for (const path of paths) {
        const answers = await Promise.all(
          METHODS.map(async (method) => ({ method, response: await app().inject({ method, url: path }) })),
        );
        const refused = answers.filter(({ response }) => response.statusCode === 405);
        const working = answers
          .filter(({ response }) => response.statusCode !== 405)
          .map(({ method }) => method);
        expect(refused.length, path).toBeGreaterThan(0);
        for (const { method, response } of refused) {
          expect(response.headers.allow, `${method} ${path}`).toBe(working.join(', '));
          if (method !== 'HEAD') expect(response.json().error).toBe('method_not_allowed');
        }
      }
    },
  );

  it('is still 404 on a path no route has', async () => {
    const response = await api.inject({ method: 'DELETE', url: '/v1/nothing-here' });
    expect(response.statusCode).toBe(404);
    expect(response.json()).toEqual({ error: 'not_found', message: 'no route for DELETE /v1/nothing-here' });
  });
});

const run = promisify(execFile);
const bin = fileURLToPath(new URL('../packages/cli/bin/elevens.js', import.meta.url));

// Each case starts a process of its own on a port of its own: they run at once, each waiting on its own start.
describe.concurrent('a port already in use', () => {
  it.for(['api', 'ingest'])(
    'stops elevens serve %s with one line and exit code 1',
    async (service, { expect }) => {
      const busy = net.createServer();
      busy.listen(0, '127.0.0.1');
      await once(busy, 'listening');
      const { port } = busy.address() as net.AddressInfo;
      try {
        const failure = await run('node', [bin, 'serve', service], {
          env: { ...process.env, ...infra.env, HOST: '127.0.0.1', PORT: String(port) },
          timeout: 60_000,
        }).then(
          () => ({ code: 0, stderr: '' }),
          (error: { code: number; stderr: string }) => error,
        );
        expect(failure.code).toBe(1);
        expect(failure.stderr.trim().split('\n')).toEqual([
          `elevens ${service}: cannot listen on 127.0.0.1:${port} (EADDRINUSE): the port is already in use; stop the other process or set PORT`,
        ]);
      } finally {
        busy.close();
      }
    },
  );

  it('stops elevens demo with one line before it does any work', async ({ expect }) => {
    const busy = net.createServer();
    busy.listen(0, '127.0.0.1');
    await once(busy, 'listening');
    const { port } = busy.address() as net.AddressInfo;
    try {
      const failure = await run(
        'node',
        [bin, 'demo', '--once', '--ingest-port', '0', '--api-port', String(port)],
        { env: { ...process.env, ...infra.env }, timeout: 60_000 },
      ).then(
        () => ({ code: 0, stdout: '', stderr: '' }),
        (error: { code: number; stdout: string; stderr: string }) => error,
      );
      expect(failure.code).toBe(1);
      expect(failure.stderr.trim().split('\n')).toEqual([
        `elevens demo: cannot listen on 127.0.0.1:${port} (EADDRINUSE): the port is already in use; stop the other process or set --api-port`,
      ]);
      expect(failure.stdout).not.toMatch(/accepted|built model/);
    } finally {
      busy.close();
    }
  });
});
