import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';

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
      const version = await app.redis.get(app.keys.catalogVersion());
      if (version === seenVersion) return;
      unservable = new Set(await app.redis.smembers(app.keys.catalogUnservable()));
      seenVersion = version;
    };
    app.decorate('catalog', {
      isServable: (itemId: string) => !unservable.has(itemId),
      version: () => seenVersion ?? '',
      refresh,
    });
    await refresh().catch((error: unknown) => app.log.warn({ err: error }, 'could not read the catalog'));
    const timer = setInterval(() => {
      refresh().catch((error: unknown) => app.log.warn({ err: error }, 'could not read the catalog'));
    }, options.pollMs);
    timer.unref();
    app.addHook('onClose', async () => clearInterval(timer));
  },
  { name: 'elevens-catalog', dependencies: ['elevens-cache'] },
);
