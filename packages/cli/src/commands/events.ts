import { baseEnv, loadEnv, parseDuration } from '@elevens/config';
import { pruneEvents } from '@elevens/db';
import { z } from 'zod';
import { openBatchInfra, requireServices } from '../infra';
import { openPostgres } from '../postgres';
import { MIN_RETENTION_DAYS } from '../retention';
import { UserError } from '../run';

/** The milliseconds of a duration flag; a UserError naming the flag when it is not one. */
function durationFlag(name: string, text: string): number {
  try {
    return parseDuration(text);
  } catch (error) {
    throw new UserError(`${name}: ${(error as Error).message}`);
  }
}

/** The instant `durationMs` (of the flag `name`, written `text`) reaches back to from now. */
function instantAgo(name: string, text: string, durationMs: number): number {
  const ms = Date.now() - durationMs;
  if (Number.isNaN(new Date(ms).getTime()))
    throw new UserError(`${name}: ${text} reaches back before any date`);
  return ms;
}

const MIN_RETENTION_MS = MIN_RETENTION_DAYS * 86_400_000;

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

/** `elevens events prune`. */
export async function eventsPruneCommand(flags: { olderThan: string; force?: boolean }) {
  const retentionMs = durationFlag('--older-than', flags.olderThan);
  const cutoffMs = instantAgo('--older-than', flags.olderThan, retentionMs);
  if (retentionMs < MIN_RETENTION_MS && flags.force !== true)
    throw new UserError(
      `--older-than ${flags.olderThan} keeps less than ${MIN_RETENTION_DAYS} days of events: pass --force ` +
        `to delete every event before ${new Date(cutoffMs).toISOString()}`,
    );
  const config = loadEnv(z.object(baseEnv), process.env, 'events prune');
  const pool = await openPostgres(config.DATABASE_URL);
  try {
    const result = await pruneEvents(pool, cutoffMs);
    console.log(
      `pruned events before ${new Date(cutoffMs).toISOString()}: dropped ` +
        `${result.droppedPartitions.length} partitions (${result.droppedPartitions.join(', ') || 'none'}), ` +
        `deleted ${result.deletedEvents} more events, ${result.deletedUserRollups} per-user attribution ` +
        `roll-up rows and ${result.deletedEventIds} idempotency keys` +
        (result.emptiedPartitions.length > 0
          ? `; emptied ${result.emptiedPartitions.join(', ')} instead of dropping them (a long read of the ` +
            'events held them): the next prune drops them'
          : ''),
    );
  } finally {
    await pool.end();
  }
}

/** `elevens events rebuild-live-state`. */
export async function eventsRebuildLiveStateCommand(flags: { since: string }) {
  const sinceMs = instantAgo('--since', flags.since, durationFlag('--since', flags.since));
  // The ingest service is loaded by this subcommand alone: prune does without it.
  const { rebuildLiveState } = await import('@elevens/ingest');
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
}
