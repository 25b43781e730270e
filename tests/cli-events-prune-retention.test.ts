import { insertEvents } from '@elevens/db';
import type { StoredEvent } from '@elevens/domain';
import { createTestInfra, type TestInfra } from '@elevens/testkit';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { runElevens } from './support/service-processes';

const DAY = 86_400_000;

let infra: TestInfra;

beforeAll(async () => {
  infra = await createTestInfra('cli-prune-retention');
});

afterAll(async () => {
  await infra?.close();
});

const stored = (eventId: string, timestampMs: number): StoredEvent => ({
  eventId,
  userId: 'u',
  itemId: 'i',
  type: 'view',
  timestampMs,
  sessionId: null,
  recommendationId: null,
  quantity: null,
  price: null,
  properties: null,
});

const storedIds = async () =>
  (await infra.pool.query<{ event_id: string }>('SELECT event_id FROM events ORDER BY 1')).rows.map(
    (r) => r.event_id,
  );

const userRollupUsers = async () =>
  (
    await infra.pool.query<{ user_id: string }>('SELECT user_id FROM attribution_user_rollups ORDER BY 1')
  ).rows.map((r) => r.user_id);

beforeEach(async () => {
  await infra.pool.query('TRUNCATE events, event_ids, attribution_user_rollups');
  const now = Date.now();
  await insertEvents(infra.pool, [stored('e-40d', now - 40 * DAY), stored('e-1h', now - 3_600_000)]);
  // Per-user roll-ups name their user, as the events do; the user id here says how old each row is.
  for (const [userId, ageMs] of [
    ['u-40d', 40 * DAY],
    ['u-1h', 3_600_000],
  ] as const)
    await infra.pool.query(
      `INSERT INTO attribution_user_rollups (experiment, hour, arm, user_id)
       VALUES ('exp', date_trunc('hour', $1::timestamptz, 'UTC'), 'b', $2)`,
      [new Date(now - ageMs), userId],
    );
});

// A retention job with a slip in its duration (0d, 18d for 180d) must not empty the event store unasked.
describe('elevens events prune of less than 30 days of retention', () => {
  it.each(['0d', '0s', '1h', '29d'])(
    'refuses --older-than %s in one line and deletes nothing',
    async (text) => {
      const { code, stdout, stderr } = await runElevens(['events', 'prune', '--older-than', text], infra.env);
      expect(code, stdout + stderr).toBe(1);
      expect(stderr.trim().split('\n')).toEqual([
        expect.stringMatching(
          new RegExp(
            `^--older-than ${text} keeps less than 30 days of events: pass --force to delete every event before \\d{4}-`,
          ),
        ),
      ]);
      expect(stdout).toBe('');
      expect(await storedIds()).toEqual(['e-1h', 'e-40d']);
      expect(await userRollupUsers()).toEqual(['u-1h', 'u-40d']);
    },
  );

  it('prunes at 30 days and more without --force', async () => {
    const { code, stdout, stderr } = await runElevens(['events', 'prune', '--older-than', '30d'], infra.env);
    expect(code, stdout + stderr).toBe(0);
    expect(await storedIds()).toEqual(['e-1h']);
    expect(await userRollupUsers()).toEqual(['u-1h']);
    expect(stdout).toContain(', 1 per-user attribution roll-up rows and ');
  });

  it('prunes a short retention with --force', async () => {
    const { code, stdout, stderr } = await runElevens(
      ['events', 'prune', '--older-than', '0s', '--force'],
      infra.env,
    );
    expect(code, stdout + stderr).toBe(0);
    expect(stdout).toContain('pruned events before');
    expect(await storedIds()).toEqual([]);
  });
});
