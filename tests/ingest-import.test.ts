import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildIngestApp, type IngestApp, loadIngestConfig } from '@elevens/ingest';
import { createTestInfra, type TestInfra } from '@elevens/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateCsv } from '../packages/cli/src/commands/generate';
import { importEventsFile, parseTaobaoLine, splitCsvLine } from '../packages/cli/src/commands/import';
import { replayFile } from '../packages/cli/src/commands/replay';

const TAOBAO = new URL('../../shared/data/taobao-userbehavior-2h/UserBehavior.csv', import.meta.url).pathname;
const MOVIELENS = new URL('../../shared/data/movielens-100k/u.data', import.meta.url).pathname;

for (const path of [TAOBAO, MOVIELENS]) {
  if (!existsSync(path))
    console.warn(`${path} is absent: its import test is skipped (see ../shared/data/README.md)`);
}

let infra: TestInfra;
let dir: string;

beforeAll(async () => {
  infra = await createTestInfra('ingest-import');
  dir = mkdtempSync(join(tmpdir(), 'elevens-import-'));
});

afterAll(async () => {
  rmSync(dir, { recursive: true, force: true });
  await infra.close();
});

const sha = (path: string) => createHash('sha256').update(readFileSync(path)).digest('hex');
const generator = { users: 300, items: 200, events: 3_000, seed: 7 };

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

  it.skipIf(!existsSync(TAOBAO))(
    'imports the first 3,000 rows of the Taobao file with their categories (skipped when ../shared/data lacks it)',
    async () => {
      const summary = await importEventsFile(infra.pool, TAOBAO, { format: 'taobao', limit: 3_000 });
      expect(summary).toMatchObject({ rows: 3_000, inserted: 3_000, skipped: 0 });
      const { rows } = await infra.pool.query(
        `SELECT count(*)::int AS n, count(DISTINCT type)::int AS types,
                (SELECT count(*)::int FROM items i WHERE i.item_id = ANY(array_agg(e.item_id)) AND i.category_id IS NOT NULL) AS categorised
         FROM events e WHERE event_id LIKE 'tb:%'`,
      );
      expect(rows[0].n).toBe(3_000);
      expect(rows[0].types).toBeGreaterThanOrEqual(3);
      expect(rows[0].categorised).toBeGreaterThan(2_000);
      const part = await infra.pool.query(
        "SELECT DISTINCT tableoid::regclass::text AS p FROM events WHERE event_id LIKE 'tb:%'",
      );
      expect(part.rows).toEqual([{ p: 'events_2017_11' }]);
    },
  );

  it.skipIf(!existsSync(MOVIELENS))(
    'imports the first 2,000 MovieLens ratings, 4–5 stars as purchases (skipped when ../shared/data lacks it)',
    async () => {
      const summary = await importEventsFile(infra.pool, MOVIELENS, {
        format: 'movielens',
        limit: 2_000,
        idPrefix: 'ml:',
      });
      expect(summary).toMatchObject({ rows: 2_000, inserted: 2_000 });
      const { rows } = await infra.pool.query(
        "SELECT type, count(*)::int AS n FROM events WHERE user_id LIKE 'ml:%' GROUP BY type ORDER BY type",
      );
      expect(rows.map((r) => r.type)).toEqual(['purchase', 'view']);
    },
  );
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
});
