import { baseEnv, loadEnv, parseDuration } from '@elevens/config';
import { pruneEvents } from '@elevens/db';
import { rebuildLiveState } from '@elevens/ingest';
import type { Command } from 'commander';
import { z } from 'zod';
import { openBatchInfra, requireServices } from '../infra';
import { action, UserError } from '../run';

/** The instant a duration flag reaches back to from now; a UserError naming the flag when there is none. */
function durationAgo(name: string, text: string): number {
  let durationMs: number;
  try {
    durationMs = parseDuration(text);
  } catch (error) {
    throw new UserError(`${name}: ${(error as Error).message}`);
  }
  const ms = Date.now() - durationMs;
  if (Number.isNaN(new Date(ms).getTime()))
    throw new UserError(`${name}: ${text} reaches back before any date`);
  return ms;
}

async function withInfra(
  commandName: string,
  fn: (infra: ReturnType<typeof openBatchInfra>) => Promise<void>,
) {
  const config = loadEnv(z.object(baseEnv), process.env, commandName);
  await requireServices(config);
  const infra = openBatchInfra(config);
  try {
    await fn(infra);
  } finally {
    await infra.close();
  }
}

export function registerEvents(program: Command) {
  const events = program.command('events').description('maintain the stored events');
  events
    .command('prune')
    .description('delete events older than a duration: whole monthly partitions are dropped')
    .requiredOption('--older-than <duration>', 'e.g. 180d')
    .action(
      action(async (flags: { olderThan: string }) => {
        const cutoffMs = durationAgo('--older-than', flags.olderThan);
        await withInfra('events prune', async ({ pool }) => {
          const result = await pruneEvents(pool, cutoffMs);
          console.log(
            `pruned events before ${new Date(cutoffMs).toISOString()}: dropped ` +
              `${result.droppedPartitions.length} partitions (${result.droppedPartitions.join(', ') || 'none'}), ` +
              `deleted ${result.deletedEvents} more events and ${result.deletedEventIds} idempotency keys`,
          );
        });
      }),
    );
  events
    .command('rebuild-live-state')
    .description(
      "rebuild Redis' user histories, purchased sets, profiles and trending counters from Postgres",
    )
    .option('--since <duration>', 'events of this recent span are replayed (e.g. 30d)', '30d')
    .action(
      action(async (flags: { since: string }) => {
        const sinceMs = durationAgo('--since', flags.since);
        await withInfra('events rebuild-live-state', async ({ pool, redis, keys }) => {
          const report = await rebuildLiveState(pool, redis, keys, { sinceMs });
          console.log(
            `rebuilt the live state since ${new Date(sinceMs).toISOString()}: ${report.users} users ` +
              `(${report.historyEntries} history entries, ${report.purchases} purchases), ` +
              `${report.profiles} profiles, ${report.trendingHours} trending hours` +
              (report.erasedSkipped + report.withdrawnSkipped > 0
                ? `; left out ${report.erasedSkipped} users erased and ${report.withdrawnSkipped} who withdrew ` +
                  'consent since their events were read'
                : ''),
          );
        });
      }),
    );
}
