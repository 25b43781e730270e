import { describe, expect, it } from 'vitest';
import { ElevensClient, ElevensError, type QueuedEvent } from '../src';

/**
 * `sendEvents(events)` gives every event without an eventId one of its own: the caller gets them back, in the
 * order of `events`, from the answer and from a failure, so it can match answers to its events and send the
 * events of a failed call again under the same ids (stored once, whichever attempt got through).
 */
function ingestStandIn(failFromRequest = Number.POSITIVE_INFINITY) {
  const stored = new Set<string>();
  const sent: string[][] = [];
  const standIn: typeof fetch = async (_, init) => {
    const { events } = JSON.parse(String(init?.body)) as { events: QueuedEvent[] };
    sent.push(events.map((event) => event.eventId));
    if (sent.length >= failFromRequest)
      return Response.json({ error: 'bad_gateway', message: 'upstream reset' }, { status: 502 });
    const fresh = events.filter((event) => !stored.has(event.eventId));
    for (const event of fresh) stored.add(event.eventId);
    return Response.json({ accepted: fresh.length, duplicates: events.length - fresh.length, rejected: [] });
  };
  return { fetch: standIn, sent, stored };
}

const ids = (prefix: string) => {
  let n = 0;
  return () => `${prefix}-${n++}`;
};

describe('ElevensClient.sendEvents', () => {
  it('answers with the eventIds of the events, assigned where missing, in the order given', async () => {
    const ingest = ingestStandIn();
    const client = new ElevensClient({
      ingestUrl: 'http://ingest.test',
      fetch: ingest.fetch,
      newEventId: ids('new'),
    });
    const reply = await client.sendEvents([
      { userId: 'u1', itemId: 'i1', type: 'view' },
      { eventId: 'mine', userId: 'u1', itemId: 'i2', type: 'cart' },
      { userId: 'u1', itemId: 'i3', type: 'purchase' },
    ]);
    expect(reply).toEqual({ accepted: 3, duplicates: 0, rejected: [], eventIds: ['new-0', 'mine', 'new-1'] });
    expect(ingest.sent).toEqual([reply.eventIds]);
    expect(await client.sendEvents([])).toEqual({ accepted: 0, duplicates: 0, rejected: [], eventIds: [] });
  });

  it('gives the eventIds of every event in a call of several requests', async () => {
    const ingest = ingestStandIn();
    const client = new ElevensClient({
      ingestUrl: 'http://ingest.test',
      fetch: ingest.fetch,
      newEventId: ids('bulk'),
    });
    const events = Array.from({ length: 1_001 }, (_, n) => ({
      userId: 'u1',
      itemId: `i${n}`,
      type: 'view' as const,
    }));
    const reply = await client.sendEvents(events);
    expect(reply.eventIds).toHaveLength(1_001);
    expect(reply.eventIds).toEqual(ingest.sent.flat());
    expect(reply.eventIds.at(-1)).toBe('bulk-1000');
  });

  it('names the eventIds in a failure, so the events are sent again and stored once', async () => {
    const ingest = ingestStandIn(2);
    const client = new ElevensClient({
      ingestUrl: 'http://ingest.test',
      fetch: ingest.fetch,
      newEventId: ids('lost'),
      retry: { retries: 0 },
    });
    const events = Array.from({ length: 1_500 }, (_, n) => ({
      userId: 'u1',
      itemId: `i${n}`,
      type: 'view' as const,
    }));
    const failure = await client.sendEvents(events).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(ElevensError);
    expect(failure).toMatchObject({ status: 502, retryable: true });
    const { eventIds } = failure as ElevensError;
    expect(eventIds).toEqual(ingest.sent.flat());

    const healthy = ingestStandIn();
    for (const id of ingest.stored) healthy.stored.add(id);
    const again = new ElevensClient({
      ingestUrl: 'http://ingest.test',
      fetch: healthy.fetch,
      newEventId: ids('other'),
    });
    const resent = await again.sendEvents(events.map((event, n) => ({ ...event, eventId: eventIds![n]! })));
    expect(resent).toMatchObject({ accepted: 500, duplicates: 1_000, eventIds });
  });

  it('takes a signal: an abort between two requests sends no more and rejects aborted, naming the eventIds', async () => {
    const ingest = ingestStandIn();
    const caller = new AbortController();
    const client = new ElevensClient({
      ingestUrl: 'http://ingest.test',
      newEventId: ids('cut'),
      fetch: async (input, init) => {
        const answer = await ingest.fetch(input, init);
        caller.abort();
        return answer;
      },
    });
    const events = Array.from({ length: 1_001 }, (_, n) => ({
      userId: 'u1',
      itemId: `i${n}`,
      type: 'view' as const,
    }));
    const failure = await client
      .sendEvents(events, { signal: caller.signal })
      .catch((error: unknown) => error);
    expect(failure).toMatchObject({ status: 0, code: 'aborted', retryable: false });
    expect((failure as ElevensError).eventIds).toHaveLength(1_001);
    expect(ingest.sent).toHaveLength(1);
    await expect(
      client.sendEvents(events.slice(0, 1), { signal: AbortSignal.abort() }),
    ).rejects.toMatchObject({ code: 'aborted' });
    expect(ingest.sent).toHaveLength(1);
  });

  it('names the eventIds in a refusal before any request (no ingestUrl)', async () => {
    const client = new ElevensClient({ newEventId: ids('unsent') });
    await expect(client.sendEvents([{ userId: 'u1', itemId: 'i1', type: 'view' }])).rejects.toMatchObject({
      code: 'not_configured',
      eventIds: ['unsent-0'],
    });
  });
});
