import { createHash } from 'node:crypto';
import { createReadStream, type Stats, statSync } from 'node:fs';
import { basename } from 'node:path';
import { createInterface } from 'node:readline';
import { baseEnv, loadEnv } from '@elevens/config';
import { EventImport, type ImportEventRow, type ImportTotals, type Pool } from '@elevens/db';
import {
  ANONYMOUS_USER_PREFIX,
  EVENT_TYPES,
  type EventType,
  eventTimeProblem,
  isoTimestampMs,
} from '@elevens/domain';
import cliProgress from 'cli-progress';
import { z } from 'zod';
import { noEventProblem } from '../no-events';
import { openPostgres } from '../postgres';
import type { ImportFormat } from '../register/choices';
import { UserError } from '../run';

/** A parsed line: an event, a reason it was skipped, or null for lines that carry no event (blank, header). */
type ParsedLine = ImportEventRow | { skip: string } | null;
export type LineParser = (line: string, lineNumber: number) => ParsedLine;

const TAOBAO_TYPES: Record<string, EventType> = { pv: 'view', cart: 'cart', fav: 'fav', buy: 'purchase' };
const NUL = String.fromCharCode(0);
const validId = (id: string | undefined): id is string =>
  id !== undefined && id.length >= 1 && id.length <= 128 && !id.includes(NUL);
/** Why ingest refuses a user id of this prefix, which would store the events as an anonymous shopper's. */
const ANONYMOUS_PREFIX_PROBLEM = `must not start with ${ANONYMOUS_USER_PREFIX} (kept for anonymous shoppers)`;

/**
 * Checks the fields every format shares against the rules of ingest, the clock reading `nowMs`; returns the
 * reason the row is skipped, or null. `timestampText` is the row's timestamp as written, quoted in the reason.
 */
function problemOf(row: ImportEventRow, timestampText: string | null, nowMs: number): string | null {
  if (!validId(row.userId)) return 'user id must be 1–128 characters';
  if (row.userId.startsWith(ANONYMOUS_USER_PREFIX)) return `user id ${ANONYMOUS_PREFIX_PROBLEM}`;
  if (!validId(row.itemId)) return 'item id must be 1–128 characters';
  if (!validId(row.eventId)) return 'event id must be 1–128 characters';
  if (row.sessionId !== null && !validId(row.sessionId)) return 'session id must be 1–128 characters';
  if (row.categoryId !== null && !validId(row.categoryId)) return 'category id must be 1–128 characters';
  const timeProblem = eventTimeProblem(row.timestampMs, nowMs);
  if (timeProblem !== null) return `timestamp ${JSON.stringify(timestampText)}: ${timeProblem}`;
  return null;
}

const checked = (row: ImportEventRow, timestampText: string | null, nowMs: number): ParsedLine => {
  const problem = problemOf(row, timestampText, nowMs);
  return problem ? { skip: problem } : row;
};

/** `id` under `prefix`, or empty (a row to skip) when the file gives none: never the bare prefix. */
const prefixed = (prefix: string, id: string | undefined) => (id ? prefix + id : '');

/** Whole seconds (a sign allowed, so a negative time is refused as before 1970) to ms; NaN for anything else. */
const epochSecondsToMs = (text: string | undefined) =>
  text !== undefined && /^-?\d+$/.test(text) ? Number(text) * 1000 : Number.NaN;

/**
 * Taobao UserBehavior: `user_id,item_id,category_id,behavior_type,timestamp` (unix seconds, no header). The event
 * id is derived from the whole row, so importing (or replaying) the same file again stores nothing twice; it
 * starts with `idPrefix`, as the ids do, so files imported under different prefixes never share an event.
 */
export function parseTaobaoLine(line: string, idPrefix = '', nowMs = Date.now()): ParsedLine {
  if (line.trim() === '') return null;
  const [user, item, category, behavior, seconds] = line.trim().split(',');
  const type = TAOBAO_TYPES[behavior ?? ''];
  if (!type) return { skip: `unknown behavior_type ${JSON.stringify(behavior)}` };
  return checked(
    {
      eventId: `${idPrefix}tb:${user}:${item}:${behavior}:${seconds}`,
      userId: prefixed(idPrefix, user),
      itemId: prefixed(idPrefix, item),
      type,
      timestampMs: epochSecondsToMs(seconds),
      sessionId: null,
      categoryId: category ? idPrefix + category : null,
    },
    seconds ?? null,
    nowMs,
  );
}

/**
 * MovieLens u.data: `user_id \t item_id \t rating \t timestamp`; a rating of 4 or 5 counts as a purchase. The
 * event id, as taobao's, starts with `idPrefix`.
 */
export function parseMovielensLine(line: string, idPrefix = '', nowMs = Date.now()): ParsedLine {
  if (line.trim() === '') return null;
  // Fields trimmed one by one: trimming the line would drop an empty first field's tab and shift the others.
  const [user, item, rating, seconds] = line.split('\t').map((field) => field.trim());
  const stars = Number(rating);
  if (!Number.isInteger(stars) || stars < 1 || stars > 5) return { skip: `rating ${JSON.stringify(rating)}` };
  return checked(
    {
      eventId: `${idPrefix}ml:${user}:${item}`,
      userId: prefixed(idPrefix, user),
      itemId: prefixed(idPrefix, item),
      type: stars >= 4 ? 'purchase' : 'view',
      timestampMs: epochSecondsToMs(seconds),
      sessionId: null,
      categoryId: null,
    },
    seconds ?? null,
    nowMs,
  );
}

/**
 * One RFC 4180 record on one line: fields separated by commas, optionally quoted with "" for a quote. Null when a
 * quoted field is not closed: the line was cut short (the last line of a truncated file) or its field holds a
 * line break, which a line-by-line reader cannot join.
 */
export function splitCsvLine(line: string): string[] | null {
  const fields: string[] = [];
  let i = 0;
  while (i <= line.length) {
    if (line[i] === '"') {
      let value = '';
      let closed = false;
      i++;
      while (i < line.length) {
        if (line[i] === '"' && line[i + 1] === '"') {
          value += '"';
          i += 2;
        } else if (line[i] === '"') {
          i++;
          closed = true;
          break;
        } else value += line[i++];
      }
      if (!closed) return null;
      fields.push(value);
      i++;
    } else {
      const end = line.indexOf(',', i);
      const stop = end === -1 ? line.length : end;
      fields.push(line.slice(i, stop));
      i = stop + 1;
    }
  }
  return fields;
}

const CSV_REQUIRED = ['user_id', 'item_id', 'type'] as const;
const CSV_OPTIONAL = ['event_id', 'timestamp', 'session_id', 'category_id'] as const;
const EVENT_TYPE_SET = new Set<string>(EVENT_TYPES);

/** `timestamp`: epoch milliseconds, or ISO 8601 with an offset as ingest takes it (NaN for anything else). */
const parseCsvTimestamp = (text: string) => (/^-?\d+$/.test(text) ? Number(text) : isoTimestampMs(text));

/**
 * CSV with a header naming the columns (any order): user_id, item_id, type required; event_id, timestamp
 * (epoch ms or ISO 8601 with an offset; default: import time), session_id, category_id optional.
 * `elevens generate` writes it. Without an event_id the id is a hash of the line, so re-importing the file
 * stores nothing twice. `now` is the clock rows are checked by.
 */
export function csvLineParser(header: string, now: () => number = Date.now): LineParser {
  const columns = splitCsvLine(header.trim());
  if (columns === null) throw new UserError(`CSV header has an unclosed quote: ${header}`);
  const index = new Map(columns.map((name, i) => [name, i]));
  const missing = CSV_REQUIRED.filter((name) => !index.has(name));
  if (missing.length > 0) throw new UserError(`CSV header lacks ${missing.join(', ')}: ${header}`);
  const unknown = columns.filter(
    (name) =>
      !(CSV_REQUIRED as readonly string[]).includes(name) &&
      !(CSV_OPTIONAL as readonly string[]).includes(name),
  );
  if (unknown.length > 0) throw new UserError(`CSV header has unknown columns ${unknown.join(', ')}`);
  const importedAt = now();
  return (line) => {
    if (line.trim() === '') return null;
    const fields = splitCsvLine(line);
    if (fields === null) return { skip: 'a quoted field is not closed (a cut-short line?)' };
    const field = (name: string) => {
      const i = index.get(name);
      const value = i === undefined ? undefined : fields[i];
      return value === undefined || value === '' ? null : value;
    };
    const type = field('type') ?? '';
    if (!EVENT_TYPE_SET.has(type)) return { skip: `unknown type ${JSON.stringify(type)}` };
    const timestamp = field('timestamp');
    return checked(
      {
        eventId:
          field('event_id') ?? `csv:${createHash('sha256').update(line).digest('base64url').slice(0, 32)}`,
        userId: field('user_id') ?? '',
        itemId: field('item_id') ?? '',
        type: type as EventType,
        timestampMs: timestamp === null ? importedAt : parseCsvTimestamp(timestamp),
        sessionId: field('session_id'),
        categoryId: field('category_id'),
      },
      timestamp,
      now(),
    );
  };
}

export interface ImportOptions {
  format: ImportFormat;
  /** stop after this many events */
  limit?: number;
  /** prepended to user, item and category ids (taobao, movielens), to keep datasets apart in one database */
  idPrefix?: string;
  chunkRows?: number;
  /** the clock rows are checked by (epoch ms; default `Date.now`): rows over a day ahead of it are skipped */
  now?: () => number;
  onProgress?: (bytesRead: number, totals: Readonly<ImportTotals>) => void;
}

export interface ImportSummary extends ImportTotals {
  skipped: number;
  /** the first few skipped lines, with their reason */
  skippedExamples: string[];
  seconds: number;
}

/** Streams a file into Postgres through COPY; memory stays bounded whatever the file size. */
export async function importEventsFile(
  pool: Pool,
  path: string,
  options: ImportOptions,
): Promise<ImportSummary> {
  const started = performance.now();
  const input = createReadStream(path);
  const lines = createInterface({ input, crlfDelay: Number.POSITIVE_INFINITY });
  const now = options.now ?? Date.now;
  const sink = new EventImport(pool, {
    now,
    ...(options.chunkRows === undefined ? {} : { chunkRows: options.chunkRows }),
  });
  const limit = options.limit ?? Number.POSITIVE_INFINITY;
  let parse: LineParser | null =
    options.format === 'taobao'
      ? (line) => parseTaobaoLine(line, options.idPrefix, now())
      : options.format === 'movielens'
        ? (line) => parseMovielensLine(line, options.idPrefix, now())
        : null;
  let lineNumber = 0;
  let events = 0;
  let skipped = 0;
  const skippedExamples: string[] = [];
  try {
    for await (const line of lines) {
      lineNumber++;
      if (parse === null) {
        parse = csvLineParser(line, now);
        continue;
      }
      const parsed = parse(line, lineNumber);
      if (parsed === null) continue;
      if ('skip' in parsed) {
        skipped++;
        if (skippedExamples.length < 5) skippedExamples.push(`line ${lineNumber}: ${parsed.skip}`);
        continue;
      }
      if (events >= limit) break;
      await sink.write(parsed);
      events++;
      if (events % 5_000 === 0) options.onProgress?.(input.bytesRead, sink.progress());
    }
    const totals = await sink.finish();
    options.onProgress?.(input.bytesRead, totals);
    return { ...totals, skipped, skippedExamples, seconds: (performance.now() - started) / 1000 };
  } catch (error) {
    await sink.abort();
    throw error;
  } finally {
    lines.close();
    input.destroy();
  }
}

export const formatImportSummary = (file: string, s: ImportSummary) =>
  `imported ${basename(file)}: ${s.rows} events read, ${s.inserted} stored, ${s.duplicates} already stored, ` +
  (s.beforePruneCutOff > 0 ? `${s.beforePruneCutOff} before the prune cut-off (not stored), ` : '') +
  `${s.skipped} lines skipped, ${s.catalogItems} catalog items created or recategorised ` +
  `in ${s.seconds.toFixed(1)}s (${Math.round(s.rows / Math.max(s.seconds, 1e-3))} events/s)` +
  s.skippedExamples.map((example) => `\n  skipped ${example}`).join('');

/** The size of the regular file at `path`; a UserError naming it when there is none. */
export function fileSize(path: string): number {
  let stats: Stats;
  try {
    stats = statSync(path);
  } catch {
    throw new UserError(`cannot read ${path}`);
  }
  if (!stats.isFile()) throw new UserError(`cannot read ${path}: not a file`);
  return stats.size;
}

export interface ImportFlags {
  format: ImportFormat;
  limit?: number;
  idPrefix?: string;
  allowEmpty?: boolean;
}

/** `elevens import <file>`. */
export async function importCommand(file: string, flags: ImportFlags) {
  if (flags.idPrefix?.startsWith(ANONYMOUS_USER_PREFIX))
    throw new UserError(`--id-prefix ${ANONYMOUS_PREFIX_PROBLEM}`);
  const size = fileSize(file);
  const config = loadEnv(z.object(baseEnv), process.env, 'import');
  const pool = await openPostgres(config.DATABASE_URL);
  const bar = new cliProgress.SingleBar(
    {
      format: 'import {bar} {percentage}% | {stored} stored, {duplicates} duplicates | {eta_formatted} left',
      stream: process.stderr,
    },
    cliProgress.Presets.shades_classic,
  );
  bar.start(size, 0, { stored: 0, duplicates: 0 });
  try {
    const summary = await importEventsFile(pool, file, {
      format: flags.format,
      ...(flags.limit === undefined ? {} : { limit: flags.limit }),
      ...(flags.idPrefix === undefined ? {} : { idPrefix: flags.idPrefix }),
      onProgress: (bytes, totals) =>
        bar.update(bytes, { stored: totals.inserted, duplicates: totals.duplicates }),
    });
    bar.stop();
    console.log(formatImportSummary(file, summary));
    const problem = noEventProblem({
      file,
      format: flags.format,
      events: summary.rows,
      skipped: summary.skipped,
      bytes: size,
      allowEmpty: flags.allowEmpty === true,
      done: 'imported',
    });
    if (problem !== null) throw new UserError(problem);
  } finally {
    bar.stop();
    await pool.end();
  }
}
