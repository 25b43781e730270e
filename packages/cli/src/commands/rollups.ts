import { baseEnv, Duration, formatDuration, loadEnv, parseDuration } from '@elevens/config';
import {
  DEFAULT_ATTRIBUTION_WINDOW_MS,
  RollupsOutliveEvents,
  RollupsPrunedHours,
  rebuildRollups,
} from '@elevens/db';
import { z } from 'zod';
import { openPostgres } from '../postgres';
import { UserError } from '../run';

/** An ISO 8601 instant from a flag, in epoch ms. */
export function instantFlag(name: string, text: string): number {
  const ms = z.iso.datetime({ offset: true }).safeParse(text).success ? Date.parse(text) : Number.NaN;
  if (Number.isNaN(ms))
    throw new UserError(`${name}: not an ISO 8601 instant with an offset: ${JSON.stringify(text)}`);
  return ms;
}

function windowFlag(text: string): number {
  try {
    return parseDuration(text);
  } catch (error) {
    throw new UserError(`--window: ${(error as Error).message}`);
  }
}

/**
 * ATTRIBUTION_WINDOW as ingest reads it: a rebuild run with the ingest's environment counts with the worker's window,
 * not a different default that would disagree with every hour the worker rolls up next.
 */
const RollupsEnv = z.object({
  ...baseEnv,
  ATTRIBUTION_WINDOW: Duration.default(DEFAULT_ATTRIBUTION_WINDOW_MS),
});

const iso = (ms: number) => new Date(ms).toISOString();

/** The one line an operator reads for a rebuild refused over pruned hours: what was pruned, why, what to run. */
function prunedHoursRefusal(error: RollupsPrunedHours, windowMs: number): UserError {
  const firstHour = iso(error.firstWholeHourMs);
  return new UserError(
    `events before ${iso(error.cutOffMs)} were pruned: the roll-ups of the hours before ${firstHour} (the ` +
      `cut-off's hour, and the ${formatDuration(windowMs)} attribution window after the cut-off, whose ` +
      `last touches are gone) cannot be recomputed whole from the events left; nothing rebuilt: ` +
      (error.reachedBy === 'from'
        ? `rebuild from ${firstHour} or later, or leave --from out`
        : `--to ends before ${firstHour}`),
  );
}

/** `elevens rollups rebuild`. */
export async function rollupsRebuildCommand(flags: { from?: string; to?: string; window?: string }) {
  const fromMs = flags.from === undefined ? undefined : instantFlag('--from', flags.from);
  const toMs = flags.to === undefined ? undefined : instantFlag('--to', flags.to);
  if (fromMs !== undefined && toMs !== undefined && toMs <= fromMs)
    throw new UserError('--to must be after --from');
  const flagWindowMs = flags.window === undefined ? undefined : windowFlag(flags.window);
  const config = loadEnv(RollupsEnv, process.env, 'rollups rebuild');
  const windowMs = flagWindowMs ?? config.ATTRIBUTION_WINDOW;
  const pool = await openPostgres(config.DATABASE_URL);
  try {
    // Refused rather than narrowed to the hours the events cover: the operator learns that the hours asked for
    // were not recomputed (after a change of ATTRIBUTION_WINDOW, say) instead of reading a different window.
    const report = await rebuildRollups(pool, {
      windowMs,
      ...(fromMs === undefined ? {} : { fromMs }),
      ...(toMs === undefined ? {} : { toMs }),
    }).catch((error: unknown) => {
      if (error instanceof RollupsPrunedHours) throw prunedHoursRefusal(error, windowMs);
      if (!(error instanceof RollupsOutliveEvents)) throw error;
      throw new UserError(
        `${error.message}; nothing rebuilt: ` +
          (error.oldestEventHourMs === null
            ? 'no event is stored'
            : `rebuild from ${iso(error.oldestEventHourMs)} (the hour of the oldest event stored) or later, or leave --from out`),
      );
    });
    if (report.toMs === report.fromMs) {
      console.log(
        toMs === undefined
          ? `nothing rebuilt: no event is stored from ${iso(report.fromMs)} on`
          : `nothing rebuilt: --to ends at or before ${iso(report.fromMs)}, the hour of the oldest event stored`,
      );
      return;
    }
    console.log(
      `rebuilt the roll-ups of ${iso(report.fromMs)} – ${iso(report.toMs)}: ${report.events} events in ` +
        `${report.rows} rows (events received before ${report.watermarkMs === null ? 'never' : iso(report.watermarkMs)})`,
    );
  } finally {
    await pool.end();
  }
}
