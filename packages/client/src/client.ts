import { ElevensError } from './errors';
import { callJson, jsonOf, type RetryPolicy, type TransportOptions } from './transport';
import type {
  IngestEventsReply,
  PushDecisionInput,
  PushDecisionReply,
  QueuedEvent,
  RecommendationsReply,
  RecommendationsRequest,
  ReleasePushDecisionReply,
  SendEventsReply,
  TrackedEvent,
} from './types';

export interface BatchOptions {
  /** events per request; default 100 (the service takes up to 1000: a larger value sends 1000) */
  maxEvents: number;
  /** how long a tracked event may wait for its batch; default 1000 ms */
  flushIntervalMs: number;
  /** events kept while the service is unreachable; the oldest are dropped beyond this; default 10,000 */
  maxQueuedEvents: number;
}

export interface ElevensClientOptions {
  /**
   * base URL of the api service: absolute http or https (http://localhost:3000), or in a browser a path the page's
   * origin serves it under (/recs); anything else (no scheme, a user name or password, a query) refuses its calls
   * with `not_configured`
   */
  apiUrl?: string;
  /** base URL of the ingest service, as `apiUrl` */
  ingestUrl?: string;
  /**
   * sent as `authorization: Bearer <key>`; surrounding whitespace (a newline read from a file) is dropped, and an
   * empty key sends none
   */
  apiKey?: string;
  /** per attempt, above 0 (a fraction is rounded up); default 2000 ms */
  timeoutMs?: number;
  retry?: Partial<RetryPolicy>;
  batch?: Partial<BatchOptions>;
  fetch?: typeof fetch;
  /** idempotency keys for events tracked without one; default crypto.randomUUID */
  newEventId?: () => string;
  /**
   * a failed background flush, with the events of its failed request (queued again when `error.retryable`, else
   * dropped: sent again they would be refused the same way), events the service rejected from a batch it stored
   * in part (400, `details.rejected` indexing `events`), events dropped from a full queue, and an event JSON
   * cannot carry (`not_json`: a BigInt, a cycle), refused when tracked. An error it throws is dropped: thrown out
   * of a background flush it would be an unhandled rejection, which ends a Node process
   */
  onError?: (error: ElevensError, events: readonly QueuedEvent[]) => void;
}

/** What the services take as a key: visible ASCII, at most 256 characters. */
const WELL_FORMED_API_KEY = /^[\x21-\x7e]{1,256}$/;

/** The most events one `POST /v1/events` takes. */
const MAX_EVENTS_PER_REQUEST = 1_000;

/** The longest `exclude` query parameter the api reads, in characters (UTF-16 code units). */
const MAX_EXCLUDE_PARAMETER_LENGTH = 8_192;

/** The most item ids one recommendations request may exclude, `exclude` and `excludeItem` together. */
const MAX_EXCLUDED = 200;

/**
 * The longest recommendations URL the client sends. The services take 16 KiB of request line and headers (431
 * past that), HAProxy in front of them 15 (tune.bufsize less tune.maxrewrite): this leaves 3–4 KiB for the
 * headers, the key's and a browser's own (user agent, client hints, same-origin cookies).
 */
const MAX_URL_LENGTH = 12_288;

const EMPTY_REPLY: IngestEventsReply = { accepted: 0, duplicates: 0, rejected: [] };

const trimSlash = (url: string) => url.replace(/\/+$/, '');

/** A service's base URL as the calls use it, or why no call can be sent to it. */
type ServiceUrl = { base: string } | { refused: string };

/**
 * Recommendations, events and push decisions over HTTP. Events are queued and sent in batches; every event gets
 * its eventId when tracked, so a batch retried after a lost answer is stored once.
 */
export class ElevensClient {
  readonly #transport: TransportOptions;
  readonly #apiUrl: ServiceUrl | undefined;
  readonly #ingestUrl: ServiceUrl | undefined;
  readonly #batch: BatchOptions;
  readonly #newEventId: () => string;
  readonly #onError: ElevensClientOptions['onError'];
  /** the apiKey is not one the services take: no request is sent with it, nor an error message naming it */
  readonly #malformedApiKey: boolean;
  #queue: QueuedEvent[] = [];
  /** events of the batch being sent: taken off the queue, not yet acknowledged */
  #inFlight = 0;
  /** the flush() calls waiting: each hears of every batch sent until it ends, another flush's or its own */
  readonly #flushWaiters = new Set<FlushWaiter>();
  #timer: ReturnType<typeof setTimeout> | undefined;
  #flushing: Promise<unknown> = Promise.resolve();
  /** a background flush is queued or running: it sends what is tracked meanwhile too */
  #flushingInBackground = false;
  /** a background flush failed: tracked events wait for its retry rather than each starting a flush */
  #waitingToRetry = false;

  constructor(options: ElevensClientOptions) {
    this.#apiUrl = options.apiUrl === undefined ? undefined : serviceUrlOf('apiUrl', options.apiUrl);
    this.#ingestUrl =
      options.ingestUrl === undefined ? undefined : serviceUrlOf('ingestUrl', options.ingestUrl);
    // An empty key sends none, as before trimming (a development service that checks no keys).
    const apiKey = options.apiKey?.trim() || undefined;
    this.#malformedApiKey = apiKey !== undefined && !WELL_FORMED_API_KEY.test(apiKey);
    const timeoutMs = options.timeoutMs ?? 2_000;
    const retry = { retries: 3, baseDelayMs: 100, maxDelayMs: 5_000, ...definedOf(options.retry) };
    checkTiming(timeoutMs, retry);
    this.#transport = {
      ...(apiKey === undefined || this.#malformedApiKey ? {} : { apiKey }),
      // AbortSignal.timeout takes whole milliseconds only: a fraction (a share of a budget) would fail every call.
      timeoutMs: Math.ceil(timeoutMs),
      retry,
      fetch: options.fetch ?? globalThis.fetch.bind(globalThis),
    };
    const batch = {
      maxEvents: 100,
      flushIntervalMs: 1_000,
      maxQueuedEvents: 10_000,
      ...definedOf(options.batch),
    };
    checkBatchOptions(batch);
    this.#batch = { ...batch, maxEvents: Math.min(batch.maxEvents, MAX_EVENTS_PER_REQUEST) };
    this.#newEventId = options.newEventId ?? (() => crypto.randomUUID());
    this.#onError = options.onError;
  }

  /**
   * `GET /v1/recommendations`; like every call, it rejects (never throws), also without an apiUrl. `signal` cancels
   * it (a shopper who navigated away): it rejects at once with `aborted`, not retried; `timeoutMs` still bounds
   * each attempt.
   */
  async recommendations(
    request: RecommendationsRequest,
    options: { signal?: AbortSignal } = {},
  ): Promise<RecommendationsReply> {
    const { exclude, ...rest } = request;
    if (exclude !== undefined && exclude.length > MAX_EXCLUDED)
      throw new ElevensError(
        0,
        'exclude_too_large',
        `exclude holds ${exclude.length} item ids: the service takes up to ${MAX_EXCLUDED}`,
        { maxExcluded: MAX_EXCLUDED, excluded: exclude.length },
      );
    const query = new URLSearchParams();
    for (const [key, value] of Object.entries(rest)) if (value !== undefined) query.set(key, String(value));
    if (exclude !== undefined) {
      // The comma-separated form, which every version of the service reads, as far as the service reads it; an
      // id holding a comma, or one past that length (many long SKUs), goes whole in excludeItem.
      const commaSeparated: string[] = [];
      let length = -1;
      for (const itemId of exclude) {
        if (!itemId.includes(',') && length + 1 + itemId.length <= MAX_EXCLUDE_PARAMETER_LENGTH) {
          commaSeparated.push(itemId);
          length += 1 + itemId.length;
        } else query.append('excludeItem', itemId);
      }
      if (commaSeparated.length > 0) query.set('exclude', commaSeparated.join(','));
    }
    const url = `${this.#url('api')}/v1/recommendations?${query}`;
    if (url.length > MAX_URL_LENGTH)
      throw new ElevensError(
        0,
        'exclude_too_large',
        `the URL with these ${exclude?.length ?? 0} excluded item ids would be ${url.length} characters long, ` +
          `over the ${MAX_URL_LENGTH} the client sends (the service refuses longer request lines and headers ` +
          'with 431): exclude fewer or shorter ids',
        { maxUrlLength: MAX_URL_LENGTH, urlLength: url.length },
      );
    return callJson(this.#transport, 'GET', url, undefined, {}, options.signal);
  }

  /**
   * `POST /v1/push/decisions`: may this message be sent now? An allowed decision reserves its slot. Every attempt
   * carries one Idempotency-Key (`options.idempotencyKey`, else a new UUID), so a decision whose answer was lost
   * is retried like any read and answered with the first decision, not refused as duplicate_campaign.
   * `options.signal` cancels it as it does `recommendations()`: an attempt that reached the service may still have
   * decided, and a later call with the same key gets that decision back.
   */
  async decidePush(
    request: PushDecisionInput,
    options: { idempotencyKey?: string; signal?: AbortSignal } = {},
  ): Promise<PushDecisionReply> {
    const url = `${this.#url('api')}/v1/push/decisions`;
    const idempotencyKey = options.idempotencyKey ?? crypto.randomUUID();
    return callJson(
      this.#transport,
      'POST',
      url,
      request,
      { 'idempotency-key': idempotencyKey },
      options.signal,
    );
  }

  /**
   * `DELETE /v1/push/decisions/:decisionId`: gives back the slot of an allowed decision whose send failed, and its
   * campaign and item. Idempotent, so retried like a read; `released` is false when there was nothing to release
   * (a refusal, a decision released before, or released by an attempt whose answer was lost). `options.signal`
   * cancels it as it does `recommendations()`; calling it again later is safe.
   */
  async releasePush(
    decisionId: string,
    options: { signal?: AbortSignal } = {},
  ): Promise<ReleasePushDecisionReply> {
    const url = `${this.#url('api')}/v1/push/decisions/${encodeURIComponent(decisionId)}`;
    return callJson(this.#transport, 'DELETE', url, undefined, {}, options.signal);
  }

  /**
   * Queues an event for the next batch and returns its eventId. An event without a timestamp gets this machine's
   * time now: left to the service, it would be the time its batch arrived, after the batch interval, retries or
   * an outage. An event JSON cannot carry is not queued: `onError` gets it.
   */
  track(event: TrackedEvent): string {
    const queued: QueuedEvent = {
      ...event,
      eventId: event.eventId ?? this.#newEventId(),
      timestamp: event.timestamp ?? Date.now(),
    };
    // Checked alone now: queued, it would fail the whole batch it is sent in.
    try {
      jsonOf(queued);
    } catch (error) {
      this.#report(error as ElevensError, [queued]);
      return queued.eventId;
    }
    this.#queue.push(queued);
    const overflow = this.#queue.length - this.#batch.maxQueuedEvents;
    if (overflow > 0) {
      const dropped = this.#queue.splice(0, overflow);
      this.#report(new ElevensError(0, 'queue_full', `dropped ${overflow} queued events`), dropped);
    }
    if (this.#queue.length >= this.#batch.maxEvents && !this.#waitingToRetry) this.#flushInBackground();
    else this.#scheduleFlush(this.#batch.flushIntervalMs);
    return queued.eventId;
  }

  /** Events tracked but not yet acknowledged: those queued and those of a batch being sent. */
  get pendingEvents(): number {
    return this.#queue.length + this.#inFlight;
  }

  /**
   * Sends every queued event now, in batches, and sums the answers: for the events pending when it was called,
   * those a background flush was sending included (it resolves once that flush's batches are answered too), and
   * any tracked while it ran; `rejected` indices count through them in the order they were sent. A batch that
   * fails after its retries goes back to the front of the queue, ids unchanged, unless the service refused it
   * (`retryable` false), and the call rejects; the events left queued are then sent again as after a failed
   * background flush (after the interval or Retry-After, whichever is later). It rejects too when the service
   * refused a batch a background flush sent meanwhile (its events were dropped and handed to `onError`).
   */
  flush(): Promise<IngestEventsReply> {
    return this.#flushNow(true);
  }

  /**
   * `flush()` that leaves nothing scheduled, for the end of a process or page: when it fails, its events stay
   * queued (`pendingEvents`) with no retry, for the caller to send with `flush()` or `close()` again, or let go.
   * The client stays usable: a later `track()` queues and schedules as before (a page restored from the
   * back/forward cache).
   */
  async close(): Promise<IngestEventsReply> {
    try {
      return await this.#flushNow(false);
    } finally {
      // A background flush that failed while this one waited may have scheduled its retry.
      clearTimeout(this.#timer);
      this.#timer = undefined;
    }
  }

  async #flushNow(retryWhenFailed: boolean): Promise<IngestEventsReply> {
    const total: IngestEventsReply = { ...EMPTY_REPLY, rejected: [] };
    let answered = 0;
    let refused: ElevensError | undefined;
    const waiter: FlushWaiter = {
      sent(batch, reply) {
        addReply(total, reply, answered);
        answered += batch.length;
      },
      failed(error) {
        // A retryable failure put its events back in the queue, which this call sends.
        if (!error.retryable) refused ??= error;
      },
    };
    this.#flushWaiters.add(waiter);
    try {
      await this.#flush({});
    } catch (error) {
      if (retryWhenFailed) this.#retryLater(elevensErrorOf(error));
      throw error;
    } finally {
      this.#flushWaiters.delete(waiter);
    }
    if (refused !== undefined) throw refused;
    return total;
  }

  /**
   * Sends these events now (ids assigned where missing), bypassing the queue: in requests of up to the 1000
   * events the service takes, one after another, with the answers summed (`rejected` indices into `events`) and
   * the events' `eventIds`, in order. A request that fails rejects the call, those before it stored; its
   * `ElevensError` carries the `eventIds` too, so the events are sent again safely under them. `options.signal`
   * cancels it as it does `recommendations()`, between requests too: requests answered before the abort stored
   * their events.
   */
  async sendEvents(
    events: readonly TrackedEvent[],
    options: { signal?: AbortSignal } = {},
  ): Promise<SendEventsReply> {
    const batch = events.map((e) => ({ ...e, eventId: e.eventId ?? this.#newEventId() }));
    const eventIds = batch.map((event) => event.eventId);
    try {
      return { ...(await this.#post(batch, options.signal)), eventIds };
    } catch (error) {
      if (error instanceof ElevensError) error.eventIds = eventIds;
      throw error;
    }
  }

  /** Sends events whose ids are fixed in requests of up to 1000, one after another, and sums the answers. */
  async #post(events: readonly QueuedEvent[], signal?: AbortSignal): Promise<IngestEventsReply> {
    const url = `${this.#url('ingest')}/v1/events`;
    const total: IngestEventsReply = { ...EMPTY_REPLY, rejected: [] };
    for (let start = 0; start < events.length; start += MAX_EVENTS_PER_REQUEST) {
      const reply = await callJson<IngestEventsReply>(
        this.#transport,
        'POST',
        url,
        { events: events.slice(start, start + MAX_EVENTS_PER_REQUEST) },
        {},
        signal,
      );
      addReply(total, reply, start);
    }
    return total;
  }

  /**
   * Sends the queue once the flush before has ended, handing the batch whose request failed to `failed` before
   * rejecting, and the events the service rejected from a batch it stored in part to `rejected`.
   */
  #flush(report: FlushReport): Promise<void> {
    const run = this.#flushing.then(() => this.#drain(report));
    this.#flushing = run.catch(() => undefined);
    return run;
  }

  async #drain(report: FlushReport): Promise<void> {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#waitingToRetry = false;
    let size = this.#batch.maxEvents;
    while (this.#queue.length > 0) {
      const batch = this.#queue.splice(0, size);
      this.#inFlight = batch.length;
      let reply: IngestEventsReply;
      try {
        reply = await this.#post(batch);
      } catch (error) {
        const failure = elevensErrorOf(error);
        // A body over the service's size limit refuses the request, not its events: send them in halves.
        if (failure.status === 413 && batch.length > 1) {
          this.#queue.unshift(...batch);
          size = Math.ceil(batch.length / 2);
          continue;
        }
        // Only a failed delivery goes back: a 400 for a batch of invalid events would fail the same way again.
        if (failure.retryable) this.#queue.unshift(...batch);
        for (const waiter of this.#flushWaiters) waiter.failed(failure);
        report.failed?.(batch);
        throw failure;
      } finally {
        this.#inFlight = 0;
      }
      for (const waiter of this.#flushWaiters) waiter.sent(batch, reply);
      if (reply.rejected.length > 0) report.rejected?.(batch, reply.rejected);
    }
  }

  #flushInBackground(): void {
    if (this.#flushingInBackground) return;
    this.#flushingInBackground = true;
    let failedBatch: QueuedEvent[] = [];
    this.#flush({
      failed: (batch) => {
        failedBatch = batch;
      },
      rejected: (batch, rejected) => {
        const first = rejected[0]!;
        const error = new ElevensError(
          400,
          'bad_request',
          `${rejected.length} of ${batch.length} events rejected (event ${first.index}: ${first.error})`,
          // indices into the events handed to onError, as in the service's 400 for a batch it refused whole
          { rejected: rejected.map((r, index) => ({ index, error: r.error })) },
        );
        this.#report(
          error,
          rejected.map((r) => batch[r.index]!),
        );
      },
    })
      .catch((error: unknown) => {
        const failure = elevensErrorOf(error);
        this.#retryLater(failure);
        this.#report(failure, failedBatch);
      })
      .finally(() => {
        this.#flushingInBackground = false;
        // Events tracked as the flush ended go after the next interval rather than waiting for the next track().
        if (this.#queue.length > 0) this.#scheduleFlush(this.#batch.flushIntervalMs);
      });
  }

  /**
   * After a failed flush: the events left queued (requeued, and any tracked meanwhile) are sent again after the
   * interval, or the service's Retry-After when later, rather than at the next track(); tracks wait for that try.
   */
  #retryLater(failure: ElevensError): void {
    this.#waitingToRetry = this.#queue.length > 0;
    // A track() during the flush set a timer of one interval: the retry waits for Retry-After all the same.
    clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#waitingToRetry)
      this.#scheduleFlush(Math.max(this.#batch.flushIntervalMs, failure.retryAfterMs ?? 0));
  }

  /** Hands a failure to `onError`; an error it throws is dropped, so batching goes on and nothing is unhandled. */
  #report(error: ElevensError, events: readonly QueuedEvent[]): void {
    try {
      this.#onError?.(error, events);
    } catch {
      // The storefront's handler failed: there is no one left to tell, and its process must not end for it.
    }
  }

  /** A delay beyond the longest timer (a Retry-After of years) waits that long: a timer given more fires at once. */
  #scheduleFlush(delayMs: number): void {
    this.#timer ??= unrefTimer(
      setTimeout(
        () => {
          this.#timer = undefined;
          this.#flushInBackground();
        },
        Math.min(delayMs, MAX_TIMER_MS),
      ),
    );
  }

  /** The service's base URL; refuses a request this client is not configured to send. */
  #url(service: 'api' | 'ingest'): string {
    const url = service === 'api' ? this.#apiUrl : this.#ingestUrl;
    if (url === undefined)
      throw new ElevensError(0, 'not_configured', `no ${service}Url given to ElevensClient`);
    if ('refused' in url) throw new ElevensError(0, 'not_configured', url.refused);
    if (this.#malformedApiKey)
      throw new ElevensError(
        0,
        'not_configured',
        'the apiKey given to ElevensClient is not a key: up to 256 visible ASCII characters, no spaces',
      );
    return url.base;
  }
}

/**
 * The base URL the calls of `option` use, or why fetch could not send them to it: it takes an absolute http(s)
 * URL and, where a page resolves it (a browser, or any runtime with a `location`), a path from the page's origin.
 * Without a scheme (`recs.shop.example`; `localhost:3000` is a URL of the scheme `localhost:`) every call failed in
 * fetch and was retried as a network failure, and a browser resolved it against the page's path.
 */
function serviceUrlOf(option: 'apiUrl' | 'ingestUrl', given: string): ServiceUrl {
  // Surrounding whitespace is a newline read from a file or an environment file, as for the apiKey.
  const url = given.trim();
  const path = url.startsWith('/');
  const parsed = parsedUrl(url, path ? 'http://page.invalid' : undefined);
  // Not quoted with an @: what comes before it may be a password.
  const quoted = url.includes('@') ? '' : ` ${JSON.stringify(url)}`;
  const refused = (why: string) => ({ refused: `${option}${quoted} given to ElevensClient ${why}` });
  if (parsed === undefined || (!path && parsed.protocol !== 'http:' && parsed.protocol !== 'https:'))
    return refused(
      'is not an http or https URL: give it with its scheme, such as https://recs.shop.example (or, in a ' +
        "browser, a path from the page's origin, such as /recs)",
    );
  if (path && !('location' in globalThis))
    return refused('is a path, which only a browser resolves (against its page): give an http or https URL');
  if (parsed.username !== '' || parsed.password !== '')
    return refused('holds a user name or password, which fetch refuses: give the URL without them');
  if (url.includes('?') || url.includes('#'))
    return refused("holds a query or fragment, which each call's path would follow: give the URL without it");
  return { base: trimSlash(url) };
}

/** `url` parsed against `base`, or undefined when it is no URL. */
function parsedUrl(url: string, base: string | undefined): URL | undefined {
  try {
    return new URL(url, base);
  } catch {
    return undefined;
  }
}

/** The longest a timer waits (about 24.8 days): a longer one fires after 1 ms, so its retries would not wait. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * Throws a RangeError naming the first batch option no batching can follow: no event is sent in a batch of none
 * (each such request was refused and retried without end), nor kept in a queue of none, nor flushed after an
 * interval no timer waits (it was cut to the timer's limit without a word).
 */
function checkBatchOptions({ maxEvents, maxQueuedEvents, flushIntervalMs }: BatchOptions): void {
  if (!Number.isInteger(maxEvents) || maxEvents < 1)
    throw new RangeError(`batch.maxEvents must be a whole number from 1, not ${maxEvents}`);
  if (!Number.isInteger(maxQueuedEvents) || maxQueuedEvents < 1)
    throw new RangeError(`batch.maxQueuedEvents must be a whole number from 1, not ${maxQueuedEvents}`);
  if (!(flushIntervalMs >= 0 && flushIntervalMs <= MAX_TIMER_MS))
    throw new RangeError(
      `batch.flushIntervalMs must be milliseconds from 0 up to ${MAX_TIMER_MS}, not ${flushIntervalMs}`,
    );
}

/**
 * Throws a RangeError naming the first timing no call can follow: a timeout no timer takes (every call rejected
 * with a bare RangeError), retries no count ends (NaN compares false with the attempt, so it retried without end)
 * or waits no timer keeps (NaN or longer than a timer waits: retried at once).
 */
function checkTiming(timeoutMs: number, { retries, baseDelayMs, maxDelayMs }: RetryPolicy): void {
  if (!(timeoutMs > 0 && timeoutMs <= MAX_TIMER_MS))
    throw new RangeError(
      `timeoutMs must be milliseconds above 0 and up to ${MAX_TIMER_MS}, not ${timeoutMs}`,
    );
  if (!Number.isInteger(retries) || retries < 0)
    throw new RangeError(`retry.retries must be a whole number from 0, not ${retries}`);
  for (const [name, ms] of [
    ['baseDelayMs', baseDelayMs],
    ['maxDelayMs', maxDelayMs],
  ] as const)
    if (!(ms >= 0 && ms <= MAX_TIMER_MS))
      throw new RangeError(`retry.${name} must be milliseconds from 0 up to ${MAX_TIMER_MS}, not ${ms}`);
}

/** The options given a value: one given as undefined (a setting read from unset configuration) takes its default. */
function definedOf<T extends object>(options: T | undefined): Partial<T> {
  return Object.fromEntries(
    Object.entries(options ?? {}).filter(([, value]) => value !== undefined),
  ) as Partial<T>;
}

/** A flush's failure as the client reports it: the drain throws ElevensErrors, anything else is the network's. */
function elevensErrorOf(error: unknown): ElevensError {
  return error instanceof ElevensError ? error : new ElevensError(0, 'network', String(error));
}

/** Adds a request's answer to `total`, its `rejected` indices moved by `offset`, the events sent before it. */
function addReply(total: IngestEventsReply, reply: IngestEventsReply, offset: number): void {
  total.accepted += reply.accepted;
  total.duplicates += reply.duplicates;
  for (const r of reply.rejected) total.rejected.push({ index: offset + r.index, error: r.error });
}

/** What a flush() call hears of each batch sent while it waits. */
interface FlushWaiter {
  sent(batch: readonly QueuedEvent[], reply: IngestEventsReply): void;
  failed(error: ElevensError): void;
}

interface FlushReport {
  failed?: (batch: QueuedEvent[]) => void;
  rejected?: (batch: QueuedEvent[], rejected: IngestEventsReply['rejected']) => void;
}

function unrefTimer(timer: ReturnType<typeof setTimeout>) {
  (timer as { unref?: () => void }).unref?.();
  return timer;
}
