import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { listEventPartitions, pruneEvents } from '@elevens/db';
import { createTestInfra, type TestInfra } from '@elevens/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatImportSummary, importEventsFile } from '../packages/cli/src/commands/import';

let infra: TestInfra;
let dir: string;

beforeAll(async () => {
  infra = await createTestInfra('import-edge-lines');
  dir = mkdtempSync(join(tmpdir(), 'elevens-import-edges-'));
});

afterAll(async () => {
  rmSync(dir, { recursive: true, force: true });
  await infra?.close();
});

/** The clock of the tests on event times: 2026-11-11T12:00Z. */
const NOW = Date.UTC(2026, 10, 11, 12);

const eventsOf = async (userPattern: string) =>
  (
    await infra.pool.query<{ event_id: string; user_id: string; item_id: string }>(
      'SELECT event_id, user_id, item_id FROM events WHERE user_id LIKE $1 ORDER BY event_id',
      [userPattern],
    )
  ).rows;

describe('elevens import, file edges', () => {
  it('skips a cut-short last CSV line whose quoted field is not closed, instead of storing what is left', async () => {
    const file = join(dir, 'cut.csv');
    writeFileSync(
      file,
      'event_id,user_id,type,timestamp,item_id\n' +
        'cut-1,cut-u1,view,1511658000000,"item, one"\n' +
        'cut-2,cut-u1,view,1511658000000,"item, tw',
    );
    const summary = await importEventsFile(infra.pool, file, { format: 'csv', now: () => NOW });
    expect(summary).toMatchObject({ rows: 1, inserted: 1, skipped: 1 });
    expect(summary.skippedExamples).toEqual([expect.stringMatching(/^line 3: a quoted field is not closed/)]);
    expect(await eventsOf('cut-u%')).toEqual([
      { event_id: 'cut-1', user_id: 'cut-u1', item_id: 'item, one' },
    ]);
  });

  it('reads a CSV with a byte order mark and CRLF line endings like any other', async () => {
    const file = join(dir, 'windows.csv');
    writeFileSync(
      file,
      '\uFEFFevent_id,user_id,item_id,type,timestamp\r\nwin-1,win-u1,i1,view,1511658000000\r\n',
    );
    const summary = await importEventsFile(infra.pool, file, { format: 'csv', now: () => NOW });
    expect(summary).toMatchObject({ rows: 1, inserted: 1, skipped: 0 });
    expect(await eventsOf('win-u%')).toEqual([{ event_id: 'win-1', user_id: 'win-u1', item_id: 'i1' }]);
  });

  it('keeps two files imported under different --id-prefix apart, though their raw ids are the same', async () => {
    // Two MovieLens files numbering users and movies alike (100K and 1M do): the same (user, item) pair is a
    // different event in each.
    const ratings = ['1\t10\t5\t881250949', '1\t11\t2\t881250950', '2\t10\t4\t881250951'];
    const [first, second] = [join(dir, 'ml-a.data'), join(dir, 'ml-b.data')];
    writeFileSync(first, ratings.join('\n') + '\n');
    writeFileSync(second, ratings.join('\n') + '\n');
    const a = await importEventsFile(infra.pool, first, {
      format: 'movielens',
      idPrefix: 'mla:',
      now: () => NOW,
    });
    const b = await importEventsFile(infra.pool, second, {
      format: 'movielens',
      idPrefix: 'mlb:',
      now: () => NOW,
    });
    expect([a.inserted, b.inserted]).toEqual([3, 3]);
    expect((await eventsOf('mlb:%')).map((e) => e.item_id)).toEqual(['mlb:10', 'mlb:11', 'mlb:10']);
    const again = await importEventsFile(infra.pool, second, {
      format: 'movielens',
      idPrefix: 'mlb:',
      now: () => NOW,
    });
    expect(again).toMatchObject({ rows: 3, inserted: 0, duplicates: 3 });
  });

  it('keeps taobao files imported under different --id-prefix apart too', async () => {
    const file = join(dir, 'tb.csv');
    writeFileSync(file, '7,70,700,pv,1511658000\n7,71,700,buy,1511658001\n');
    const a = await importEventsFile(infra.pool, file, {
      format: 'taobao',
      idPrefix: 'tba:',
      now: () => NOW,
    });
    const b = await importEventsFile(infra.pool, file, {
      format: 'taobao',
      idPrefix: 'tbb:',
      now: () => NOW,
    });
    expect([a.inserted, b.inserted]).toEqual([2, 2]);
    expect(await eventsOf('tbb:%')).toHaveLength(2);
  });

  it('skips a row with an empty user or item id under an --id-prefix, instead of storing the bare prefix', async () => {
    const taobao = join(dir, 'tb-empty.csv');
    writeFileSync(taobao, '8,80,800,pv,1511658000\n,81,800,pv,1511658001\n8,,800,buy,1511658002\n');
    const movielens = join(dir, 'ml-empty.data');
    writeFileSync(movielens, '9\t90\t5\t881250949\n\t91\t4\t881250950\n9\t\t3\t881250951\n');
    const a = await importEventsFile(infra.pool, taobao, {
      format: 'taobao',
      idPrefix: 'tbe:',
      now: () => NOW,
    });
    const b = await importEventsFile(infra.pool, movielens, {
      format: 'movielens',
      idPrefix: 'mle:',
      now: () => NOW,
    });
    expect(a).toMatchObject({ rows: 1, inserted: 1, skipped: 2 });
    expect(a.skippedExamples).toEqual([
      'line 2: user id must be 1–128 characters',
      'line 3: item id must be 1–128 characters',
    ]);
    expect(b).toMatchObject({ rows: 1, inserted: 1, skipped: 2 });
    expect(b.skippedExamples).toEqual([
      'line 2: user id must be 1–128 characters',
      'line 3: item id must be 1–128 characters',
    ]);
    expect(
      (
        await infra.pool.query<{ user_id: string; item_id: string }>(
          "SELECT user_id, item_id FROM events WHERE user_id IN ('tbe:', 'mle:') OR item_id IN ('tbe:', 'mle:')",
        )
      ).rows,
    ).toEqual([]);
  });

  it('refuses rows before the prune cut-off on a re-import, counting them apart from duplicates', async () => {
    // In 1995, before every other test's events: the prune leaves theirs alone.
    const line = (id: string, ms: number) => `${id},pc-u1,pc-i1,view,${ms}`;
    const kept = line('pc-kept', Date.UTC(1995, 6, 1));
    const pruned = line('pc-pruned', Date.UTC(1995, 2, 1));
    const [first, second] = [join(dir, 'pruned-a.csv'), join(dir, 'pruned-b.csv')];
    writeFileSync(first, ['event_id,user_id,item_id,type,timestamp', pruned, kept].join('\n') + '\n');
    const newer = line('pc-new', Date.UTC(1995, 7, 1));
    const older = line('pc-older', Date.UTC(1995, 1, 1));
    writeFileSync(
      second,
      ['event_id,user_id,item_id,type,timestamp', pruned, kept, newer, older].join('\n') + '\n',
    );
    const options = { format: 'csv', now: () => NOW } as const;
    expect(await importEventsFile(infra.pool, first, options)).toMatchObject({ inserted: 2 });
    try {
      await pruneEvents(infra.pool, Date.UTC(1995, 5, 15));
      const again = await importEventsFile(infra.pool, second, options);
      expect(again).toMatchObject({ rows: 4, inserted: 1, duplicates: 1, beforePruneCutOff: 2 });
      expect(formatImportSummary(second, again)).toContain(
        '1 stored, 1 already stored, 2 before the prune cut-off (not stored), 0 lines skipped',
      );
      expect((await eventsOf('pc-u%')).map((e) => e.event_id)).toEqual(['pc-kept', 'pc-new']);
      const months = (await listEventPartitions(infra.pool)).map((p) => p.name);
      // No month the prune dropped is made again, empty, for the refused rows.
      expect(months.filter((name) => name.startsWith('events_1995'))).toEqual([
        'events_1995_07',
        'events_1995_08',
      ]);
    } finally {
      await infra.pool.query('DELETE FROM event_prune_cut_off');
    }
  });
});
