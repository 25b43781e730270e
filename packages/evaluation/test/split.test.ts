import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type EvalEvent, type EvalSplit, nextEventSplit, temporalLeaveLastOut } from '../src/index';

interface SeqEvent extends EvalEvent {
  /** input position, to identify events independent of object identity */
  seq: number;
}

const ev = (userId: string, itemId: string, type: string, timestamp: number): EvalEvent => ({
  userId,
  itemId,
  type,
  timestamp,
});

/** Compact view of a case for assertions. */
const brief = <E extends EvalEvent>(split: EvalSplit<E>) =>
  split.cases.map((c) => ({
    userId: c.userId,
    target: c.target,
    cutoff: c.cutoff,
    heldOut: [...c.heldOut].sort(),
    history: c.history.map((e) => `${e.itemId}@${e.timestamp}`),
  }));

describe('temporalLeaveLastOut', () => {
  // Users are interleaved on purpose; u1's purchase of A and view of E share timestamp 60.
  const events = [
    ev('u1', 'A', 'view', 10),
    ev('u2', 'P', 'view', 1),
    ev('u1', 'B', 'view', 20),
    ev('u1', 'C', 'view', 30),
    ev('u2', 'Q', 'view', 2),
    ev('u1', 'B', 'cart', 40),
    ev('u2', 'P', 'cart', 3),
    ev('u1', 'D', 'view', 50),
    ev('u1', 'A', 'purchase', 60),
    ev('u1', 'E', 'view', 60),
    ev('u3', 'R', 'view', 9),
    ev('u3', 'S', 'view', 9),
    ev('u3', 'T', 'view', 9),
  ];

  it('holds out the newest distinct item with everything from its timestamp on', () => {
    const split = temporalLeaveLastOut(events, { minDistinctItems: 3 });
    expect(brief(split)).toEqual([
      {
        userId: 'u1',
        target: 'E',
        cutoff: 60,
        heldOut: ['A', 'E'],
        history: ['A@10', 'B@20', 'C@30', 'B@40', 'D@50'],
      },
    ]);
    // u2 has only two distinct items; u3's events all share the target's timestamp, leaving no history.
    expect(split.train).toEqual(events.filter((_, i) => i !== 8 && i !== 9));
  });

  it('defaults to at least 3 distinct items', () => {
    expect(temporalLeaveLastOut(events)).toEqual(temporalLeaveLastOut(events, { minDistinctItems: 3 }));
    expect(brief(temporalLeaveLastOut(events, { minDistinctItems: 2 })).map((c) => c.userId)).toEqual([
      'u1',
      'u2',
    ]);
  });

  it('skips a repeated last item in favour of the newest item the user had not touched before', () => {
    const repeat = [
      ev('u', 'X', 'view', 1),
      ev('u', 'Y', 'view', 2),
      ev('u', 'Z', 'view', 3),
      ev('u', 'X', 'cart', 4),
    ];
    expect(brief(temporalLeaveLastOut(repeat))).toEqual([
      { userId: 'u', target: 'Z', cutoff: 3, heldOut: ['X', 'Z'], history: ['X@1', 'Y@2'] },
    ]);
  });

  it('breaks timestamp ties between new items by input order', () => {
    const first = [ev('u', 'X', 'view', 5), ev('u', 'Y', 'view', 7), ev('u', 'Z', 'view', 7)];
    const swapped = [first[0]!, first[2]!, first[1]!];
    expect(temporalLeaveLastOut(first).cases[0]!.target).toBe('Z');
    expect(temporalLeaveLastOut(swapped).cases[0]!.target).toBe('Y');
    expect([...temporalLeaveLastOut(swapped).cases[0]!.heldOut].sort()).toEqual(['Y', 'Z']);
  });

  it('restricts the target to targetType and skips users without such an event', () => {
    const purchase = temporalLeaveLastOut(events, { minDistinctItems: 3, targetType: 'purchase' });
    expect(brief(purchase)).toEqual([
      {
        userId: 'u1',
        target: 'A',
        cutoff: 60,
        heldOut: ['A', 'E'],
        history: ['A@10', 'B@20', 'C@30', 'B@40', 'D@50'],
      },
    ]);
    const cart = temporalLeaveLastOut(events, { minDistinctItems: 3, targetType: 'cart' });
    expect(brief(cart)).toEqual([
      {
        userId: 'u1',
        target: 'B',
        cutoff: 40,
        heldOut: ['A', 'B', 'D', 'E'],
        history: ['A@10', 'B@20', 'C@30'],
      },
    ]);
    const none = temporalLeaveLastOut(events, { minDistinctItems: 1, targetType: 'fav' });
    expect(none.cases).toEqual([]);
    expect(none.train).toEqual(events);
  });

  it('rejects an invalid threshold', () => {
    expect(() => temporalLeaveLastOut(events, { minDistinctItems: 0 })).toThrow(RangeError);
  });
});

describe('nextEventSplit', () => {
  const events = [
    ev('v1', 'A', 'view', 1),
    ev('v1', 'B', 'view', 2),
    ev('v2', 'A', 'view', 1),
    ev('v1', 'C', 'cart', 3),
    ev('v2', 'B', 'view', 2),
    ev('v2', 'A', 'cart', 3),
    ev('v3', 'A', 'view', 8),
    ev('v4', 'A', 'view', 1),
    ev('v4', 'B', 'view', 5),
    ev('v4', 'C', 'view', 5),
    ev('v5', 'A', 'view', 4),
    ev('v5', 'B', 'view', 4),
  ];

  it('holds out the last event when its item is new, with ties at its timestamp', () => {
    const split = nextEventSplit(events);
    expect(brief(split)).toEqual([
      { userId: 'v1', target: 'C', cutoff: 3, heldOut: ['C'], history: ['A@1', 'B@2'] },
      { userId: 'v4', target: 'C', cutoff: 5, heldOut: ['B', 'C'], history: ['A@1'] },
    ]);
    // v2 repeats A, v3 has a single event, v5 has no event before its last timestamp.
    expect(split.train).toEqual(events.filter((_, i) => ![3, 8, 9].includes(i)));
  });

  it('honours minEvents', () => {
    expect(nextEventSplit(events, { minEvents: 3 }).cases.map((c) => c.userId)).toEqual(['v1', 'v4']);
    expect(nextEventSplit(events, { minEvents: 4 }).cases).toEqual([]);
  });
});

/** Brute force: straight from the protocol text, one user at a time, no shared machinery with the code. */
function referenceCases(
  events: readonly SeqEvent[],
  chooseTarget: (userEvents: SeqEvent[]) => SeqEvent | undefined,
): { userId: string; target: string; cutoff: number }[] {
  const users = [...new Set(events.map((e) => e.userId))];
  const result: { userId: string; target: string; cutoff: number }[] = [];
  for (const userId of users) {
    const mine = events.filter((e) => e.userId === userId);
    const target = chooseTarget(mine);
    if (!target) continue;
    if (!mine.some((e) => e.timestamp < target.timestamp)) continue;
    result.push({ userId, target: target.itemId, cutoff: target.timestamp });
  }
  return result;
}

const latest = (list: SeqEvent[]) =>
  list.reduce<SeqEvent | undefined>(
    (best, e) =>
      best === undefined ||
      e.timestamp > best.timestamp ||
      (e.timestamp === best.timestamp && e.seq > best.seq)
        ? e
        : best,
    undefined,
  );
const earliest = (list: SeqEvent[]) =>
  list.reduce<SeqEvent | undefined>(
    (best, e) =>
      best === undefined ||
      e.timestamp < best.timestamp ||
      (e.timestamp === best.timestamp && e.seq < best.seq)
        ? e
        : best,
    undefined,
  );

function leaveLastOutTarget(minDistinctItems: number, targetType: string | undefined) {
  return (mine: SeqEvent[]): SeqEvent | undefined => {
    if (new Set(mine.map((e) => e.itemId)).size < minDistinctItems) return undefined;
    const eligible = mine.filter((e) => targetType === undefined || e.type === targetType);
    const firstPerItem = [...new Set(eligible.map((e) => e.itemId))].map(
      (item) => earliest(eligible.filter((e) => e.itemId === item))!,
    );
    return latest(firstPerItem);
  };
}

function nextEventTarget(minEvents: number) {
  return (mine: SeqEvent[]): SeqEvent | undefined => {
    if (mine.length < minEvents) return undefined;
    const last = latest(mine)!;
    return mine.some((e) => e.timestamp < last.timestamp && e.itemId === last.itemId) ? undefined : last;
  };
}

const eventLists = fc
  .array(
    fc.record({
      userId: fc.constantFrom('u1', 'u2', 'u3', 'u4'),
      itemId: fc.constantFrom('a', 'b', 'c', 'd', 'e', 'f'),
      type: fc.constantFrom('view', 'cart', 'purchase'),
      timestamp: fc.integer({ min: 0, max: 6 }),
    }),
    { maxLength: 40 },
  )
  .map((list) => list.map((e, seq): SeqEvent => ({ ...e, seq })));

/** Invariants every split must keep, whatever the target rule. */
function checkPartition(events: readonly SeqEvent[], split: EvalSplit<SeqEvent>): void {
  const trainSeqs = split.train.map((e) => e.seq);
  const heldOutSeqs = split.cases.flatMap((c) => c.heldOutEvents.map((e) => e.seq));
  // Train keeps input order; train and held-out are disjoint and together are exactly the input.
  expect(trainSeqs).toEqual([...trainSeqs].sort((a, b) => a - b));
  const heldOut = new Set(heldOutSeqs);
  expect(heldOut.size).toBe(heldOutSeqs.length);
  for (const seq of trainSeqs) expect(heldOut.has(seq)).toBe(false);
  expect([...trainSeqs, ...heldOutSeqs].sort((a, b) => a - b)).toEqual(events.map((e) => e.seq));
  for (const c of split.cases) {
    expect(c.history.length).toBeGreaterThan(0);
    expect(c.history).toEqual(
      split.train
        .filter((e) => e.userId === c.userId)
        .sort((a, b) => a.timestamp - b.timestamp || a.seq - b.seq),
    );
    for (const e of c.history) expect(e.timestamp).toBeLessThan(c.cutoff);
    for (const e of c.heldOutEvents) {
      expect(e.userId).toBe(c.userId);
      expect(e.timestamp).toBeGreaterThanOrEqual(c.cutoff);
    }
    expect(c.heldOut).toEqual(new Set(c.heldOutEvents.map((e) => e.itemId)));
    expect(c.heldOut.has(c.target)).toBe(true);
  }
}

describe('split properties (fast-check)', () => {
  it('temporalLeaveLastOut partitions the input and matches the brute-force protocol', () => {
    fc.assert(
      fc.property(
        eventLists,
        fc.integer({ min: 1, max: 4 }),
        fc.constantFrom(undefined, 'purchase'),
        (events, minDistinctItems, targetType) => {
          const split = temporalLeaveLastOut(events, { minDistinctItems, targetType });
          checkPartition(events, split);
          expect(split.cases.map((c) => ({ userId: c.userId, target: c.target, cutoff: c.cutoff }))).toEqual(
            referenceCases(events, leaveLastOutTarget(minDistinctItems, targetType)),
          );
          if (targetType === undefined) {
            for (const c of split.cases) expect(c.history.some((e) => e.itemId === c.target)).toBe(false);
          }
        },
      ),
    );
  });

  it('nextEventSplit partitions the input and matches the brute-force protocol', () => {
    fc.assert(
      fc.property(eventLists, fc.integer({ min: 1, max: 4 }), (events, minEvents) => {
        const split = nextEventSplit(events, { minEvents });
        checkPartition(events, split);
        expect(split.cases.map((c) => ({ userId: c.userId, target: c.target, cutoff: c.cutoff }))).toEqual(
          referenceCases(events, nextEventTarget(minEvents)),
        );
        for (const c of split.cases) expect(c.history.some((e) => e.itemId === c.target)).toBe(false);
      }),
    );
  });
});
