import type { RedisClient } from '../client';
import type { RedisKeys } from '../keys';

/** The live hourly trending counters in Redis (ingest adds to them with each user's events: LiveState). */
export class TrendingCounts {
  constructor(
    private readonly redis: RedisClient,
    private readonly keys: RedisKeys,
  ) {}

  /** The `depth` items counted most in one epoch hour, as Redis answers WITHSCORES: id, weight, id, weight… */
  topOfHour(epochHour: number, depth: number): Promise<string[]> {
    return this.redis.zrevrange(this.keys.trendingHour(epochHour), 0, depth - 1, 'WITHSCORES');
  }
}
