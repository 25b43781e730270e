import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { createTestInfra, freePort, type TestInfra } from '@elevens/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const CLI = fileURLToPath(new URL('../packages/cli/bin/elevens.js', import.meta.url));
const CLIENTS = 8;
// Groups of several requests reach COPY_FROM_EVENTS, so the kill lands in binary COPYs as well as statements.
const EVENTS_PER_REQUEST = 100;
/** Acknowledged events after which the server is killed: enough that the load is in full swing. */
const KILL_AFTER_ACKED = 3_000;

let infra: TestInfra;
let server: ChildProcess;

async function waitForHealth(url: string, child: ChildProcess): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`ingest exited early with code ${child.exitCode}`);
    const up = await fetch(`${url}/healthz`).then(
      (r) => r.ok,
      () => false,
    );
    if (up) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error('ingest did not become healthy within 30 s');
}

beforeAll(async () => {
  infra = await createTestInfra('ingest-kill');
});

afterAll(async () => {
  if (server && server.exitCode === null && server.signalCode === null) server.kill('SIGKILL');
  await infra.close();
});

describe('ingest killed with SIGKILL under load', () => {
  it('has every acknowledged event in Postgres', async () => {
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    let stderr = '';
    server = spawn(process.execPath, [CLI, 'serve', 'ingest'], {
      env: { ...process.env, ...infra.env, HOST: '127.0.0.1', PORT: String(port), LOG_LEVEL: 'error' },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    server.stderr!.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    const exited = once(server, 'exit');
    await waitForHealth(url, server);

    const acked: string[] = [];
    let inFlightAtKill = 0;
    let inFlight = 0;
    let failedRequests = 0;
    let killed = false;
    const client = async (clientId: number) => {
      for (let request = 0; ; request++) {
        const ids = Array.from({ length: EVENTS_PER_REQUEST }, (_, i) => `k${clientId}-${request}-${i}`);
        const events = ids.map((eventId, i) => ({
          eventId,
          userId: `u${clientId}`,
          itemId: `i${i}`,
          type: 'view',
        }));
        inFlight++;
        try {
          const response = await fetch(`${url}/v1/events`, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify({ events }),
          });
          const body = (await response.json()) as { accepted?: number; duplicates?: number };
          if (response.status === 200 && body.accepted === EVENTS_PER_REQUEST) acked.push(...ids);
        } catch {
          failedRequests++;
          return;
        } finally {
          inFlight--;
        }
        if (!killed && acked.length >= KILL_AFTER_ACKED) {
          killed = true;
          inFlightAtKill = inFlight;
          server.kill('SIGKILL');
        }
        if (killed && server.exitCode === null && server.signalCode === null) await exited;
      }
    };
    await Promise.all(Array.from({ length: CLIENTS }, (_, id) => client(id)));
    const [, signal] = await exited;

    expect(signal, stderr).toBe('SIGKILL');
    expect(inFlightAtKill).toBeGreaterThan(0);
    expect(failedRequests).toBeGreaterThan(0);
    const { rows } = await infra.pool.query<{ n: number }>(
      'SELECT count(*)::int AS n FROM events WHERE event_id = ANY($1::text[])',
      [acked],
    );
    expect(rows[0]!.n).toBe(acked.length);
    const keys = await infra.pool.query<{ n: number }>(
      'SELECT count(*)::int AS n FROM event_ids WHERE event_id = ANY($1::text[])',
      [acked],
    );
    expect(keys.rows[0]!.n).toBe(acked.length);
  });
});
