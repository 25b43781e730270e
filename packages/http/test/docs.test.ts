import { afterEach, describe, expect, it, vi } from 'vitest';
import { z } from 'zod';
import { createBaseApp, type ElevensApp } from '../src/app';
import { docsPlugin } from '../src/docs';

const apps: ElevensApp[] = [];
afterEach(async () => {
  vi.restoreAllMocks();
  await Promise.all(apps.splice(0).map((app) => app.close()));
});

async function documentedApp() {
  const app = createBaseApp({ logging: { level: 'silent' } });
  apps.push(app);
  await app.register(docsPlugin, { title: 'things', description: 'Things.', version: '1' });
  app.post(
    '/things',
    { schema: { body: z.object({ name: z.string() }), response: { 200: z.object({ ok: z.boolean() }) } } },
    async () => ({ ok: true }),
  );
  await app.ready();
  return app;
}

describe('GET /docs/json', () => {
  it('serialises the document once, however often it is fetched, into the bytes JSON.stringify gives', async () => {
    const app = await documentedApp();
    const document = app.swagger();
    const expected = JSON.stringify(document);
    const stringify = vi.spyOn(JSON, 'stringify');
    for (let request = 0; request < 3; request++) {
      const response = await app.inject({ method: 'GET', url: '/docs/json' });
      expect(response.statusCode).toBe(200);
      expect(response.headers['content-type']).toBe('application/json; charset=utf-8');
      expect(response.body === expected).toBe(true);
    }
    expect(stringify.mock.calls.filter(([value]) => value === document)).toHaveLength(1);
  });

  it('still answers its errors in the JSON error shape', async () => {
    const app = await documentedApp();
    const response = await app.inject({ method: 'GET', url: '/docs/json?q=%zz' });
    expect(response.statusCode).toBe(400);
    expect(response.json()).toEqual({
      error: 'bad_request',
      message: 'the URL is not validly percent-encoded UTF-8',
    });
  });
});
