import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createTestInfra, type TestInfra } from '@elevens/testkit';
import { afterAll, beforeAll, describe, it } from 'vitest';
import { runElevens } from './support/service-processes';

/** Nothing listens here: a command that waited for Redis would refuse to run. */
const REDIS_DOWN = { REDIS_URL: 'redis://127.0.0.1:1', REDIS_CLUSTER_NODES: '' };
const DAY = 86_400_000;

let infra: TestInfra;
let dir: string;
let events: string;

beforeAll(async () => {
  infra = await createTestInfra('cli-postgres-only');
  dir = mkdtempSync(join(tmpdir(), 'elevens-postgres-only-'));
  events = join(dir, 'events.csv');
  const now = Date.now();
  writeFileSync(
    events,
    'event_id,user_id,item_id,type,timestamp\n' +
      `p-old,u1,i1,view,${now - 400 * DAY}\n` +
      `p1,u1,i1,view,${now - 2 * DAY}\n` +
      `p2,u1,i2,purchase,${now - 2 * DAY + 60_000}\n`,
  );
});

afterAll(async () => {
  rmSync(dir, { recursive: true, force: true });
  await infra?.close();
});

// Maintenance of the event store while Redis is down (restarting, failed over) must not wait for it.
// The import first; then, side by side, the commands that read what it stored and the one that reaches no
// Postgres; the prune last, as the roll-ups and the evaluation read the events it deletes.
describe.concurrent('elevens commands that use Postgres only, with Redis down', () => {
  it.sequential('import stores the file', async ({ expect }) => {
    const { code, stdout, stderr } = await runElevens(['import', events, '--format', 'csv'], {
      ...infra.env,
      ...REDIS_DOWN,
    });
    expect(code, stdout + stderr).toBe(0);
    expect(stdout).toContain('3 events read, 3 stored');
  });

  it('still names Postgres in one line when it is the store that is down', async ({ expect }) => {
    const { code, stderr } = await runElevens(['import', events, '--format', 'csv'], {
      ...infra.env,
      DATABASE_URL: 'postgres://root@127.0.0.1:1/elevens',
    });
    expect(code).toBe(1);
    expect(stderr.trim().split('\n')).toEqual([
      expect.stringMatching(/^Postgres is not reachable at postgres:\/\/root@127\.0\.0\.1:1\/elevens /),
    ]);
  });

  it('rollups rebuild recomputes the roll-ups', async ({ expect }) => {
    const { code, stdout, stderr } = await runElevens(['rollups', 'rebuild'], {
      ...infra.env,
      ...REDIS_DOWN,
    });
    expect(code, stdout + stderr).toBe(0);
    expect(stdout).toMatch(/^rebuilt the roll-ups of /);
  });

  it('evaluate --dataset postgres reads the stored events', async ({ expect }) => {
    const { code, stdout, stderr } = await runElevens(['evaluate', '--dataset', 'postgres'], {
      ...infra.env,
      ...REDIS_DOWN,
    });
    expect(code, stdout + stderr).toBe(0);
    expect(stdout).toMatch(/^postgres: 2 events/);
  });

  it.sequential('events prune deletes the old events', async ({ expect }) => {
    const { code, stdout, stderr } = await runElevens(['events', 'prune', '--older-than', '180d'], {
      ...infra.env,
      ...REDIS_DOWN,
    });
    expect(code, stdout + stderr).toBe(0);
    const { rows } = await infra.pool.query<{ event_id: string }>('SELECT event_id FROM events ORDER BY 1');
    expect(rows.map((r) => r.event_id)).toEqual(['p1', 'p2']);
  });
});
