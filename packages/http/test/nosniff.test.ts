import type net from 'node:net';
import { ExternalId } from '@elevens/domain';
import { rawExchange } from '@elevens/testkit';
import { afterEach, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { createBaseApp, type ElevensApp } from '../src/app';
import { HttpError } from '../src/errors';

/**
 * Every JSON answer, errors included, tells browsers not to guess its type: an answer that echoes client input
 * (an id in a 404's message, a validation message) must not be read as HTML or a script.
 */
const apps: ElevensApp[] = [];
afterEach(async () => {
  await Promise.all(apps.splice(0).map((app) => app.close()));
});

function buildApp() {
  const app = createBaseApp({ logging: { level: 'silent' } });
  apps.push(app);
  app.get('/things', async () => ({ ok: true }));
  app.get('/things/:id', { schema: { params: z.object({ id: ExternalId }) } }, async (request) => ({
    id: request.params.id,
  }));
  app.get('/refused', async () => {
    throw new HttpError(409, 'conflict', 'already there');
  });
  app.get('/broken', async () => {
    throw new Error('a bug');
  });
  return app;
}

describe('x-content-type-options: nosniff', () => {
  it.each([
    ['a route', 'GET', '/things', 200],
    ['a route error', 'GET', '/refused', 409],
    ['an internal error', 'GET', '/broken', 500],
    ['a validation error', 'GET', '/things/a%00b', 400],
    ['a path no route has', 'GET', '/<script>', 404],
    ['a method the path has no route for', 'DELETE', '/things', 405],
    ['a path that does not decode, refused before routing', 'GET', '/things/%zz', 400],
    ['a query that does not decode', 'GET', '/things?x=%E0%A4%A', 400],
  ] as const)('is on the answer to %s', async (_what, method, url, status) => {
    const response = await buildApp().inject({ method, url });
    expect(response.statusCode).toBe(status);
    expect(response.headers['content-type']).toMatch(/^application\/json/);
    expect(response.headers['x-content-type-options']).toBe('nosniff');
  });

  it('is on the raw answer to a request the HTTP parser refuses', async () => {
    const app = buildApp();
    await app.listen({ host: '127.0.0.1', port: 0 });
    const answer = await rawExchange(
      (app.server.address() as net.AddressInfo).port,
      'GET /things HTTP/1.1\r\nHost: x\r\nBad Header: y\r\n\r\n',
    );
    expect(answer).toMatch(/^HTTP\/1\.1 400 /);
    const head = answer.slice(0, answer.indexOf('\r\n\r\n')).toLowerCase();
    expect(head.split('\r\n')).toContain('x-content-type-options: nosniff');
  });
});
