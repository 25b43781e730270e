import { randomUUID } from 'node:crypto';

/**
 * How long a change's unconfirmed mark may stay in the copy before any process's poll copies the committed truth
 * again: a change confirms within milliseconds of its copy, so a mark this old belongs to a change whose process
 * failed or died between copy and commit. The re-copy waits for no lock, so a change in flight is never undone.
 */
export const UNCONFIRMED_GRACE_MS = 2_000;

/**
 * About how often each process compares the copy with what Postgres committed: a Redis failover to a replica that
 * missed the newest copy (or a restore of an older snapshot) leaves a whole, older copy that nothing else notices.
 */
export const COMMITTED_CHECK_MS = 30_000;

/** The polls between two checks against Postgres, for a process polling every `pollMs`. */
export const committedCheckPolls = (pollMs: number) => Math.max(1, Math.ceil(COMMITTED_CHECK_MS / pollMs));

/**
 * Keeps a Redis copy of a Postgres truth (push rules, boost rules; the unservable items, whose changes ingest
 * makes) to what Postgres committed. A change writes its copy before its commit, so a copy that fails stores
 * nothing; but a commit that fails once the copy may have been written (cut off, Redis's reply lost) leaves Redis
 * holding a change Postgres does not. So each change writes its copy with a mark naming it, cleared once it
 * committed. When the change fails, its process copies the committed truth again (at once, or at each `repair()`
 * while a store is away); and a mark left behind (its process died or stopped first) has any process's poll copy
 * the committed truth again after a grace. A copy Redis put back to an older version (a failover, a restore)
 * carries no mark: every `checkEveryPolls` polls each process compares the copy with Postgres and copies the
 * committed truth when they differ.
 */
export interface CommittedCopy {
  /**
   * Runs a change; `change` calls `copying()` just before it writes the copy, and marks the copy with the id that
   * returns. Once stored, the mark is cleared; when it fails, the committed truth is copied again before its
   * error is rethrown.
   */
  change<T>(change: (copying: () => string) => Promise<T>): Promise<T>;
  /**
   * Each poll's check, given the marks the copy holds: copies the committed truth again while a failed change of
   * this process may still be in the copy, or once a mark has been seen for the grace, or, every
   * `checkEveryPolls` polls, when the copy differs from it; the last two unless a change holds the writers' lock.
   * True when it copied.
   */
  repair(marks: readonly string[]): Promise<boolean>;
}

export interface CommittedCopyOptions<Committed> {
  /**
   * Runs `use` with the committed truth under the writers' lock (its transaction writes nothing, so what `use`
   * copies is right even if that transaction fails); with `wait` false it gives up, answering false and not
   * running `use`, while a change holds the lock. True when `use` ran.
   */
  withCommitted(wait: boolean, use: (committed: Committed) => Promise<void>): Promise<boolean>;
  /** Writes `committed` as the copy and clears every unconfirmed mark. */
  copy(committed: Committed): Promise<void>;
  /** Whether the copy holds `committed` already. */
  copyHolds(committed: Committed): Promise<boolean>;
  /** polls between two comparisons of the copy with Postgres (`committedCheckPolls`) */
  checkEveryPolls: number;
  /** Clears the mark of a change that committed. */
  confirm(changeId: string): Promise<void>;
  /** hears why a copy or a confirmation could not be made */
  warn(error: unknown, what: string): void;
  /** how long a mark may stay before a poll copies the committed truth again (default UNCONFIRMED_GRACE_MS) */
  graceMs?: number;
}

export function committedCopy<Committed>({
  withCommitted,
  copy,
  copyHolds,
  checkEveryPolls,
  confirm,
  warn,
  graceMs = UNCONFIRMED_GRACE_MS,
}: CommittedCopyOptions<Committed>): CommittedCopy {
  const copyCommitted = (wait: boolean) => withCommitted(wait, copy);
  /** Under the lock taken without waiting: copies the committed truth where the copy differs; true when it did. */
  const copyIfDifferent = async () => {
    let copied = false;
    await withCommitted(false, async (committed) => {
      if (await copyHolds(committed)) return;
      await copy(committed);
      copied = true;
    });
    return copied;
  };
  /** Set while the copy may hold a change of this process that Postgres did not store. */
  let unconfirmed = false;
  /** The marks polls read, each with when it was first read. */
  const markSeenAtMs = new Map<string, number>();
  /** While a change holds the lock, the next re-copy is tried a grace later. */
  let nextTryAtMs = 0;
  /** Polls since the copy was last compared with Postgres. */
  let pollsSinceCheck = 0;
  const copiedOrWarn = (copying: Promise<boolean>, failure: string) =>
    copying.then(
      (copied) => {
        if (copied) {
          unconfirmed = false;
          markSeenAtMs.clear();
        }
        return copied;
      },
      (error: unknown) => {
        warn(error, failure);
        return false;
      },
    );
  const recopy = (wait: boolean) =>
    copiedOrWarn(copyCommitted(wait), 'could not copy what Postgres stored again');
  return {
    async change(change) {
      let changeId: string | null = null;
      const result = await change(() => {
        changeId = randomUUID();
        return changeId;
      }).catch(async (error: unknown) => {
        if (changeId !== null) {
          unconfirmed = true;
          // What cut the change's connection (a failover) may have ended the pool's idle ones too, unheard until
          // their end is read, and the re-copy be handed one; once the pending I/O is read the pool has let them
          // go, so a second try gets a live connection or opens one.
          if (!(await recopy(true))) {
            await new Promise((resolve) => setImmediate(resolve));
            await recopy(true);
          }
        }
        throw error;
      });
      // The change is stored: a mark left by a failed confirmation only costs a re-copy of the same truth.
      if (changeId !== null)
        await confirm(changeId).catch((error: unknown) => warn(error, 'could not confirm a stored change'));
      return result;
    },
    async repair(marks) {
      pollsSinceCheck += 1;
      if (unconfirmed) return recopy(true);
      const nowMs = Date.now();
      for (const mark of markSeenAtMs.keys()) if (!marks.includes(mark)) markSeenAtMs.delete(mark);
      let stale = false;
      for (const mark of marks) {
        const seenAtMs = markSeenAtMs.get(mark);
        if (seenAtMs === undefined) markSeenAtMs.set(mark, nowMs);
        else if (nowMs - seenAtMs >= graceMs) stale = true;
      }
      if (stale && nowMs >= nextTryAtMs) {
        nextTryAtMs = nowMs + graceMs;
        return recopy(false);
      }
      if (pollsSinceCheck < checkEveryPolls) return false;
      pollsSinceCheck = 0;
      return copiedOrWarn(copyIfDifferent(), 'could not compare the copy with what Postgres stored');
    },
  };
}
