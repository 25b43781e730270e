import { type QuietHours, quietUntil } from './quiet-hours';

export interface RetryInput {
  nowMs: number;
  /**
   * When the caps have room again (null: they have room now or do not hold the message; Infinity: never while the
   * rules stand).
   */
  capFreeAtMs: number | null;
  /** When the campaign stops being a duplicate for the user (null: it is not one). */
  duplicateUntilMs: number | null;
  /** Quiet hours that apply to the message, or null. */
  quiet: QuietHours | null;
  timeZone: string;
}

/**
 * The earliest instant a refused message could be allowed: no longer a duplicate, caps have room and it is outside
 * quiet hours. The duplicate period and the caps only free up as time passes, so the first instant outside quiet
 * hours once both have is the answer. Null when no such instant exists.
 */
export function retryAt({
  nowMs,
  capFreeAtMs,
  duplicateUntilMs,
  quiet,
  timeZone,
}: RetryInput): number | null {
  const from = Math.max(nowMs, capFreeAtMs ?? nowMs, duplicateUntilMs ?? nowMs);
  if (!Number.isFinite(from)) return null;
  return quiet ? quietUntil(quiet, timeZone, from) : from;
}
