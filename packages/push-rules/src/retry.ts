import { type QuietHours, quietUntil } from './quiet-hours';

export interface RetryInput {
  nowMs: number;
  /** When the caps have room again (null: they have room now; Infinity: never while the rules stand). */
  capFreeAtMs: number | null;
  /** Quiet hours that apply to the message, or null. */
  quiet: QuietHours | null;
  timeZone: string;
}

/**
 * The earliest instant a refused message could be allowed: caps have room and it is outside quiet hours. Caps
 * only free up as time passes, so the first instant outside quiet hours after the caps free is the answer.
 * Null when no such instant exists.
 */
export function retryAt({ nowMs, capFreeAtMs, quiet, timeZone }: RetryInput): number | null {
  const from = Math.max(nowMs, capFreeAtMs ?? nowMs);
  if (!Number.isFinite(from)) return null;
  return quiet ? quietUntil(quiet, timeZone, from) : from;
}
