import {
  type Channel,
  isQuietAt,
  type PushRule,
  type QuietHours,
  quietHoursApply,
  resolveTimeZone,
  ruleIsActive,
  ruleMatches,
  type SendRecord,
} from '@elevens/push-rules';
import type { PushUserState } from '@elevens/redis-stores';

/** One user's counted sends (allowed, capped decisions) in the replayed period, and their time zone. */
export interface UserSends {
  sends: readonly SendRecord[];
  timeZone: string;
}

export interface SuppressionPreview {
  /** users whose sends were replayed */
  users: number;
  /** counted sends replayed */
  decisions: number;
  /** of those, how many the candidate would have refused */
  suppressed: number;
  usersAffected: number;
}

/**
 * How many of one user's sends a candidate cap would have refused, replayed in time order: a refused send is
 * not counted against later ones, as with a live rule. Every kept matching send counts in the window, whether or
 * not the rule was active when it was sent, as the decision script counts them.
 */
export function suppressedByRule(rule: PushRule, sends: readonly SendRecord[]): number {
  if (!rule.enabled) return 0;
  const matching = sends.filter((send) => ruleMatches(rule, send)).sort((a, b) => a.atMs - b.atMs);
  const kept = new Float64Array(matching.length);
  let keptCount = 0;
  let windowStart = 0;
  let suppressed = 0;
  for (const send of matching) {
    while (windowStart < keptCount && kept[windowStart]! <= send.atMs - rule.windowMs) windowStart++;
    if (ruleIsActive(rule, send.atMs) && keptCount - windowStart >= rule.limit) suppressed++;
    else kept[keptCount++] = send.atMs;
  }
  return suppressed;
}

/** How many of one user's sends fell in the candidate quiet hours of their local day. */
export const suppressedByQuietHours = (
  quiet: QuietHours,
  sends: readonly SendRecord[],
  timeZone: string,
): number =>
  sends.filter((send) => quietHoursApply(quiet, send.channel) && isQuietAt(quiet, timeZone, send.atMs))
    .length;

export function summarizePreview(users: readonly UserSends[], suppressedOf: (user: UserSends) => number) {
  const preview: SuppressionPreview = { users: users.length, decisions: 0, suppressed: 0, usersAffected: 0 };
  for (const user of users) {
    const suppressed = suppressedOf(user);
    preview.decisions += user.sends.length;
    preview.suppressed += suppressed;
    if (suppressed > 0) preview.usersAffected++;
  }
  return preview;
}

/** Users' sends as the previews replay them, each user in their profile's time zone (else `defaultTimeZone`). */
export const userSendsOf = (states: readonly PushUserState[], defaultTimeZone: string): UserSends[] =>
  states.map((state) => ({
    sends: state.sends.map((send) => ({
      atMs: send.atMs,
      channel: send.channel as Channel,
      category: send.category,
    })),
    timeZone: resolveTimeZone(state.timezone, defaultTimeZone),
  }));
