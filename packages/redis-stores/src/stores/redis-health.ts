import { pingRedis, type RedisClient } from '../client';

/** What the readiness check and the metrics know of the Redis connection. */
export interface RedisHealth {
  /** true when Redis is connected and answers PING now */
  ping(): Promise<boolean>;
  /** calls `listener` on each error the client reports (connection losses, refused reconnects) */
  onError(listener: (error: Error) => void): void;
  /** the port of one server (a socket error naming it is Redis's); undefined for a cluster */
  readonly port: number | undefined;
}

export function redisHealthOf(redis: RedisClient): RedisHealth {
  const options = redis.options as { port?: unknown };
  return {
    ping: () => pingRedis(redis),
    onError(listener) {
      redis.on('error', listener);
    },
    port: typeof options.port === 'number' ? options.port : undefined,
  };
}
