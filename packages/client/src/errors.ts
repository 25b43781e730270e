/** A failed call: the service's `{ error, message, details? }` answer, or a network failure (status 0). */
export class ElevensError extends Error {
  override name = 'ElevensError';
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details?: unknown,
    /** milliseconds the service asked to wait (Retry-After) */
    readonly retryAfterMs?: number,
  ) {
    super(message);
  }

  /** Worth sending again: network failures, timeouts, 429 and 502–504 (shed or restarting). */
  get retryable(): boolean {
    return (
      this.status === 0 ||
      this.status === 408 ||
      this.status === 429 ||
      (this.status >= 502 && this.status <= 504)
    );
  }
}
