import { createLogSink } from '@elevens/testkit';
import { afterEach, describe, expect, it } from 'vitest';
import { createBaseApp, type ElevensApp } from '../src/app';

const apps: ElevensApp[] = [];
afterEach(async () => {
  await Promise.all(apps.splice(0).map((app) => app.close()));
});

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** A base app logging at info (every request's start and end) into `logs`, with one route. */
function buildApp() {
  const logs = createLogSink();
  const app = createBaseApp({ logging: { level: 'info', stream: logs.stream } });
  apps.push(app);
  app.get('/things', async () => ({ ok: true }));
  return { app, logs };
}

describe('a request id the client sends', () => {
  it('is kept, in the answer and the logs, when it is a bounded printable id', async () => {
    const { app, logs } = buildApp();
    for (const id of ['req-1', 'f81d4fae-7dec-11d0-a765-00a0c91e6bf6', 'trace:1.2_3', 'a'.repeat(128)]) {
      const response = await app.inject({ url: '/things', headers: { 'x-request-id': id } });
      expect(response.headers['x-request-id']).toBe(id);
      expect(logs.entries().filter((line) => line.requestId === id)).toHaveLength(2);
    }
  });

  it('is replaced by a generated one when it is too long or holds characters outside an id', async () => {
    const { app, logs } = buildApp();
    const refused = [
      'a'.repeat(129),
      'x'.repeat(8_000),
      'tab\there',
      'new\nline',
      'spa ce',
      'quote"d',
      'caf\u00e9',
      '',
    ];
    for (const id of refused) {
      const response = await app.inject({ url: '/things', headers: { 'x-request-id': id } });
      expect(response.statusCode, JSON.stringify(id)).toBe(200);
      expect(response.headers['x-request-id'], JSON.stringify(id)).toMatch(UUID);
    }
    const logged = logs.entries().map((line) => String(line.requestId));
    expect(logged).toHaveLength(refused.length * 2);
    for (const id of logged) expect(id).toMatch(UUID);
  });
});
