import type { RedisClient } from '../client';
import type { RedisKeys } from '../keys';

/**
 * The copy of the API key table (its JSON, secret hashes only) in Redis, which a process starting while Postgres
 * is down reads. One key; the security plugin owns what the JSON holds.
 */
export class ApiKeyMirror {
  constructor(
    private readonly redis: RedisClient,
    private readonly keys: RedisKeys,
  ) {}

  /** The table last written, or null when none was. */
  read(): Promise<string | null> {
    return this.redis.get(this.keys.authKeyTable());
  }

  async write(tableJson: string): Promise<void> {
    await this.redis.set(this.keys.authKeyTable(), tableJson);
  }
}
