import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { insertEvents } from '@elevens/db';
import type { StoredEvent } from '@elevens/domain';
import { createTestInfra, type TestInfra } from '@elevens/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const CLI = fileURLToPath(new URL('../packages/cli/bin/elevens.js', import.meta.url));
const run = promisify(execFile);
const DAY = 86_400_000;

let infra: TestInfra;

beforeAll(async () => {
  infra = await createTestInfra('ingest-cli');
});

afterAll(async () => {
  await infra.close();
});

const stored = (eventId: string, timestampMs: number): StoredEvent => ({
  eventId,
  userId: 'u',
  itemId: 'i',
  type: 'purchase',
  timestampMs,
  sessionId: null,
  recommendationId: null,
  quantity: null,
  price: null,
  properties: null,
});

describe('elevens events', () => {
  it('prune --older-than 180d drops old partitions and keeps recent events', async () => {
    const now = Date.now();
    await insertEvents(infra.pool, [
      stored('old-2017', Date.UTC(2017, 10, 26)),
      stored('old-200d', now - 200 * DAY),
      stored('new-10d', now - 10 * DAY),
    ]);
    const { stdout } = await run(process.execPath, [CLI, 'events', 'prune', '--older-than', '180d'], {
      env: { ...process.env, ...infra.env },
    });
    expect(stdout).toMatch(/dropped \d+ partitions \(.*events_2017_11.*\)/);
    const { rows } = await infra.pool.query<{ event_id: string }>('SELECT event_id FROM events');
    expect(rows.map((r) => r.event_id)).toEqual(['new-10d']);
  });

  it('prune refuses a malformed duration with one line', async () => {
    const failure = await run(process.execPath, [CLI, 'events', 'prune', '--older-than', 'half a year'], {
      env: { ...process.env, ...infra.env },
    }).catch((error: { code: number; stderr: string }) => error);
    expect(failure).toMatchObject({
      code: 1,
      stderr: expect.stringContaining('--older-than: not a duration'),
    });
  });
});
