import { type QuietHours, quietUntil } from './quiet-hours';
import type { CapHold } from './rules';

export interface RetryInput {
  nowMs: number;
  /**
   * When caps refuse the message (`CapHold`s: the rules in force until they have room, rules that start later from
   * their start while they are full); none when they do not hold it.
   */
  capHolds: readonly CapHold[];
  /** When the campaign stops being a duplicate for the user (null: it is not one). */
  duplicateUntilMs: number | null;
  /** Quiet hours that apply to the message, or null. */
  quiet: QuietHours | null;
  timeZone: string;
}

/**
 * The earliest instant a refused message could be allowed: no longer a duplicate, no cap holds it and it is
 * outside quiet hours. Each step moves to the end of what refuses the message then, and never back, so it ends
 * within one step per hold and quiet period passed. Null when no such instant exists.
 */
export function retryAt({ nowMs, capHolds, duplicateUntilMs, quiet, timeZone }: RetryInput): number | null {
  let at = Math.max(nowMs, duplicateUntilMs ?? nowMs);
  for (;;) {
    const hold = capHolds.find((h) => h.fromMs <= at && at < h.untilMs);
    if (hold !== undefined) at = hold.untilMs;
    else if (quiet === null) return at;
    else {
      const outside = quietUntil(quiet, timeZone, at);
      if (outside === at) return at;
      at = outside;
    }
    if (!Number.isFinite(at)) return null;
  }
}
