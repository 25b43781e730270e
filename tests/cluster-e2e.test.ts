import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { type ClusterTestInfra, createClusterTestInfra, redisClusterUnavailable } from '@elevens/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkThinPath, sendJson, startThinPath, type ThinPath } from './support/thin-path';

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
    let path: ThinPath;

    beforeAll(async () => {
      infra = await createClusterTestInfra('cluster-e2e');
      path = await startThinPath(infra);
    });

    afterAll(async () => {
      await path?.close();
      await infra?.close();
    });

    it('serves personal recommendations built from ingested events, never an item the user bought', async () => {
      // A small shop: its users' keys lie on every node all the same, and the path is checked at half the cost.
      const version = await checkThinPath(path, infra, { users: 150, items: 80, events: 6_000, seed: 11 });
      const listed = await run('node', [bin, 'model', 'list', '--json'], {
        env: { ...process.env, ...infra.env },
        timeout: 60_000,
      });
      const { lines } = JSON.parse(listed.stdout) as {
        lines: Record<string, { version: string; state: string }[]>;
      };
      expect(Object.values(lines).flat()).toContainEqual(
        expect.objectContaining({ version, state: 'current' }),
      );
    });

    it('stops serving an item blocked through ingest', async () => {
      const before = (await (
        await fetch(`${path.apiUrl}/v1/recommendations?userId=nobody-yet&limit=5`)
      ).json()) as {
        items: { itemId: string }[];
      };
      const blocked = before.items[0]!.itemId;
      const put = await sendJson(`${path.ingestUrl}/v1/items`, 'PUT', {
        items: [{ itemId: blocked, blocked: true }],
      });
      expect(put.status).toBe(200);
      await path.api.catalog.refresh();
      const after = (await (
        await fetch(`${path.apiUrl}/v1/recommendations?userId=nobody-yet&limit=5`)
      ).json()) as {
        items: { itemId: string }[];
      };
      expect(after.items.map((i) => i.itemId)).not.toContain(blocked);
    });

    it('reports Redis ready on /readyz of both services', async () => {
      for (const url of [path.ingestUrl, path.apiUrl]) {
        const ready = await fetch(`${url}/readyz`);
        expect(ready.status).toBe(200);
        expect(await ready.json()).toEqual({ status: 'ready', checks: { postgres: 'ok', redis: 'ok' } });
      }
    });
  },
);
