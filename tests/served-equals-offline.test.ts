import { buildApiApp, loadApiConfig } from '@elevens/api';
import { generateCatalog, generateEvents } from '@elevens/generator';
import { buildIngestApp, loadIngestConfig } from '@elevens/ingest';
import { servingSettingsFrom } from '@elevens/recommender';
import { createTestInfra, type TestInfra } from '@elevens/testkit';
import {
  type DatasetEvent,
  defaultProtocol,
  evaluationSettingsFrom,
  loadBuildConfig,
  runBuild,
  splitDataset,
} from '@elevens/trainer';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { evaluateServed, postTrainEvents, waitForServedVersion } from '../packages/cli/src/served-evaluation';

/**
 * Issue #17's proof: a split's train events go in through ingest with their own timestamps, the build runs, and
 * the running api answers every evaluated user with exactly the list `elevens evaluate` computes in process.
 */
let infra: TestInfra;
let ingest: Awaited<ReturnType<typeof buildIngestApp>>;
let api: Awaited<ReturnType<typeof buildApiApp>>;
let ingestUrl: string;
let apiUrl: string;

// A fixed window in the past: the api's live trending counters (this hour and the last) then hold nothing of
// it on any day, as with any imported history.
const shop = { users: 400, items: 300, events: 15_000, seed: 11, startMs: Date.UTC(2025, 10, 1), days: 20 };

beforeAll(async () => {
  infra = await createTestInfra('served-offline');
  ingest = await buildIngestApp({ config: loadIngestConfig(infra.env) });
  api = await buildApiApp({ config: loadApiConfig({ ...infra.env, MODEL_POLL_MS: '100' }) });
  ingestUrl = await ingest.listen({ host: '127.0.0.1', port: 0 });
  apiUrl = await api.listen({ host: '127.0.0.1', port: 0 });
});

afterAll(async () => {
  await Promise.all([ingest?.close(), api?.close()]);
  await infra?.close();
});

describe('served recommendations equal offline evaluation', () => {
  it('answers every held-out user with the offline list, item for item, after ingest and build', async () => {
    const items = [...generateCatalog(shop)];
    const put = await fetch(`${ingestUrl}/v1/items`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ items }),
    });
    expect(put.status).toBe(200);
    const events: DatasetEvent[] = [...generateEvents(shop)].map((e) => ({
      userId: e.userId,
      itemId: e.itemId,
      type: e.type,
      timestamp: e.timestamp,
      sessionId: e.sessionId,
    }));
    const itemCategories = new Map(items.map((item) => [item.itemId, item.categoryId]));
    const split = splitDataset(events, defaultProtocol({ name: 'shop', events, itemCategories }, 'any'));
    expect(split.cases.length).toBeGreaterThan(200);

    const target = { apiUrl, ingestUrl };
    expect(await postTrainEvents(split, target)).toBe(split.train.length);
    const config = loadBuildConfig(infra.env);
    const report = await runBuild({ ...infra, log: () => {} }, config);
    expect(report.status).toBe('published');
    expect(report.events).toBe(split.train.length);
    await waitForServedVersion(target, report.version);

    const settings = evaluationSettingsFrom(config, servingSettingsFrom(loadApiConfig(infra.env)));
    const result = await evaluateServed(split, itemCategories, settings, target);
    expect(result.modelVersions).toEqual([report.version]);
    expect(result.differences).toEqual([]);
    expect(result.identical).toBe(split.cases.length);
    expect(result.served).toEqual(result.offline);
    // The lists are personal ones, not a fallback that would match trivially.
    expect(result.served.ndcg10).toBeGreaterThan(result.popularity.ndcg10);
    expect(result.served.coverage10).toBeGreaterThan(2 * result.popularity.coverage10);
  });
});
