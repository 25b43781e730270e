import { ElevensError } from './errors';
import { parseRetryAfter } from './retry-after';

export interface RetryPolicy {
  /** attempts after the first; default 3 */
  retries: number;
  /** first back-off; doubles each attempt, with jitter; default 100 ms */
  baseDelayMs: number;
  /** longest single wait; a Retry-After asking for longer ends the retries (the call rejects); default 5 s */
  maxDelayMs: number;
}

export interface TransportOptions {
  apiKey?: string;
  timeoutMs: number;
  retry: RetryPolicy;
  fetch: typeof fetch;
}

/** The body as JSON; a value JSON cannot carry (a BigInt, a cycle) is the caller's to fix, not to resend. */
export function jsonOf(body: unknown): string {
  try {
    return JSON.stringify(body);
  } catch (error) {
    throw new ElevensError(0, 'not_json', error instanceof Error ? error.message : String(error));
  }
}

/** Waits `ms`, or less: resolves early when `signal` aborts (the caller then rejects with `aborted`). */
function sleep(ms: number, signal: AbortSignal | undefined): Promise<void> {
  return new Promise((resolve) => {
    const wake = () => {
      clearTimeout(timer);
      resolve();
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', wake);
      resolve();
    }, ms);
    if (signal?.aborted) wake();
    else signal?.addEventListener('abort', wake, { once: true });
  });
}

/** The caller's own cancellation: never retried, and told apart from a timeout. */
const abortedBy = (signal: AbortSignal) =>
  new ElevensError(
    0,
    'aborted',
    signal.reason instanceof Error ? signal.reason.message : 'the caller aborted the request',
  );

/**
 * What a failed fetch says, its cause's reason included: Node's fetch says only "fetch failed", and why (a refused
 * connection, a name not found, a reset) is in its cause (an AggregateError, with no message, when every address
 * of a name refused).
 */
function failureMessage(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const cause: unknown = error.cause;
  const reason = cause instanceof Error ? cause.message || (cause as { code?: unknown }).code : undefined;
  return typeof reason === 'string' && reason !== '' ? `${error.message}: ${reason}` : error.message;
}

async function errorFrom(response: Response): Promise<ElevensError> {
  const retryAfterMs = parseRetryAfter(response.headers.get('retry-after'));
  const text = await response.text().catch(() => '');
  try {
    const body = JSON.parse(text) as { error?: unknown; message?: unknown; details?: unknown };
    return new ElevensError(
      response.status,
      typeof body.error === 'string' ? body.error : 'http_error',
      typeof body.message === 'string' ? body.message : `HTTP ${response.status}`,
      body.details,
      retryAfterMs,
    );
  } catch {
    return new ElevensError(
      response.status,
      'http_error',
      `HTTP ${response.status}`,
      undefined,
      retryAfterMs,
    );
  }
}

/**
 * One JSON call with a timeout per attempt and retries on retryable failures, never sooner than a Retry-After asks.
 * The body and headers are sent unchanged on every attempt, which is what makes retries idempotent: event batches
 * carry eventIds and push decisions an Idempotency-Key, both fixed before the first try. `signal` (the caller's)
 * ends the call at once, in an attempt or between two, with `aborted`.
 */
export async function callJson<T>(
  options: TransportOptions,
  method: 'GET' | 'POST' | 'DELETE',
  url: string,
  body?: unknown,
  requestHeaders: Readonly<Record<string, string>> = {},
  signal?: AbortSignal,
): Promise<T> {
  const headers: Record<string, string> = { ...requestHeaders, accept: 'application/json' };
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (options.apiKey) headers.authorization = `Bearer ${options.apiKey}`;
  const payload = body === undefined ? undefined : jsonOf(body);
  for (let attempt = 0; ; attempt++) {
    if (signal?.aborted) throw abortedBy(signal);
    const timeout = AbortSignal.timeout(options.timeoutMs);
    let failure: ElevensError;
    try {
      const response = await options.fetch(url, {
        method,
        headers,
        ...(payload === undefined ? {} : { body: payload }),
        signal: signal === undefined ? timeout : AbortSignal.any([signal, timeout]),
      });
      if (response.ok) return (await response.json()) as T;
      failure = await errorFrom(response);
    } catch (error) {
      const timedOut = error instanceof Error && error.name === 'TimeoutError';
      failure = new ElevensError(
        0,
        timedOut ? 'timeout' : 'network',
        failureMessage(error),
        undefined,
        undefined,
        { cause: error },
      );
    }
    // The caller's abort during the attempt, an error answer's body included (errorFrom reads one cut short as
    // none), is no failure of the service's.
    if (signal?.aborted) throw abortedBy(signal);
    const retryAfterMs = failure.retryAfterMs ?? 0;
    if (!failure.retryable || attempt >= options.retry.retries || retryAfterMs > options.retry.maxDelayMs)
      throw failure;
    const backoff = options.retry.baseDelayMs * 2 ** attempt * (0.5 + Math.random() / 2);
    await sleep(Math.max(retryAfterMs, Math.min(options.retry.maxDelayMs, backoff)), signal);
  }
}
