import {
  type Channel,
  effectiveLimit,
  isQuietAt,
  type Priority,
  type PushRule,
  type QuietHours,
  quietHoursApply,
  resolveTimeZone,
  ruleIsActive,
  ruleMatches,
  type SendRecord,
} from '@elevens/push-rules';
import type { PushUserState } from '@elevens/redis-stores';

/**
 * A counted send as a preview replays it: decided at its priority, as the live decider decides it; 'normal'
 * when unknown (a reservation records only a low priority, and one made before it did reads as normal).
 */
export interface ReplayedSend extends SendRecord {
  priority?: Priority;
}

/**
 * One user's counted sends (allowed, capped decisions and admins' overrides) in the replayed period, and their time
 * zone.
 */
export interface UserSends {
  sends: readonly ReplayedSend[];
  /** counted sends read from before the replayed period: not replayed, but a cap's window still holds them */
  earlier: readonly SendRecord[];
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
 * not the rule was active when it was sent, as the decision script counts them; so do the `earlier` sends (all
 * before `sends`), which are not replayed. A low-priority send is refused once the rule holds its limit less one,
 * as live (`effectiveLimit`). An admin's override went out whatever the caps: never refused, always counted.
 */
export function suppressedByRule(
  rule: PushRule,
  sends: readonly ReplayedSend[],
  earlier: readonly SendRecord[] = [],
): number {
  if (!rule.enabled) return 0;
  const inTimeOrder = <S extends SendRecord>(list: readonly S[]) =>
    list.filter((send) => ruleMatches(rule, send)).sort((a, b) => a.atMs - b.atMs);
  const before = inTimeOrder(earlier);
  const matching = inTimeOrder(sends);
  const kept = new Float64Array(before.length + matching.length);
  kept.set(before.map((send) => send.atMs));
  let keptCount = before.length;
  let windowStart = 0;
  let suppressed = 0;
  for (const send of matching) {
    while (windowStart < keptCount && kept[windowStart]! <= send.atMs - rule.windowMs) windowStart++;
    const limit = effectiveLimit(rule.limit, send.priority ?? 'normal');
    if (!send.overridden && ruleIsActive(rule, send.atMs) && keptCount - windowStart >= limit) suppressed++;
    else kept[keptCount++] = send.atMs;
  }
  return suppressed;
}

/**
 * How many of one user's sends fell in the candidate quiet hours of their local day; not an admin's override,
 * which goes out in quiet hours too.
 */
export const suppressedByQuietHours = (
  quiet: QuietHours,
  sends: readonly SendRecord[],
  timeZone: string,
): number =>
  sends.filter(
    (send) =>
      !send.overridden && quietHoursApply(quiet, send.channel) && isQuietAt(quiet, timeZone, send.atMs),
  ).length;

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

/**
 * Users' sends as the previews replay them, those after `sinceMs` replayed and those before it `earlier`, each
 * user in their profile's time zone (else `defaultTimeZone`); users without a send after `sinceMs` are left out.
 */
export function userSendsOf(
  states: readonly PushUserState[],
  defaultTimeZone: string,
  sinceMs: number,
): UserSends[] {
  const users: UserSends[] = [];
  for (const state of states) {
    const records: ReplayedSend[] = state.sends.map((send) => ({
      atMs: send.atMs,
      channel: send.channel as Channel,
      category: send.category,
      overridden: send.overridden,
      priority: send.priority,
    }));
    const sends = records.filter((send) => send.atMs > sinceMs);
    if (sends.length === 0) continue;
    users.push({
      sends,
      earlier: records.filter((send) => send.atMs <= sinceMs),
      timeZone: resolveTimeZone(state.timezone, defaultTimeZone),
    });
  }
  return users;
}
