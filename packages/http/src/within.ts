/** What `within` resolves with when its time ran out first. */
export const TIMED_OUT: unique symbol = Symbol('timed out');

/**
 * `promise`'s outcome, or TIMED_OUT once `ms` has passed first: for a store or job that keeps its connection but
 * answers nothing. The timer is cleared either way; `promise` itself runs on (its late answer is dropped).
 *
 * An expired timer runs before the event loop reads its sockets: when the loop was held past the limit (a build
 * or a model load in the same process, a long GC pause), an answer that came back in time still waits unread.
 * The limit is declared only after one more pass of the loop (`setImmediate` runs after its I/O), so an answer
 * waiting there wins and a store that answered is not reported as stalled.
 */
export function within<T>(promise: Promise<T>, ms: number): Promise<T | typeof TIMED_OUT> {
  let timer: NodeJS.Timeout | undefined;
  let pass: NodeJS.Immediate | undefined;
  const limit = new Promise<typeof TIMED_OUT>((resolve) => {
    timer = setTimeout(() => {
      pass = setImmediate(resolve, TIMED_OUT);
    }, ms);
  });
  return Promise.race([promise, limit]).finally(() => {
    clearTimeout(timer);
    clearImmediate(pass);
  });
}
