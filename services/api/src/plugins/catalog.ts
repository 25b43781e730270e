import type { CommittedUnservable } from '@elevens/db';
import { type ModelView, modelIndexesOf } from '@elevens/recommender';
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { committedCheckPolls, committedCopy } from './committed-copy';
import { pollEvery } from './poll';

declare module 'fastify' {
  interface FastifyInstance {
    catalog: ServedCatalog;
  }
}

export interface ServedCatalog {
  /** False for blocked or unavailable items. */
  isServable(itemId: string): boolean;
  /** The model indexes of the items `isServable` refuses, in `model`'s item table (made once per catalog version). */
  unservableIn(model: Pick<ModelView, 'itemIndex'>): ReadonlySet<number>;
  /**
   * A followed item the catalog holds, with its category ('' = none); undefined for one it does not hold, or not
   * followed. Read from Postgres when followed, and again at each poll that finds the catalog version moved (or a
   * followed item still missing: ingest copies a write to Redis before its commit).
   */
  followed(itemId: string): { category: string } | undefined;
  /**
   * Reads the catalog rows of `itemIds` (the items pins name) and keeps them current from then on, in place of
   * those followed before; a failed read is logged and made again at the next poll.
   */
  follow(itemIds: readonly string[]): Promise<void>;
  /**
   * The catalog state `isServable` and `followed` reflect: the version counter ('' before Redis held one), and
   * after a read of the followed items changed them, that read's number.
   */
  version(): string;
  refresh(): Promise<void>;
}

/** The unservable set this process serves, as last read from Redis. */
interface ServedSet {
  version: string | null;
  itemIds: ReadonlySet<string>;
  /** read marked whole; else what Redis held while it was not (only until a whole set is read) */
  complete: boolean;
}

/** The followed items' rows, as last read. */
interface FollowedRows {
  /** the `following` array read (compared by identity) */
  of: readonly string[];
  /** `served.version` when read */
  atVersion: string | null;
  categories: ReadonlyMap<string, string>;
}

const sameCategories = (a: ReadonlyMap<string, string>, b: ReadonlyMap<string, string>) =>
  a.size === b.size && [...a].every(([itemId, category]) => b.get(itemId) === category);

/**
 * Mirrors the catalog's unservable set in memory. One read of a counter per poll; the set is reloaded only when
 * ingest changed it, so a block reaches serving within one poll interval without a model rebuild. When Redis lost
 * the set (no mark that it is whole, or a version older than the one served: a restart, a failover to a lagging
 * replica), the set served is kept, never traded for a partial one, and the poll restores Redis's copy from
 * Postgres (`catalogItems.restoreUnservable`) until it is whole again. Each poll also reads the newest version
 * Postgres holds as copied (one indexed row): a set marked whole at an older version is a replica that lagged
 * behind a write, which a process that never served that write could not tell otherwise, and is restored the
 * same way. A catalog write marks its change unconfirmed in Redis until it committed: a mark older than a grace is
 * a write whose commit failed (a block is only withheld too long, but an unblock would serve an item Postgres still
 * blocks) and whose process could not, or did not live to, put the set back, so the poll restores it
 * (committedCopy). It also holds the categories of the items
 * pins name (`follow`), read from Postgres when followed and when the version moves, for pins of items put since
 * the served model's build: a few rows per catalog change, never a read per request.
 */
export const catalogPlugin = fp(
  async (
    app: FastifyInstance,
    options: {
      pollMs: number;
      /** how long an unconfirmed change's mark may stay in the copy (committedCopy's grace, by default its own) */
      unconfirmedGraceMs?: number;
    },
  ) => {
    let served: ServedSet = { version: null, itemIds: new Set(), complete: false };
    // Per item table, for the set above: replaced with it, so a reader never pairs a table with an older set.
    let byModel = new WeakMap<object, ReadonlySet<number>>();
    let following: readonly string[] = [];
    let rows: FollowedRows = { of: following, atVersion: null, categories: new Map() };
    // Reads of the followed rows that changed them: part of `version()`, so an answer cached before is stale.
    let rowChanges = 0;
    // `version()`, made when it changes rather than per request.
    let catalogVersion = '';
    const setVersion = () => {
      catalogVersion = rowChanges === 0 ? (served.version ?? '') : `${served.version ?? ''}.${rowChanges}`;
    };
    // The poll and `follow` run one at a time: each reads `following` and the served version as a pair.
    let queue: Promise<unknown> = Promise.resolve();
    const serially = <T>(task: () => Promise<T>): Promise<T> => {
      const run = queue.then(task);
      queue = run.catch(() => {});
      return run;
    };

    // The newest version Postgres holds as copied, as last read: kept while Postgres cannot be read.
    let newestCopied = 0;
    let copiedKnown = false;
    let copiedRead: Promise<void> | undefined;
    // Read beside each poll's Redis read, which waits for it only until a first read succeeded: a stalled Postgres
    // never holds back a block copied to Redis, and a newer version read counts from the next poll.
    const readNewestCopied = () => {
      copiedRead ??= app.catalogItems
        .newestCopiedVersion()
        .then(
          (version) => {
            newestCopied = version;
            copiedKnown = true;
          },
          (error: unknown) =>
            app.log.warn({ err: error }, 'could not read the newest catalog copy version from Postgres'),
        )
        .finally(() => {
          copiedRead = undefined;
        });
      return copiedRead;
    };
    app.addHook('onClose', async () => {
      await copiedRead;
    });

    const copies = committedCopy<CommittedUnservable>({
      withCommitted: (wait, use) => app.catalogItems.withCommittedUnservable(app.unservableItems, wait, use),
      copy: (committed) => committed.restore(),
      copyHolds: (committed) => committed.copied(),
      checkEveryPolls: committedCheckPolls(options.pollMs),
      confirm: (changeId) => app.unservableItems.confirm(changeId),
      warn: (error, what) => app.log.warn({ err: error }, `unservable items: ${what}`),
      graceMs: options.unconfirmedGraceMs,
    });

    const behindCopied = (version: string | null) => Number(version ?? 0) < newestCopied;
    const wentBack = (version: string | null) =>
      (served.complete && version !== null && Number(version) < Number(served.version)) ||
      behindCopied(version);

    const load = async () => {
      const read = await app.unservableItems.read();
      // Before any whole set was read (at start-up), what Redis holds beats serving every item.
      if ((!read.complete || wentBack(read.version)) && served.complete) return;
      if (read.version === served.version && read.complete === served.complete) return;
      served = { version: read.version, itemIds: new Set(read.itemIds), complete: read.complete };
      byModel = new WeakMap();
      setVersion();
    };

    const readFollowed = async () => {
      const itemIds = following;
      const atVersion = served.version;
      const current =
        rows.of === itemIds && rows.atVersion === atVersion && rows.categories.size === itemIds.length;
      if (current || (itemIds.length === 0 && rows.categories.size === 0)) return;
      const entries = await app.catalogItems.lookup(itemIds);
      const categories = new Map(entries.map((entry) => [entry.itemId, entry.categoryId ?? '']));
      const changed = !sameCategories(categories, rows.categories);
      rows = { of: itemIds, atVersion, categories };
      if (changed) {
        rowChanges++;
        setVersion();
      }
    };

    const refreshSet = async () => {
      const copied = readNewestCopied();
      let state = await app.unservableItems.state();
      if (await copies.repair(state.unconfirmed)) state = await app.unservableItems.state();
      if (!copiedKnown) await copied;
      // A write may have committed between the two reads: behind only if Redis is still behind once it was read.
      if (state.complete && behindCopied(state.version)) state = await app.unservableItems.state();
      if (state.complete && !wentBack(state.version)) {
        if (state.version !== served.version || !served.complete) await load();
        return;
      }
      if (served.complete || state.complete)
        app.log.error(
          { version: served.version, redisVersion: state.version, newestCopied },
          'the unservable items are missing from Redis or older than their last copy; serving the last whole set until they are restored from Postgres',
        );
      try {
        await app.catalogItems.restoreUnservable(
          app.unservableItems,
          served.complete ? Number(served.version) : undefined,
        );
      } finally {
        await load();
      }
    };

    const refresh = () =>
      serially(async () => {
        await refreshSet();
        await readFollowed();
      });

    app.decorate('catalog', {
      isServable: (itemId: string) => !served.itemIds.has(itemId),
      unservableIn(model) {
        let indexes = byModel.get(model.itemIndex);
        if (!indexes) {
          indexes = modelIndexesOf(model.itemIndex, served.itemIds);
          byModel.set(model.itemIndex, indexes);
        }
        return indexes;
      },
      followed(itemId) {
        const category = rows.categories.get(itemId);
        return category === undefined ? undefined : { category };
      },
      follow(itemIds) {
        following = [...new Set(itemIds)];
        return serially(readFollowed).catch((error: unknown) =>
          app.log.warn(
            { err: error },
            'could not read the pinned items; reading them again at the next poll',
          ),
        );
      },
      version: () => catalogVersion,
      refresh,
    });
    await pollEvery(app, options.pollMs, 'could not read the catalog', refresh);
  },
  { name: 'elevens-catalog', dependencies: ['elevens-cache', 'elevens-db'] },
);
