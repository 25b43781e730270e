/** A slow network: each attempt reaches the api only once `delayMs` has passed, and fails as fetch does on abort. */
export function slowFetch(delayMs: number) {
  let attempts = 0;
  const slow: typeof fetch = (input, init) => {
    attempts++;
    return new Promise<Response>((resolve, reject) => {
      const signal = init?.signal;
      if (!signal) throw new Error('the request carries no signal');
      const timer = setTimeout(() => resolve(fetch(input, init)), delayMs);
      signal.addEventListener('abort', () => {
        clearTimeout(timer);
        reject(signal.reason);
      });
    });
  };
  return { fetch: slow, attempts: () => attempts };
}
