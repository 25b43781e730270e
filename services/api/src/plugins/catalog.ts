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
    const refresh = async () => {
      const version = await app.unservableItems.version();
      if (version === seenVersion) return;
      unservable = new Set(await app.unservableItems.members());
      seenVersion = version;
    };
    app.decorate('catalog', {
      isServable: (itemId: string) => !unservable.has(itemId),
      version: () => seenVersion ?? '',
      refresh,
    });
    await pollEvery(app, options.pollMs, 'could not read the catalog', refresh);
  },
  { name: 'elevens-catalog', dependencies: ['elevens-cache'] },
);
