import { EVENT_TYPE_CODES, type EventColumns, eventTypeCode } from '@elevens/algorithms';
import type { EvalCase } from '@elevens/evaluation';
import type { DatasetEvent } from './datasets';

/**
 * The quality gate's holdout, on the build's own event columns: a stable sample of users, the target the gate can
 * score, their cases, and what the holdout model must not see. Pure functions over typed arrays; objects are made
 * only for the sampled users' cases.
 */

const CART = eventTypeCode('cart');
const PURCHASE = eventTypeCode('purchase');
const IMPRESSION = eventTypeCode('impression');
const NONE = -1;

/** Some users' events, grouped per user: run r is user users[r]'s events, events[start[r], start[r + 1]). */
export interface UserRuns {
  users: Uint32Array;
  start: Uint32Array;
  events: Uint32Array;
}

/**
 * The events of `users` (distinct), one run per user in the same order, each in time order (ties in input order):
 * two passes over the events, whatever the number of users.
 */
export function userRuns(
  events: Pick<EventColumns, 'users' | 'times'>,
  users: Uint32Array,
  numUsers: number,
): UserRuns {
  const runOf = new Int32Array(numUsers).fill(NONE);
  for (let r = 0; r < users.length; r++) runOf[users[r]!] = r;
  const n = events.users.length;
  const start = new Uint32Array(users.length + 1);
  for (let e = 0; e < n; e++) {
    const r = runOf[events.users[e]!]!;
    if (r !== NONE) start[r + 1]!++;
  }
  for (let r = 0; r < users.length; r++) start[r + 1]! += start[r]!;
  const order = new Uint32Array(start[users.length]!);
  const fill = start.slice(0, users.length);
  // Stable: each run is in input order, so only runs whose events arrived out of time order need sorting.
  for (let e = 0; e < n; e++) {
    const r = runOf[events.users[e]!]!;
    if (r !== NONE) order[fill[r]!++] = e;
  }
  const { times } = events;
  for (let r = 0; r < users.length; r++) {
    const from = start[r]!;
    const to = start[r + 1]!;
    for (let p = from + 1; p < to; p++) {
      if (times[order[p]!]! < times[order[p - 1]!]!) {
        order.subarray(from, to).sort((a, b) => times[a]! - times[b]! || a - b);
        break;
      }
    }
  }
  return { users, start, events: order };
}

/** Each run's candidate targets, as event indexes (-1: none). */
export interface RunTargets {
  /** temporal leave-last-out, any type: the event that brings the user's last new item */
  any: Int32Array;
  /** leave-last-out on purchases: the user's last first purchase of an item */
  purchase: Int32Array;
  /** 1 when the purchase target's item was viewed, carted or faved before it: serving never offers it */
  purchaseSeen: Uint8Array;
  /** return to it: the user's last cart or purchase of an item they had engaged with before and not bought */
  returnTo: Int32Array;
}

/**
 * The targets `temporalLeaveLastOut` would choose (users with at least `minDistinctItems` distinct items and a
 * non-empty history before the target), and the return-to-it target, for every run (time-ordered, as `userRuns`
 * gives them) in one pass over their events.
 */
export function runTargets(
  events: EventColumns,
  runs: UserRuns,
  numItems: number,
  minDistinctItems: number,
): RunTargets {
  const { items, types, times } = events;
  const numRuns = runs.users.length;
  const targets: RunTargets = {
    any: new Int32Array(numRuns).fill(NONE),
    purchase: new Int32Array(numRuns).fill(NONE),
    purchaseSeen: new Uint8Array(numRuns),
    returnTo: new Int32Array(numRuns).fill(NONE),
  };
  // Per-item scratch, valid for the run whose number + 1 is in `touched` (no clearing between runs).
  const touched = new Uint32Array(numItems);
  const firstEngagedMs = new Float64Array(numItems);
  const firstPurchaseMs = new Float64Array(numItems);
  for (let r = 0; r < numRuns; r++) {
    const from = runs.start[r]!;
    const to = runs.start[r + 1]!;
    if (to - from < minDistinctItems) continue;
    let distinct = 0;
    let any = NONE;
    let purchase = NONE;
    let returnTo = NONE;
    let purchaseSeen = 0;
    for (let p = from; p < to; p++) {
      const e = runs.events[p]!;
      const item = items[e]!;
      const type = types[e]!;
      const ms = times[e]!;
      if (touched[item] !== r + 1) {
        touched[item] = r + 1;
        firstEngagedMs[item] = Number.POSITIVE_INFINITY;
        firstPurchaseMs[item] = Number.POSITIVE_INFINITY;
        distinct++;
        any = e;
      }
      const seenBefore = firstEngagedMs[item]! < ms;
      if ((type === CART || type === PURCHASE) && seenBefore && !(firstPurchaseMs[item]! < ms)) returnTo = e;
      if (type === PURCHASE && firstPurchaseMs[item] === Number.POSITIVE_INFINITY) {
        firstPurchaseMs[item] = ms;
        purchase = e;
        purchaseSeen = seenBefore ? 1 : 0;
      }
      if (type !== IMPRESSION && firstEngagedMs[item] === Number.POSITIVE_INFINITY) firstEngagedMs[item] = ms;
    }
    if (distinct < minDistinctItems) continue;
    // A target at the user's first instant leaves no history to predict it from.
    const firstMs = times[runs.events[from]!]!;
    if (any !== NONE && times[any]! > firstMs) targets.any[r] = any;
    if (purchase !== NONE && times[purchase]! > firstMs) {
      targets.purchase[r] = purchase;
      targets.purchaseSeen[r] = purchaseSeen;
    }
    targets.returnTo[r] = returnTo;
  }
  return targets;
}

export type GateTarget = 'purchase' | 'any';

export interface GateProtocol {
  target: GateTarget;
  /** why this target: said in the run's metrics and in its verdict */
  reason: string;
  /** sampled-from users with a purchase target, and how many of those targets are new to their user */
  purchaseTargets: number;
  newPurchaseTargets: number;
}

/**
 * Below this share of purchase targets that are new to their user, purchase targets measure nothing: serving
 * never offers what the user viewed, carted or faved, so the rest score zero whatever the model.
 */
export const MIN_NEW_PURCHASE_SHARE = 0.5;

/**
 * Purchases are the targets that matter in a shop, when the ranking can hit them: at least
 * MIN_NEW_PURCHASE_SHARE of them must be items new to the user. Otherwise (in the generator's data every purchase
 * follows a view of the same item) the gate scores the user's last new item of any type, which serving can offer.
 */
export function chooseGateTarget(purchaseTargets: number, newPurchaseTargets: number): GateProtocol {
  const counts = { purchaseTargets, newPurchaseTargets };
  if (purchaseTargets === 0)
    return {
      target: 'any',
      reason: 'no user has a purchase to hold out: last new item of any type',
      ...counts,
    };
  const share = newPurchaseTargets / purchaseTargets;
  const figures = `${newPurchaseTargets} of ${purchaseTargets} purchase targets (${(share * 100).toFixed(1)}%) are new to their user`;
  return share >= MIN_NEW_PURCHASE_SHARE
    ? { target: 'purchase', reason: `last new purchase (${figures})`, ...counts }
    : {
        target: 'any',
        reason:
          `last new item of any type: only ${figures}, the others were viewed or carted first and serving never ` +
          'offers those, so purchase targets would score zero whatever the model',
        ...counts,
      };
}

/** 32-bit FNV-1a of the id's UTF-16 code units, from a seeded basis: the same user hashes alike in every build. */
export function userSampleHash(userId: string, seed: number): number {
  let hash = (0x811c9dc5 ^ seed) >>> 0;
  for (let i = 0; i < userId.length; i++) hash = Math.imul(hash ^ userId.charCodeAt(i), 0x01000193);
  return hash >>> 0;
}

export interface GateSplitOptions {
  /** users with a case for the chosen target, at most */
  sampleUsers: number;
  /** of those, users with a return-to-it case, at most */
  returnUsers: number;
  minDistinctItems: number;
  seed: number;
}

/** The gate's cases and what the holdout model must not see. */
export interface GateSplit {
  protocol: GateProtocol;
  /** the sampled users' cases for the chosen target, at most `sampleUsers` */
  cases: EvalCase<DatasetEvent>[];
  /** the return-to-it cases of the first `returnUsers` sampled users who have one */
  returnCases: EvalCase<DatasetEvent>[];
  /** users examined for a case, in sample-hash order from the smallest hash */
  examinedUsers: number;
  /** 1 for the events the holdout model leaves out: every sampled user's events from their earliest cutoff on */
  heldOut: Uint8Array;
  /** the users who lose events (ascending), each with all their events (input order) */
  changed: UserRuns;
}

/** The pool examined first holds this many times the users the sample needs; it grows fourfold when short. */
const FIRST_POOL_FACTOR = 2;

/**
 * Splits the build's events for the gate. Users are examined in the order of a seeded hash of their id, so every
 * build samples the same users where it can: a pool of the smallest hashes is grown until it holds `sampleUsers`
 * users with a case for the chosen target (`chooseGateTarget`, on the pool's purchase targets), or holds every
 * user. The first `returnUsers` of them who also have a return-to-it case give the return cases. Each sampled
 * user's events from their earliest cutoff on are held out. Only sampled users lose events, so the holdout model
 * is the candidate but for a few thousand users' last events, and none of an evaluated user's events at or after
 * a cutoff is in it.
 */
export function gateSplit(
  events: EventColumns,
  ids: { userIds: readonly string[]; itemIds: readonly string[] },
  options: GateSplitOptions,
): GateSplit {
  const numUsers = ids.userIds.length;
  const eventCount = new Uint32Array(numUsers);
  for (let e = 0; e < events.users.length; e++) eventCount[events.users[e]!]!++;
  const candidates: number[] = [];
  for (let u = 0; u < numUsers; u++) if (eventCount[u]! >= options.minDistinctItems) candidates.push(u);
  const hashes = new Float64Array(numUsers);
  for (const u of candidates) hashes[u] = userSampleHash(ids.userIds[u]!, options.seed);

  let fraction = Math.min(1, (FIRST_POOL_FACTOR * options.sampleUsers) / Math.max(1, candidates.length));
  for (;;) {
    const limit = fraction * 2 ** 32;
    const pool = Uint32Array.from(fraction === 1 ? candidates : candidates.filter((u) => hashes[u]! < limit));
    pool.sort((a, b) => hashes[a]! - hashes[b]! || a - b);
    const runs = userRuns(events, pool, numUsers);
    const targets = runTargets(events, runs, ids.itemIds.length, options.minDistinctItems);
    let purchaseTargets = 0;
    let newPurchaseTargets = 0;
    for (let r = 0; r < pool.length; r++) {
      if (targets.purchase[r] === NONE) continue;
      purchaseTargets++;
      if (targets.purchaseSeen[r] === 0) newPurchaseTargets++;
    }
    const protocol = chooseGateTarget(purchaseTargets, newPurchaseTargets);
    const main = protocol.target === 'purchase' ? targets.purchase : targets.any;
    const sampled = firstRunsWithTarget(main, options.sampleUsers);
    if (sampled.length === options.sampleUsers || fraction === 1) {
      const returnSampled = sampled.filter((r) => targets.returnTo[r] !== NONE).slice(0, options.returnUsers);
      const caseOf = (r: number, target: number) => userCase(events, runs, ids, r, target);
      return {
        protocol,
        cases: sampled.map((r) => caseOf(r, main[r]!)),
        returnCases: returnSampled.map((r) => caseOf(r, targets.returnTo[r]!)),
        examinedUsers: pool.length,
        ...heldOutEvents(events, runs, [
          { runs: sampled, targets: main },
          { runs: returnSampled, targets: targets.returnTo },
        ]),
      };
    }
    fraction = Math.min(1, fraction * 4);
  }
}

/** The first `count` runs with a target, in run order. */
function firstRunsWithTarget(targets: Int32Array, count: number): number[] {
  const runs: number[] = [];
  for (let r = 0; r < targets.length && runs.length < count; r++) if (targets[r] !== NONE) runs.push(r);
  return runs;
}

/** Marks each sampled run's events from its earliest target's instant on, and gathers the runs that lose events. */
function heldOutEvents(
  events: EventColumns,
  runs: UserRuns,
  samples: readonly { runs: readonly number[]; targets: Int32Array }[],
): Pick<GateSplit, 'heldOut' | 'changed'> {
  const fromMs = new Float64Array(runs.users.length).fill(Number.POSITIVE_INFINITY);
  for (const sample of samples)
    for (const r of sample.runs) fromMs[r] = Math.min(fromMs[r]!, events.times[sample.targets[r]!]!);
  // By user index, as the holdout model patches rows in that order.
  const changedRuns: number[] = [];
  for (let r = 0; r < runs.users.length; r++) if (fromMs[r] !== Number.POSITIVE_INFINITY) changedRuns.push(r);
  changedRuns.sort((a, b) => runs.users[a]! - runs.users[b]!);
  const heldOut = new Uint8Array(events.users.length);
  const start = new Uint32Array(changedRuns.length + 1);
  changedRuns.forEach((r, k) => {
    start[k + 1] = start[k]! + runs.start[r + 1]! - runs.start[r]!;
  });
  const changedEvents = new Uint32Array(start[changedRuns.length]!);
  changedRuns.forEach((r, k) => {
    const run = runs.events.subarray(runs.start[r]!, runs.start[r + 1]!);
    for (const e of run) if (events.times[e]! >= fromMs[r]!) heldOut[e] = 1;
    // Input order: the holdout model sums a (user, item)'s events in that order, as the build does.
    changedEvents.set(run, start[k]!);
    changedEvents.subarray(start[k]!, start[k + 1]!).sort();
  });
  return {
    heldOut,
    changed: { users: Uint32Array.from(changedRuns, (r) => runs.users[r]!), start, events: changedEvents },
  };
}

/** Run r's case with the given target event: history before its instant, the rest held out. */
function userCase(
  events: EventColumns,
  runs: UserRuns,
  ids: { userIds: readonly string[]; itemIds: readonly string[] },
  r: number,
  target: number,
): EvalCase<DatasetEvent> {
  const userId = ids.userIds[runs.users[r]!]!;
  const cutoff = events.times[target]!;
  const history: DatasetEvent[] = [];
  const heldOutEvents: DatasetEvent[] = [];
  for (let p = runs.start[r]!; p < runs.start[r + 1]!; p++) {
    const e = runs.events[p]!;
    const event: DatasetEvent = {
      userId,
      itemId: ids.itemIds[events.items[e]!]!,
      type: EVENT_TYPE_CODES[events.types[e]!]!,
      timestamp: events.times[e]!,
    };
    (event.timestamp < cutoff ? history : heldOutEvents).push(event);
  }
  return {
    userId,
    target: ids.itemIds[events.items[target]!]!,
    cutoff,
    heldOut: new Set(heldOutEvents.map((e) => e.itemId)),
    heldOutEvents,
    history,
  };
}
