import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { type CommittedCopy, committedCopy, UNCONFIRMED_GRACE_MS } from '../src/plugins/committed-copy';

/** The instant the first poll sees the mark at: the grace is counted from it. */
const SEEN_AT = Date.parse('2026-11-11T12:00:00.000Z');

/** A committed copy of a counter whose copy always differs from it, and the copies it made. */
function counterCopy(graceMs?: number): { copies: CommittedCopy; copied: number[] } {
  const copied: number[] = [];
  const copies = committedCopy<number>({
    withCommitted: async (_wait, use) => {
      await use(7);
      return true;
    },
    copy: async (committed) => {
      copied.push(committed);
    },
    copyHolds: async () => false,
    // No comparison with Postgres within these tests' polls: only the grace can make a copy.
    checkEveryPolls: 1_000,
    confirm: async () => {},
    warn: (error) => {
      throw error;
    },
    graceMs,
  });
  return { copies, copied };
}

/** Polls at `SEEN_AT + atMs` with the copy holding `marks`; true when it copied the committed truth. */
async function pollAt(copies: CommittedCopy, atMs: number, marks: readonly string[]) {
  vi.setSystemTime(SEEN_AT + atMs);
  return copies.repair(marks);
}

beforeEach(() => {
  vi.useFakeTimers({ toFake: ['Date'] });
});

afterEach(() => {
  vi.useRealTimers();
});

describe('committedCopy: the grace of an unconfirmed mark', () => {
  it('is 2 s by default: a mark seen for less is left, one seen for 2 s has the committed truth copied', async () => {
    expect(UNCONFIRMED_GRACE_MS).toBe(2_000);
    const { copies, copied } = counterCopy();
    expect(await pollAt(copies, 0, ['change-1'])).toBe(false);
    expect(await pollAt(copies, 1_999, ['change-1'])).toBe(false);
    expect(copied).toEqual([]);
    expect(await pollAt(copies, 2_000, ['change-1'])).toBe(true);
    expect(copied).toEqual([7]);
  });

  it('is graceMs when given', async () => {
    const { copies, copied } = counterCopy(300);
    expect(await pollAt(copies, 0, ['change-1'])).toBe(false);
    expect(await pollAt(copies, 299, ['change-1'])).toBe(false);
    expect(copied).toEqual([]);
    expect(await pollAt(copies, 300, ['change-1'])).toBe(true);
    expect(copied).toEqual([7]);
  });
});
