import { ElevensError } from './errors';

export interface RetryPolicy {
  /** attempts after the first; default 3 */
  retries: number;
  /** first back-off; doubles each attempt, with jitter; default 100 ms */
  baseDelayMs: number;
  /** longest single wait, including a Retry-After; default 5 s */
  maxDelayMs: number;
}

export interface TransportOptions {
  apiKey?: string;
  timeoutMs: number;
  retry: RetryPolicy;
  fetch: typeof fetch;
}

/**
 * Statuses answered before the service acts on a request (shed, rate limited, not received in time): a request
 * that is not idempotent may be sent again after these only. After a timeout, a lost connection, a 502 or a 504
 * it may already have been carried out.
 */
const NOT_ACTED_ON = new Set([408, 429, 503]);

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function parseRetryAfter(header: string | null): number | undefined {
  if (header === null) return undefined;
  const seconds = Number(header);
  if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
  const at = Date.parse(header);
  return Number.isNaN(at) ? undefined : Math.max(0, at - Date.now());
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
 * One JSON call with a timeout per attempt and retries on retryable failures. The body is sent unchanged on every
 * attempt, which is what makes retried event batches idempotent (their eventIds are fixed before the first try).
 * A call that is not `idempotent` is retried only after answers given before the service acted on it.
 */
export async function callJson<T>(
  options: TransportOptions,
  method: 'GET' | 'POST',
  url: string,
  body?: unknown,
  idempotent = true,
): Promise<T> {
  const headers: Record<string, string> = { accept: 'application/json' };
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (options.apiKey) headers.authorization = `Bearer ${options.apiKey}`;
  const payload = body === undefined ? undefined : JSON.stringify(body);
  for (let attempt = 0; ; attempt++) {
    let failure: ElevensError;
    try {
      const response = await options.fetch(url, {
        method,
        headers,
        ...(payload === undefined ? {} : { body: payload }),
        signal: AbortSignal.timeout(options.timeoutMs),
      });
      if (response.ok) return (await response.json()) as T;
      failure = await errorFrom(response);
    } catch (error) {
      const timedOut = error instanceof Error && error.name === 'TimeoutError';
      failure = new ElevensError(
        0,
        timedOut ? 'timeout' : 'network',
        error instanceof Error ? error.message : String(error),
      );
    }
    const resendable = idempotent ? failure.retryable : NOT_ACTED_ON.has(failure.status);
    if (!resendable || attempt >= options.retry.retries) throw failure;
    const backoff = options.retry.baseDelayMs * 2 ** attempt * (0.5 + Math.random() / 2);
    await sleep(Math.min(options.retry.maxDelayMs, Math.max(backoff, failure.retryAfterMs ?? 0)));
  }
}
