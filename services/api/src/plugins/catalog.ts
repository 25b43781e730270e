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

/**
 * Mirrors the catalog's unservable set in memory. One GET of a counter per poll; the set is reloaded only when
 * ingest changed it, so a block reaches serving within one poll interval without a model rebuild.
 */
export const catalogPlugin = fp(
  async (app: FastifyInstance, options: { pollMs: number }) => {
    let seenVersion: string | null = null;
    let unservable = new Set<string>();
    // Per item table, for the set above: replaced with it, so a reader never pairs a table with an older set.
    let byModel = new WeakMap<object, ReadonlySet<number>>();
    const refresh = async () => {
      const version = await app.unservableItems.version();
      if (version === seenVersion) return;
      unservable = new Set(await app.unservableItems.members());
      byModel = new WeakMap();
      seenVersion = version;
    };
    app.decorate('catalog', {
      isServable: (itemId: string) => !unservable.has(itemId),
      unservableIn(model) {
        let indexes = byModel.get(model.itemIndex);
        if (!indexes) {
          indexes = modelIndexesOf(model.itemIndex, unservable);
          byModel.set(model.itemIndex, indexes);
        }
        return indexes;
      },
      version: () => seenVersion ?? '',
      refresh,
    });
    await pollEvery(app, options.pollMs, 'could not read the catalog', refresh);
  },
  { name: 'elevens-catalog', dependencies: ['elevens-cache'] },
);
