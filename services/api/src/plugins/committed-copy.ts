/**
 * Keeps a Redis copy of a Postgres truth (push rules, boost rules) to what Postgres committed. A change writes its
 * copy before its commit, so a copy that fails stores nothing; but a commit that fails once the copy may have
 * been written (cut off, Redis's reply lost) leaves Redis holding a change Postgres does not. Then the committed
 * truth is copied again: at once, or, while a store is away, at each `repair()` (the plugin's poll) until it is.
 */
export interface CommittedCopy {
  /**
   * Runs a change; `change` calls `copying()` just before it writes the copy. When it then fails, the committed
   * truth is copied again before its error is rethrown.
   */
  change<T>(change: (copying: () => void) => Promise<T>): Promise<T>;
  /** Copies the committed truth again while a failed change may still be in the copy. */
  repair(): Promise<void>;
}

/**
 * `copyCommitted` copies the committed truth under its writers' lock (its transaction writes nothing, so the copy
 * is right even if that transaction fails); `warn` hears why it could not.
 */
export function committedCopy(
  copyCommitted: () => Promise<void>,
  warn: (error: unknown) => void,
): CommittedCopy {
  /** Set while the copy may hold a change Postgres did not store. */
  let unconfirmed = false;
  const recopy = () =>
    copyCommitted().then(() => {
      unconfirmed = false;
    }, warn);
  return {
    async change(change) {
      let copied = false;
      try {
        return await change(() => {
          copied = true;
        });
      } catch (error) {
        if (copied) {
          unconfirmed = true;
          await recopy();
        }
        throw error;
      }
    },
    async repair() {
      if (unconfirmed) await recopy();
    },
  };
}
