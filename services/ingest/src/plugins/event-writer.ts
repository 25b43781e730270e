import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { GroupCommitter } from '../group-commit';

declare module 'fastify' {
  interface FastifyInstance {
    /** Group-commits events to the event log, then applies them to the live state in Redis. */
    eventWriter: GroupCommitter;
  }
}

export interface EventWriterOptions {
  maxGroupEvents: number;
  maxWaitMs: number;
  maxConcurrentWrites: number;
  liveStateTimeoutMs: number;
  /** ingest's clock (epoch ms): events timestamped ahead of it count in its hour's trending */
  now: () => number;
}

/** Needs the `eventLog`, `liveState` and `metrics` decorators (dbPlugin, cachePlugin, metricsPlugin). */
export const eventWriterPlugin = fp(
  async (app: FastifyInstance, options: EventWriterOptions) => {
    // Trending writes still in flight: the app waits for them as it closes, before the Redis client goes.
    const countingTrending = new Set<Promise<void>>();
    const writer = new GroupCommitter({
      maxGroupEvents: options.maxGroupEvents,
      maxWaitMs: options.maxWaitMs,
      maxConcurrentWrites: options.maxConcurrentWrites,
      write: (groups) => app.eventLog.appendGroups(groups),
      // Postgres already holds these events; `elevens events rebuild-live-state` restores what Redis missed. The
      // answers wait for the users' state (read-your-writes), not for the trending counters sent after it. The
      // clock just after the commit stands for the events' receive time (later only by the group's wait and
      // write): events timestamped ahead of it count in the hour the api reads as current once they are there.
      afterCommit: (events) => {
        const { usersWritten, trendingCounted } = app.liveState.recordEvents(events, options.now());
        const counted = trendingCounted
          .catch((error: unknown) => app.log.warn({ err: error }, 'trending counters update failed'))
          .finally(() => countingTrending.delete(counted));
        countingTrending.add(counted);
        return usersWritten;
      },
      afterCommitTimeoutMs: options.liveStateTimeoutMs,
      onAfterCommitError: (error) => app.log.warn({ err: error }, 'live state update failed'),
      onGroupCommitted: (group) => app.metrics.recordGroupCommit(group),
    });
    app.decorate('eventWriter', writer);
    app.addHook('onClose', async () => {
      await writer.drain();
      await Promise.all(countingTrending);
    });
  },
  {
    name: 'elevens-ingest-event-writer',
    fastify: '5.x',
    dependencies: ['elevens-db', 'elevens-cache', 'elevens-metrics'],
  },
);
