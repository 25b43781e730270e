import { existsSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { createRng, generateCatalog, generateEvents } from '@elevens/generator';

/**
 * The real datasets, read where ../shared/data/README.md puts them (beside the repository, never copied into
 * it). A contributor may not have them: tests run the same checks on the fixtures below.
 */
const SHARED_DATA_FILES = {
  movielens: 'movielens-100k/u.data',
  taobao: 'taobao-userbehavior-2h/UserBehavior.csv',
} as const;

/**
 * The real file's path when ../shared/data holds it; otherwise null, after one line saying the tests on it do
 * not run (the fixture's do).
 */
export function sharedDataFile(dataset: keyof typeof SHARED_DATA_FILES): string | null {
  const path = fileURLToPath(
    new URL(`../../../../shared/data/${SHARED_DATA_FILES[dataset]}`, import.meta.url),
  );
  if (existsSync(path)) return path;
  console.warn(
    `${path} is absent: its tests run on the generated fixture only (see ../shared/data/README.md)`,
  );
  return null;
}

export interface DatasetFixtureOptions {
  /** lines written, exactly */
  lines: number;
  users: number;
  items: number;
  seed: number;
}

/**
 * Generator events in time order, within a window like the real file's: four per line asked for, as repeated
 * (user, item) pairs or lines collapse.
 */
const fixtureEvents = (options: DatasetFixtureOptions, window: { startMs: number; days: number }) =>
  generateEvents({
    users: options.users,
    items: options.items,
    events: options.lines * 4,
    seed: options.seed,
    startMs: window.startMs,
    days: window.days,
    festivalSpike: false,
  });

const unixSeconds = (ms: number) => Math.floor(ms / 1000);

function writeLines(path: string, lines: readonly string[], options: DatasetFixtureOptions): void {
  if (lines.length < options.lines)
    throw new RangeError(
      `only ${lines.length} distinct lines for ${options.lines}: ask for more users or items`,
    );
  writeFileSync(path, `${lines.join('\n')}\n`);
}

/**
 * MovieLens u.data (`user \t item \t rating \t unix seconds`, no header) from the seeded generator, in 1997–98
 * as the real file: one rating per user and item, at the user's first event on it; 5 stars for a purchase, 4
 * for a cart or fav, 1–3 for a view only, so both sides of the import's 4-star line occur.
 */
export function writeMovielensFixture(path: string, options: DatasetFixtureOptions): void {
  // 0: viewed only, rated 1–3 below
  const stars = { view: 0, fav: 4, cart: 4, purchase: 5 } as const;
  const ratings = new Map<string, { seconds: number; stars: number }>();
  for (const event of fixtureEvents(options, { startMs: Date.UTC(1997, 8, 20), days: 210 })) {
    const key = `${event.userId}\t${event.itemId}`;
    const rating = ratings.get(key);
    if (rating) rating.stars = Math.max(rating.stars, stars[event.type]);
    else ratings.set(key, { seconds: unixSeconds(event.timestamp), stars: stars[event.type] });
  }
  const viewStars = createRng(options.seed);
  const lines = [...ratings].slice(0, options.lines).map(([key, rating]) => {
    const given = rating.stars > 0 ? rating.stars : 1 + viewStars.nextInt(3);
    return `${key}\t${given}\t${rating.seconds}`;
  });
  writeLines(path, lines, options);
}

/**
 * Taobao UserBehavior.csv (`user,item,category,pv|cart|fav|buy,unix seconds`, no header) from the seeded
 * generator: two hours from 2017-11-26 01:00 UTC in time order, as the real slice; each line distinct, as
 * the import's event ids (made from the whole line) require.
 */
export function writeTaobaoFixture(path: string, options: DatasetFixtureOptions): void {
  const behavior = { view: 'pv', cart: 'cart', fav: 'fav', purchase: 'buy' } as const;
  const categoryOf = new Map(
    [...generateCatalog({ items: options.items, seed: options.seed })].map((item) => [
      item.itemId,
      item.categoryId,
    ]),
  );
  const lines = new Set<string>();
  for (const event of fixtureEvents(options, { startMs: Date.UTC(2017, 10, 26, 1), days: 2 / 24 })) {
    if (lines.size === options.lines) break;
    lines.add(
      [
        event.userId,
        event.itemId,
        categoryOf.get(event.itemId),
        behavior[event.type],
        unixSeconds(event.timestamp),
      ].join(','),
    );
  }
  writeLines(path, [...lines], options);
}
