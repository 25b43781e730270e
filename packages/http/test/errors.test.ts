import { once } from 'node:events';
import net from 'node:net';
import { ConfigError } from '@elevens/config';
import { ExternalId } from '@elevens/domain';
import { rawExchange } from '@elevens/testkit';
import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { createBaseApp, type ElevensApp } from '../src/app';
import { listenWithGracefulShutdown } from '../src/server';

const ERROR_SHAPE = { error: expect.any(String), message: expect.any(String) };

const apps: ElevensApp[] = [];
afterEach(async () => {
  await Promise.all(apps.splice(0).map((app) => app.close()));
});

/** A base app with a few routes of each kind; `release` lets the slow route answer. */
function buildApp(bodyLimit?: number) {
  const app = createBaseApp({
    logging: { level: 'silent' },
    ...(bodyLimit === undefined ? {} : { bodyLimit }),
  });
  apps.push(app);
  let release = () => {};
  app.get('/things', async () => ({ ok: true }));
  app.post(
    '/things',
    { schema: { body: z.object({ events: z.array(z.object({ userId: ExternalId })) }) } },
    async () => ({ ok: true }),
  );
  app.get('/things/:id', { schema: { params: z.object({ id: ExternalId }) } }, async (request) => ({
    id: request.params.id,
  }));
  app.get('/slow', () => new Promise<{ ok: boolean }>((resolve) => (release = () => resolve({ ok: true }))));
  return { app, release: () => release() };
}

const statusOf = (answer: string) => Number(/^HTTP\/1\.1 (\d{3})/.exec(answer)?.[1]);
const bodyOf = (answer: string) => JSON.parse(answer.slice(answer.indexOf('\r\n\r\n') + 4));

async function portOf(app: ElevensApp): Promise<number> {
  await app.listen({ host: '127.0.0.1', port: 0 });
  return (app.server.address() as net.AddressInfo).port;
}

describe('validation errors', () => {
  it('names the body itself `body`, and nested values by their path', async () => {
    const { app } = buildApp();
    const root = await app.inject({ method: 'POST', url: '/things', payload: [] });
    expect(root.statusCode).toBe(400);
    const rootBody = root.json();
    expect(rootBody.message).toMatch(/^body: /);
    expect(rootBody.details).toEqual([{ path: 'body', message: expect.any(String) }]);

    const nested = await app.inject({
      method: 'POST',
      url: '/things',
      payload: { events: [{ userId: '' }] },
    });
    expect(nested.json().details).toEqual([{ path: 'body.events.0.userId', message: expect.any(String) }]);
  });

  it('refuses NUL in an id once, with one message', async () => {
    const { app } = buildApp();
    const response = await app.inject({ method: 'GET', url: '/things/a%00b' });
    expect(response.statusCode).toBe(400);
    expect(response.json()).toEqual({
      error: 'bad_request',
      message: 'params.id: must not contain NUL characters',
      details: [{ path: 'params.id', message: 'must not contain NUL characters' }],
    });
  });
});

describe('request ids', () => {
  it('names the request on every answer: routed, refused, unrouted and raised before routing', async () => {
    const { app } = buildApp();
    const requests = [
      ['GET', '/things'],
      ['POST', '/things'],
      ['GET', '/nothing'],
      ['DELETE', '/things'],
      ['GET', '/things/%zz'],
    ] as const;
    for (const [i, [method, url]] of requests.entries()) {
      const response = await app.inject({ method, url, headers: { 'x-request-id': `id-${i}` } });
      expect(response.headers['x-request-id'], `${method} ${url}`).toBe(`id-${i}`);
    }
    const generated = await app.inject({ method: 'GET', url: '/things' });
    expect(generated.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
  });
});

describe('requests no route answers', () => {
  it('answers 405 with Allow for a path that has routes for other methods', async () => {
    const { app } = buildApp();
    const deleted = await app.inject({ method: 'DELETE', url: '/things?x=1' });
    expect(deleted.statusCode).toBe(405);
    expect(deleted.headers.allow).toBe('GET, HEAD, POST');
    expect(deleted.json()).toEqual({
      error: 'method_not_allowed',
      message: 'DELETE is not allowed on /things (allowed: GET, HEAD, POST)',
    });
    const put = await app.inject({ method: 'PUT', url: '/things/some-id' });
    expect(put.statusCode).toBe(405);
    expect(put.headers.allow).toBe('GET, HEAD');
  });

  it('answers 404 for a path no method has, even with a catch-all OPTIONS route', async () => {
    const { app } = buildApp();
    app.options('*', async () => ({}));
    const missing = await app.inject({ method: 'GET', url: '/nothing' });
    expect(missing.statusCode).toBe(404);
    expect(missing.json()).toEqual({ error: 'not_found', message: 'no route for GET /nothing' });
    const deleted = await app.inject({ method: 'DELETE', url: '/things' });
    expect(deleted.headers.allow).toBe('GET, HEAD, OPTIONS, POST');
  });

  it('keeps 404 for a route of the request method that finds nothing', async () => {
    const { app } = buildApp();
    app.get('/files/*', (_request, reply) => reply.callNotFound());
    const missing = await app.inject({ method: 'GET', url: '/files/missing.txt' });
    expect(missing.statusCode).toBe(404);
    expect(missing.json().error).toBe('not_found');
    const posted = await app.inject({ method: 'POST', url: '/files/missing.txt' });
    expect(posted.statusCode).toBe(405);
    expect(posted.headers.allow).toBe('GET, HEAD');
  });

  it('answers 400 in the JSON shape for a URL that is not valid percent-encoding', async () => {
    const { app } = buildApp();
    for (const [method, url] of [
      ['GET', '/things/%zz'],
      ['GET', '/things/%E0%A4%A'],
      ['GET', '/nothing/%'],
      ['PATCH', '/things/%zz'],
    ] as const) {
      const response = await app.inject({ method, url });
      expect(response.statusCode, `${method} ${url}`).toBe(400);
      expect(response.json()).toEqual({
        error: 'bad_request',
        message: 'the URL is not validly percent-encoded UTF-8',
      });
    }
  });

  it('routes a path segment as long as the longest id, percent-encoded', async () => {
    const { app } = buildApp();
    const id = '€'.repeat(128);
    const response = await app.inject({ method: 'GET', url: `/things/${encodeURIComponent(id)}` });
    expect(response.statusCode).toBe(200);
    expect(response.json()).toEqual({ id });
  });
});

describe('body errors', () => {
  it('answers 413 for a body over the limit and 415 for a type without a parser, in the JSON shape', async () => {
    const { app } = buildApp(64);
    const large = await app.inject({
      method: 'POST',
      url: '/things',
      payload: { events: [{ userId: 'x'.repeat(100) }] },
    });
    expect(large.statusCode).toBe(413);
    expect(large.json()).toEqual({ error: 'payload_too_large', message: expect.any(String) });
    const csv = await app.inject({
      method: 'POST',
      url: '/things',
      headers: { 'content-type': 'text/csv' },
      payload: 'a,b',
    });
    expect(csv.statusCode).toBe(415);
    expect(csv.json()).toEqual({ error: 'unsupported_media_type', message: expect.any(String) });
  });

  it('takes an empty body sent as JSON as no body: a route without one answers, a route that needs one says so', async () => {
    const { app } = buildApp();
    app.delete('/things/:id', { schema: { params: z.object({ id: ExternalId }) } }, async (request) => ({
      deleted: request.params.id,
    }));
    // As Python's requests sends a DELETE with a JSON content type and no body.
    const json = { 'content-type': 'application/json; charset=utf-8', 'content-length': '0' };
    const deleted = await app.inject({ method: 'DELETE', url: '/things/a', headers: json });
    expect(deleted.statusCode).toBe(200);
    expect(deleted.json()).toEqual({ deleted: 'a' });
    const posted = await app.inject({ method: 'POST', url: '/things', headers: json });
    expect(posted.statusCode).toBe(400);
    expect(posted.json()).toMatchObject({
      error: 'bad_request',
      message: expect.stringMatching(/^body: /),
    });
  });

  it('still refuses JSON that is broken or poisons a prototype, 400 in the JSON shape', async () => {
    const { app } = buildApp();
    for (const payload of [
      '{"events": [',
      '{"__proto__": {"x": 1}, "events": []}',
      '{"constructor": {"prototype": {}}, "events": []}',
    ]) {
      const answer = await app.inject({
        method: 'POST',
        url: '/things',
        headers: { 'content-type': 'application/json' },
        payload,
      });
      expect(answer.statusCode).toBe(400);
      expect(answer.json()).toMatchObject(ERROR_SHAPE);
    }
  });
});

describe('requests the HTTP parser refuses', () => {
  const cases: [string, Buffer, number][] = [
    [
      'a raw UTF-8 byte in the path',
      Buffer.concat([
        Buffer.from('GET /things/'),
        Buffer.from('é'),
        Buffer.from(' HTTP/1.1\r\nhost: x\r\n\r\n'),
      ]),
      400,
    ],
    ['a control byte in the query', Buffer.from('GET /things?q=\x01 HTTP/1.1\r\nhost: x\r\n\r\n'), 400],
    ['NUL in a header value', Buffer.from('GET /things HTTP/1.1\r\nhost: x\r\nx-a: a\x00b\r\n\r\n'), 400],
    ['an unknown method', Buffer.from('BREW /things HTTP/1.1\r\nhost: x\r\n\r\n'), 400],
    [
      'headers over the limit',
      Buffer.from(`GET /things HTTP/1.1\r\nx-a: ${'a'.repeat(20_000)}\r\n\r\n`),
      431,
    ],
  ];
  it.each(cases)('answers %s in the JSON shape', async (_name, request, status) => {
    const { app } = buildApp();
    const answer = await rawExchange(await portOf(app), request);
    expect(statusOf(answer)).toBe(status);
    expect(answer).toMatch(/\r\ncontent-type: application\/json; charset=utf-8\r\n/);
    expect(bodyOf(answer)).toEqual(ERROR_SHAPE);
    expect(Object.keys(bodyOf(answer)).sort()).toEqual(['error', 'message']);
  });
});

describe('closing', () => {
  /** An app with a kept-alive connection whose `GET /slow` is in flight until `release()`; what it received. */
  async function slowRequestInFlight() {
    const { app, release } = buildApp();
    const port = await portOf(app);
    const socket = net.connect(port, '127.0.0.1');
    await once(socket, 'connect');
    let received = '';
    socket.on('data', (chunk: Buffer) => {
      received += chunk.toString('latin1');
    });
    socket.write('GET /slow HTTP/1.1\r\nhost: x\r\n\r\n');
    await new Promise((resolve) => setTimeout(resolve, 50));
    return { app, release, socket, received: () => received };
  }

  it('answers requests that arrive while closing 503 in the JSON shape', async () => {
    const { app, release, socket, received } = await slowRequestInFlight();
    const closed = app.close();
    socket.write('GET /things HTTP/1.1\r\nhost: x\r\n\r\n');
    await new Promise((resolve) => setTimeout(resolve, 50));
    release();
    await once(socket, 'close');
    await closed;
    const answers = received().split(/(?=HTTP\/1\.1 )/);
    expect(answers.map(statusOf)).toEqual([200, 503]);
    expect(answers[1]).toMatch(/\r\nretry-after: 1\r\n/);
    expect(bodyOf(answers[1]!)).toEqual({
      error: 'unavailable',
      message: 'the service is shutting down, retry shortly',
    });
  });

  it('closes a kept-alive connection once its in-flight answer is sent, so closing does not wait on the client', async () => {
    const { app, release, socket, received } = await slowRequestInFlight();
    const closed = app.close().then(() => 'closed' as const);
    await new Promise((resolve) => setTimeout(resolve, 50));
    release();
    // The client keeps its connection open, as a load balancer's pool does; the keep-alive timeout is 72 s.
    const outcome = await Promise.race([
      closed,
      new Promise<'still open'>((resolve) => setTimeout(() => resolve('still open'), 5_000)),
    ]);
    socket.destroy();
    await closed;
    expect(statusOf(received())).toBe(200);
    expect(outcome).toBe('closed');
  });
});

describe('listenWithGracefulShutdown', () => {
  it('turns a busy port into one line naming the service, and closes the app', async () => {
    const busy = net.createServer();
    busy.listen(0, '127.0.0.1');
    await once(busy, 'listening');
    const port = (busy.address() as net.AddressInfo).port;
    const { app } = buildApp();
    let closedApp = false;
    app.addHook('onClose', async () => {
      closedApp = true;
    });
    try {
      const failure = await listenWithGracefulShutdown(app, {
        name: 'api',
        host: '127.0.0.1',
        port,
        shutdownTimeoutMs: 1000,
      }).catch((error: unknown) => error);
      expect(failure).toBeInstanceOf(ConfigError);
      expect((failure as Error).message).toBe(
        `elevens api: cannot listen on 127.0.0.1:${port} (EADDRINUSE): the port is already in use; stop the other process or set PORT`,
      );
      expect(closedApp).toBe(true);
    } finally {
      busy.close();
    }
  });
});

describe('a store that stopped answering', () => {
  it.each([
    ['a Postgres query past its client-side time limit (pg query_timeout)', 'Query read timeout'],
    ['a Redis command past REDIS_COMMAND_TIMEOUT', 'Command timed out'],
  ])('is a 503 in the JSON shape, not a 500: %s', async (_case, message) => {
    const app = createBaseApp({ logging: { level: 'silent' } });
    apps.push(app);
    app.get('/stalled', async () => {
      throw new Error(message);
    });
    const response = await app.inject({ method: 'GET', url: '/stalled' });
    expect(response.statusCode).toBe(503);
    expect(response.json()).toMatchObject(ERROR_SHAPE);
  });
});
