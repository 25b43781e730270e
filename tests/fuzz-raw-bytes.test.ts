/**
 * Bytes no HTTP client library would send, written to a listening service over a raw TCP socket: control and
 * non-ASCII bytes in the request line's path and query string, control bytes in header values. Node's HTTP parser
 * refuses such requests before Fastify sees them; every answer must still be a 4xx in the `{ error, message }`
 * shape (`inject()` cannot produce these requests: it builds them from already valid strings).
 */
import type net from 'node:net';
import { buildApiApp, loadApiConfig } from '@elevens/api';
import { createApiKey } from '@elevens/db';
import { buildIngestApp, loadIngestConfig } from '@elevens/ingest';
import { createTestInfra, rawExchange, type TestInfra } from '@elevens/testkit';
import fc from 'fast-check';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const RUNS_PER_SERVICE = 1000;

const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => from + i);
/**
 * Bytes a request target may not carry: controls, DEL and every non-ASCII byte. CR, LF and space are left out:
 * they end the request line rather than sit in it, and a generated " HTTP/1.1\r\n" would make a valid request.
 */
const INVALID_IN_TARGET = [...range(0x00, 0x1f), ...range(0x7f, 0xff)].filter(
  (b) => b !== 0x0a && b !== 0x0d,
);
/** Bytes a header value may not carry (tab and obs-text 0x80–0xFF are allowed); CR and LF end the line. */
const INVALID_IN_HEADER_VALUE = [...range(0x00, 0x08), ...range(0x0b, 0x1f), 0x7f].filter((b) => b !== 0x0d);

const invalidBytes = (set: number[]) =>
  fc.array(fc.constantFrom(...set), { minLength: 1, maxLength: 8 }).map((bytes) => Buffer.from(bytes));

/** `text` with `bytes` inserted at `at` (taken modulo the insertion points from `from` on). */
const insert = (text: string, bytes: Buffer, at: number, from = 0) => {
  const position = from + (at % (text.length - from + 1));
  return Buffer.concat([
    Buffer.from(text.slice(0, position), 'latin1'),
    bytes,
    Buffer.from(text.slice(position), 'latin1'),
  ]);
};

interface RawRequest {
  method: string;
  path: string;
  query: string;
  headers: [string, string][];
}

const serialise = (method: string, path: Buffer, query: Buffer, headers: Buffer) =>
  Buffer.concat([
    Buffer.from(`${method} `),
    path,
    Buffer.from('?'),
    query,
    Buffer.from(' HTTP/1.1\r\n'),
    headers,
    Buffer.from('\r\n'),
  ]);

const headerLine = ([name, value]: [string, string]) => Buffer.from(`${name}: ${value}\r\n`, 'latin1');

/** The request with invalid bytes in its path (after the leading slash), its query string or one header value. */
const corrupted = ({ method, path, query, headers }: RawRequest) => {
  const pathBytes = Buffer.from(path);
  const queryBytes = Buffer.from(query);
  const headerBytes = Buffer.concat(headers.map(headerLine));
  return fc.oneof(
    fc
      .tuple(invalidBytes(INVALID_IN_TARGET), fc.nat())
      .map(([bytes, at]) => serialise(method, insert(path, bytes, at, 1), queryBytes, headerBytes)),
    fc
      .tuple(invalidBytes(INVALID_IN_TARGET), fc.nat())
      .map(([bytes, at]) => serialise(method, pathBytes, insert(query, bytes, at), headerBytes)),
    fc.tuple(invalidBytes(INVALID_IN_HEADER_VALUE), fc.nat(), fc.nat()).map(([bytes, which, at]) => {
      const index = which % headers.length;
      const lines = headers.map(([name, value], i) =>
        i === index
          ? Buffer.concat([Buffer.from(`${name}: `), insert(value, bytes, at), Buffer.from('\r\n')])
          : headerLine([name, value]),
      );
      return serialise(method, pathBytes, queryBytes, Buffer.concat(lines));
    }),
  );
};

/** The problem with an answer, or null when it is a 4xx with a JSON `{ error, message, details? }` body. */
function answerProblem(answer: string): string | null {
  const status = Number(/^HTTP\/1\.1 (\d{3}) /.exec(answer)?.[1]);
  if (!(status >= 400 && status < 500)) return `status ${status || 'none'}`;
  const split = answer.indexOf('\r\n\r\n');
  if (!/\r\ncontent-type: application\/json/i.test(answer.slice(0, split))) return 'not JSON';
  const body = JSON.parse(answer.slice(split + 4)) as Record<string, unknown>;
  const keys = Object.keys(body).filter((key) => key !== 'details');
  if (typeof body.error !== 'string' || typeof body.message !== 'string' || keys.length !== 2)
    return `shape ${JSON.stringify(body)}`;
  return null;
}

const SERVICES = [
  {
    name: 'api',
    build: (env: Record<string, string>) => buildApiApp({ config: loadApiConfig(env) }),
  },
  {
    name: 'ingest',
    build: (env: Record<string, string>) => buildIngestApp({ config: loadIngestConfig(env) }),
  },
];

describe.each(SERVICES)('raw invalid bytes sent to $name', ({ name, build }) => {
  let infra: TestInfra;
  let app: FastifyInstance;
  let port: number;
  let requests: RawRequest[];

  beforeAll(async () => {
    infra = await createTestInfra(`fuzz-raw-${name}`);
    const admin = await createApiKey(infra.pool, { name: 'fuzz-raw', scopes: ['admin'] });
    app = (await build({ ...infra.env, AUTH_REQUIRED: 'true', LOG_LEVEL: 'silent' })) as FastifyInstance;
    await app.listen({ host: '127.0.0.1', port: 0 });
    port = (app.server.address() as net.AddressInfo).port;
    // Each route as a well-formed request with a valid key, so only the inserted bytes make it invalid.
    requests = app.routeAccess
      .filter((route) => route.method !== 'HEAD')
      .map((route) => ({
        method: route.method,
        path: route.url.replace(/:[A-Za-z0-9_]+|\*/g, 'x1'),
        query: 'userId=u1&limit=5',
        headers: [
          ['host', '127.0.0.1'],
          ['authorization', `Bearer ${admin.secret}`],
          ['accept', 'application/json'],
          ['x-request-id', 'fuzz-raw'],
          ['connection', 'close'],
        ],
      }));
  });

  afterAll(async () => {
    await app?.close();
    await infra?.close();
  });

  it('answers the example of the issue, a raw UTF-8 byte in the URL, 400 in the JSON shape', async () => {
    const answer = await rawExchange(
      port,
      Buffer.concat([
        Buffer.from('GET /v1/'),
        Buffer.from('é'),
        Buffer.from(' HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n'),
      ]),
    );
    expect(answerProblem(answer)).toBeNull();
    expect(answer).toMatch(/^HTTP\/1\.1 400 /);
    expect(JSON.parse(answer.slice(answer.indexOf('\r\n\r\n') + 4))).toEqual({
      error: 'bad_request',
      message: 'the request target has bytes a URL may not carry: percent-encode them',
    });
  });

  it(`answers ${RUNS_PER_SERVICE} requests with invalid bytes in paths, queries and headers 4xx in the JSON shape`, async () => {
    const corruptedRequests = fc.constantFrom(...requests).chain(corrupted);
    await fc.assert(
      fc.asyncProperty(corruptedRequests, async (request) => {
        const answer = await rawExchange(port, request);
        expect(answerProblem(answer), `${JSON.stringify(request.toString('latin1'))} → ${answer}`).toBeNull();
      }),
      { numRuns: RUNS_PER_SERVICE },
    );
    // The service still answers well-formed requests.
    const health = await rawExchange(
      port,
      Buffer.from('GET /healthz HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n'),
    );
    expect(health).toMatch(/^HTTP\/1\.1 200 /);
  });
});
