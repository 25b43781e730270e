import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ElevensClient, type ElevensError } from '../src';

/**
 * An `onError` that throws (a logger that fails, a bug in the storefront's handler) must not end the storefront's
 * process: Node ends on an unhandled rejection by default. Its error is dropped and batching goes on.
 */
let unhandled: unknown[];
const recordUnhandled = (reason: unknown) => unhandled.push(reason);

beforeEach(() => {
  unhandled = [];
  process.on('unhandledRejection', recordUnhandled);
});

afterEach(() => {
  process.off('unhandledRejection', recordUnhandled);
});

/** Lets pending rejections surface: Node reports them after the microtask queue drains. */
const settle = () => new Promise((resolve) => setTimeout(resolve, 50));

const throwingOnError = (seen: ElevensError[]) => (error: ElevensError) => {
  seen.push(error);
  throw new Error('the storefront logger failed');
};

describe('an onError that throws', () => {
  it('does not turn a failed background flush into an unhandled rejection, and the events are sent later', async () => {
    const seen: ElevensError[] = [];
    let requests = 0;
    const client = new ElevensClient({
      ingestUrl: 'http://ingest.test',
      retry: { retries: 0 },
      batch: { maxEvents: 1, flushIntervalMs: 20 },
      fetch: async (_, init) => {
        requests++;
        if (requests === 1) return Response.json({ error: 'unavailable', message: 'shed' }, { status: 503 });
        const { events } = JSON.parse(String(init?.body)) as { events: unknown[] };
        return Response.json({ accepted: events.length, duplicates: 0, rejected: [] });
      },
      onError: throwingOnError(seen),
    });
    client.track({ userId: 'u1', itemId: 'i1', type: 'view' });
    await expect.poll(() => client.pendingEvents).toBe(0);
    await settle();
    expect(seen).toMatchObject([{ status: 503, code: 'unavailable' }]);
    expect(requests).toBe(2);
    expect(unhandled).toEqual([]);
  });

  it('does not stop a background flush that reports events rejected from a batch', async () => {
    const seen: ElevensError[] = [];
    const batches: unknown[][] = [];
    const client = new ElevensClient({
      ingestUrl: 'http://ingest.test',
      retry: { retries: 0 },
      batch: { maxEvents: 2, flushIntervalMs: 60_000 },
      fetch: async (_, init) => {
        const { events } = JSON.parse(String(init?.body)) as { events: unknown[] };
        batches.push(events);
        const rejected = batches.length === 1 ? [{ index: 0, error: 'itemId: too long' }] : [];
        return Response.json({ accepted: events.length - rejected.length, duplicates: 0, rejected });
      },
      onError: throwingOnError(seen),
    });
    // The second event starts a background flush; the third and fourth, tracked before it runs, are its second batch.
    for (const n of [1, 2, 3, 4]) client.track({ userId: 'u1', itemId: `i${n}`, type: 'view' });
    await expect.poll(() => batches.length).toBe(2);
    await settle();
    expect(client.pendingEvents).toBe(0);
    expect(seen).toMatchObject([{ status: 400, code: 'bad_request' }]);
    expect(unhandled).toEqual([]);
  });

  it('does not make track() throw for an event dropped from a full queue', async () => {
    const seen: ElevensError[] = [];
    const client = new ElevensClient({
      ingestUrl: 'http://ingest.test',
      batch: { maxEvents: 10, maxQueuedEvents: 1, flushIntervalMs: 60_000 },
      fetch: async () => Response.json({ accepted: 1, duplicates: 0, rejected: [] }),
      onError: throwingOnError(seen),
    });
    client.track({ userId: 'u1', itemId: 'i1', type: 'view' });
    const kept = client.track({ userId: 'u1', itemId: 'i2', type: 'view' });
    expect(typeof kept).toBe('string');
    expect(seen).toMatchObject([{ code: 'queue_full' }]);
    expect(client.pendingEvents).toBe(1);
    await client.close();
  });
});
