import type { AddressInfo } from 'node:net';
import { buildApiApp, loadApiConfig } from '@elevens/api';
import type { RegisteredRoute } from '@elevens/http';
import { buildIngestApp, loadIngestConfig } from '@elevens/ingest';
import { createTestInfra, rawExchange, type TestInfra } from '@elevens/testkit';
import type { InjectOptions } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';

type Json = Record<string, unknown>;
type OpenApiDocument = {
  openapi: string;
  info: { title: string; version: string };
  paths: Record<string, Record<string, Json>>;
  components: { schemas?: Record<string, Json>; securitySchemes?: Record<string, Json> };
};

const HTTP_METHODS = new Set(['get', 'put', 'post', 'delete', 'patch', 'options', 'head', 'trace']);

/** Fastify's `/a/:id` as OpenAPI's `/a/{id}`. */
const openApiPath = (url: string) => url.replace(/:([A-Za-z0-9_]+)/g, '{$1}');

/** Every `$ref` in a JSON value. */
function collectRefs(value: unknown, into: string[] = []): string[] {
  if (Array.isArray(value)) for (const v of value) collectRefs(v, into);
  else if (value && typeof value === 'object') {
    for (const [key, v] of Object.entries(value)) {
      if (key === '$ref' && typeof v === 'string') into.push(v);
      else collectRefs(v, into);
    }
  }
  return into;
}

/** The OpenAPI 3.x required fields and the cross-references a client generator relies on; returns problems. */
function openApiProblems(doc: OpenApiDocument): string[] {
  const problems: string[] = [];
  if (!/^3\.\d+\.\d+$/.test(doc.openapi)) problems.push(`openapi: ${doc.openapi}`);
  if (typeof doc.info?.title !== 'string' || typeof doc.info?.version !== 'string') problems.push('info');
  const schemes = doc.components?.securitySchemes ?? {};
  for (const [name, scheme] of Object.entries(schemes)) {
    if (scheme.type === 'http' && typeof scheme.scheme !== 'string') problems.push(`scheme ${name}`);
    if (scheme.type === 'apiKey' && !(typeof scheme.name === 'string' && scheme.in === 'header'))
      problems.push(`scheme ${name}`);
  }
  for (const [path, item] of Object.entries(doc.paths ?? {})) {
    if (!path.startsWith('/')) problems.push(`path ${path}`);
    const templated = [...path.matchAll(/\{([^}]+)\}/g)].map((m) => m[1]);
    for (const [method, operation] of Object.entries(item)) {
      if (!HTTP_METHODS.has(method)) continue;
      const where = `${method.toUpperCase()} ${path}`;
      const responses = operation.responses as Record<string, Json> | undefined;
      if (!responses || Object.keys(responses).length === 0) problems.push(`${where}: no responses`);
      for (const [status, response] of Object.entries(responses ?? {})) {
        if (!/^([1-5]\d\d|[1-5]XX|default)$/.test(status)) problems.push(`${where}: status ${status}`);
        if (typeof response.description !== 'string') problems.push(`${where} ${status}: no description`);
      }
      const parameters = (operation.parameters as Json[] | undefined) ?? [];
      for (const parameter of parameters) {
        if (
          typeof parameter.name !== 'string' ||
          !['query', 'header', 'path', 'cookie'].includes(String(parameter.in))
        )
          problems.push(`${where}: parameter ${JSON.stringify(parameter)}`);
        if (parameter.in === 'path' && parameter.required !== true)
          problems.push(`${where}: optional path parameter`);
      }
      for (const name of templated) {
        if (!parameters.some((p) => p.in === 'path' && p.name === name))
          problems.push(`${where}: no parameter ${name}`);
      }
      for (const requirement of (operation.security as Json[] | undefined) ?? []) {
        for (const name of Object.keys(requirement)) {
          if (!(name in schemes)) problems.push(`${where}: unknown security scheme ${name}`);
        }
      }
    }
  }
  for (const [name, schema] of Object.entries(doc.components?.schemas ?? {})) {
    if (!/^[A-Za-z0-9._-]+$/.test(name)) problems.push(`component name ${name}`);
    if (typeof schema !== 'object' || schema === null || Array.isArray(schema))
      problems.push(`component ${name}`);
  }
  const operationIds = Object.values(doc.paths ?? {}).flatMap((item) =>
    Object.values(item).flatMap((operation) =>
      typeof operation.operationId === 'string' ? [operation.operationId] : [],
    ),
  );
  if (new Set(operationIds).size !== operationIds.length) problems.push('duplicate operationId');
  for (const ref of collectRefs(doc)) {
    const match = /^#\/components\/schemas\/(.+)$/.exec(ref);
    if (!match || !doc.components.schemas?.[decodeURIComponent(match[1]!)])
      problems.push(`dangling $ref ${ref}`);
  }
  return problems;
}

/** Each documented route with the statuses it declares, against the operations in the document. */
function missingRoutes(doc: OpenApiDocument, routes: readonly RegisteredRoute[]): string[] {
  const missing: string[] = [];
  for (const route of routes.filter((r) => !r.hidden)) {
    const operation = doc.paths[openApiPath(route.url)]?.[route.method.toLowerCase()];
    if (!operation) {
      missing.push(`${route.method} ${route.url}`);
      continue;
    }
    const documented = Object.keys((operation.responses as Json | undefined) ?? {});
    for (const status of route.statuses) {
      if (!documented.includes(status)) missing.push(`${route.method} ${route.url} ${status}`);
    }
    const secured = Array.isArray(operation.security) && operation.security.length > 0;
    if (secured !== (route.scope !== undefined)) missing.push(`${route.method} ${route.url} security`);
  }
  return missing;
}

/** A value with every `#/components/schemas/…` reference replaced by the schema it names. */
function withRefsInlined(value: unknown, schemas: Record<string, Json>): unknown {
  if (Array.isArray(value)) return value.map((v) => withRefsInlined(v, schemas));
  if (!value || typeof value !== 'object') return value;
  const ref = (value as Json).$ref;
  if (typeof ref === 'string') {
    const name = decodeURIComponent(ref.replace('#/components/schemas/', ''));
    return withRefsInlined(schemas[name], schemas);
  }
  return Object.fromEntries(Object.entries(value).map(([key, v]) => [key, withRefsInlined(v, schemas)]));
}

/** The JSON body an operation declares for a status, as a client generated from the document would check it. */
function declaredBody(doc: OpenApiDocument, method: string, path: string, status: number): z.ZodType {
  const responses = doc.paths[path]![method]!.responses as Record<
    string,
    { content?: Record<string, { schema: Json }> }
  >;
  const schema = responses[String(status)]?.content?.['application/json']?.schema;
  if (!schema) throw new Error(`${method.toUpperCase()} ${path} declares no JSON body for ${status}`);
  return z.fromJSONSchema(withRefsInlined(schema, doc.components.schemas ?? {}) as Json);
}

const HEALTH_PATHS = ['/healthz', '/readyz'];

let infra: TestInfra;
const apps: {
  name: string;
  app: Awaited<ReturnType<typeof buildApiApp>> | Awaited<ReturnType<typeof buildIngestApp>>;
}[] = [];

beforeAll(async () => {
  infra = await createTestInfra('openapi-docs');
  apps.push({ name: 'api', app: await buildApiApp({ config: loadApiConfig(infra.env) }) });
  apps.push({ name: 'ingest', app: await buildIngestApp({ config: loadIngestConfig(infra.env) }) });
  await Promise.all(apps.map(({ app }) => app.ready()));
});

afterAll(async () => {
  await Promise.all(apps.map(({ app }) => app.close()));
  await infra.close();
});

describe('OpenAPI documents', () => {
  it.each(['api', 'ingest'])('%s serves a valid OpenAPI 3 document covering every route', async (name) => {
    const { app } = apps.find((a) => a.name === name)!;
    const response = await app.inject({ method: 'GET', url: '/docs/json' });
    expect(response.statusCode).toBe(200);
    const doc = response.json() as OpenApiDocument;
    expect(openApiProblems(doc)).toEqual([]);
    expect(doc.openapi.startsWith('3.')).toBe(true);
    expect(Object.keys(doc.components.securitySchemes ?? {})).toEqual(['bearerKey', 'headerKey']);
    const visible = app.registeredRoutes.filter((r) => !r.hidden);
    expect(visible.length).toBeGreaterThan(2);
    expect(missingRoutes(doc, app.registeredRoutes)).toEqual([]);
    expect(doc.paths['/metrics']).toBeUndefined();
    expect(doc.paths['/docs/json']).toBeUndefined();
  });

  it('references the shared schemas from components and marks keyed routes', async () => {
    const { app } = apps.find((a) => a.name === 'ingest')!;
    const doc = (await app.inject({ method: 'GET', url: '/docs/json' })).json() as OpenApiDocument;
    expect(Object.keys(doc.components.schemas ?? {})).toEqual(expect.arrayContaining(['ErrorBody']));
    const post = doc.paths['/v1/events']!.post!;
    expect(post.security).toEqual([{ bearerKey: [] }, { headerKey: [] }]);
    expect(JSON.stringify((post.responses as Json)['400'])).toContain('#/components/schemas/ErrorBody');
    // What the auth and rate-limit hooks answer before the route runs is documented too.
    for (const status of ['401', '403', '429'])
      expect(JSON.stringify((post.responses as Json)[status])).toContain('#/components/schemas/ErrorBody');
    expect(doc.paths['/healthz']!.get!.security).toEqual([]);
    expect(Object.keys((doc.paths['/healthz']!.get!.responses as Json) ?? {})).not.toContain('401');
  });

  it('documents the body of POST /v1/events as the events it takes, each still checked on its own', async () => {
    const { app } = apps.find((a) => a.name === 'ingest')!;
    const doc = (await app.inject({ method: 'GET', url: '/docs/json' })).json() as OpenApiDocument;
    const requestBody = doc.paths['/v1/events']!.post!.requestBody as {
      content: Record<string, { schema: Json }>;
    };
    const schema = requestBody.content['application/json']!.schema;
    const eventRef = { $ref: '#/components/schemas/EventInputInput' };
    expect(schema.anyOf).toEqual([
      {
        type: 'object',
        properties: { events: { type: 'array', minItems: 1, maxItems: 1000, items: eventRef } },
        required: ['events'],
      },
      eventRef,
    ]);
    expect(Object.keys(doc.components.schemas!.EventInputInput!.properties as Json)).toEqual(
      expect.arrayContaining(['userId', 'itemId', 'type', 'timestamp']),
    );
    // The document is stricter than the check of the batch: one bad event is rejected, not the batch.
    const answer = await app.inject({
      method: 'POST',
      url: '/v1/events',
      payload: {
        events: [
          { userId: 'u1', itemId: 'i1', type: 'view' },
          { userId: 'u1', type: 'view' },
        ],
      },
    });
    expect(answer.statusCode).toBe(200);
    expect(answer.json()).toMatchObject({ accepted: 1, rejected: [{ index: 1 }] });
  });

  it.each(['api', 'ingest'])(
    '%s declares on every route the answers given before it runs: bad query, body too large, not JSON',
    async (name) => {
      const { app } = apps.find((a) => a.name === name)!;
      const doc = app.swagger() as unknown as OpenApiDocument;
      const bodyLimit = app.initialConfig.bodyLimit!;
      const undeclared: string[] = [];
      for (const route of app.registeredRoutes.filter((r) => !r.hidden)) {
        const method = route.method as NonNullable<InjectOptions['method']>;
        const url = route.url.replace(/:[A-Za-z0-9_]+/g, 'x1');
        // Each is answered by createBaseApp's hooks and parsers before the route runs, whatever the route.
        const probes: [number, InjectOptions][] = [[400, { method, url: `${url}?q=%zz` }]];
        if (method !== 'GET') {
          probes.push([415, { method, url, headers: { 'content-type': 'text/plain' }, payload: '{}' }]);
          probes.push([
            413,
            {
              method,
              url,
              headers: { 'content-type': 'application/json' },
              payload: `"${'x'.repeat(bodyLimit)}"`,
            },
          ]);
        }
        const declared = Object.keys(
          doc.paths[openApiPath(route.url)]![method.toLowerCase()]!.responses as Json,
        );
        for (const [expected, probe] of probes) {
          const answer = await app.inject(probe);
          expect(answer.statusCode, `${route.method} ${route.url}`).toBe(expected);
          if (!declared.includes(String(expected)))
            undeclared.push(`${route.method} ${route.url} ${expected}`);
        }
      }
      expect(undeclared).toEqual([]);
    },
  );

  it.each(['api', 'ingest'])(
    '%s answers its health routes, draining and closing, in the bodies they declare',
    async (name) => {
      const app =
        name === 'api'
          ? await buildApiApp({ config: loadApiConfig(infra.env) })
          : await buildIngestApp({ config: loadIngestConfig(infra.env) });
      // Holds the app closing after createBaseApp's preClose hook: the server still takes requests, answered 503.
      let closingReached = () => {};
      const reached = new Promise<void>((resolve) => (closingReached = resolve));
      let finishClosing = () => {};
      const held = new Promise<void>((resolve) => (finishClosing = resolve));
      app.addHook('preClose', async () => {
        closingReached();
        await held;
      });
      await app.listen({ host: '127.0.0.1', port: 0 });
      const { port } = app.server.address() as AddressInfo;
      const doc = app.swagger() as unknown as OpenApiDocument;
      const answers: { when: string; path: string; status: number; body: unknown }[] = [];
      app.lifecycle.draining = true;
      for (const path of HEALTH_PATHS) {
        const answer = await app.inject({ method: 'GET', url: path });
        answers.push({ when: 'draining', path, status: answer.statusCode, body: answer.json() });
      }
      const closed = app.close();
      try {
        await reached;
        for (const path of HEALTH_PATHS) {
          const answer = await rawExchange(
            port,
            `GET ${path} HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n`,
          );
          const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(answer)?.[1]);
          const body: unknown = JSON.parse(answer.slice(answer.indexOf('\r\n\r\n') + 4));
          answers.push({ when: 'closing', path, status, body });
        }
      } finally {
        finishClosing();
        await closed;
      }
      for (const { when, path, status, body } of answers) {
        expect(status, `${when} ${path}`).toBe(503);
        const parsed = declaredBody(doc, 'get', path, 503).safeParse(body);
        expect(parsed.success, `${when} ${path}: ${JSON.stringify(body)}`).toBe(true);
      }
      expect(answers.filter((a) => a.when === 'closing').map((a) => a.body)).toEqual([
        { error: 'unavailable', message: 'the service is shutting down, retry shortly' },
        { error: 'unavailable', message: 'the service is shutting down, retry shortly' },
      ]);
    },
  );

  it.each(['api', 'ingest'])(
    '%s serves /docs/json as the document serialised by JSON.stringify',
    async (name) => {
      const { app } = apps.find((a) => a.name === name)!;
      const expected = JSON.stringify(app.swagger());
      for (let request = 0; request < 2; request++) {
        const response = await app.inject({ method: 'GET', url: '/docs/json' });
        expect(response.headers['content-type']).toBe('application/json; charset=utf-8');
        expect(response.body === expected).toBe(true);
      }
    },
  );

  it('serves Swagger UI at /docs', async () => {
    const { app } = apps.find((a) => a.name === 'api')!;
    const response = await app.inject({ method: 'GET', url: '/docs/' });
    expect(response.statusCode).toBe(200);
    expect(response.headers['content-type']).toContain('text/html');
    expect(response.body).toContain('swagger');
  });

  it('finds what is wrong in a broken document', () => {
    const broken: OpenApiDocument = {
      openapi: '2.0',
      info: { title: 't', version: '1' },
      paths: { '/a/{id}': { get: { responses: { 200: { $ref: '#/components/schemas/Nope' } } } } },
      components: {},
    };
    expect(openApiProblems(broken)).toEqual([
      'openapi: 2.0',
      'GET /a/{id} 200: no description',
      'GET /a/{id}: no parameter id',
      'dangling $ref #/components/schemas/Nope',
    ]);
  });
});
