import { afterEach, describe, expect, it, vi } from 'vitest';
import { ElevensClient, type ElevensError, type QueuedEvent } from '../src';

type Batch = { events: QueuedEvent[] };

const track = (client: ElevensClient, count: number) =>
  Array.from({ length: count }, (_, n) => client.track({ userId: 'u1', itemId: `i${n}`, type: 'view' }));

/** An ingest stand-in answering its first `failures` requests 503 with `retryAfter`, then storing every event. */
function ingestDownFor(failures: number, retryAfter: string) {
  const sent: number[] = [];
  const fetchStandIn: typeof fetch = async (_, init) => {
    const { events } = JSON.parse(String(init?.body)) as Batch;
    sent.push(events.length);
    if (sent.length <= failures)
      return Response.json(
        { error: 'unavailable', message: 'down' },
        { status: 503, headers: { 'retry-after': retryAfter } },
      );
    return Response.json({ accepted: events.length, duplicates: 0, rejected: [] });
  };
  return { fetch: fetchStandIn, sent };
}

afterEach(() => {
  vi.useRealTimers();
});

describe('event batches', () => {
  it('a failed flush() is retried as a background flush is: after Retry-After, tracks waiting for it', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const ingest = ingestDownFor(1, '2');
    const client = new ElevensClient({
      ingestUrl: 'http://ingest.test',
      retry: { retries: 0 },
      batch: { maxEvents: 2, flushIntervalMs: 100 },
      fetch: ingest.fetch,
    });
    // A page that tracks one event and flushes as it is hidden; the next event fills a batch.
    track(client, 1);
    await expect(client.flush()).rejects.toMatchObject({ status: 503, retryAfterMs: 2_000 });
    track(client, 1);
    await vi.advanceTimersByTimeAsync(1_999);
    expect(ingest.sent).toEqual([1]);
    await vi.advanceTimersByTimeAsync(1);
    await vi.waitFor(() => expect(client.pendingEvents).toBe(0));
    expect(ingest.sent).toEqual([1, 2]);
  });

  it('a failed close() leaves its events queued and no retry behind, for the caller to send', async () => {
    vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout'] });
    const ingest = ingestDownFor(1, '1');
    const client = new ElevensClient({
      ingestUrl: 'http://ingest.test',
      retry: { retries: 0 },
      batch: { flushIntervalMs: 100 },
      fetch: ingest.fetch,
    });
    track(client, 1);
    await expect(client.close()).rejects.toMatchObject({ status: 503 });
    await vi.advanceTimersByTimeAsync(60_000);
    expect(ingest.sent).toEqual([1]);
    expect(client.pendingEvents).toBe(1);
    expect(await client.close()).toEqual({ accepted: 1, duplicates: 0, rejected: [] });
  });

  it('a burst of tracks while ingest is down sends one request, not one flush per track', async () => {
    let requests = 0;
    const failures: ElevensError[] = [];
    const client = new ElevensClient({
      ingestUrl: 'http://ingest.test',
      retry: { retries: 0 },
      batch: { maxEvents: 10, flushIntervalMs: 60_000 },
      fetch: async () => {
        requests++;
        return Response.json({ error: 'unavailable', message: 'down' }, { status: 503 });
      },
      onError: (error) => failures.push(error),
    });
    track(client, 50);
    await expect.poll(() => failures.length).toBeGreaterThan(0);
    await new Promise((resolve) => setTimeout(resolve, 50));
    // Every event is still queued for the next try, which waits for the interval.
    expect(client.pendingEvents).toBe(50);
    expect(requests).toBe(1);
    expect(failures).toHaveLength(1);
  });

  it('tracks after a failed background flush wait for its retry instead of sending at once', async () => {
    let requests = 0;
    const failures: ElevensError[] = [];
    const client = new ElevensClient({
      ingestUrl: 'http://ingest.test',
      retry: { retries: 0 },
      batch: { maxEvents: 2, flushIntervalMs: 60_000 },
      fetch: async () => {
        requests++;
        return Response.json({ error: 'unavailable', message: 'down' }, { status: 503 });
      },
      onError: (error) => failures.push(error),
    });
    track(client, 2);
    await expect.poll(() => failures.length).toBe(1);
    for (let n = 0; n < 5; n++) {
      track(client, 1);
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    expect(requests).toBe(1);
    expect(client.pendingEvents).toBe(7);
  });

  it('an event tracked while a background flush runs is retried when that flush fails', async () => {
    let requests = 0;
    let release: (() => void) | undefined;
    const client = new ElevensClient({
      ingestUrl: 'http://ingest.test',
      retry: { retries: 0 },
      batch: { maxEvents: 2, flushIntervalMs: 10 },
      fetch: async () => {
        requests++;
        if (requests === 1) await new Promise<void>((resolve) => (release = resolve));
        return Response.json({ error: 'unavailable', message: 'down' }, { status: 503 });
      },
    });
    track(client, 2);
    await expect.poll(() => release).toBeDefined();
    // Its interval ends while the first request is still out.
    track(client, 1);
    await new Promise((resolve) => setTimeout(resolve, 50));
    release?.();
    await expect.poll(() => requests).toBeGreaterThan(2);
  });

  it('a background flush answered 503 with Retry-After tries again no sooner than asked', async () => {
    let requests = 0;
    const client = new ElevensClient({
      ingestUrl: 'http://ingest.test',
      retry: { retries: 0 },
      batch: { flushIntervalMs: 10 },
      fetch: async () => {
        requests++;
        return Response.json(
          { error: 'unavailable', message: 'down' },
          { status: 503, headers: { 'retry-after': '1' } },
        );
      },
    });
    track(client, 1);
    await expect.poll(() => requests).toBeGreaterThan(0);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(requests).toBe(1);
    await expect.poll(() => requests, { timeout: 3_000 }).toBe(2);
    expect(client.pendingEvents).toBe(1);
  });

  it('Retry-After holds while events are tracked during the failing flush', async () => {
    let requests = 0;
    let answer: (() => void) | undefined;
    const client = new ElevensClient({
      ingestUrl: 'http://ingest.test',
      retry: { retries: 0 },
      batch: { flushIntervalMs: 10 },
      fetch: async () => {
        requests++;
        await new Promise<void>((resolve) => (answer = resolve));
        return Response.json(
          { error: 'unavailable', message: 'down' },
          { status: 503, headers: { 'retry-after': '1' } },
        );
      },
    });
    track(client, 1);
    await expect.poll(() => answer).toBeDefined();
    // A shopper's next event, as on any busy storefront, while the request is out.
    track(client, 1);
    answer?.();
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(requests).toBe(1);
    await expect.poll(() => requests, { timeout: 3_000 }).toBe(2);
    answer?.();
  });

  it('a batch answered 413 (body too large) is sent again in smaller batches, not dropped', async () => {
    const stored: string[] = [];
    const failures: ElevensError[] = [];
    const client = new ElevensClient({
      ingestUrl: 'http://ingest.test',
      retry: { retries: 0 },
      batch: { maxEvents: 5, flushIntervalMs: 60_000 },
      fetch: async (_, init) => {
        const { events } = JSON.parse(String(init?.body)) as Batch;
        if (events.length > 2)
          return Response.json({ error: 'payload_too_large', message: 'too large' }, { status: 413 });
        stored.push(...events.map((event) => event.eventId));
        return Response.json({
          accepted: events.length,
          duplicates: 0,
          rejected: events.flatMap((event, index) =>
            event.itemId === 'i3' ? [{ index, error: 'bad' }] : [],
          ),
        });
      },
      onError: (error) => failures.push(error),
    });
    const ids = track(client, 4);
    const reply = await client.close();
    expect(stored).toEqual(ids);
    // Rejected indices still count from the first event flushed.
    expect(reply).toEqual({ accepted: 4, duplicates: 0, rejected: [{ index: 3, error: 'bad' }] });
    expect(client.pendingEvents).toBe(0);
    expect(failures).toEqual([]);
  });

  it('batches are never larger than the 1000 events the service takes', async () => {
    const sizes: number[] = [];
    const client = new ElevensClient({
      ingestUrl: 'http://ingest.test',
      retry: { retries: 0 },
      batch: { maxEvents: 1_500, flushIntervalMs: 60_000 },
      fetch: async (_, init) => {
        const { events } = JSON.parse(String(init?.body)) as Batch;
        sizes.push(events.length);
        if (events.length > 1_000)
          return Response.json(
            { error: 'bad_request', message: 'body/events expected an array of 1–1000 events' },
            { status: 400 },
          );
        return Response.json({ accepted: events.length, duplicates: 0, rejected: [] });
      },
    });
    track(client, 1_200);
    await client.close();
    expect(sizes).toEqual([1_000, 200]);
    expect(client.pendingEvents).toBe(0);
  });

  it('a background flush reports the events the service rejected from a batch it partly stored', async () => {
    const reports: { error: ElevensError; events: readonly QueuedEvent[] }[] = [];
    const client = new ElevensClient({
      ingestUrl: 'http://ingest.test',
      batch: { maxEvents: 3, flushIntervalMs: 60_000 },
      fetch: async (_, init) => {
        const { events } = JSON.parse(String(init?.body)) as Batch;
        const rejected = events.flatMap((event, index) =>
          event.price !== undefined && event.price < 0 ? [{ index, error: 'price: too small' }] : [],
        );
        return Response.json({ accepted: events.length - rejected.length, duplicates: 0, rejected });
      },
      onError: (error, events) => reports.push({ error, events }),
    });
    client.track({ userId: 'u1', itemId: 'i1', type: 'view' });
    const bad = client.track({ userId: 'u1', itemId: 'i2', type: 'purchase', price: -1 });
    client.track({ userId: 'u1', itemId: 'i3', type: 'view' });
    await expect.poll(() => reports.length).toBe(1);
    expect(reports[0]!.events.map((event) => event.eventId)).toEqual([bad]);
    expect(reports[0]!.error).toMatchObject({
      status: 400,
      retryable: false,
      details: { rejected: [{ index: 0, error: 'price: too small' }] },
    });
    expect(client.pendingEvents).toBe(0);
  });

  it('a lone event answered 413 is dropped and reported', async () => {
    const client = new ElevensClient({
      ingestUrl: 'http://ingest.test',
      retry: { retries: 0 },
      fetch: async () => Response.json({ error: 'payload_too_large', message: 'too large' }, { status: 413 }),
    });
    track(client, 1);
    await expect(client.close()).rejects.toMatchObject({ status: 413, retryable: false });
    expect(client.pendingEvents).toBe(0);
  });
});
