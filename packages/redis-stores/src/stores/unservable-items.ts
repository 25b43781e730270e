import { execOrThrow, type RedisClient } from '../client';
import type { RedisKeys } from '../keys';

/**
 * The catalog's unservable items (blocked or unavailable) in Redis, with a version counter bumped on every
 * change, so serving processes poll one small key and reload the set only when it moved. Both keys share a hash
 * tag: they are written in one pipeline.
 */
export class UnservableItems {
  constructor(
    private readonly redis: RedisClient,
    private readonly keys: RedisKeys,
  ) {}

  /** Mirrors items' servability of a catalog write and bumps the version; rejects when a command failed. */
  async record(items: readonly { itemId: string; servable: boolean }[]): Promise<void> {
    const { keys } = this;
    const unservable = items.filter((item) => !item.servable).map((item) => item.itemId);
    const servable = items.filter((item) => item.servable).map((item) => item.itemId);
    const pipeline = this.redis.pipeline();
    if (unservable.length > 0) pipeline.sadd(keys.catalogUnservable(), ...unservable);
    if (servable.length > 0) pipeline.srem(keys.catalogUnservable(), ...servable);
    pipeline.incr(keys.catalogVersion());
    await execOrThrow(pipeline);
  }

  /** The version counter; null before the first catalog write. */
  version(): Promise<string | null> {
    return this.redis.get(this.keys.catalogVersion());
  }

  members(): Promise<string[]> {
    return this.redis.smembers(this.keys.catalogUnservable());
  }
}
