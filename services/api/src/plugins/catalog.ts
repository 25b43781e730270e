import { type ModelView, modelIndexesOf } from '@elevens/recommender';
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
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
  /** The catalog version counter `isServable` reflects ('' before Redis held one). */
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

/**
 * Mirrors the catalog's unservable set in memory. One read of a counter per poll; the set is reloaded only when
 * ingest changed it, so a block reaches serving within one poll interval without a model rebuild. When Redis lost
 * the set (no mark that it is whole, or a version older than the one served: a restart, a failover to a lagging
 * replica), the set served is kept, never traded for a partial one, and the poll restores Redis's copy from
 * Postgres (`catalogItems.restoreUnservable`) until it is whole again.
 */
export const catalogPlugin = fp(
  async (app: FastifyInstance, options: { pollMs: number }) => {
    let served: ServedSet = { version: null, itemIds: new Set(), complete: false };
    // Per item table, for the set above: replaced with it, so a reader never pairs a table with an older set.
    let byModel = new WeakMap<object, ReadonlySet<number>>();

    const wentBack = (version: string | null) =>
      served.complete && version !== null && Number(version) < Number(served.version);

    const load = async () => {
      const read = await app.unservableItems.read();
      // Before any whole set was read (at start-up), what Redis holds beats serving every item.
      if ((!read.complete || wentBack(read.version)) && served.complete) return;
      if (read.version === served.version && read.complete === served.complete) return;
      served = { version: read.version, itemIds: new Set(read.itemIds), complete: read.complete };
      byModel = new WeakMap();
    };

    const refresh = async () => {
      const state = await app.unservableItems.state();
      if (state.complete && !wentBack(state.version)) {
        if (state.version !== served.version || !served.complete) await load();
        return;
      }
      if (served.complete)
        app.log.error(
          { version: served.version, redisVersion: state.version },
          'the unservable items are missing from Redis; serving the last whole set until they are restored from Postgres',
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
      version: () => served.version ?? '',
      refresh,
    });
    await pollEvery(app, options.pollMs, 'could not read the catalog', refresh);
  },
  { name: 'elevens-catalog', dependencies: ['elevens-cache', 'elevens-db'] },
);
