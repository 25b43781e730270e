import {
  type Channel,
  isQuietAt,
  type PushRule,
  type QuietHours,
  quietHoursApply,
  ruleIsActive,
  ruleMatches,
  type SendRecord,
} from '@elevens/push-rules';
import { type RedisClient, type RedisKeys, readPushUserState, scanPushUsers } from '@elevens/redis-stores';

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

/**
 * The counted sends since `sinceMs` of up to `maxUsers` users with push history, found by SCAN over the push
 * sends keys of every server (never KEYS) and read with the push module's own reader. `complete` is false when
 * users were left out.
 */
export async function readRecentSends(
  redis: RedisClient,
  keys: RedisKeys,
  options: { sinceMs: number; maxUsers: number; defaultTimeZone: string },
): Promise<{ users: UserSends[]; complete: boolean }> {
  const { userIds: ids, complete } = await scanPushUsers(redis, keys, options.maxUsers);
  const users: UserSends[] = [];
  for (let i = 0; i < ids.length; i += 100) {
    const states = await Promise.all(
      ids.slice(i, i + 100).map((id) => readPushUserState(redis, keys, id, options.sinceMs)),
    );
    for (const state of states) {
      if (state.sends.length === 0) continue;
      users.push({
        sends: state.sends.map((s) => ({
          atMs: s.atMs,
          channel: s.channel as Channel,
          category: s.category,
        })),
        timeZone: validTimeZone(state.timezone) ?? options.defaultTimeZone,
      });
    }
  }
  return { users, complete };
}

function validTimeZone(zone: string): string | null {
  if (zone === '') return null;
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: zone });
    return zone;
  } catch {
    return null;
  }
}
