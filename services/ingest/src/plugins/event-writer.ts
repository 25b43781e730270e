import { EventLog } from '@elevens/db';
import { recordLiveEvents } from '@elevens/redis-stores';
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { GroupCommitter } from '../group-commit';

declare module 'fastify' {
  interface FastifyInstance {
    /** The events in Postgres (idempotency keys and the partitioned log): the writer's store. */
    eventLog: EventLog;
    /** Group-commits events to the event log, then applies them to the live state in Redis. */
    eventWriter: GroupCommitter;
  }
}

export interface EventWriterOptions {
  maxGroupEvents: number;
  maxWaitMs: number;
  maxConcurrentWrites: number;
  liveStateTimeoutMs: number;
}

/** Needs the `pg` and `redis` decorators (dbPlugin, cachePlugin). */
export const eventWriterPlugin = fp(
  async (app: FastifyInstance, options: EventWriterOptions) => {
    const eventLog = new EventLog(app.pg);
    const writer = new GroupCommitter({
      maxGroupEvents: options.maxGroupEvents,
      maxWaitMs: options.maxWaitMs,
      maxConcurrentWrites: options.maxConcurrentWrites,
      write: (groups) => eventLog.appendGroups(groups),
      // Postgres already holds these events; `elevens events rebuild-live-state` restores what Redis missed.
      afterCommit: (events) => recordLiveEvents(app.redis, app.keys, events),
      afterCommitTimeoutMs: options.liveStateTimeoutMs,
      onAfterCommitError: (error) => app.log.warn({ err: error }, 'live state update failed'),
    });
    app.decorate('eventLog', eventLog);
    app.decorate('eventWriter', writer);
    app.addHook('onClose', async () => {
      await writer.drain();
    });
  },
  { name: 'elevens-ingest-event-writer', fastify: '5.x', dependencies: ['elevens-db', 'elevens-cache'] },
);
