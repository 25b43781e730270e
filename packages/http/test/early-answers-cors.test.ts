import { once } from 'node:events';
import net from 'node:net';
import type { FastifyInstance } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { createBaseApp, type ElevensApp } from '../src/app';
import { corsPlugin } from '../src/cors';

const SHOP = 'https://shop.example';

const apps: ElevensApp[] = [];
afterEach(async () => {
  await Promise.all(apps.splice(0).map((app) => app.close()));
});

/** A base app with CORS for SHOP, registered as the security plugin does; `release` lets `GET /slow` answer. */
async function buildApp() {
  const app = createBaseApp({ logging: { level: 'silent' } });
  apps.push(app);
  await app.register(corsPlugin, { origins: [SHOP] });
  let release = () => {};
  app.get('/things/:id', async (request) => ({ id: (request.params as { id: string }).id }));
  app.get('/slow', () => new Promise<{ ok: boolean }>((resolve) => (release = () => resolve({ ok: true }))));
  return { app: app as unknown as FastifyInstance, release: () => release() };
}

const fromShop = (app: FastifyInstance, url: string) =>
  app.inject({ method: 'GET', url, headers: { origin: SHOP } });

describe('answers given before any hook runs carry the CORS headers a page needs to read them', () => {
  it('a URL whose query string does not decode: 400', async () => {
    const { app } = await buildApp();
    const response = await fromShop(app, '/things/a?userId=%E0%A4%A');
    expect(response.statusCode).toBe(400);
    expect(response.headers['access-control-allow-origin']).toBe(SHOP);
    expect(String(response.headers['access-control-expose-headers'])).toMatch(/x-request-id/);
  });

  it('a path that does not decode: 400', async () => {
    const { app } = await buildApp();
    const response = await fromShop(app, '/things/%E0%A4%A');
    expect(response.statusCode).toBe(400);
    expect(response.headers['access-control-allow-origin']).toBe(SHOP);
  });

  it('as routed answers and those of no route do (a 404 here)', async () => {
    const { app } = await buildApp();
    for (const url of ['/things/a', '/nowhere']) {
      const response = await fromShop(app, url);
      expect(response.headers['access-control-allow-origin'], url).toBe(SHOP);
    }
  });

  it('no CORS headers for an origin not configured', async () => {
    const { app } = await buildApp();
    const response = await app.inject({
      method: 'GET',
      url: '/things/%E0%A4%A',
      headers: { origin: 'https://evil.example' },
    });
    expect(response.statusCode).toBe(400);
    expect(response.headers['access-control-allow-origin']).toBeUndefined();
  });

  it('a request arriving while the service shuts down: 503 with a Retry-After the page may read', async () => {
    const { app, release } = await buildApp();
    await app.listen({ port: 0, host: '127.0.0.1' });
    const { port } = app.server.address() as net.AddressInfo;
    const socket = net.connect(port, '127.0.0.1');
    await once(socket, 'connect');
    let received = '';
    socket.on('data', (chunk: Buffer) => {
      received += chunk.toString('latin1');
    });
    socket.write('GET /slow HTTP/1.1\r\nhost: x\r\n\r\n');
    await new Promise((resolve) => setTimeout(resolve, 50));
    const closed = app.close();
    socket.write(`GET /things/a HTTP/1.1\r\nhost: x\r\norigin: ${SHOP}\r\n\r\n`);
    await new Promise((resolve) => setTimeout(resolve, 50));
    release();
    await once(socket, 'close');
    await closed;
    const shuttingDown = received.split(/(?=HTTP\/1\.1 )/)[1] ?? '';
    expect(shuttingDown).toMatch(/^HTTP\/1\.1 503 /);
    expect(shuttingDown).toMatch(new RegExp(`\\r\\naccess-control-allow-origin: ${SHOP}\\r\\n`));
    expect(shuttingDown).toMatch(/\r\naccess-control-expose-headers: [^\r]*retry-after/);
  });
});
