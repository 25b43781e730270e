import { buildApiApp, loadApiConfig } from '@elevens/api';
import { buildIngestApp, loadIngestConfig } from '@elevens/ingest';
import { createLogSink, createTestInfra, freePort, type TestInfra } from '@elevens/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
// The workspace link for @elevens/client appears with the next `npm install`; until then, by path.
import { ElevensClient, ElevensError, type QueuedEvent } from '../packages/client/src';

let infra: TestInfra;
let api: Awaited<ReturnType<typeof buildApiApp>>;
let ingest: Awaited<ReturnType<typeof buildIngestApp>>;
let apiUrl: string;
let ingestUrl: string;

beforeAll(async () => {
  infra = await createTestInfra('client-services');
  api = await buildApiApp({ config: loadApiConfig(infra.env) });
  ingest = await buildIngestApp({ config: loadIngestConfig(infra.env) });
  apiUrl = await api.listen({ host: '127.0.0.1', port: 0 });
  ingestUrl = await ingest.listen({ host: '127.0.0.1', port: 0 });
});

afterAll(async () => {
  await api.close();
  await ingest.close();
  await infra.close();
});

const storedEvents = async (userId: string) =>
  (
    await infra.pool.query<{ event_id: string }>(
      'SELECT event_id FROM events WHERE user_id = $1 ORDER BY event_id',
      [userId],
    )
  ).rows.map((r) => r.event_id);

describe('ElevensClient against the running services', () => {
  it('fetches recommendations with typed query and answer', async () => {
    const client = new ElevensClient({ apiUrl });
    const reply = await client.recommendations({ userId: 'shopper-1', limit: 5, exclude: ['a', 'b'] });
    expect(reply.userId).toBe('shopper-1');
    expect(Array.isArray(reply.items)).toBe(true);
    expect(typeof reply.recommendationId).toBe('string');
  });

  it('excludes as many long ids as the service takes (up to 200), past the length of its exclude parameter', async () => {
    const sent: URL[] = [];
    const client = new ElevensClient({
      apiUrl,
      retry: { retries: 0 },
      fetch: (input, init) => {
        sent.push(new URL(String(input)));
        return fetch(input, init);
      },
    });
    // 150 SKUs of 60 characters: 9,149 characters comma-separated, where the service reads up to 8,192.
    const exclude = [...Array.from({ length: 150 }, (_, n) => `sku-${n}-`.padEnd(60, 'x')), 'sku,with-comma'];
    const reply = await client.recommendations({ userId: 'long-skus', exclude });
    expect(reply.userId).toBe('long-skus');
    const [query] = sent.map((url) => url.searchParams);
    const commaSeparated = query!.get('exclude')!;
    expect(commaSeparated.length).toBeLessThanOrEqual(8_192);
    expect([...commaSeparated.split(','), ...query!.getAll('excludeItem')].sort()).toEqual(
      [...exclude].sort(),
    );
  });

  it('asks for push decisions and reads the typed reasons', async () => {
    const client = new ElevensClient({ apiUrl });
    const first = await client.decidePush({ userId: 'pushed', channel: 'push', campaignId: 'double-eleven' });
    expect(first).toMatchObject({ allowed: true, reason: 'ok' });
    expect(typeof first.decisionId).toBe('string');
    const again = await client.decidePush({ userId: 'pushed', channel: 'push', campaignId: 'double-eleven' });
    expect(again).toMatchObject({ allowed: false, reason: 'duplicate_campaign' });
  });

  it('batches tracked events and stores each once', async () => {
    let requests = 0;
    const client = new ElevensClient({
      ingestUrl,
      batch: { maxEvents: 3, flushIntervalMs: 60_000 },
      fetch: (input, init) => {
        requests++;
        return fetch(input, init);
      },
    });
    const ids = ['view', 'cart', 'purchase', 'view', 'fav'].map((type, n) =>
      client.track({ userId: 'batcher', itemId: `i${n}`, type: type as 'view' }),
    );
    expect(new Set(ids).size).toBe(5);
    await client.close();
    expect(requests).toBe(2);
    expect(client.pendingEvents).toBe(0);
    expect(await storedEvents('batcher')).toEqual([...ids].sort());
  });

  it('answers close() for the events a background flush was sending, once they are stored', async () => {
    const pendingAtSend: number[] = [];
    const client: ElevensClient = new ElevensClient({
      ingestUrl,
      batch: { maxEvents: 3, flushIntervalMs: 60_000 },
      fetch: (input, init) => {
        pendingAtSend.push(client.pendingEvents);
        return fetch(input, init);
      },
    });
    // The third event starts a background flush, which takes the three off the queue.
    const ids = ['view', 'cart', 'purchase'].map((type, n) =>
      client.track({ userId: 'closer', itemId: `i${n}`, type: type as 'view' }),
    );
    expect(await client.close()).toEqual({ accepted: 3, duplicates: 0, rejected: [] });
    // Sent but not yet answered, they were still pending.
    expect(pendingAtSend).toEqual([3]);
    expect(client.pendingEvents).toBe(0);
    expect(await storedEvents('closer')).toEqual([...ids].sort());
  });

  it('rejects close() when the service refused the batch a background flush was sending', async () => {
    const reported: QueuedEvent[] = [];
    const client = new ElevensClient({
      ingestUrl,
      batch: { maxEvents: 2, flushIntervalMs: 60_000 },
      onError: (_, events) => reported.push(...events),
    });
    const refused = [1, 2].map((n) =>
      client.track({ userId: 'refused', itemId: `i${n}`, type: 'purchase', price: -1 }),
    );
    const failure = await client.close().catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(ElevensError);
    expect(failure).toMatchObject({
      status: 400,
      code: 'bad_request',
      details: { rejected: [{ index: 0 }, { index: 1 }] },
    });
    expect(reported.map((event) => event.eventId)).toEqual(refused);
    expect(await storedEvents('refused')).toEqual([]);
  });

  it('sends more events than one request takes in several, and sums the answers', async () => {
    const client = new ElevensClient({ ingestUrl });
    const events = Array.from({ length: 1_500 }, (_, n) => ({
      eventId: `backlog-${n}`,
      userId: 'backlog',
      itemId: `i${n % 50}`,
      type: 'view' as const,
      ...(n === 1_200 ? { price: -1 } : {}),
    }));
    const reply = await client.sendEvents(events);
    expect(reply).toMatchObject({ accepted: 1_499, duplicates: 0, rejected: [{ index: 1_200 }] });
    expect(reply.eventIds).toEqual(events.map((event) => event.eventId));
    expect(await storedEvents('backlog')).toHaveLength(1_499);
    expect(await client.sendEvents([])).toEqual({ accepted: 0, duplicates: 0, rejected: [], eventIds: [] });
  });

  it('retries a batch whose answer was lost with the same eventIds, so it is stored once', async () => {
    let attempts = 0;
    const bodies: string[] = [];
    const client = new ElevensClient({
      ingestUrl,
      retry: { retries: 2, baseDelayMs: 1 },
      fetch: async (input, init) => {
        attempts++;
        bodies.push(String(init?.body));
        const response = await fetch(input, init);
        if (attempts === 1) throw new TypeError('fetch failed: connection reset after the request was sent');
        return response;
      },
    });
    client.track({ userId: 'retrier', itemId: 'i1', type: 'view' });
    client.track({ userId: 'retrier', itemId: 'i2', type: 'cart' });
    const reply = await client.flush();
    expect(attempts).toBe(2);
    expect(bodies[1]).toBe(bodies[0]);
    expect(reply).toEqual({ accepted: 0, duplicates: 2, rejected: [] });
    expect(await storedEvents('retrier')).toHaveLength(2);
  });

  it('keeps undelivered events queued with their ids and reports background failures', async () => {
    const failures: { error: ElevensError; events: readonly QueuedEvent[] }[] = [];
    const client = new ElevensClient({
      // A port nothing listens on (port 1 is one fetch refuses to use, without connecting).
      ingestUrl: `http://127.0.0.1:${await freePort()}`,
      retry: { retries: 1, baseDelayMs: 1 },
      batch: { maxEvents: 2 },
      onError: (error, events) => failures.push({ error, events }),
    });
    const first = client.track({ userId: 'offline', itemId: 'i1', type: 'view' });
    // fetch says only "fetch failed": the reason, from its cause, is in the message.
    await expect(client.flush()).rejects.toMatchObject({
      status: 0,
      code: 'network',
      retryable: true,
      message: expect.stringContaining('ECONNREFUSED'),
      cause: expect.any(Error),
    });
    expect(client.pendingEvents).toBe(1);
    const delivered = new ElevensClient({ ingestUrl });
    const reply = await delivered.sendEvents([
      { eventId: first, userId: 'offline', itemId: 'i1', type: 'view' },
    ]);
    expect(reply.accepted).toBe(1);
    client.track({ userId: 'offline', itemId: 'i2', type: 'view' });
    await expect.poll(() => failures.length).toBe(1);
    expect(failures[0]!.events.map((e) => e.eventId)).toContain(first);
  });

  it('retries a shed batch (503 with Retry-After) and keeps it queued when the service stays down', async () => {
    const logs = createLogSink();
    const storeDown = await buildIngestApp({
      config: loadIngestConfig({ ...infra.env, DATABASE_URL: 'postgres://nobody@127.0.0.1:2/nothing' }),
      logging: { stream: logs.stream },
    });
    const downUrl = await storeDown.listen({ host: '127.0.0.1', port: 0 });
    try {
      let attempts = 0;
      const client = new ElevensClient({
        ingestUrl: downUrl,
        // Waits as long as the service's Retry-After (1 s) asks: one asking for longer than maxDelayMs ends the retries.
        retry: { retries: 2, baseDelayMs: 1, maxDelayMs: 1_000 },
        fetch: (input, init) => {
          attempts++;
          return fetch(input, init);
        },
      });
      const eventId = client.track({ userId: 'shed', itemId: 'i1', type: 'view' });
      await expect(client.flush()).rejects.toMatchObject({
        status: 503,
        code: 'unavailable',
        retryAfterMs: 1000,
      });
      expect(attempts).toBe(3);
      expect(client.pendingEvents).toBe(1);
      const healthy = new ElevensClient({ ingestUrl });
      expect(
        await healthy.sendEvents([{ eventId, userId: 'shed', itemId: 'i1', type: 'view' }]),
      ).toMatchObject({
        accepted: 1,
      });
      // Each of the three attempts failed on the unreachable store, and said so.
      const writeFailures = logs.entries().filter((entry) => entry.msg === 'event write failed');
      expect(writeFailures).toHaveLength(3);
      for (const entry of writeFailures) expect(entry.err?.code).toBe('ECONNREFUSED');
    } finally {
      await storeDown.close();
    }
  });

  it('surfaces the service error shape without retrying client errors', async () => {
    let attempts = 0;
    const client = new ElevensClient({
      apiUrl,
      fetch: (input, init) => {
        attempts++;
        return fetch(input, init);
      },
    });
    const failure = await client.recommendations({ userId: '' }).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(ElevensError);
    expect(failure).toMatchObject({ status: 400, code: 'bad_request', retryable: false });
    expect(attempts).toBe(1);
  });
});
