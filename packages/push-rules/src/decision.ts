import { isQuietAt, type QuietHours, quietHoursApply, resolveTimeZone } from './quiet-hours';
import { retryAt } from './retry';
import {
  type ApplicableRuleSpan,
  applicableRuleSpan,
  type CapHold,
  effectiveLimit,
  ruleHold,
  slotFreesAtMs,
} from './rules';
import type { Channel, Priority, PushMessage, PushRule } from './types';

/** A rule as the reservation check takes it: the limit with the message's priority applied. */
export interface RuleCheck {
  channel: PushRule['channel'];
  category: string | null;
  windowMs: number;
  effectiveLimit: number;
  activeUntilMs: number | null;
  /** when a rule that starts after the decision starts; null for one in force */
  startsAtMs: number | null;
}

/** The rules that apply to one kind of message, evaluated once and reused while no rule starts or ends. */
export interface CompiledRuleSet<P> {
  fromMs: number;
  untilMs: number;
  /** most restrictive first */
  rules: PushRule[];
  /** the rules that start later, soonest first (`applicableRuleSpan`) */
  upcoming: PushRule[];
  /**
   * the rules and then the upcoming ones as the reservation check takes them (`pack`), for low priority and for
   * normal or high
   */
  packedLow: P;
  packed: P;
}

/** Distinct (channel, category) sets kept; categories are the caller's, so the cache is bounded. */
const MAX_COMPILED_RULE_SETS = 1024;

/**
 * Rule sets per (channel, category) of one served rule list: filtering, ordering and packing the rules is done
 * when the list changes (a new array) or a rule starts or ends, not on every decision.
 */
export function compiledRuleSets<P>(pack: (checks: RuleCheck[]) => P) {
  let served: readonly PushRule[] | null = null;
  const sets = new Map<string, CompiledRuleSet<P>>();
  const checkOf = (rule: PushRule, priority: 'low' | 'normal', startsAtMs: number | null): RuleCheck => ({
    channel: rule.channel,
    category: rule.category,
    windowMs: rule.windowMs,
    effectiveLimit: effectiveLimit(rule.limit, priority),
    activeUntilMs: rule.activeUntilMs,
    startsAtMs,
  });
  const packFor = (span: ApplicableRuleSpan, priority: 'low' | 'normal') =>
    pack([
      ...span.rules.map((rule) => checkOf(rule, priority, null)),
      ...span.upcoming.map((rule) => checkOf(rule, priority, rule.activeFromMs)),
    ]);
  return (rules: readonly PushRule[], message: PushMessage, nowMs: number): CompiledRuleSet<P> => {
    if (rules !== served || sets.size >= MAX_COMPILED_RULE_SETS) {
      served = rules;
      sets.clear();
    }
    const key = message.category === null ? message.channel : `${message.channel}\t${message.category}`;
    let set = sets.get(key);
    if (set === undefined || nowMs < set.fromMs || nowMs >= set.untilMs) {
      const span = applicableRuleSpan(rules, message, nowMs);
      set = { ...span, packedLow: packFor(span, 'low'), packed: packFor(span, 'normal') };
      sets.set(key, set);
    }
    return set;
  };
}

/** A message to decide, as the decision request states it (its category chose the rule set already). */
export interface DecisionRequest {
  channel: Channel;
  priority: Priority;
  /** exempt from caps and quiet hours, reserved as exempt */
  transactional: boolean;
  /** exempt from caps and quiet hours (an admin's override), reserved as counted */
  overrideCaps: boolean;
  /** nothing is reserved */
  dryRun: boolean;
}

/** What a decision checks and reserves, worked out before Redis is asked. */
export interface DecisionPlan<P> {
  /**
   * the applicable rules, most restrictive first, the rules that start later, and both in packed form for the
   * message's priority
   */
  rules: PushRule[];
  upcoming: PushRule[];
  packed: P;
  /** the priority whose limits the message is held to (`effectiveLimit`) */
  priority: Priority;
  checkCaps: boolean;
  reserve: 'none' | 'counted' | 'exempt';
  /** the quiet hours that hold the message, or null when they do not apply to it */
  quiet: QuietHours | null;
}

/** Whether a request is held to the caps and quiet hours: neither transactional nor an admin's override. */
export const checksCaps = (request: Pick<DecisionRequest, 'transactional' | 'overrideCaps'>): boolean =>
  !request.transactional && !request.overrideCaps;

export function planDecision<P>(
  request: DecisionRequest,
  ruleSet: CompiledRuleSet<P>,
  quietHours: QuietHours | null,
): DecisionPlan<P> {
  const checkCaps = checksCaps(request);
  return {
    rules: ruleSet.rules,
    upcoming: ruleSet.upcoming,
    packed: request.priority === 'low' ? ruleSet.packedLow : ruleSet.packed,
    priority: request.priority,
    checkCaps,
    reserve: request.dryRun ? 'none' : request.transactional ? 'exempt' : 'counted',
    quiet: checkCaps && quietHours && quietHoursApply(quietHours, request.channel) ? quietHours : null,
  };
}

/** Whether the plan's quiet hours hold the message now in a profile time zone ('' = unset: `defaultTimeZone`). */
export const quietForProfile =
  (quiet: QuietHours, defaultTimeZone: string, nowMs: number) =>
  (profileTimeZone: string): boolean =>
    isQuietAt(quiet, resolveTimeZone(profileTimeZone, defaultTimeZone), nowMs);

export type DecisionReason = 'ok' | 'no_consent' | 'duplicate_campaign' | 'quiet_hours' | 'cap_exceeded';

/** What the reservation check found, rule by rule in the plan's order. */
export interface DecisionOutcome {
  reason: DecisionReason;
  /** index into the plan's rules of the binding full rule, or -1 */
  blockingIndex: number;
  /** when every rule in force has room again: null when they have room now, Infinity when never */
  capFreeAtMs: number | null;
  duplicateUntilMs: number | null;
  /**
   * per rule in force, then per rule that starts later: counted sends in its window (this one included when
   * reserved; for a later rule, as counted when it starts) and its freeing send (`freeingSendIndex`, at the limit
   * the message was held to), null when none
   */
  usage: { used: number; freeingSendMs: number | null }[];
}

export interface DecisionVerdict {
  allowed: boolean;
  reason: DecisionReason;
  remaining: { ruleId: string; remaining: number; resetsAt: string | null }[];
  /** the binding rule of a cap refusal */
  ruleId?: string;
  /** when the refused message could go: the duplicate period over, caps free and outside quiet hours */
  retryAt?: string;
}

/** A rule that starts later, as a verdict needs it. */
export type UpcomingRule = Pick<PushRule, 'limit' | 'windowMs' | 'activeFromMs' | 'activeUntilMs'>;

/**
 * When caps refuse the message: the rules in force until all have room (`capFreeAtMs`), each rule that starts
 * later while it is full then.
 */
function capHoldsOf(
  plan: { rules: readonly unknown[]; upcoming?: readonly UpcomingRule[]; priority: Priority },
  outcome: DecisionOutcome,
): CapHold[] {
  const holds: CapHold[] =
    outcome.capFreeAtMs === null ? [] : [{ fromMs: Number.NEGATIVE_INFINITY, untilMs: outcome.capFreeAtMs }];
  plan.upcoming?.forEach((rule, j) => {
    const usage = outcome.usage[plan.rules.length + j]!;
    const hold = ruleHold(rule, effectiveLimit(rule.limit, plan.priority), usage.used, usage.freeingSendMs);
    if (hold !== null) holds.push(hold);
  });
  return holds;
}

/**
 * The answer to a decision, from its plan (the rules it checked at its priority's limits and those starting later,
 * whether it was held to them, and the quiet hours that held it) and what the reservation check found; instants
 * as ISO strings. A rule without `activeUntilMs` is taken as never ending; a plan without `upcoming` (a retry of a
 * decision recorded before they were) as having none.
 */
export function decisionVerdict(
  plan: {
    rules: readonly (Pick<PushRule, 'ruleId' | 'limit' | 'windowMs'> & { activeUntilMs?: number | null })[];
    upcoming?: readonly UpcomingRule[];
    priority: Priority;
    checkCaps: boolean;
    quiet: QuietHours | null;
  },
  outcome: DecisionOutcome,
  context: { nowMs: number; timeZone: string },
): DecisionVerdict {
  const { nowMs, timeZone } = context;
  // Under the limits the check held the message to, so a refusal's rule has none left.
  const remaining = plan.rules.map((rule, i) => {
    const usage = outcome.usage[i]!;
    const resetsAtMs = slotFreesAtMs(
      usage.used,
      usage.freeingSendMs,
      rule.windowMs,
      rule.activeUntilMs ?? null,
    );
    return {
      ruleId: rule.ruleId,
      remaining: Math.max(0, effectiveLimit(rule.limit, plan.priority) - usage.used),
      resetsAt: resetsAtMs === null ? null : isoInstant(resetsAtMs),
    };
  });
  const verdict: DecisionVerdict = { allowed: outcome.reason === 'ok', reason: outcome.reason, remaining };
  if (outcome.reason === 'cap_exceeded') verdict.ruleId = plan.rules[outcome.blockingIndex]!.ruleId;
  if (
    outcome.reason === 'cap_exceeded' ||
    outcome.reason === 'quiet_hours' ||
    outcome.reason === 'duplicate_campaign'
  ) {
    const at = retryAt({
      nowMs,
      // The reservation check works out the caps whatever refuses the message: a duplicate's retry must wait for
      // them too, unless the message is exempt from them.
      capHolds: plan.checkCaps ? capHoldsOf(plan, outcome) : [],
      duplicateUntilMs: outcome.duplicateUntilMs,
      quiet: plan.quiet,
      timeZone,
    });
    if (at !== null) verdict.retryAt = isoInstant(at);
  }
  return verdict;
}

const DAY_MS = 86_400_000;
const dayPrefixes = new Map<number, string>();
const pad = (n: number, width: number) => String(n).padStart(width, '0');

/**
 * `new Date(ms).toISOString()` for the instants of a decision (~3 µs each, up to one per rule and decision): the
 * date part is remembered per day, the time part is built from integers.
 */
export function isoInstant(ms: number): string {
  const day = Math.floor(ms / DAY_MS);
  let prefix = dayPrefixes.get(day);
  if (prefix === undefined) {
    const dayStart = new Date(day * DAY_MS).toISOString();
    // Years past 9999 (a rule may end in 9999, a retry come later) are written with a sign and six digits.
    if (dayStart.length !== 24) return new Date(ms).toISOString();
    prefix = dayStart.slice(0, 11);
    if (dayPrefixes.size >= 1000) dayPrefixes.clear();
    dayPrefixes.set(day, prefix);
  }
  const t = ms - day * DAY_MS;
  return `${prefix}${pad(Math.floor(t / 3_600_000), 2)}:${pad(Math.floor(t / 60_000) % 60, 2)}:${pad(Math.floor(t / 1000) % 60, 2)}.${pad(t % 1000, 3)}Z`;
}
