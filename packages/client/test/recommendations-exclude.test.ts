import { buildApiApp, loadApiConfig } from '@elevens/api';
import { publishModel } from '@elevens/redis-stores';
import { createTestInfra, type TestInfra } from '@elevens/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ElevensClient, ElevensError } from '../src';

/**
 * `recommendations({ exclude })` takes whole item ids, commas included (ExternalId allows them): joined into the
 * comma-separated `exclude`, `sku,1` was read as `sku` and `1` and still answered.
 */
let infra: TestInfra;
let api: Awaited<ReturnType<typeof buildApiApp>>;
let apiUrl: string;

/** Popular, best first; no other list, so a cold user's answer is these in order. */
const ITEMS = ['sku,1', 'sku', '1', 'plain'];
const noLists = {
  ptr: new Uint32Array(ITEMS.length + 1),
  idx: new Uint32Array(0),
  score: new Float32Array(0),
};

beforeAll(async () => {
  infra = await createTestInfra('client-recommendations-exclude');
  await publishModel(infra.redis, infra.keys, {
    version: 'v-commas',
    algorithm: 'fixture',
    builtAtMs: Date.now(),
    itemIds: ITEMS,
    itemCategories: ITEMS.map(() => ''),
    neighbors: noLists,
    boughtTogether: noLists,
    popular: { idx: [0, 1, 2, 3], score: [4, 3, 2, 1] },
    trending: { idx: [], score: [] },
    popularByCategory: new Map(),
  });
  api = await buildApiApp({ config: loadApiConfig(infra.env) });
  await api.model.refresh();
  apiUrl = await api.listen({ host: '127.0.0.1', port: 0 });
});

afterAll(async () => {
  await api?.close();
  await infra?.close();
});

const answered = async (exclude: readonly string[]) =>
  (await new ElevensClient({ apiUrl }).recommendations({ userId: 'cold', limit: 4, exclude })).items.map(
    (item) => item.itemId,
  );

describe('ElevensClient.recommendations excluding items', () => {
  it('excludes an id holding a comma, and only that id', async () => {
    expect(await answered(['sku,1'])).toEqual(['sku', '1', 'plain']);
  });

  it('excludes ids with and without commas together', async () => {
    expect(await answered(['plain', 'sku,1', 'sku'])).toEqual(['1']);
    expect(await answered([])).toEqual(ITEMS);
  });
});

describe('ElevensClient.recommendations excluding more than one request holds', () => {
  /** `count` ids of `length` characters, each unique. */
  const ids = (count: number, length = 128, prefix = 'sku') =>
    Array.from({ length: count }, (_, n) => `${prefix}-${n}-`.padEnd(length, 'x'));

  /** A client with the longest key the services take, recording the length of each URL it sends. */
  const recording = () => {
    const urlLengths: number[] = [];
    const client = new ElevensClient({
      apiUrl,
      apiKey: 'k'.repeat(256),
      retry: { retries: 0 },
      fetch: (input, init) => {
        urlLengths.push(String(input).length);
        return fetch(input, init);
      },
    });
    return { client, urlLengths };
  };

  const refusal = (call: Promise<unknown>) =>
    call.then(
      () => undefined,
      (error: unknown) => error,
    );

  it('refuses more than 200 ids before sending, naming the limit', async () => {
    const { client, urlLengths } = recording();
    const refused = await refusal(client.recommendations({ userId: 'cold', exclude: ids(201, 8) }));
    expect(refused).toBeInstanceOf(ElevensError);
    expect(refused).toMatchObject({
      status: 0,
      code: 'exclude_too_large',
      retryable: false,
      details: { maxExcluded: 200, excluded: 201 },
    });
    expect((refused as ElevensError).message).toContain('200');
    expect(urlLengths).toEqual([]);
  });

  it('refuses 200 ids of 128 characters, more than a request holds, before sending, naming the limit', async () => {
    const { client, urlLengths } = recording();
    const refused = await refusal(client.recommendations({ userId: 'cold', exclude: ids(200) }));
    expect(refused).toBeInstanceOf(ElevensError);
    expect(refused).toMatchObject({
      status: 0,
      code: 'exclude_too_large',
      retryable: false,
      details: { maxUrlLength: 12_288 },
    });
    const { urlLength } = (refused as ElevensError).details as { urlLength: number };
    expect(urlLength).toBeGreaterThan(12_288);
    expect((refused as ElevensError).message).toContain('12288');
    expect(urlLengths).toEqual([]);
  });

  it('sends the longest request it does not refuse, and the api answers it', async () => {
    const { client, urlLengths } = recording();
    /** Whether the client sends this exclude list; one it sends must be answered. */
    const sends = async (exclude: readonly string[]) => {
      const refused = await refusal(client.recommendations({ userId: 'cold', limit: 1, exclude }));
      if (refused === undefined) return true;
      expect(refused).toMatchObject({ code: 'exclude_too_large' });
      return false;
    };
    /** The largest n in [low, high] for which `fits(n)` holds, given that it holds for `low`. */
    const largest = async (low: number, high: number, fits: (n: number) => Promise<boolean>) => {
      while (low < high) {
        const middle = Math.ceil((low + high) / 2);
        if (await fits(middle)) low = middle;
        else high = middle - 1;
      }
      return low;
    };
    const count = await largest(0, 200, (n) => sends(ids(n)));
    const filler = await largest(0, 128, (length) =>
      length === 0 ? Promise.resolve(true) : sends([...ids(count), 'f'.repeat(length)]),
    );
    // The answers came back; the longest request sent was within one excludeItem parameter of the limit.
    expect(await sends([...ids(count), ...(filler === 0 ? [] : ['f'.repeat(filler)])])).toBe(true);
    expect(Math.max(...urlLengths)).toBeLessThanOrEqual(12_288);
    expect(Math.max(...urlLengths)).toBeGreaterThan(12_288 - 14);
  });
});
