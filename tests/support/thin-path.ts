import { buildApiApp, loadApiConfig } from '@elevens/api';
import { generateCatalog, generateEvents } from '@elevens/generator';
import { buildIngestApp, loadIngestConfig } from '@elevens/ingest';
import type { ClusterTestInfra, TestInfra } from '@elevens/testkit';
import { loadBuildConfig, runBuild } from '@elevens/trainer';
import { expect } from 'vitest';

/** The ingest and api services listening on loopback ports, on a test file's database and Redis (or cluster). */
export interface ThinPath {
  ingest: Awaited<ReturnType<typeof buildIngestApp>>;
  api: Awaited<ReturnType<typeof buildApiApp>>;
  ingestUrl: string;
  apiUrl: string;
  close(): Promise<void>;
}

export async function startThinPath(infra: TestInfra | ClusterTestInfra): Promise<ThinPath> {
  const ingest = await buildIngestApp({ config: loadIngestConfig(infra.env) });
  const api = await buildApiApp({ config: loadApiConfig(infra.env) });
  return {
    ingest,
    api,
    ingestUrl: await ingest.listen({ host: '127.0.0.1', port: 0 }),
    apiUrl: await api.listen({ host: '127.0.0.1', port: 0 }),
    close: async () => {
      await Promise.all([ingest.close(), api.close()]);
    },
  };
}

export async function sendJson(url: string, method: string, body: unknown) {
  const response = await fetch(url, {
    method,
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

/**
 * The thin path, checked: a generated shop's catalog and events through ingest's HTTP routes, all stored; a build
 * publishes; a buyer gets ten personal recommendations over HTTP, none bought, the first with its reasons; a user
 * with no history gets popular or trending ones. Returns the published version.
 */
export async function checkThinPath(
  path: ThinPath,
  infra: TestInfra | ClusterTestInfra,
  shop: { users: number; items: number; events: number; seed: number },
): Promise<string> {
  const items = [...generateCatalog(shop)];
  expect((await sendJson(`${path.ingestUrl}/v1/items`, 'PUT', { items })).status).toBe(200);
  const events = [...generateEvents(shop)];
  for (let i = 0; i < events.length; i += 500) {
    const reply = await sendJson(`${path.ingestUrl}/v1/events`, 'POST', { events: events.slice(i, i + 500) });
    expect(reply.status).toBe(200);
    expect(reply.body.rejected).toEqual([]);
  }
  const { rows } = await infra.pool.query('SELECT count(*)::int AS n FROM events');
  expect(rows[0].n).toBe(events.length);

  const report = await runBuild(
    { pool: infra.pool, redis: infra.redis, keys: infra.keys, log: () => {} },
    loadBuildConfig(infra.env),
  );
  expect(report.status).toBe('published');
  expect(report.events).toBe(events.length);
  await path.api.model.refresh();

  const buyer = events.find((e) => e.type === 'purchase')!.userId;
  const purchased = new Set(
    events.filter((e) => e.userId === buyer && e.type === 'purchase').map((e) => e.itemId),
  );
  const response = await fetch(`${path.apiUrl}/v1/recommendations?userId=${buyer}&limit=10`);
  expect(response.status).toBe(200);
  const body = (await response.json()) as {
    modelVersion: string;
    personalized: boolean;
    items: { itemId: string; source: string; because?: string[] }[];
  };
  expect(body.modelVersion).toBe(report.version);
  expect(body.personalized).toBe(true);
  expect(body.items).toHaveLength(10);
  expect(body.items[0]!.source).toBe('personal');
  expect(body.items[0]!.because!.length).toBeGreaterThan(0);
  for (const item of body.items) expect(purchased.has(item.itemId)).toBe(false);

  const cold = (await (
    await fetch(`${path.apiUrl}/v1/recommendations?userId=nobody-yet&limit=5`)
  ).json()) as {
    personalized: boolean;
    items: { source: string }[];
  };
  expect(cold.personalized).toBe(false);
  expect(cold.items).toHaveLength(5);
  for (const item of cold.items) expect(['popular', 'trending']).toContain(item.source);
  return report.version;
}
