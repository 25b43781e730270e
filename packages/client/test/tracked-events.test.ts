import { afterEach, describe, expect, it, vi } from 'vitest';
import { ElevensClient, type QueuedEvent } from '../src';

const TRACKED_AT = Date.UTC(2026, 10, 10, 23, 58);
const DELIVERED_AT = Date.UTC(2026, 10, 11, 0, 25);

afterEach(() => {
  vi.useRealTimers();
});

describe('tracked events', () => {
  it('are stored with the time they were tracked, not the time an outage let them through', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    const delivered: QueuedEvent[] = [];
    let ingestUp = false;
    const client = new ElevensClient({
      ingestUrl: 'http://ingest.test',
      retry: { retries: 0 },
      batch: { flushIntervalMs: 60_000 },
      fetch: async (_, init) => {
        if (!ingestUp) return Response.json({ error: 'unavailable', message: 'down' }, { status: 503 });
        const { events } = JSON.parse(String(init?.body)) as { events: QueuedEvent[] };
        delivered.push(...events);
        return Response.json({ accepted: events.length, duplicates: 0, rejected: [] });
      },
    });
    vi.setSystemTime(TRACKED_AT);
    client.track({ userId: 'u1', itemId: 'tv', type: 'purchase' });
    client.track({ userId: 'u1', itemId: 'cable', type: 'view', timestamp: '2026-11-10T23:57:00Z' });
    await expect(client.flush()).rejects.toMatchObject({ status: 503 });

    vi.setSystemTime(DELIVERED_AT);
    ingestUp = true;
    await client.close();
    expect(delivered.map((event) => event.timestamp)).toEqual([TRACKED_AT, '2026-11-10T23:57:00Z']);
  });

  it('refuse batch settings under which no event would ever be sent or kept', () => {
    const client = (batch: Record<string, number>) => () =>
      new ElevensClient({ ingestUrl: 'http://ingest.test', batch });
    for (const maxEvents of [0, -1, 2.5, Number.NaN])
      expect(client({ maxEvents })).toThrow(/batch\.maxEvents/);
    for (const maxQueuedEvents of [0, -5, Number.NaN])
      expect(client({ maxQueuedEvents })).toThrow(/batch\.maxQueuedEvents/);
    for (const flushIntervalMs of [-1, Number.NaN, Number.POSITIVE_INFINITY])
      expect(client({ flushIntervalMs })).toThrow(/batch\.flushIntervalMs/);
    expect(client({ maxEvents: 5_000, maxQueuedEvents: 1, flushIntervalMs: 0 })).not.toThrow();
  });
});
