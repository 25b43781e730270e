import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { readRollups } from '@elevens/db';
import { encodePushAnswerId, encodeRecommendationAnswerId } from '@elevens/domain';
import { pushStatsField } from '@elevens/redis-stores';
import { createTestInfra, type TestInfra } from '@elevens/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const CLI = fileURLToPath(new URL('../packages/cli/bin/elevens.js', import.meta.url));
const HOUR_MS = 3_600_000;
const MIDNIGHT_MS = Date.parse('2026-11-11T00:00:00Z');

let infra: TestInfra;
let dir: string;

async function elevens(args: string[]) {
  try {
    const { stdout, stderr } = await run(process.execPath, [CLI, ...args], {
      env: { ...process.env, ...infra.env },
    });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

beforeAll(async () => {
  infra = await createTestInfra('reports-cli');
  dir = mkdtempSync(join(tmpdir(), 'elevens-report-cli-'));
  const answer = (arm: string) =>
    encodeRecommendationAnswerId({
      modelVersion: 'v1',
      placement: 'home',
      experiment: 'halflife',
      arm,
      answeredAtMs: MIDNIGHT_MS,
    });
  const push = encodePushAnswerId({ campaign: 'midnight', modelVersion: null, answeredAtMs: MIDNIGHT_MS });
  // Stored before the worker's watermark, as an import would: only a rebuild counts them.
  const rows: [string, string, string, number, string | null, number | null][] = [];
  for (let i = 0; i < 30; i++)
    rows.push(['u1', `i${i}`, 'impression', MIDNIGHT_MS + i, answer('control'), null]);
  for (let i = 0; i < 30; i++) rows.push(['u2', `i${i}`, 'impression', MIDNIGHT_MS + i, answer('b'), null]);
  for (let i = 0; i < 6; i++) rows.push(['u2', `i${i}`, 'click', MIDNIGHT_MS + 100 + i, answer('b'), null]);
  rows.push(['u2', 'i1', 'purchase', MIDNIGHT_MS + 1_000, null, 12.5]);
  rows.push(['u3', 'i9', 'click', MIDNIGHT_MS - HOUR_MS, push, null]);
  rows.push(['u4', 'i9', 'view', MIDNIGHT_MS - 2 * HOUR_MS, null, null]);
  await infra.pool.query(
    `INSERT INTO events (event_id, user_id, item_id, type, ts, recommendation_id, price, received_at)
     SELECT 'e' || n, u, i, t, to_timestamp(ms / 1000.0), r, p, '2020-01-01T00:00:00Z'
     FROM unnest($1::text[], $2::text[], $3::text[], $4::float8[], $5::text[], $6::numeric[])
          WITH ORDINALITY AS x(u, i, t, ms, r, p, n)`,
    [
      rows.map((r) => r[0]),
      rows.map((r) => r[1]),
      rows.map((r) => r[2]),
      rows.map((r) => r[3]),
      rows.map((r) => r[4]),
      rows.map((r) => r[5]),
    ],
  );
  const statsKey = infra.keys.pushStatsHour(Math.floor(MIDNIGHT_MS / HOUR_MS) - 1);
  await infra.redis.hincrby(statsKey, pushStatsField('push', 'ok', 'midnight'), 12);
  await infra.redis.hincrby(statsKey, pushStatsField('push', 'quiet_hours', 'midnight'), 4);
});

afterAll(async () => {
  rmSync(dir, { recursive: true, force: true });
  await infra.close();
});

describe('elevens rollups rebuild and elevens report campaign', () => {
  it('rebuilds the roll-ups from the events', async () => {
    const result = await elevens(['rollups', 'rebuild']);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/rebuilt the roll-ups of .*: 69 events/);
    const rows = await readRollups(infra.pool, 0, MIDNIGHT_MS + 24 * HOUR_MS);
    expect(rows.find((r) => r.arm === 'b')).toMatchObject({
      impressions: 30,
      clicks: 6,
      purchases: 1,
      revenue: 12.5,
    });
  });

  // The reports read the roll-ups rebuilt above; each reads an hour or window of push statistics no other one
  // writes into, so they run side by side.
  describe.concurrent('reports of the rebuilt roll-ups', () => {
    it('writes the campaign report as Markdown and CSV', async ({ expect }) => {
      const window = ['--from', '2026-11-10T20:00:00Z', '--to', '2026-11-11T04:00:00Z'];
      const md = await elevens(['report', 'campaign', ...window]);
      expect(md.code, md.stderr).toBe(0);
      expect(md.stdout).toContain('# Campaign report 2026-11-10T20:00:00.000Z');
      expect(md.stdout).toContain('**Peak hour:** 2026-11-11T00:00:00.000Z: 67 events');
      expect(md.stdout).toContain('**Push suppressions:** quiet_hours 4.');
      expect(md.stdout).toContain('## Experiment halflife by arm');
      expect(md.stdout).toMatch(
        /\| midnight \| 1 \| {2}\| 0 \| 1 \|.*\| 12 \| quiet_hours 4 \| send \| send \|/,
      );

      const out = join(dir, 'report.csv');
      const csv = await elevens(['report', 'campaign', ...window, '--format', 'csv', '--out', out]);
      expect(csv.code, csv.stderr).toBe(0);
      const lines = readFileSync(out, 'utf8').trim().split('\n');
      expect(lines[0]).toBe(
        'section,group,events,users,impressions,clicks,CTR,CTR 95 %,carts,purchases,conversion,revenue,p (CTR),push sends,suppressed,per,tested per',
      );
      expect(lines).toContainEqual(
        expect.stringMatching(/^Experiment halflife by arm,b,37,\d+,30,6,20\.00 %,.*,impression,user$/),
      );
      // A push's click is counted per send: 1 of 12 sends, with no impression posted.
      expect(lines).toContainEqual(
        expect.stringMatching(
          /^Push campaigns,midnight,1,,0,1,8\.33 %,1\.49–35\.39 %,0,0,0\.00 %,0\.00,,12,quiet_hours 4,send,send$/,
        ),
      );
      expect(lines.filter((line) => line.startsWith('Per hour (UTC),'))).toHaveLength(3);
    });

    it('lists an hour with push decisions but no events in the hourly table', async ({ expect }) => {
      // Sends at 06:00 that nothing followed yet: the hourly table still shows them, as the campaign rows do.
      await infra.redis.hincrby(
        infra.keys.pushStatsHour(Math.floor(MIDNIGHT_MS / HOUR_MS) + 6),
        pushStatsField('push', 'ok', 'dawn'),
        25,
      );
      const csv = await elevens([
        'report',
        'campaign',
        '--from',
        '2026-11-10T20:00:00Z',
        '--to',
        '2026-11-11T08:00:00Z',
        '--format',
        'csv',
      ]);
      expect(csv.code, csv.stderr).toBe(0);
      const lines = csv.stdout.trim().split('\n');
      expect(lines).toContainEqual(expect.stringMatching(/^Push campaigns,dawn,0,,0,0,.*,25,,send,send$/));
      expect(lines).toContainEqual(
        expect.stringMatching(
          /^Per hour \(UTC\),2026-11-11T06:00:00\.000Z,0,,0,0,.*,25,,impression,impression$/,
        ),
      );
    });

    it('leaves decisions the sender released out of the sends, and out of the suppressions', async ({
      expect,
    }) => {
      const hourKey = infra.keys.pushStatsHour(Math.floor(MIDNIGHT_MS / HOUR_MS) + 7);
      await infra.redis.hincrby(hourKey, pushStatsField('push', 'ok', 'recall'), 10);
      await infra.redis.hincrby(hourKey, pushStatsField('push', 'released', 'recall'), 3);
      const csv = await elevens([
        'report',
        'campaign',
        '--from',
        '2026-11-11T07:00:00Z',
        '--to',
        '2026-11-11T08:00:00Z',
        '--format',
        'csv',
      ]);
      expect(csv.code, csv.stderr).toBe(0);
      const lines = csv.stdout.trim().split('\n');
      expect(lines).toContainEqual(expect.stringMatching(/^Push campaigns,recall,0,,0,0,.*,7,,send,send$/));
      expect(csv.stdout).not.toContain('released');
    });

    it('compares the peak hour with an hourly mean below one event', async ({ expect }) => {
      // 69 events in the 8,760 hours of 2026: the peak hour's 67 are thousands of times the mean, not 67 times.
      const year = await elevens([
        'report',
        'campaign',
        '--from',
        '2026-01-01T00:00:00Z',
        '--to',
        '2027-01-01T00:00:00Z',
      ]);
      expect(year.code, year.stderr).toBe(0);
      expect(year.stdout).toContain(
        `**Peak hour:** 2026-11-11T00:00:00.000Z: 67 events (${(67 / (69 / 8_760)).toFixed(1)}× the hourly mean)`,
      );
    });

    it('refuses bad flags with one line', async ({ expect }) => {
      const [backwards, format, instant] = await Promise.all([
        elevens(['report', 'campaign', '--from', '2026-11-11T00:00:00Z', '--to', '2026-11-10T00:00:00Z']),
        elevens([
          'report',
          'campaign',
          '--from',
          '2026-11-10T00:00:00Z',
          '--to',
          '2026-11-11T00:00:00Z',
          '--format',
          'pdf',
        ]),
        elevens(['rollups', 'rebuild', '--from', 'yesterday']),
      ]);
      expect(backwards.code).toBe(1);
      expect(backwards.stderr.trim()).toBe('--to must be after --from');
      expect(format.stderr.trim()).toBe('--format: md or csv');
      expect(instant.stderr.trim()).toMatch(/^--from: not an ISO 8601 instant/);
    });
  });
});
