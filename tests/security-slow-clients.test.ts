import { connect, type Socket } from 'node:net';
import { createApiKey } from '@elevens/db';
import { buildIngestApp, loadIngestConfig } from '@elevens/ingest';
import { createTestInfra, type TestInfra } from '@elevens/testkit';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

let infra: TestInfra;
let ingest: FastifyInstance;
let port: number;
let secret: string;

beforeAll(async () => {
  infra = await createTestInfra('security-slow-clients');
  ({ secret } = await createApiKey(infra.pool, { name: 'backend', scopes: ['events:write'] }));
  const env = { ...infra.env, AUTH_REQUIRED: 'true', LOG_LEVEL: 'silent' };
  ingest = (await buildIngestApp({ config: loadIngestConfig(env) })) as unknown as FastifyInstance;
  // Node looks for expired requests every 30 s by default; every 250 ms here, so a bound is seen when it is reached.
  // (@types/node does not declare it: it is an option of http.createServer, read again when the server listens.)
  Object.assign(ingest.server, { connectionsCheckingInterval: 250 });
  await ingest.listen({ host: '127.0.0.1', port: 0 });
  port = (ingest.server.address() as { port: number }).port;
});

afterAll(async () => {
  await ingest?.close();
  await infra?.close();
});

interface SlowClient {
  /** resolves when the server closes the connection, with the ms it stayed open and what the server sent */
  closed: Promise<{ afterMs: number; received: string }>;
}

/** A connection that sends `opening`, then `trickle` every `everyMs` (never finishing its request), or nothing. */
function slowClient(opening: string, trickle: string, everyMs: number): SlowClient & { socket: Socket } {
  const started = Date.now();
  const socket = connect(port, '127.0.0.1', () => {
    if (opening) socket.write(opening);
  });
  let received = '';
  socket.on('data', (chunk) => {
    received += chunk.toString();
  });
  socket.on('error', () => {});
  const timer = trickle ? setInterval(() => socket.writable && socket.write(trickle), everyMs) : undefined;
  const closed = new Promise<{ afterMs: number; received: string }>((resolve) => {
    socket.on('close', () => {
      clearInterval(timer);
      resolve({ afterMs: Date.now() - started, received });
    });
  });
  return { socket, closed };
}

describe('slow clients (slow-loris)', () => {
  it('closes connections that hold a request open: slow headers, a dripped body, or nothing sent', async () => {
    const clients = {
      // A header line every second: the headers never end.
      slowHeaders: slowClient('POST /v1/events HTTP/1.1\r\nhost: x\r\n', 'x-pad: 1\r\n', 1000),
      // Complete, authorised headers, then one byte of a 1 MiB body every second.
      drippedBody: slowClient(
        `POST /v1/events HTTP/1.1\r\nhost: x\r\nauthorization: Bearer ${secret}\r\n` +
          'content-type: application/json\r\ncontent-length: 1000000\r\n\r\n{',
        ' ',
        1000,
      ),
      // Connected, and silent.
      silent: slowClient('', '', 0),
    };
    const bound = setTimeout(() => {
      for (const client of Object.values(clients)) client.socket.destroy();
    }, 45_000);
    const [slowHeaders, drippedBody, silent] = await Promise.all([
      clients.slowHeaders.closed,
      clients.drippedBody.closed,
      clients.silent.closed,
    ]);
    clearTimeout(bound);

    // Headers: 10 s. A whole request: 30 s. A connection that sends nothing: 30 s at most (Node 20 counts it
    // against the 10 s of the headers, Node 22 and 24 against the 30 s of silence).
    expect(slowHeaders.afterMs).toBeGreaterThanOrEqual(9_500);
    expect(slowHeaders.afterMs).toBeLessThan(13_000);
    expect(slowHeaders.received).toMatch(/^HTTP\/1\.1 408 /);
    expect(slowHeaders.received).toContain('"error":"request_timeout"');
    expect(drippedBody.afterMs).toBeGreaterThanOrEqual(29_500);
    expect(drippedBody.afterMs).toBeLessThan(34_000);
    expect(drippedBody.received).toMatch(/^HTTP\/1\.1 408 /);
    expect(silent.afterMs).toBeGreaterThanOrEqual(9_500);
    expect(silent.afterMs).toBeLessThan(34_000);
  }, 60_000);

  it('serves an ordinary request as before, keeping its connection alive', async () => {
    const response = await fetch(`http://127.0.0.1:${port}/v1/events`, {
      method: 'POST',
      headers: { authorization: `Bearer ${secret}`, 'content-type': 'application/json' },
      body: JSON.stringify({
        events: [
          { eventId: 'e1', userId: 'u1', itemId: 'i1', type: 'view', timestamp: new Date().toISOString() },
        ],
      }),
    });
    expect(response.status).toBe(200);
    expect(response.headers.get('connection')).not.toBe('close');
  });
});
