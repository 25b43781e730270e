const UNIT_MS = { m: 60_000, h: 3_600_000, d: 86_400_000 } as const;

/** The longest rolling window a rule may have; reservations are kept this long. */
export const MAX_WINDOW_MS = 31 * UNIT_MS.d;

/** Parses a rolling window such as `1h`, `24h`, `7d` or `30m` into ms; throws on anything else. */
export function parseWindow(text: string): number {
  const match = /^([1-9]\d{0,4})([mhd])$/.exec(text);
  if (!match) throw new Error(`not a window: ${JSON.stringify(text)} (use e.g. 30m, 1h, 24h, 7d)`);
  const ms = Number(match[1]) * UNIT_MS[match[2] as keyof typeof UNIT_MS];
  if (ms > MAX_WINDOW_MS) throw new Error(`window ${text} is longer than 31d`);
  return ms;
}
