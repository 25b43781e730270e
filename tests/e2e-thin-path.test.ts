import { createTestInfra, type TestInfra } from '@elevens/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkThinPath, startThinPath, type ThinPath } from './support/thin-path';

/** Events → build → recommendations, through the real HTTP services on real Postgres and Redis. */
let infra: TestInfra;
let path: ThinPath;

beforeAll(async () => {
  infra = await createTestInfra('e2e');
  path = await startThinPath(infra);
});

afterAll(async () => {
  await path?.close();
  await infra?.close();
});

describe('the thin path end to end', () => {
  it('serves personal recommendations built from ingested events, never an item the user bought', async () => {
    await checkThinPath(path, infra, { users: 300, items: 200, events: 12_000, seed: 7 });
  });

  it('reports both dependencies on /readyz and answers /healthz', async () => {
    for (const url of [path.ingestUrl, path.apiUrl]) {
      expect((await fetch(`${url}/healthz`)).status).toBe(200);
      const ready = await fetch(`${url}/readyz`);
      expect(ready.status).toBe(200);
      expect(await ready.json()).toEqual({ status: 'ready', checks: { postgres: 'ok', redis: 'ok' } });
    }
  });
});
