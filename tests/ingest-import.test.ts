import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { EventImport } from '@elevens/db';
import { buildIngestApp, type IngestApp, loadIngestConfig } from '@elevens/ingest';
import {
  createTestInfra,
  sharedDataFile,
  type TestInfra,
  writeMovielensFixture,
  writeTaobaoFixture,
} from '@elevens/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateCsv } from '../packages/cli/src/commands/generate';
import {
  importEventsFile,
  parseMovielensLine,
  parseTaobaoLine,
  splitCsvLine,
} from '../packages/cli/src/commands/import';
import { replayFile } from '../packages/cli/src/commands/replay';

const run = promisify(execFile);
const CLI = fileURLToPath(new URL('../packages/cli/bin/elevens.js', import.meta.url));

let infra: TestInfra;
let dir: string;
/** Generated files in the real datasets' formats, for contributors without ../shared/data. */
const fixtures = {
  movielens: () => join(dir, 'u.data'),
  taobao: () => join(dir, 'UserBehavior.csv'),
};

beforeAll(async () => {
  infra = await createTestInfra('ingest-import');
  dir = mkdtempSync(join(tmpdir(), 'elevens-import-'));
  writeMovielensFixture(fixtures.movielens(), { lines: 2_500, users: 150, items: 300, seed: 17 });
  writeTaobaoFixture(fixtures.taobao(), { lines: 3_500, users: 600, items: 400, seed: 17 });
});

afterAll(async () => {
  rmSync(dir, { recursive: true, force: true });
  await infra.close();
});

const sha = (path: string) => createHash('sha256').update(readFileSync(path)).digest('hex');
const generator = { users: 300, items: 200, events: 3_000, seed: 7 };
/** The clock of the tests on event times: 2026-11-11T12:00Z. */
const NOW = Date.UTC(2026, 10, 11, 12);
const DAY = 86_400_000;

describe('elevens generate', () => {
  it('streams the same CSV for the same seed, with the catalog on request', async () => {
    const [a, b, catalog] = [join(dir, 'a.csv'), join(dir, 'b.csv'), join(dir, 'items.csv')];
    await generateCsv(generator, { events: a, catalog });
    await generateCsv(generator, { events: b });
    expect(sha(a)).toBe(sha(b));
    const lines = readFileSync(a, 'utf8').trimEnd().split('\n');
    expect(lines[0]).toBe('event_id,user_id,item_id,type,timestamp,session_id');
    expect(lines).toHaveLength(3_001);
    expect(readFileSync(catalog, 'utf8').trimEnd().split('\n')).toHaveLength(201);
  });

  it('refuses a time window that starts before 1970, whose events ingest would refuse', async () => {
    await expect(
      generateCsv({ ...generator, startMs: -DAY }, { events: join(dir, 'old.csv') }),
    ).rejects.toThrow(/before 1970/);
  });
});

describe('elevens import', () => {
  it('imports a generated CSV once: a second import finds only duplicates', async () => {
    const file = join(dir, 'events.csv');
    await generateCsv(generator, { events: file });
    const first = await importEventsFile(infra.pool, file, { format: 'csv', chunkRows: 1_000 });
    expect(first).toMatchObject({ rows: 3_000, inserted: 3_000, duplicates: 0, skipped: 0 });
    const again = await importEventsFile(infra.pool, file, { format: 'csv' });
    expect(again).toMatchObject({ rows: 3_000, inserted: 0, duplicates: 3_000 });
    const { rows } = await infra.pool.query(
      "SELECT count(*)::int AS n, count(DISTINCT session_id)::int AS sessions FROM events WHERE event_id LIKE 'g7-%'",
    );
    expect(rows[0].n).toBe(3_000);
    expect(rows[0].sessions).toBeGreaterThan(1);
  });

  it('skips bad CSV lines with their line numbers, handles quoting and ISO timestamps', async () => {
    const file = join(dir, 'hand.csv');
    writeFileSync(
      file,
      [
        'user_id,type,item_id,timestamp,category_id',
        'hu1,view,"item, with comma",2017-11-26T01:00:00Z,c1',
        'hu1,teleport,i2,1511658000000,',
        ',view,i3,1511658000000,',
        'hu2,purchase,"say ""hi""",1511658000000,',
        '',
      ].join('\n'),
    );
    const summary = await importEventsFile(infra.pool, file, { format: 'csv' });
    expect(summary).toMatchObject({ inserted: 2, skipped: 2, catalogItems: 1 });
    expect(summary.skippedExamples).toEqual([
      expect.stringMatching(/^line 3: unknown type/),
      expect.stringMatching(/^line 4: user id/),
    ]);
    const { rows } = await infra.pool.query(
      "SELECT item_id, ts FROM events WHERE user_id IN ('hu1', 'hu2') ORDER BY user_id",
    );
    expect(rows.map((r) => r.item_id)).toEqual(['item, with comma', 'say "hi"']);
    expect(rows[0].ts.toISOString()).toBe('2017-11-26T01:00:00.000Z');
  });

  it('skips rows before 1970, over a day ahead or at no real instant by line, and goes on', async () => {
    const file = join(dir, 'times.csv');
    writeFileSync(
      file,
      [
        'event_id,user_id,item_id,type,timestamp',
        't1,tu1,i1,view,1900-01-01T00:00:00Z',
        't2,tu1,i2,view,874965758000',
        't3,tu1,i3,view,2026-02-30T00:00:00Z',
        `t4,tu1,i4,view,${NOW + DAY + 1}`,
        't5,tu1,i5,view,-5',
        't6,tu1,i6,view,2026-11-11 10:00',
        `t7,tu1,i7,view,${new Date(NOW + DAY).toISOString()}`,
        't8,tu1,i8,view,2026-13-01T00:00:00Z',
        '',
      ].join('\n'),
    );
    const summary = await importEventsFile(infra.pool, file, { format: 'csv', now: () => NOW });
    expect(summary).toMatchObject({ rows: 2, inserted: 2, skipped: 6 });
    expect(summary.skippedExamples).toEqual([
      'line 2: timestamp "1900-01-01T00:00:00Z": before 1970-01-01',
      expect.stringMatching(/^line 4: timestamp "2026-02-30T00:00:00Z": not a real instant/),
      `line 5: timestamp "${NOW + DAY + 1}": more than a day in the future`,
      'line 6: timestamp "-5": before 1970-01-01',
      expect.stringMatching(/^line 7: timestamp "2026-11-11 10:00": not a real instant/),
    ]);
    const { rows } = await infra.pool.query<{ event_id: string; ts: Date }>(
      "SELECT event_id, ts FROM events WHERE user_id = 'tu1' ORDER BY event_id",
    );
    expect(rows.map((r) => [r.event_id, r.ts.getTime()])).toEqual([
      ['t2', 874_965_758_000],
      ['t7', NOW + DAY],
    ]);
  });

  it('skips taobao and MovieLens rows with a bad time, keeping 1997 ratings', () => {
    expect(parseTaobaoLine('1,2,3,pv,-2208988800', '', NOW)).toEqual({
      skip: 'timestamp "-2208988800": before 1970-01-01',
    });
    expect(parseTaobaoLine('1,2,3,pv,', '', NOW)).toEqual({
      skip: expect.stringMatching(/^timestamp "": not a real instant/),
    });
    expect(parseTaobaoLine(`1,2,3,pv,${(NOW + 2 * DAY) / 1000}`, '', NOW)).toEqual({
      skip: `timestamp "${(NOW + 2 * DAY) / 1000}": more than a day in the future`,
    });
    expect(parseMovielensLine('196\t242\t3\t881250949', '', NOW)).toMatchObject({
      type: 'view',
      timestampMs: 881_250_949_000,
    });
    expect(parseMovielensLine('196\t242\t3\tsoon', '', NOW)).toEqual({
      skip: expect.stringMatching(/^timestamp "soon": not a real instant/),
    });
  });

  it('EventImport refuses a row with a bad time by itself and goes on with the next', async () => {
    const row = (eventId: string, timestampMs: number) => ({
      eventId,
      userId: 'ei-user',
      itemId: 'i',
      type: 'view' as const,
      timestampMs,
      sessionId: null,
      categoryId: null,
    });
    const sink = new EventImport(infra.pool, { now: () => NOW });
    await sink.write(row('ei-1', Date.UTC(1998, 0, 1)));
    await expect(sink.write(row('ei-2', Date.UTC(1900, 0, 1)))).rejects.toThrow(
      new RangeError(`event ei-2: timestamp ${Date.UTC(1900, 0, 1)}: before 1970-01-01`),
    );
    await expect(sink.write(row('ei-3', Number.NaN))).rejects.toThrow(/not a real instant/);
    await expect(sink.write(row('ei-4', NOW + 2 * DAY))).rejects.toThrow(/more than a day in the future/);
    await sink.write(row('ei-5', NOW));
    expect(await sink.finish()).toMatchObject({ rows: 2, inserted: 2 });
    const { rows } = await infra.pool.query(
      "SELECT event_id FROM events WHERE user_id = 'ei-user' ORDER BY 1",
    );
    expect(rows.map((r) => r.event_id)).toEqual(['ei-1', 'ei-5']);
  });

  it('parses taobao rows and CSV fields', () => {
    expect(parseTaobaoLine('543462,1715,1464116,buy,1511658000')).toEqual({
      eventId: 'tb:543462:1715:buy:1511658000',
      userId: '543462',
      itemId: '1715',
      type: 'purchase',
      timestampMs: 1_511_658_000_000,
      sessionId: null,
      categoryId: '1464116',
    });
    expect(parseTaobaoLine('1,2,3,click,1511658000')).toEqual({ skip: 'unknown behavior_type "click"' });
    expect(splitCsvLine('a,"b,c",,"d""e"')).toEqual(['a', 'b,c', '', 'd"e']);
  });

  /** A file in a real dataset's format: the generated fixture always, the real file when ../shared/data has it. */
  interface DatasetFile {
    label: string;
    path: () => string;
    /** keeps each file's users and items apart in the one database */
    idPrefix: string;
  }
  const realFile = (dataset: 'movielens' | 'taobao', label: string, idPrefix: string): DatasetFile[] => {
    const path = sharedDataFile(dataset);
    return path === null ? [] : [{ label, path: () => path, idPrefix }];
  };

  const taobaoFiles: DatasetFile[] = [
    { label: 'a generated fixture', path: fixtures.taobao, idPrefix: 'tbfx:' },
    ...realFile('taobao', 'the Taobao file', 'tb:'),
  ];
  for (const file of taobaoFiles) {
    it(`imports the first 3,000 rows of ${file.label} in Taobao format with their categories`, async () => {
      const summary = await importEventsFile(infra.pool, file.path(), {
        format: 'taobao',
        limit: 3_000,
        idPrefix: file.idPrefix,
      });
      expect(summary).toMatchObject({ rows: 3_000, inserted: 3_000, skipped: 0 });
      const { rows } = await infra.pool.query(
        `SELECT count(*)::int AS n, count(DISTINCT type)::int AS types, count(DISTINCT item_id)::int AS items,
                (SELECT count(*)::int FROM items i WHERE i.item_id = ANY(array_agg(e.item_id)) AND i.category_id IS NOT NULL) AS categorised
         FROM events e WHERE user_id LIKE $1`,
        [`${file.idPrefix}%`],
      );
      expect(rows[0].n).toBe(3_000);
      expect(rows[0].types).toBeGreaterThanOrEqual(3);
      expect(rows[0].categorised).toBe(rows[0].items);
      const part = await infra.pool.query(
        'SELECT DISTINCT tableoid::regclass::text AS p FROM events WHERE user_id LIKE $1',
        [`${file.idPrefix}%`],
      );
      expect(part.rows).toEqual([{ p: 'events_2017_11' }]);
    });
  }

  const movielensFiles: DatasetFile[] = [
    { label: 'a generated fixture', path: fixtures.movielens, idPrefix: 'mlfx:' },
    ...realFile('movielens', 'MovieLens 100K', 'ml:'),
  ];
  for (const file of movielensFiles) {
    it(`imports the first 2,000 MovieLens ratings of ${file.label}, 4–5 stars as purchases`, async () => {
      const summary = await importEventsFile(infra.pool, file.path(), {
        format: 'movielens',
        limit: 2_000,
        idPrefix: file.idPrefix,
      });
      expect(summary).toMatchObject({ rows: 2_000, inserted: 2_000 });
      const { rows } = await infra.pool.query(
        'SELECT type, count(*)::int AS n FROM events WHERE user_id LIKE $1 GROUP BY type ORDER BY type',
        [`${file.idPrefix}%`],
      );
      expect(rows.map((r) => r.type)).toEqual(['purchase', 'view']);
    });
  }
});

describe('elevens import, the command', () => {
  // A database of its own, so the counts of stored and already stored rows are this command's alone.
  let own: TestInfra;
  beforeAll(async () => {
    own = await createTestInfra('import-command');
  });
  afterAll(async () => {
    await own.close();
  });

  it.each([
    ['movielens', fixtures.movielens, 2_500],
    ['taobao', fixtures.taobao, 3_500],
  ] as const)('stores a whole %s file', async (format, path, lines) => {
    const { stdout } = await run(process.execPath, [CLI, 'import', path(), '--format', format], {
      env: { ...process.env, ...own.env },
    });
    expect(stdout).toMatch(
      new RegExp(
        `^imported ${basename(path())}: ${lines} events read, ${lines} stored, 0 already stored, 0 lines skipped`,
      ),
    );
  });
});

describe('elevens replay', () => {
  let app: IngestApp;
  let url: string;

  beforeAll(async () => {
    app = await buildIngestApp({ config: loadIngestConfig(infra.env) });
    url = await app.listen({ host: '127.0.0.1', port: 0 });
  });

  afterAll(async () => {
    await app.close();
  });

  it('sends a time-ordered file through the API and reports rates, latencies and errors', async () => {
    const file = join(dir, 'replay.csv');
    const start = 1_511_658_000;
    const lines = Array.from(
      { length: 400 },
      (_, n) =>
        `${9_000_000 + (n % 37)},${n % 50},7,${n % 10 === 0 ? 'cart' : 'pv'},${start + Math.floor(n / 20)}`,
    );
    writeFileSync(file, lines.join('\n') + '\n');
    const report = await replayFile(file, {
      target: url,
      speed: 100,
      format: 'taobao',
      limit: 300,
      batchSize: 50,
    });
    expect(report).toMatchObject({ events: 300, accepted: 300, duplicates: 0, rejected: 0, errors: {} });
    expect(report.requests).toBeGreaterThanOrEqual(300 / 50);
    expect(report.latencyMs.p50).toBeGreaterThan(0);
    expect(report.latencyMs.p99).toBeGreaterThanOrEqual(report.latencyMs.p50);

    const again = await replayFile(file, { target: url, speed: 1_000, format: 'taobao' });
    expect(again).toMatchObject({ events: 400, accepted: 100, duplicates: 300 });
  });

  it('counts failed requests by status', async () => {
    const file = join(dir, 'replay-bad.csv');
    writeFileSync(file, '1,2,3,pv,1511658000\n');
    const report = await replayFile(file, { target: `${url}/nowhere`, speed: 1, format: 'taobao' });
    expect(report.errors).toEqual({ '404': 1 });
  });

  it('counts lines with a bad time as skipped, with their line numbers, and sends the rest', async () => {
    const file = join(dir, 'replay-times.csv');
    writeFileSync(
      file,
      ['7001,1,3,pv,-2208988800', '7001,2,3,pv,1511658000', '7001,3,3,pv,x', ''].join('\n'),
    );
    const report = await replayFile(file, { target: url, speed: 1_000, format: 'taobao' });
    expect(report).toMatchObject({ events: 1, accepted: 1, skipped: 2, errors: {} });
    expect(report.skippedExamples).toEqual([
      'line 1: timestamp "-2208988800": before 1970-01-01',
      expect.stringMatching(/^line 3: timestamp "x": not a real instant/),
    ]);
  });
});
