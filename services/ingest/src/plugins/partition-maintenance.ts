import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';

export interface PartitionMaintenanceOptions {
  /** months of partitions kept ready beyond the current one */
  monthsAhead: number;
  intervalMs: number;
}

/**
 * Keeps the next months' event partitions created: at start-up and then every interval, so the first event of a
 * month never waits for DDL. Needs the `eventPartitions` store (dbPlugin).
 */
export const partitionMaintenancePlugin = fp(
  async (app: FastifyInstance, options: PartitionMaintenanceOptions) => {
    const ensure = () =>
      app.eventPartitions
        .ensureAhead(options.monthsAhead)
        .catch((error: unknown) => app.log.warn({ err: error }, 'could not create event partitions ahead'));
    let timer: NodeJS.Timeout | null = null;
    app.addHook('onReady', async () => {
      await ensure();
      timer = setInterval(ensure, options.intervalMs);
      timer.unref();
    });
    app.addHook('onClose', async () => {
      if (timer) clearInterval(timer);
    });
  },
  { name: 'elevens-ingest-partition-maintenance', fastify: '5.x', dependencies: ['elevens-db'] },
);
