import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, request, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { createTestInfra, freePort, type TestInfra } from '@elevens/testkit';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import {
  type HaproxyProcess,
  haproxyUnavailable,
  localHaproxyConfig,
  type ServiceProcess,
  startHaproxy,
  startService,
} from './support/service-processes';

/**
 * Stopping an api process behind docker/haproxy.cfg: `docker compose stop`, `restart` and `up -d` with a new image
 * send SIGTERM. With SHUTDOWN_DRAIN_MS (docker-compose.yml) the process first serves on while its health routes
 * answer 503, so HAProxy's checks take it out before it closes: no client sees it closing. A process that dies
 * mid-request has its requests resent to the other, except a push decision without an Idempotency-Key
 * (docs/push.md). A 503 is never resent: it is also how an overloaded process sheds.
 */
const HAPROXY_CONFIG = fileURLToPath(new URL('../docker/haproxy.cfg', import.meta.url));
/** How long a step that waits for HAProxy's checks may take before the test gives up (a bound, not a speed). */
const SETTLE_MS = 15_000;
/** As docker-compose.yml sets it for the processes behind HAProxy. */
const DRAIN_MS = 3_000;
/** The drain of the process stopped on its own, with no balancer to wait for. */
const ALONE_DRAIN_MS = 1_500;
const haproxyMissing = haproxyUnavailable();

/** A process that dies with each request it takes (the connection cut, no answer); its health route passes. */
function dyingProcess(): { server: Server; requests: string[] } {
  const requests: string[] = [];
  const server = createServer((request, response) => {
    if (request.url === '/healthz' || request.url === '/readyz') {
      response.writeHead(200, { 'content-type': 'application/json' }).end('{"status":"ok"}');
      return;
    }
    requests.push(`${request.method} ${request.url}`);
    request.socket.destroy();
  });
  return { server, requests };
}

async function startBalancer(
  dir: string,
  name: string,
  servers: { api1: number; api2: number; ingest1: number; ingest2: number },
): Promise<{ haproxy: HaproxyProcess; url: string }> {
  const statsSocket = join(dir, `${name}.sock`);
  const apiPort = await freePort();
  const config = localHaproxyConfig(readFileSync(HAPROXY_CONFIG, 'utf8'), {
    frontends: { api: apiPort, ingest: await freePort() },
    servers: {
      'api-1': servers.api1,
      'api-2': servers.api2,
      'ingest-1': servers.ingest1,
      'ingest-2': servers.ingest2,
    },
    statsSocket,
  });
  const haproxy = await startHaproxy(join(dir, `${name}.cfg`), config, statsSocket, apiPort);
  const deadline = Date.now() + SETTLE_MS;
  while (!(await haproxy.serverStats()).every((server) => server.status === 'UP')) {
    if (Date.now() > deadline) throw new Error(`servers not UP in HAProxy: ${haproxy.stderr()}`);
    await sleep(20);
  }
  return { haproxy, url: `http://127.0.0.1:${apiPort}` };
}

const countStatuses = (statuses: number[]) => {
  const counts: Record<number, number> = {};
  for (const status of statuses) counts[status] = (counts[status] ?? 0) + 1;
  return counts;
};

let infra: TestInfra;
/** api-1 and api-2, with compose's drain, behind HAProxy (when it runs here): the SIGTERM under load stops api-1. */
let balanced: ServiceProcess[] = [];
/**
 * The process the last test stops on its own, with ALONE_DRAIN_MS; until then the one answering behind HAProxy
 * beside the dying process (its drain plays no part there), so no test starts a process of its own.
 */
let alone: ServiceProcess | null = null;

beforeAll(async () => {
  infra = await createTestInfra('scale-drain');
  const env = { ...infra.env, LOG_LEVEL: 'error' };
  const starts = await Promise.allSettled([
    startService('api', 'api-alone', { ...env, SHUTDOWN_DRAIN_MS: String(ALONE_DRAIN_MS) }),
    ...(haproxyMissing === null
      ? ['api-1', 'api-2'].map((name) =>
          startService('api', name, { ...env, SHUTDOWN_DRAIN_MS: String(DRAIN_MS) }),
        )
      : []),
  ]);
  const started = starts.flatMap((start) => (start.status === 'fulfilled' ? [start.value] : []));
  alone = started.find((api) => api.name === 'api-alone') ?? null;
  balanced = started.filter((api) => api !== alone);
  const failed = starts.find((start) => start.status === 'rejected');
  if (failed) throw failed.reason;
});

afterAll(async () => {
  await Promise.all([alone, ...balanced].map((api) => api?.kill()));
  await infra?.close();
});

describe.skipIf(haproxyMissing !== null)(
  `api processes behind docker/haproxy.cfg${haproxyMissing ? ` (${haproxyMissing})` : ''}`,
  () => {
    let dir: string;
    const balancers: HaproxyProcess[] = [];
    let dying: ReturnType<typeof dyingProcess> | null = null;

    beforeAll(() => {
      dir = mkdtempSync(join(tmpdir(), 'elevens-haproxy-drain-'));
    });

    afterAll(async () => {
      await Promise.all(balancers.map((haproxy) => haproxy.kill()));
      dying?.server.close();
      if (dir) rmSync(dir, { recursive: true, force: true });
    });

    describe('one process dying with each request, its check not yet failed', () => {
      let url: string;

      beforeAll(async () => {
        dying = dyingProcess();
        const stub = dying.server;
        const port = await freePort();
        await new Promise<void>((resolve) => stub.listen(port, '127.0.0.1', resolve));
        const api = alone!.port;
        const started = await startBalancer(dir, 'dying', {
          api1: port,
          api2: api,
          ingest1: api,
          ingest2: api,
        });
        balancers.push(started.haproxy);
        url = started.url;
      });

      /** A push decision on a connection of its own: a kept-alive one HAProxy closed would fail the POST itself. */
      const decide = (userId: string, key: string | null) =>
        new Promise<number>((resolve, reject) => {
          const body = JSON.stringify({ userId, channel: 'push', campaignId: 'drain' });
          const sending = request(
            `${url}/v1/push/decisions`,
            {
              method: 'POST',
              agent: false,
              headers: { 'content-type': 'application/json', ...(key ? { 'idempotency-key': key } : {}) },
            },
            (response) => {
              response.resume();
              response.on('end', () => resolve(response.statusCode ?? 0));
            },
          );
          sending.on('error', reject);
          sending.end(body);
        });

      it("gives every read the other process's answer", async () => {
        const statuses: number[] = [];
        for (let i = 0; i < 10; i++) {
          const response = await fetch(`${url}/v1/recommendations?userId=u${i}`);
          await response.arrayBuffer();
          statuses.push(response.status);
        }
        expect(dying!.requests.length).toBeGreaterThan(0);
        expect(countStatuses(statuses)).toEqual({ 200: 10 });
      });

      it("gives a push decision with an Idempotency-Key the other process's decision", async () => {
        const before = dying!.requests.length;
        const statuses: number[] = [];
        for (let i = 0; i < 6; i++) statuses.push(await decide(`keyed-${i}`, `drain-${i}`));
        expect(dying!.requests.length).toBeGreaterThan(before);
        expect(countStatuses(statuses)).toEqual({ 200: 6 });
      });

      it('does not resend a push decision without a key: it may have reserved the slot', async () => {
        const before = dying!.requests.length;
        const statuses: number[] = [];
        for (let i = 0; i < 6; i++) statuses.push(await decide(`plain-${i}`, null));
        const reachedDying = dying!.requests.length - before;
        expect(reachedDying).toBeGreaterThan(0);
        expect(countStatuses(statuses)).toEqual({ 200: 6 - reachedDying, 502: reachedDying });
      });
    });

    it('answers every request 200 while one api process drains and stops on SIGTERM mid-load', async () => {
      const started = await startBalancer(dir, 'sigterm', {
        api1: balanced[0]!.port,
        api2: balanced[1]!.port,
        ingest1: balanced[1]!.port,
        ingest2: balanced[1]!.port,
      });
      balancers.push(started.haproxy);
      const CLIENTS = 16;
      const STOP_AFTER = 400;
      /** requests sent after the stopped process exited: the load spans its drain and its close */
      const AFTER_EXIT = 300;
      const statuses: number[] = [];
      let sent = 0;
      let stopped: Promise<void> | null = null;
      let exited = false;
      let sentAfterExit = 0;
      const client = async () => {
        while (!exited || sentAfterExit < AFTER_EXIT) {
          sent++;
          if (exited) sentAfterExit++;
          const status = await fetch(`${started.url}/v1/recommendations?userId=u${sent % 50}`)
            .then(async (response) => {
              await response.arrayBuffer();
              return response.status;
            })
            .catch(() => 0);
          statuses.push(status);
          if (stopped === null && statuses.length >= STOP_AFTER)
            stopped = balanced[0]!.kill('SIGTERM').then(() => {
              exited = true;
            });
        }
      };
      await Promise.all(Array.from({ length: CLIENTS }, client));
      await stopped;

      expect(balanced[0]!.child.exitCode).toBe(0);
      expect(countStatuses(statuses)).toEqual({ 200: statuses.length });
    }, 60_000);
  },
);

describe('an api process told to stop (SIGTERM) with SHUTDOWN_DRAIN_MS', () => {
  it('fails its health checks at once, serves on through the drain, then exits 0', async () => {
    const api = alone!;
    const signalled = Date.now();
    api.child.kill('SIGTERM');
    // The signal is handled within a moment; well inside the drain, which the read below shows still going on.
    const healthz = await vi.waitFor(
      async () => {
        const response = await fetch(`${api.url}/healthz`);
        const body: unknown = await response.json();
        expect(response.status).toBe(503);
        return body;
      },
      { timeout: ALONE_DRAIN_MS, interval: 20 },
    );
    expect(healthz).toEqual({ status: 'draining' });
    const readyz = await fetch(`${api.url}/readyz`);
    expect(readyz.status).toBe(503);
    await readyz.arrayBuffer();
    const read = await fetch(`${api.url}/v1/recommendations?userId=u1`);
    await read.arrayBuffer();
    expect(read.status).toBe(200);
    const { code } = await api.exited;
    expect(code).toBe(0);
    expect(Date.now() - signalled).toBeGreaterThanOrEqual(ALONE_DRAIN_MS);
  }, 60_000);
});
