import { describe, expect, it, vi } from 'vitest';
import { ElevensClient, ElevensError, type QueuedEvent } from '../src';

const unreachable: typeof fetch = async () => {
  throw new Error('no request should be sent');
};

describe("the client's own refusals", () => {
  it('reject without an apiUrl or ingestUrl, not throw, and are not retryable', async () => {
    const client = new ElevensClient({ fetch: unreachable });
    const calls = [
      () => client.recommendations({ userId: 'u1' }),
      () => client.decidePush({ userId: 'u1', channel: 'push', campaignId: 'c1' }),
      () => client.sendEvents([{ userId: 'u1', itemId: 'i1', type: 'view' }]),
    ];
    for (const call of calls) {
      let pending: Promise<unknown> | undefined;
      expect(() => {
        pending = call();
      }).not.toThrow();
      await expect(pending).rejects.toMatchObject({ code: 'not_configured', retryable: false });
    }
  });

  it('reject a service URL fetch cannot send to, at once and not retried, naming what to give', async () => {
    const attempts: string[] = [];
    const recording: typeof fetch = async (input) => {
      attempts.push(String(input));
      return Response.json({ userId: 'u1', items: [] });
    };
    for (const apiUrl of [
      'recs.shop.example',
      'localhost:3000',
      'ftp://recs.shop.example',
      'https://recs.shop.example/?shop=1',
      '/recs',
    ]) {
      const client = new ElevensClient({ apiUrl, fetch: recording });
      const refused = await client.recommendations({ userId: 'u1' }).catch((error: unknown) => error);
      expect(refused, apiUrl).toMatchObject({ code: 'not_configured', retryable: false });
      expect((refused as ElevensError).message, apiUrl).toContain(`apiUrl "${apiUrl}"`);
    }
    for (const ingestUrl of [
      'https://shop:hunter2@ingest.shop.example',
      'shop:hunter2@ingest.shop.example',
    ]) {
      const withPassword = new ElevensClient({ ingestUrl });
      const refused = await withPassword.sendEvents([]).catch((error: unknown) => error);
      expect(refused).toMatchObject({ code: 'not_configured', retryable: false });
      expect((refused as ElevensError).message).not.toContain('hunter2');
    }
    // A bad ingestUrl leaves the api's calls alone; an apiUrl read from a file keeps no whitespace.
    const client = new ElevensClient({
      apiUrl: 'HTTP://Recs.Shop.Example:3000/ \n',
      ingestUrl: 'ingest',
      fetch: recording,
    });
    await client.recommendations({ userId: 'u1' });
    expect(attempts).toEqual(['HTTP://Recs.Shop.Example:3000/v1/recommendations?userId=u1']);
  });

  it('send to a path from the page in a browser, where fetch resolves it against the page', async () => {
    const attempts: string[] = [];
    vi.stubGlobal('location', new URL('https://shop.example/products/42'));
    try {
      const client = new ElevensClient({
        apiUrl: '/recs/',
        fetch: async (input) => {
          attempts.push(String(input));
          return Response.json({ userId: 'u1', items: [] });
        },
      });
      await client.recommendations({ userId: 'u1' });
      await expect(
        new ElevensClient({ apiUrl: 'recs' }).recommendations({ userId: 'u1' }),
      ).rejects.toMatchObject({
        code: 'not_configured',
      });
    } finally {
      vi.unstubAllGlobals();
    }
    expect(attempts).toEqual(['/recs/v1/recommendations?userId=u1']);
  });

  it('say events dropped from a full queue are not retryable', () => {
    const errors: ElevensError[] = [];
    const client = new ElevensClient({
      ingestUrl: 'http://ingest.test',
      fetch: unreachable,
      batch: { maxEvents: 100, maxQueuedEvents: 1, flushIntervalMs: 60_000 },
      onError: (error) => errors.push(error),
    });
    client.track({ userId: 'u1', itemId: 'i1', type: 'view' });
    client.track({ userId: 'u1', itemId: 'i2', type: 'view' });
    expect(errors).toMatchObject([{ code: 'queue_full', retryable: false }]);
  });

  it('refuse a malformed apiKey without sending it, naming it or retrying', async () => {
    const secret = 'el_storefront-secret\nel_second-line';
    const reports: ElevensError[] = [];
    const client = new ElevensClient({
      apiUrl: 'http://127.0.0.1:1',
      ingestUrl: 'http://127.0.0.1:1',
      apiKey: secret,
      retry: { retries: 0 },
      onError: (error) => reports.push(error),
    });
    const refused = await client.recommendations({ userId: 'u1' }).catch((error: unknown) => error);
    expect(refused).toMatchObject({ code: 'not_configured', retryable: false });
    client.track({ userId: 'u1', itemId: 'i1', type: 'view' });
    await expect(client.flush()).rejects.toMatchObject({ code: 'not_configured' });
    // Queued again for ever, each failure logged with the key in it, was what a resend got.
    expect(client.pendingEvents).toBe(0);
    for (const error of [refused as ElevensError, ...reports])
      expect(JSON.stringify({ message: error.message, details: error.details })).not.toContain('secret');
  });

  it('send a well-formed apiKey read with a trailing newline as the key', async () => {
    const sent: (string | null)[] = [];
    const client = new ElevensClient({
      apiUrl: 'http://api.test',
      apiKey: 'el_storefront-key\n',
      fetch: async (_, init) => {
        sent.push(new Headers(init?.headers).get('authorization'));
        return Response.json({ userId: 'u1', items: [] });
      },
    });
    await client.recommendations({ userId: 'u1' });
    expect(sent).toEqual(['Bearer el_storefront-key']);
  });

  it('refuse an event JSON cannot carry on its own, and send the others tracked with it', async () => {
    const sent: string[] = [];
    const reports: { error: ElevensError; events: readonly QueuedEvent[] }[] = [];
    const client = new ElevensClient({
      ingestUrl: 'http://ingest.test',
      batch: { maxEvents: 3, flushIntervalMs: 60_000 },
      fetch: async (_, init) => {
        const { events } = JSON.parse(String(init?.body)) as { events: QueuedEvent[] };
        sent.push(...events.map((event) => event.eventId));
        return Response.json({ accepted: events.length, duplicates: 0, rejected: [] });
      },
      onError: (error, events) => reports.push({ error, events }),
    });
    const first = client.track({ userId: 'u1', itemId: 'i1', type: 'view' });
    const unserialisable = client.track({
      userId: 'u1',
      itemId: 'i2',
      type: 'purchase',
      properties: { priceCents: 1999n },
    });
    const third = client.track({ userId: 'u1', itemId: 'i3', type: 'view' });
    await client.close();
    expect(sent).toEqual([first, third]);
    expect(reports).toHaveLength(1);
    expect(reports[0]!.error).toMatchObject({ code: 'not_json', retryable: false });
    expect(reports[0]!.events.map((event) => event.eventId)).toEqual([unserialisable]);
  });

  it('reject sendEvents with an ElevensError, not retryable, when the events are not JSON', async () => {
    const client = new ElevensClient({ ingestUrl: 'http://ingest.test', fetch: unreachable });
    const refused = await client
      .sendEvents([{ userId: 'u1', itemId: 'i1', type: 'view', properties: { loop: 1n } }])
      .catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(ElevensError);
    expect(refused).toMatchObject({ code: 'not_json', retryable: false });
  });
});
