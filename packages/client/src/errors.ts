/** Codes of failures the client or its caller decides, which no resend changes. */
const CLIENT_REFUSALS = new Set(['queue_full', 'not_configured', 'not_json', 'exclude_too_large', 'aborted']);

/** A failed call: the service's `{ error, message, details? }` answer, or a network failure (status 0). */
export class ElevensError extends Error {
  override name = 'ElevensError';
  /**
   * A failed `sendEvents()`: the eventIds of all its events, in order, those it assigned included. Sent again
   * under them, the events a request before the failure stored count as duplicates.
   */
  eventIds?: readonly string[];
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details?: unknown,
    /** milliseconds the service asked to wait (its Retry-After, parsed by `parseRetryAfter`); none without one */
    readonly retryAfterMs?: number,
    /** `cause`: the error fetch threw, for a network failure or timeout */
    options?: ErrorOptions,
  ) {
    super(message, options);
  }

  /**
   * Worth sending again: network failures, timeouts, 408, 429 and 502–504 (shed or restarting); not the client's
   * own refusals (events dropped from a full queue, a service URL or key not given or malformed, a body JSON cannot
   * carry, an exclude list no request holds), which no resend changes, nor a call the caller aborted (`aborted`).
   */
  get retryable(): boolean {
    return (
      (this.status === 0 && !CLIENT_REFUSALS.has(this.code)) ||
      this.status === 408 ||
      this.status === 429 ||
      (this.status >= 502 && this.status <= 504)
    );
  }
}
