import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { buildApiApp, loadApiConfig } from '@elevens/api';
import { generateCatalog, generateEvents } from '@elevens/generator';
import { buildIngestApp, loadIngestConfig } from '@elevens/ingest';
import { type ClusterTestInfra, createClusterTestInfra, redisClusterUnavailable } from '@elevens/testkit';
import { loadBuildConfig, runBuild } from '@elevens/trainer';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

/**
 * Events → build → recommendations on a Redis Cluster: ingest and the api listen on loopback ports, the trainer
 * publishes, and the CLI lists the model, all configured with REDIS_CLUSTER_NODES only (their REDIS_URL points
 * nowhere).
 */
const clusterMissing = redisClusterUnavailable();
const run = promisify(execFile);
const bin = fileURLToPath(new URL('../packages/cli/bin/elevens.js', import.meta.url));

describe.skipIf(clusterMissing !== null)(
  `the thin path end to end on a Redis Cluster${clusterMissing ? ` (${clusterMissing})` : ''}`,
  () => {
    let infra: ClusterTestInfra;
    let ingest: Awaited<ReturnType<typeof buildIngestApp>>;
    let api: Awaited<ReturnType<typeof buildApiApp>>;
    let ingestUrl: string;
    let apiUrl: string;

    const shop = { users: 300, items: 200, events: 12_000, seed: 11 };

    async function send(url: string, method: string, body: unknown) {
      const response = await fetch(url, {
        method,
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
      return { status: response.status, body: (await response.json()) as Record<string, unknown> };
    }

    beforeAll(async () => {
      infra = await createClusterTestInfra('cluster-e2e');
      ingest = await buildIngestApp({ config: loadIngestConfig(infra.env) });
      api = await buildApiApp({ config: loadApiConfig(infra.env) });
      ingestUrl = await ingest.listen({ host: '127.0.0.1', port: 0 });
      apiUrl = await api.listen({ host: '127.0.0.1', port: 0 });
    });

    afterAll(async () => {
      await Promise.all([ingest?.close(), api?.close()]);
      await infra?.close();
    });

    it('serves personal recommendations built from ingested events, never an item the user bought', async () => {
      const items = [...generateCatalog(shop)];
      expect((await send(`${ingestUrl}/v1/items`, 'PUT', { items })).status).toBe(200);
      const events = [...generateEvents(shop)];
      for (let i = 0; i < events.length; i += 500) {
        const reply = await send(`${ingestUrl}/v1/events`, 'POST', { events: events.slice(i, i + 500) });
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
      await api.model.refresh();

      const buyer = events.find((e) => e.type === 'purchase')!.userId;
      const purchased = new Set(
        events.filter((e) => e.userId === buyer && e.type === 'purchase').map((e) => e.itemId),
      );
      const response = await fetch(`${apiUrl}/v1/recommendations?userId=${buyer}&limit=10`);
      expect(response.status).toBe(200);
      const body = (await response.json()) as {
        modelVersion: string;
        personalized: boolean;
        items: { itemId: string; source: string }[];
      };
      expect(body.modelVersion).toBe(report.version);
      expect(body.personalized).toBe(true);
      expect(body.items).toHaveLength(10);
      expect(body.items[0]!.source).toBe('personal');
      for (const item of body.items) expect(purchased.has(item.itemId)).toBe(false);

      const cold = (await (await fetch(`${apiUrl}/v1/recommendations?userId=nobody-yet&limit=5`)).json()) as {
        personalized: boolean;
        items: { source: string }[];
      };
      expect(cold.personalized).toBe(false);
      expect(cold.items).toHaveLength(5);

      const listed = await run('node', [bin, 'model', 'list', '--json'], {
        env: { ...process.env, ...infra.env },
        timeout: 60_000,
      });
      const { lines } = JSON.parse(listed.stdout) as {
        lines: Record<string, { version: string; state: string }[]>;
      };
      expect(Object.values(lines).flat()).toContainEqual(
        expect.objectContaining({ version: report.version, state: 'current' }),
      );
    });

    it('stops serving an item blocked through ingest', async () => {
      const before = (await (
        await fetch(`${apiUrl}/v1/recommendations?userId=nobody-yet&limit=5`)
      ).json()) as {
        items: { itemId: string }[];
      };
      const blocked = before.items[0]!.itemId;
      const put = await send(`${ingestUrl}/v1/items`, 'PUT', { items: [{ itemId: blocked, blocked: true }] });
      expect(put.status).toBe(200);
      await api.catalog.refresh();
      const after = (await (
        await fetch(`${apiUrl}/v1/recommendations?userId=nobody-yet&limit=5`)
      ).json()) as {
        items: { itemId: string }[];
      };
      expect(after.items.map((i) => i.itemId)).not.toContain(blocked);
    });

    it('reports Redis ready on /readyz of both services', async () => {
      for (const url of [ingestUrl, apiUrl]) {
        const ready = await fetch(`${url}/readyz`);
        expect(ready.status).toBe(200);
        expect(await ready.json()).toEqual({ status: 'ready', checks: { postgres: 'ok', redis: 'ok' } });
      }
    });
  },
);
