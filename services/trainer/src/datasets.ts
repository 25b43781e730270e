import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { StringDecoder } from 'node:string_decoder';
import { EVENT_TYPE_CODES } from '@elevens/algorithms';
import {
  copyEventsOut,
  type EventWindow,
  listItemCategories,
  type Pool,
  unescapeCopyField,
} from '@elevens/db';
import type { EvalEvent } from '@elevens/evaluation';
import { DATASET_NAMES } from './choices';

/** An event as evaluation reads it; `type` is one of the build's event type names. */
export interface DatasetEvent extends EvalEvent {
  /** groups cart/purchase events into a basket; undefined = the (user, UTC day) basket */
  sessionId?: string;
}

export interface Dataset {
  name: string;
  /** in file (or database) order */
  events: DatasetEvent[];
  /** category id per item id; items without one are absent */
  itemCategories: Map<string, string>;
}

export { DATASET_NAMES };
export type DatasetName = (typeof DATASET_NAMES)[number];

/** The real files, relative to the repository root (see ../shared/data/README.md; never copied into the repo). */
export const DEFAULT_DATASET_FILES: Record<Exclude<DatasetName, 'postgres'>, string> = {
  movielens: '../shared/data/movielens-100k/u.data',
  taobao: '../shared/data/taobao-userbehavior-2h/UserBehavior.csv',
};

const TAOBAO_TYPES: Record<string, string> = { pv: 'view', cart: 'cart', fav: 'fav', buy: 'purchase' };

/**
 * Strings repeat millions of times in a large file; keeping one copy of each id keeps the event objects small.
 */
class Interner {
  private readonly strings = new Map<string, string>();
  get(text: string): string {
    const known = this.strings.get(text);
    if (known !== undefined) return known;
    this.strings.set(text, text);
    return text;
  }
}

export interface FileDatasetOptions {
  /** read only the first lines of the file (tests on a slice of real data) */
  maxLines?: number;
  /** MovieLens: every rating is a purchase (the protocol of issue #17's reference figures), not by stars */
  ratingsAsPurchases?: boolean;
}

async function readLines(path: string, maxLines: number, onLine: (line: string) => void): Promise<void> {
  const lines = createInterface({
    input: createReadStream(path, 'utf8'),
    crlfDelay: Number.POSITIVE_INFINITY,
  });
  let count = 0;
  for await (const line of lines) {
    if (count >= maxLines) break;
    count++;
    if (line.trim() !== '') onLine(line);
  }
  lines.close();
}

/**
 * MovieLens u.data (`user \t item \t rating \t unix seconds`): a rating of 4 or 5 is a purchase-like strong
 * signal, lower ratings a view — the same mapping `elevens import --format movielens` stores — or, with
 * `ratingsAsPurchases`, every rating a purchase.
 */
export async function loadMovielens(path: string, options: FileDatasetOptions = {}): Promise<Dataset> {
  const ids = new Interner();
  const events: DatasetEvent[] = [];
  await readLines(path, options.maxLines ?? Number.POSITIVE_INFINITY, (line) => {
    const [user, item, rating, seconds] = line.trim().split('\t');
    const stars = Number(rating);
    const timestamp = Number(seconds) * 1000;
    if (!user || !item || !Number.isInteger(stars) || !Number.isFinite(timestamp)) return;
    events.push({
      userId: ids.get(user),
      itemId: ids.get(item),
      type: options.ratingsAsPurchases || stars >= 4 ? 'purchase' : 'view',
      timestamp,
    });
  });
  return { name: 'movielens', events, itemCategories: new Map() };
}

/** Taobao UserBehavior (`user,item,category,pv|cart|fav|buy,unix seconds`), as `elevens import --format taobao`. */
export async function loadTaobao(path: string, options: FileDatasetOptions = {}): Promise<Dataset> {
  const ids = new Interner();
  const events: DatasetEvent[] = [];
  const itemCategories = new Map<string, string>();
  await readLines(path, options.maxLines ?? Number.POSITIVE_INFINITY, (line) => {
    const [user, item, category, behavior, seconds] = line.trim().split(',');
    const type = TAOBAO_TYPES[behavior ?? ''];
    const timestamp = Number(seconds) * 1000;
    if (!user || !item || !type || !Number.isFinite(timestamp)) return;
    const itemId = ids.get(item);
    if (category) itemCategories.set(itemId, ids.get(category));
    events.push({ userId: ids.get(user), itemId, type, timestamp });
  });
  return { name: 'taobao', events, itemCategories };
}

const BUILD_TYPES = new Set<string>(EVENT_TYPE_CODES);

/** The events of a window from Postgres (the rows `elevens build` reads) and the catalog's categories. */
export async function loadPostgresEvents(pool: Pool, window: EventWindow): Promise<Dataset> {
  const ids = new Interner();
  const events: DatasetEvent[] = [];
  const { stream, release } = await copyEventsOut(pool, window);
  const handleLine = (line: string) => {
    const f = line.split('\t');
    if (f.length < 5 || !BUILD_TYPES.has(f[2]!)) return;
    const event: DatasetEvent = {
      userId: ids.get(unescapeCopyField(f[0]!)),
      itemId: ids.get(unescapeCopyField(f[1]!)),
      type: f[2]!,
      timestamp: Number(f[3]),
    };
    if (f[4] !== '\\N') event.sessionId = ids.get(unescapeCopyField(f[4]!));
    events.push(event);
  };
  try {
    // A chunk may end inside a multi-byte character; the decoder holds its first bytes back.
    const decoder = new StringDecoder('utf8');
    let carry = '';
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      const lines = (carry + decoder.write(chunk)).split('\n');
      carry = lines.pop()!;
      for (const line of lines) handleLine(line);
    }
    carry += decoder.end();
    if (carry.length > 0) handleLine(carry);
  } finally {
    release();
  }
  const itemCategories = new Map<string, string>();
  for (const row of await listItemCategories(pool)) {
    if (row.categoryId) itemCategories.set(row.itemId, row.categoryId);
  }
  return { name: 'postgres', events, itemCategories };
}
