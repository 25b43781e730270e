import { describe, expect, it } from 'vitest';
import { ElevensClient, type ElevensError, type QueuedEvent } from '../src';

/** An ingest stand-in: accepts the first request's events, answers every later one with `status`. */
function ingestFailingAfterFirst(status: number) {
  let requests = 0;
  const fetchStandIn: typeof fetch = async (_, init) => {
    requests++;
    const { events } = JSON.parse(String(init?.body)) as { events: unknown[] };
    if (requests === 1) return Response.json({ accepted: events.length, duplicates: 0, rejected: [] });
    return Response.json({ error: 'stand_in', message: `HTTP ${status}` }, { status });
  };
  return fetchStandIn;
}

async function backgroundFailure(status: number) {
  const failures: { error: ElevensError; events: readonly QueuedEvent[] }[] = [];
  const client = new ElevensClient({
    ingestUrl: 'http://ingest.test',
    retry: { retries: 0 },
    batch: { maxEvents: 2, flushIntervalMs: 60_000 },
    fetch: ingestFailingAfterFirst(status),
    onError: (error, events) => failures.push({ error, events }),
  });
  // The second event starts a background flush, which sends the third as a second batch.
  const ids = ['view', 'cart', 'purchase'].map((type, n) =>
    client.track({ userId: 'u1', itemId: `i${n}`, type: type as 'view' }),
  );
  await expect.poll(() => failures.length).toBeGreaterThan(0);
  // The third event started a background flush of its own: let it end too.
  await new Promise((resolve) => setTimeout(resolve, 50));
  const reported = new Set(failures.flatMap((failure) => failure.events.map((event) => event.eventId)));
  return { client, ids, errors: failures.map((failure) => failure.error), reported: [...reported] };
}

describe('background flushes report the events of the failed request', () => {
  it('names the requeued events, not those already delivered', async () => {
    const { client, ids, errors, reported } = await backgroundFailure(503);
    expect(errors[0]).toMatchObject({ status: 503, retryable: true });
    expect(reported).toEqual([ids[2]]);
    expect(client.pendingEvents).toBe(1);
  });

  it('names the events dropped after an answer that a resend would get again', async () => {
    const { client, ids, errors, reported } = await backgroundFailure(401);
    expect(errors).toMatchObject([{ status: 401, retryable: false }]);
    expect(reported).toEqual([ids[2]]);
    expect(client.pendingEvents).toBe(0);
  });
});
