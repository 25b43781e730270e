import type { Priority, PushMessage, PushRule, SendRecord } from './types';

export const ruleIsActive = (rule: PushRule, nowMs: number): boolean =>
  rule.enabled &&
  (rule.activeFromMs === null || rule.activeFromMs <= nowMs) &&
  (rule.activeUntilMs === null || nowMs < rule.activeUntilMs);

/** Whether a rule caps (and counts) messages of this channel and category. */
export const ruleMatches = (rule: PushRule, message: PushMessage): boolean =>
  (rule.channel === 'any' || rule.channel === message.channel) &&
  (rule.category === null || rule.category === message.category);

/**
 * Orders rules most restrictive first: fewer messages per unit of time, then the smaller limit, then rule id
 * (so the order, and the rule a refusal names, is deterministic).
 */
export function compareRestrictiveness(a: PushRule, b: PushRule): number {
  const rate = a.limit * b.windowMs - b.limit * a.windowMs;
  if (rate !== 0) return rate;
  if (a.limit !== b.limit) return a.limit - b.limit;
  return a.ruleId < b.ruleId ? -1 : a.ruleId > b.ruleId ? 1 : 0;
}

/** Every rule that applies to the message now, most restrictive first. All of them must allow it. */
export function applicableRules(rules: readonly PushRule[], message: PushMessage, nowMs: number): PushRule[] {
  return rules
    .filter((rule) => ruleIsActive(rule, nowMs) && ruleMatches(rule, message))
    .sort(compareRestrictiveness);
}

export interface ApplicableRuleSpan {
  /** the applicable rules, most restrictive first */
  rules: PushRule[];
  /**
   * The rules that would cap the message but start later (`activeFromMs` after now), soonest first: a refusal's
   * retry must also find room under those that have started by then.
   */
  upcoming: PushRule[];
  /** The instants between which (fromMs inclusive, untilMs exclusive) no matching rule starts or ends. */
  fromMs: number;
  untilMs: number;
}

/**
 * `applicableRules`, the rules that start later, and how long that answer holds: the same rules apply to the
 * message (and the same start later) at every instant of [fromMs, untilMs), so a caller can evaluate a rule set
 * once and reuse it until then.
 */
export function applicableRuleSpan(
  rules: readonly PushRule[],
  message: PushMessage,
  nowMs: number,
): ApplicableRuleSpan {
  let fromMs = Number.NEGATIVE_INFINITY;
  let untilMs = Number.POSITIVE_INFINITY;
  const upcoming: PushRule[] = [];
  for (const rule of rules) {
    if (!rule.enabled || !ruleMatches(rule, message)) continue;
    for (const boundary of [rule.activeFromMs, rule.activeUntilMs]) {
      if (boundary === null) continue;
      if (boundary <= nowMs) fromMs = Math.max(fromMs, boundary);
      else untilMs = Math.min(untilMs, boundary);
    }
    if (rule.activeFromMs !== null && rule.activeFromMs > nowMs) upcoming.push(rule);
  }
  upcoming.sort((a, b) => a.activeFromMs! - b.activeFromMs! || compareRestrictiveness(a, b));
  return { rules: applicableRules(rules, message, nowMs), upcoming, fromMs, untilMs };
}

/** Low-priority messages leave a rule's last slot to normal and high ones (unless the limit is 1). */
export const effectiveLimit = (limit: number, priority: Priority): number =>
  priority === 'low' && limit > 1 ? limit - 1 : limit;

export interface RuleUsage {
  ruleId: string;
  used: number;
  /** what is left under the rule's limit for the priority asked about (low priority leaves the last slot) */
  remaining: number;
  /** When `remaining` next grows (`slotFreesAtMs`); null when nothing is counted or it never grows. */
  resetsAtMs: number | null;
}

/**
 * Which of a rule's `count` counted sends (0-based, oldest first) leaving the window next adds to what is left
 * under `limit`: the oldest while there is room; else the one that leaves limit − 1 newer ones counted, as the
 * older ones leaving change nothing. `count` (past the end) for a limit of 0, which no send leaving frees.
 */
export const freeingSendIndex = (count: number, limit: number): number => Math.max(0, count - limit);

/** When a rule's freeing send (null: none) leaves its window, or the rule ends if sooner; Infinity: never. */
const roomReturnsAtMs = (freeingSendMs: number | null, windowMs: number, activeUntilMs: number | null) =>
  Math.min(
    freeingSendMs === null ? Number.POSITIVE_INFINITY : freeingSendMs + windowMs,
    activeUntilMs ?? Number.POSITIVE_INFINITY,
  );

/**
 * When a rule counting `used` sends next has more room: its freeing send (`freeingSendIndex`; null for a limit of
 * 0) leaves the window, or the rule ends if that comes first (an ended rule holds nothing). Null when nothing is
 * counted, or when room never returns.
 */
export function slotFreesAtMs(
  used: number,
  freeingSendMs: number | null,
  windowMs: number,
  activeUntilMs: number | null,
): number | null {
  if (used === 0) return null;
  const atMs = roomReturnsAtMs(freeingSendMs, windowMs, activeUntilMs);
  return Number.isFinite(atMs) ? atMs : null;
}

/** Instants [fromMs, untilMs) at which caps refuse a message; -Infinity: already now, Infinity: for good. */
export interface CapHold {
  fromMs: number;
  untilMs: number;
}

/**
 * When a rule refuses a message held to `limit`, from `used` (its counted sends once it applies: at the later of
 * now and its start) and its freeing send (`freeingSendIndex`): from its start until room returns or it ends.
 * Counted sends only leave as time passes, so a rule with room once it applies keeps it: null.
 */
export function ruleHold(
  rule: Pick<PushRule, 'windowMs' | 'activeFromMs' | 'activeUntilMs'>,
  limit: number,
  used: number,
  freeingSendMs: number | null,
): CapHold | null {
  if (used < limit) return null;
  const untilMs = roomReturnsAtMs(limit === 0 ? null : freeingSendMs, rule.windowMs, rule.activeUntilMs);
  const fromMs = rule.activeFromMs ?? Number.NEGATIVE_INFINITY;
  return fromMs < untilMs ? { fromMs, untilMs } : null;
}

/**
 * Sends counted by a rule at `nowMs`: those matching it after nowMs − window. A send stamped after `nowMs` was
 * reserved by an api process whose clock is ahead of this one's: it has happened, and counts, as in the decision
 * script (push-decide.lua), which keeps the caps exact across processes.
 */
export function countedSends(rule: PushRule, sends: readonly SendRecord[], nowMs: number): number[] {
  return sends
    .filter((send) => send.atMs > nowMs - rule.windowMs && ruleMatches(rule, send))
    .map((send) => send.atMs)
    .sort((a, b) => a - b);
}

/** Usage of a rule whose counted sends, oldest first, are `times`. */
function usageOf(rule: PushRule, times: readonly number[], priority: Priority): RuleUsage {
  const limit = effectiveLimit(rule.limit, priority);
  return {
    ruleId: rule.ruleId,
    used: times.length,
    remaining: Math.max(0, limit - times.length),
    resetsAtMs: slotFreesAtMs(
      times.length,
      times[freeingSendIndex(times.length, limit)] ?? null,
      rule.windowMs,
      rule.activeUntilMs,
    ),
  };
}

/** A rule's usage at `nowMs`, for a message of `priority` (the budget route asks for normal and high ones). */
export function ruleUsage(
  rule: PushRule,
  sends: readonly SendRecord[],
  nowMs: number,
  priority: Priority = 'normal',
): RuleUsage {
  return usageOf(rule, countedSends(rule, sends, nowMs), priority);
}

export interface CapVerdict {
  allowed: boolean;
  /** The binding rule of a refusal: the one that stays full longest (most restrictive on ties). */
  blockingRuleId: string | null;
  /**
   * When every applicable rule has room again, assuming nothing else is sent (rules that start later are not
   * heeded here: `ruleHold`); Infinity when a rule with limit 0 never ends; null when allowed.
   */
  capFreeAtMs: number | null;
  /**
   * Usage per applicable rule, most restrictive first, including this message when allowed; `remaining` under the
   * limits the message was held to (its priority's).
   */
  usage: RuleUsage[];
}

/**
 * The reference semantics of a capped decision (the Lua script implements the same): the message may be sent
 * when every applicable rule has fewer than its (priority-adjusted) limit of counted sends; if so it is counted
 * in all of them, otherwise in none.
 */
export function evaluateCaps(
  rules: readonly PushRule[],
  sends: readonly SendRecord[],
  message: PushMessage,
  priority: Priority,
  nowMs: number,
): CapVerdict {
  const applicable = applicableRules(rules, message, nowMs);
  let blockingRuleId: string | null = null;
  let capFreeAtMs: number | null = null;
  const counted = applicable.map((rule) => countedSends(rule, sends, nowMs));
  applicable.forEach((rule, i) => {
    const times = counted[i]!;
    const limit = effectiveLimit(rule.limit, priority);
    if (times.length < limit) return;
    // Room returns once all but limit − 1 of the counted sends have left the window, or when the rule ends.
    const freeAt = Math.min(
      limit === 0 ? Number.POSITIVE_INFINITY : times[times.length - limit]! + rule.windowMs,
      rule.activeUntilMs ?? Number.POSITIVE_INFINITY,
    );
    if (capFreeAtMs === null || freeAt > capFreeAtMs) {
      capFreeAtMs = freeAt;
      blockingRuleId = rule.ruleId;
    }
  });
  const allowed = blockingRuleId === null;
  const usage = applicable.map((rule, i) =>
    usageOf(rule, allowed ? [...counted[i]!, nowMs].sort((a, b) => a - b) : counted[i]!, priority),
  );
  return { allowed, blockingRuleId, capFreeAtMs, usage };
}
