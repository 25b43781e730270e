import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { PushDecisionReply } from '@elevens/domain';
import { generateCatalog, generateEvents } from '@elevens/generator';
import {
  type ClusterTestInfra,
  createClusterTestInfra,
  freePort,
  redisClusterUnavailable,
} from '@elevens/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type HaproxyProcess,
  haproxyUnavailable,
  localHaproxyConfig,
  runElevens,
  type ServiceProcess,
  startHaproxy,
  startService,
} from './support/service-processes';

/**
 * Several processes of each service (issue #20, point 5): two ingest and two api processes, the elevens bin as the
 * images run it, on one Postgres database and the run's local three-master Redis Cluster; the load-balancing part runs
 * docker/haproxy.cfg with its addresses moved to this machine.
 */
const HAPROXY_CONFIG = fileURLToPath(new URL('../docker/haproxy.cfg', import.meta.url));
const shop = { users: 300, items: 200, events: 6_000, seed: 11 };
const BATCH = 500;
const MODEL_POLL_MS = 100;
/** How long a step that waits for the other processes may take before the test gives up (a bound, not a speed). */
const SETTLE_MS = 15_000;

const run = promisify(execFile);
const clusterMissing = redisClusterUnavailable();
const haproxyMissing = haproxyUnavailable();

async function send<T>(url: string, method: string, body: unknown): Promise<{ status: number; body: T }> {
  const response = await fetch(url, {
    method,
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: response.status, body: (await response.json()) as T };
}

async function get<T>(url: string): Promise<T> {
  const response = await fetch(url);
  if (response.status !== 200) throw new Error(`GET ${url}: ${response.status} ${await response.text()}`);
  return (await response.json()) as T;
}

/** Polls `check` until it returns true; fails with `what` after SETTLE_MS. */
async function settle(what: string, check: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + SETTLE_MS;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`${what}: not reached within ${SETTLE_MS} ms`);
    await sleep(20);
  }
}

interface RecommendationsReply {
  modelVersion: string | null;
  items: { itemId: string }[];
}
interface BudgetReply {
  rules: { ruleId: string; used: number; remaining: number }[];
}
interface EventsReply {
  accepted: number;
  duplicates: number;
  rejected: unknown[];
}

describe.skipIf(clusterMissing !== null)(
  `two ingest and two api processes on one Postgres and a Redis Cluster${clusterMissing ? ` (${clusterMissing})` : ''}`,
  () => {
    let infra: ClusterTestInfra;
    let env: Record<string, string>;
    let ingests: ServiceProcess[] = [];
    let apis: ServiceProcess[] = [];
    const events = [...generateEvents(shop)];
    const buyer = events.find((event) => event.type === 'purchase')!.userId;

    beforeAll(async () => {
      infra = await createClusterTestInfra('scale-out');
      env = {
        ...infra.env,
        // Nothing listens here: a process that used REDIS_URL instead of the cluster would never be ready.
        REDIS_URL: `redis://127.0.0.1:${await freePort()}`,
        MODEL_POLL_MS: String(MODEL_POLL_MS),
        LOG_LEVEL: 'error',
      };
      const starts = await Promise.allSettled([
        startService('ingest', 'ingest-1', env),
        startService('ingest', 'ingest-2', env),
        startService('api', 'api-1', env),
        startService('api', 'api-2', env),
      ]);
      const started = starts.flatMap((start) => (start.status === 'fulfilled' ? [start.value] : []));
      ingests = started.filter((service) => service.name.startsWith('ingest'));
      apis = started.filter((service) => service.name.startsWith('api'));
      const failed = starts.find((start) => start.status === 'rejected');
      if (failed) throw failed.reason;
    });

    afterAll(async () => {
      await Promise.all([...ingests, ...apis].map((service) => service.kill()));
      await infra?.close();
    });

    it('stores the same events sent concurrently to both ingest processes once', async () => {
      const items = [...generateCatalog(shop)];
      expect((await send(`${ingests[0]!.url}/v1/items`, 'PUT', { items })).status).toBe(200);
      const batches = Array.from({ length: Math.ceil(events.length / BATCH) }, (_, i) =>
        events.slice(i * BATCH, (i + 1) * BATCH),
      );
      const replies = await Promise.all(
        batches.map((batch) =>
          Promise.all(
            ingests.map((ingest) => send<EventsReply>(`${ingest.url}/v1/events`, 'POST', { events: batch })),
          ),
        ),
      );
      for (const [i, pair] of replies.entries()) {
        for (const reply of pair) {
          expect(reply.status).toBe(200);
          expect(reply.body.rejected).toEqual([]);
        }
        // Each event of the batch was stored by exactly one of the two processes; the other saw it as a duplicate.
        expect(pair.map((reply) => reply.body.accepted).reduce((a, b) => a + b)).toBe(batches[i]!.length);
        expect(pair.map((reply) => reply.body.duplicates).reduce((a, b) => a + b)).toBe(batches[i]!.length);
      }
      const { rows } = await infra.pool.query<{ rows: number; distinct: number }>(
        'SELECT count(*)::int AS rows, count(DISTINCT event_id)::int AS distinct FROM events',
      );
      expect(rows[0]).toEqual({ rows: events.length, distinct: events.length });
    });

    it('allows exactly 3 of 40 concurrent decisions for one user split across both api processes', async () => {
      const rule = await send(`${apis[0]!.url}/v1/push/rules/three-a-day`, 'PUT', {
        channel: 'push',
        limit: 3,
        window: '1d',
      });
      expect(rule.status).toBe(200);
      // The other process serves the rule from its next config poll on.
      for (const api of apis)
        await settle(`${api.name} serving the rule`, async () =>
          (await get<BudgetReply>(`${api.url}/v1/push/users/probe/budget`)).rules.some(
            (served) => served.ruleId === 'three-a-day',
          ),
        );

      const replies = await Promise.all(
        Array.from({ length: 40 }, (_, i) =>
          send<PushDecisionReply>(`${apis[i % 2]!.url}/v1/push/decisions`, 'POST', {
            userId: 'capped-user',
            channel: 'push',
            campaignId: `campaign-${i}`,
          }),
        ),
      );
      expect(replies.map((reply) => reply.status)).toEqual(Array(40).fill(200));
      expect(replies.filter((reply) => reply.body.allowed)).toHaveLength(3);
      expect(
        new Set(
          replies.filter((reply) => !reply.body.allowed).map((r) => `${r.body.reason}:${r.body.ruleId}`),
        ),
      ).toEqual(new Set(['cap_exceeded:three-a-day']));
      for (const api of apis) {
        const budget = await get<BudgetReply>(`${api.url}/v1/push/users/capped-user/budget`);
        expect(budget.rules.find((served) => served.ruleId === 'three-a-day')).toMatchObject({
          used: 3,
          remaining: 0,
        });
      }
    });

    it('serves the model the trainer published from both api processes at their next model poll', async () => {
      const recommendations = (api: ServiceProcess) =>
        get<RecommendationsReply>(`${api.url}/v1/recommendations?userId=${buyer}&limit=10`);
      for (const api of apis) expect((await recommendations(api)).modelVersion).toBeNull();

      const build = await runElevens(['build'], env);
      expect(build.code, build.stderr).toBe(0);
      const version = /published model (\S+)/.exec(build.stdout)?.[1];
      expect(version, build.stdout).toBeDefined();

      for (const api of apis)
        await settle(
          `${api.name} serving model ${version}`,
          async () => (await recommendations(api)).modelVersion === version,
        );
      const [first, second] = await Promise.all(apis.map(recommendations));
      expect(first!.items).toHaveLength(10);
      expect(second!.items).toEqual(first!.items);
    });

    it('keeps its Redis data on every node of the cluster', async () => {
      for (const node of infra.cluster.nodes) {
        const { stdout } = await run('redis-cli', [
          '-h',
          node.host,
          '-p',
          String(node.port),
          '--scan',
          '--pattern',
          `${infra.keyPrefix}*`,
        ]);
        expect(stdout.trim().split('\n').filter(Boolean).length, `keys on ${node.port}`).toBeGreaterThan(0);
      }
    });

    describe.skipIf(haproxyMissing !== null)(
      `behind HAProxy with docker/haproxy.cfg${haproxyMissing ? ` (${haproxyMissing})` : ''}`,
      () => {
        let haproxy: HaproxyProcess | null = null;
        let dir: string;

        afterAll(async () => {
          await haproxy?.kill();
          if (dir) rmSync(dir, { recursive: true, force: true });
        });

        it('answers every request 200 while one api process is killed mid-load, the other taking its share', async () => {
          dir = mkdtempSync(join(tmpdir(), 'elevens-haproxy-'));
          const statsSocket = join(dir, 'admin.sock');
          const [apiPort, ingestPort] = [await freePort(), await freePort()];
          const config = localHaproxyConfig(readFileSync(HAPROXY_CONFIG, 'utf8'), {
            frontends: { api: apiPort, ingest: ingestPort },
            servers: {
              'api-1': apis[0]!.port,
              'api-2': apis[1]!.port,
              'ingest-1': ingests[0]!.port,
              'ingest-2': ingests[1]!.port,
            },
            statsSocket,
          });
          haproxy = await startHaproxy(join(dir, 'haproxy.cfg'), config, statsSocket, apiPort);
          const lb = haproxy;
          await settle('every server passing its health check', async () =>
            (await lb.serverStats()).every((server) => server.status === 'UP'),
          );

          const viaIngest = await send<EventsReply>(`http://127.0.0.1:${ingestPort}/v1/events`, 'POST', {
            events: [{ eventId: 'through-haproxy', userId: buyer, itemId: events[0]!.itemId, type: 'view' }],
          });
          expect(viaIngest).toMatchObject({ status: 200, body: { accepted: 1 } });

          const CLIENTS = 16;
          const REQUESTS = 1_500;
          const KILL_AFTER = 400;
          const statuses: number[] = [];
          let sent = 0;
          let inFlight = 0;
          let inFlightAtKill = 0;
          let killed: Promise<void> | null = null;
          /** 2xx answers per server once api-1 is dead: all it will ever have answered */
          let servedBeforeKill: Record<string, number> = {};
          const client = async () => {
            while (sent < REQUESTS) {
              const user = events[sent++ % events.length]!.userId;
              inFlight++;
              const status = await fetch(
                `http://127.0.0.1:${apiPort}/v1/recommendations?userId=${user}&limit=10`,
              )
                .then(async (response) => {
                  await response.arrayBuffer();
                  return response.status;
                })
                .catch(() => 0)
                .finally(() => inFlight--);
              statuses.push(status);
              if (killed === null && statuses.length >= KILL_AFTER) {
                inFlightAtKill = inFlight;
                killed = apis[0]!.kill().then(async () => {
                  const stats = await lb.serverStats();
                  servedBeforeKill = Object.fromEntries(stats.map((s) => [s.server, s.responses2xx]));
                });
                await killed;
              }
            }
          };
          await Promise.all(Array.from({ length: CLIENTS }, client));
          await killed;

          expect(statuses.length).toBe(REQUESTS);
          expect(statuses.filter((status) => status !== 200)).toEqual([]);
          expect(inFlightAtKill).toBeGreaterThan(0);
          expect(apis[0]!.child.signalCode).toBe('SIGKILL');
          await settle('api-1 marked down by its check', async () =>
            (await lb.serverStats()).some((s) => s.server === 'api-1' && s.status.startsWith('DOWN')),
          );
          const stats = await lb.serverStats();
          const byName = Object.fromEntries(stats.map((s) => [s.server, s]));
          // Until the kill both processes had a share; from it on, api-2 answered every request.
          expect(servedBeforeKill['api-1']).toBeGreaterThan(0);
          expect(servedBeforeKill['api-2']).toBeGreaterThan(0);
          expect(byName['api-1']!.responses2xx).toBe(servedBeforeKill['api-1']);
          expect(byName['api-1']!.responses2xx + byName['api-2']!.responses2xx).toBe(REQUESTS);
          // Requests that reached the dead process were sent again, to the other one.
          expect(byName['api-1']!.redispatches + byName['api-1']!.retries).toBeGreaterThan(0);
        });
      },
    );
  },
);
