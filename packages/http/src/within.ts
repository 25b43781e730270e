/** What `within` resolves with when its time ran out first. */
export const TIMED_OUT: unique symbol = Symbol('timed out');

/**
 * `promise`'s outcome, or TIMED_OUT once `ms` has passed first: for a store or job that keeps its connection but
 * answers nothing. The timer is cleared either way; `promise` itself runs on (its late answer is dropped).
 */
export function within<T>(promise: Promise<T>, ms: number): Promise<T | typeof TIMED_OUT> {
  let timer: NodeJS.Timeout | undefined;
  const limit = new Promise<typeof TIMED_OUT>((resolve) => {
    timer = setTimeout(resolve, ms, TIMED_OUT);
  });
  return Promise.race([promise, limit]).finally(() => clearTimeout(timer));
}
