/** The fields the splits read; richer event objects pass through unchanged (same references). */
export interface EvalEvent {
  userId: string;
  itemId: string;
  type: string;
  /** epoch ms (any consistent unit works) */
  timestamp: number;
}

export interface EvalCase<E extends EvalEvent = EvalEvent> {
  userId: string;
  /** The item to predict. */
  target: string;
  /** Timestamp of the target event: the user's events at or after it are held out, the rest are history. */
  cutoff: number;
  /** Distinct items of the held-out events (always contains target). */
  heldOut: Set<string>;
  /** The user's held-out events in time order (ties in input order). */
  heldOutEvents: E[];
  /** The user's train events in time order (ties in input order); never empty. */
  history: E[];
}

export interface EvalSplit<E extends EvalEvent = EvalEvent> {
  /** Every event that is not held out, in input order. */
  train: E[];
  /** One case per evaluated user, users in order of first appearance in the input. */
  cases: EvalCase<E>[];
}

export interface LeaveLastOutOptions {
  /** Users with fewer distinct items contribute all their events to train and no case. */
  minDistinctItems: number;
  /** Only events of this type can be the target (e.g. 'purchase'); undefined = any type. */
  targetType?: string;
}

export interface NextEventOptions {
  /** Users with fewer events contribute all their events to train and no case. */
  minEvents: number;
}

/**
 * Picks, for one user's events (input indexes sorted by time, ties by input order), the position of the
 * target event in that order, or -1 for no case.
 */
type TargetChooser<E> = (events: readonly E[], order: readonly number[]) => number;

/**
 * Temporal leave-last-out: the target is the user's last *new* item, i.e. the item whose first eligible
 * event (of targetType, when given) comes last in time, ties broken by input order. Taking the newest
 * distinct item rather than the item of the last event keeps the target out of the history
 * (for targetType undefined) instead of rewarding a model for repeating what the user already touched.
 * All of the user's events at or after the target's timestamp are held out.
 */
export function temporalLeaveLastOut<E extends EvalEvent>(
  events: readonly E[],
  opts: LeaveLastOutOptions = { minDistinctItems: 3 },
): EvalSplit<E> {
  const { minDistinctItems, targetType } = opts;
  if (!Number.isInteger(minDistinctItems) || minDistinctItems < 1) {
    throw new RangeError(`minDistinctItems must be a positive integer, got ${minDistinctItems}`);
  }
  return splitByUser(events, (all, order) => {
    const distinct = new Set<string>();
    for (const i of order) distinct.add(all[i]!.itemId);
    if (distinct.size < minDistinctItems) return -1;
    const firstSeen = new Set<string>();
    let target = -1;
    order.forEach((i, position) => {
      const e = all[i]!;
      if (targetType !== undefined && e.type !== targetType) return;
      if (firstSeen.has(e.itemId)) return;
      firstSeen.add(e.itemId);
      target = position;
    });
    return target;
  });
}

/**
 * Next-event split for sparse session data (e.g. Taobao): the target is the item of the user's last event
 * (ties by input order) when the user has at least minEvents events and the item is not already in the
 * history; otherwise the user is skipped. Everything at or after the target's timestamp is held out.
 */
export function nextEventSplit<E extends EvalEvent>(
  events: readonly E[],
  opts: NextEventOptions = { minEvents: 2 },
): EvalSplit<E> {
  const { minEvents } = opts;
  if (!Number.isInteger(minEvents) || minEvents < 1) {
    throw new RangeError(`minEvents must be a positive integer, got ${minEvents}`);
  }
  return splitByUser(events, (all, order) => {
    if (order.length < minEvents) return -1;
    const last = order.length - 1;
    const target = all[order[last]!]!;
    for (const i of order) {
      const e = all[i]!;
      if (e.timestamp >= target.timestamp) break;
      if (e.itemId === target.itemId) return -1;
    }
    return last;
  });
}

/**
 * Shared mechanics: group by user, order each user's events by (timestamp, input index), hold out
 * everything at or after the chosen target's timestamp. A user whose history would be empty (every event
 * shares the target's timestamp) gets no case, since nothing could be predicted from it.
 */
function splitByUser<E extends EvalEvent>(
  events: readonly E[],
  chooseTarget: TargetChooser<E>,
): EvalSplit<E> {
  const byUser = new Map<string, number[]>();
  events.forEach((e, i) => {
    if (!Number.isFinite(e.timestamp)) throw new RangeError(`event ${i} has a non-finite timestamp`);
    const indexes = byUser.get(e.userId);
    if (indexes) indexes.push(i);
    else byUser.set(e.userId, [i]);
  });

  const heldOutMask = new Uint8Array(events.length);
  const cases: EvalCase<E>[] = [];
  for (const [userId, order] of byUser) {
    order.sort((a, b) => events[a]!.timestamp - events[b]!.timestamp || a - b);
    const position = chooseTarget(events, order);
    if (position < 0) continue;
    const targetEvent = events[order[position]!]!;
    const cutoff = targetEvent.timestamp;
    const history: E[] = [];
    const heldOutEvents: E[] = [];
    for (const i of order) {
      const e = events[i]!;
      if (e.timestamp < cutoff) history.push(e);
      else heldOutEvents.push(e);
    }
    if (history.length === 0) continue;
    for (const i of order) if (events[i]!.timestamp >= cutoff) heldOutMask[i] = 1;
    cases.push({
      userId,
      target: targetEvent.itemId,
      cutoff,
      heldOut: new Set(heldOutEvents.map((e) => e.itemId)),
      heldOutEvents,
      history,
    });
  }

  const train = events.filter((_, i) => heldOutMask[i] === 0);
  return { train, cases };
}
