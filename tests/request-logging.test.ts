import { Writable } from 'node:stream';
import { createBaseApp } from '@elevens/http';
import { afterEach, describe, expect, it } from 'vitest';

/** Every line an app logs, parsed. */
function capture() {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk, _encoding, done) {
      for (const line of String(chunk).split('\n')) if (line !== '') lines.push(JSON.parse(line));
      done();
    },
  });
  return { stream, lines };
}

const apps: { close(): Promise<unknown> }[] = [];
afterEach(async () => {
  await Promise.all(apps.splice(0).map((app) => app.close()));
});

/** An app whose routes log at every level; `/quiet` has its own log level, as health checks do. */
async function appLoggingAt(level: string) {
  const { stream, lines } = capture();
  const app = createBaseApp({ logging: { level, stream } });
  apps.push(app);
  app.get('/log', async (request) => {
    request.log.trace('a trace line');
    request.log.debug('a debug line');
    request.log.info({ step: 1 }, 'an info line');
    request.log.warn({ authorization: 'Bearer secret-token' }, 'a warn line');
    request.log.child({ part: 'pricing' }).error('an error line from a child');
    return { level: request.log.level };
  });
  app.get('/quiet', { logLevel: 'error' }, async (request) => {
    request.log.warn('a warn line the route silences');
    return { level: request.log.level };
  });
  await app.ready();
  return { app, lines };
}

const messages = (lines: Record<string, unknown>[]) => lines.map((line) => line.msg);

describe('request loggers', () => {
  it('at warn, a request logs its warn and error lines with its request id, redacted, and nothing below', async () => {
    const { app, lines } = await appLoggingAt('warn');
    const response = await app.inject({ url: '/log', headers: { 'x-request-id': 'req-1' } });
    expect(response.json()).toEqual({ level: 'warn' });
    expect(messages(lines)).toEqual(['a warn line', 'an error line from a child']);
    expect(lines[0]).toMatchObject({ requestId: 'req-1', level: 40, authorization: '[redacted]' });
    expect(lines[1]).toMatchObject({ requestId: 'req-1', level: 50, part: 'pricing' });
  });

  it("at info, Fastify's request lines and the route's info line carry the request id", async () => {
    const { app, lines } = await appLoggingAt('info');
    await app.inject({ url: '/log', headers: { 'x-request-id': 'req-2' } });
    expect(messages(lines)).toEqual([
      'incoming request',
      'an info line',
      'a warn line',
      'an error line from a child',
      'request completed',
    ]);
    for (const line of lines) expect(line.requestId).toBe('req-2');
    expect(lines[1]).toMatchObject({ step: 1 });
  });

  it('at trace, every level reaches the log', async () => {
    const { app, lines } = await appLoggingAt('trace');
    await app.inject({ url: '/log' });
    expect(messages(lines)).toEqual(
      expect.arrayContaining(['a trace line', 'a debug line', 'an info line', 'a warn line']),
    );
  });

  it("a route's own log level wins over the app's", async () => {
    const { app, lines } = await appLoggingAt('info');
    const response = await app.inject({ url: '/quiet' });
    expect(response.json()).toEqual({ level: 'error' });
    expect(messages(lines)).toEqual([]);
  });

  it("a level set on a request's logger applies to that request only", async () => {
    const { stream, lines } = capture();
    const app = createBaseApp({ logging: { level: 'warn', stream } });
    apps.push(app);
    app.get('/verbose', async (request) => {
      request.log.level = 'debug';
      request.log.debug('a debug line after raising the level');
      return {};
    });
    app.get('/plain', async (request) => {
      request.log.debug('a debug line at the default level');
      return {};
    });
    await app.inject({ url: '/verbose' });
    await app.inject({ url: '/plain' });
    // Fastify's "request completed" line is logged through the same request logger, so it follows the raised level.
    expect(messages(lines)).toEqual(['a debug line after raising the level', 'request completed']);
  });
});
