import { decodeScored, loadModelSnapshot, type ModelSnapshot, type ScoredIndexes } from '@elevens/cache';
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { LruCache } from '../lru';

declare module 'fastify' {
  interface FastifyInstance {
    model: ServedModel;
  }
}

export interface ServedModel {
  /** The snapshot of the served version, or null before the first build. */
  current(): ModelSnapshot | null;
  /** Neighbour lists of the given items in the snapshot's version (missing items are absent). */
  neighbors(snapshot: ModelSnapshot, itemIds: readonly string[]): Promise<Map<string, ScoredIndexes>>;
  /** Checks the served version now (tests and start-up); the poller does this periodically. */
  refresh(): Promise<void>;
}

const EMPTY = decodeScored(Buffer.alloc(0));

/**
 * Follows `model:current`: when the pointer moves, loads the new version's small parts (item table, popular,
 * trending) into memory once, so a request reads only the neighbour lists it needs, through an LRU cache.
 */
export const modelPlugin = fp(
  async (app: FastifyInstance, options: { pollMs: number; cacheEntries: number }) => {
    let snapshot: ModelSnapshot | null = null;
    const cache = new LruCache<string, ScoredIndexes>(options.cacheEntries);

    const refresh = async () => {
      const version = await app.redis.get(app.keys.modelCurrent());
      if (version === null || version === snapshot?.version) return;
      const loaded = await loadModelSnapshot(app.redis, app.keys, version);
      if (loaded) {
        snapshot = loaded;
        app.log.info({ version, items: loaded.itemIds.length }, 'serving model version');
      }
    };

    const served: ServedModel = {
      current: () => snapshot,
      refresh,
      async neighbors(model, itemIds) {
        const found = new Map<string, ScoredIndexes>();
        const missing: string[] = [];
        for (const id of itemIds) {
          const hit = cache.get(`${model.version}\u0000${id}`);
          if (hit) found.set(id, hit);
          else missing.push(id);
        }
        if (missing.length > 0) {
          const buffers = await app.redis.hmgetBuffer(app.keys.modelNeighbors(model.version), ...missing);
          missing.forEach((id, i) => {
            const list = buffers[i] ? decodeScored(buffers[i]!) : EMPTY;
            cache.set(`${model.version}\u0000${id}`, list);
            if (list.idx.length > 0) found.set(id, list);
          });
        }
        return found;
      },
    };
    app.decorate('model', served);

    await refresh().catch((error: unknown) =>
      app.log.warn({ err: error }, 'could not read the served model'),
    );
    const timer = setInterval(() => {
      refresh().catch((error: unknown) => app.log.warn({ err: error }, 'could not read the served model'));
    }, options.pollMs);
    timer.unref();
    app.addHook('onClose', async () => clearInterval(timer));
  },
  { name: 'elevens-model', dependencies: ['elevens-cache'] },
);
