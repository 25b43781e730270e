import { createTestInfra, startTcpProxy, type TcpProxy, type TestInfra } from '@elevens/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildIngestApp, type IngestApp } from '../src/app';
import { loadIngestConfig } from '../src/config';

let infra: TestInfra;
let app: IngestApp;

beforeAll(async () => {
  infra = await createTestInfra('ingest-users-erasure-profile-race');
  app = await buildIngestApp({ config: loadIngestConfig(infra.env) });
});

afterAll(async () => {
  await app.close();
  await infra.close();
});

const putUser = (ingest: IngestApp, userId: string, payload: Record<string, unknown>) =>
  ingest.inject({ method: 'PUT', url: `/v1/users/${userId}`, payload });
const postEvents = (ingest: IngestApp, events: Record<string, unknown>[]) =>
  ingest.inject({ method: 'POST', url: '/v1/events', payload: { events } });
const erase = (ingest: IngestApp, userId: string) =>
  ingest.inject({ method: 'DELETE', url: `/v1/users/${userId}` });

/** Runs `fn` with a second ingest process whose Redis commands go through a proxy that can hold them back. */
async function withHeldIngest(fn: (proxy: TcpProxy, slow: IngestApp) => Promise<void>): Promise<void> {
  const proxy = await startTcpProxy(infra.redisUrl);
  const slow = await buildIngestApp({
    config: loadIngestConfig({ ...infra.env, REDIS_URL: proxy.url(infra.redisUrl) }),
  });
  try {
    await fn(proxy, slow);
  } finally {
    await slow.close();
    await proxy.close();
  }
}

/** Resolves once a statement of this database waits for a lock, or once `settled` is (it did not need to wait). */
async function untilWaitingOrSettled(settled: Promise<unknown>): Promise<void> {
  let done = false;
  settled.then(
    () => {
      done = true;
    },
    () => {
      done = true;
    },
  );
  for (let waited = 0; waited < 300 && !done; waited++) {
    const { rows } = await infra.pool.query(
      "SELECT 1 FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'",
    );
    if (rows.length > 0) return;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

const storedProfile = async (userId: string) => {
  const { rows } = await infra.pool.query(
    'SELECT consent_push, timezone, revision FROM users WHERE user_id = $1',
    [userId],
  );
  return rows[0] as { consent_push: boolean; timezone: string | null; revision: number } | undefined;
};

describe('PUT and DELETE /v1/users/:userId of one user at once', () => {
  it('keeps no profile in either store when a PUT committed before the erasure reaches Redis after it', async () => {
    await putUser(app, 'paula', { timezone: 'Europe/Paris' });
    await withHeldIngest(async (proxy, slow) => {
      proxy.hold();
      const putting = putUser(slow, 'paula', { consent: { personalization: true, push: false } });
      // The PUT is committed; its Redis write waits in the proxy while the erasure runs to its end.
      await proxy.whenHeld(/\beval(sha)?\r\n/i);
      const erased = await erase(app, 'paula');
      expect(erased.statusCode).toBe(200);
      expect(erased.json()).toMatchObject({ erased: { profile: true } });
      proxy.release();
      expect((await putting).statusCode).toBe(200);
    });
    expect(await storedProfile('paula')).toBeUndefined();
    expect(await infra.redis.exists(infra.keys.userProfile('paula'), infra.keys.userStamp('paula'))).toBe(0);
  });

  it("leaves the erasure's mark and no stamp when a consent withdrawal committed before it reaches Redis after it", async () => {
    await postEvents(app, [{ eventId: 'rita-0', userId: 'rita', itemId: 'seen', type: 'view' }]);
    await withHeldIngest(async (proxy, slow) => {
      proxy.hold();
      const withdrawing = putUser(slow, 'rita', { consent: { personalization: false, push: false } });
      await proxy.whenHeld(/\beval(sha)?\r\n/i);
      expect((await erase(app, 'rita')).statusCode).toBe(200);
      proxy.release();
      expect((await withdrawing).statusCode).toBe(200);
    });
    expect(await infra.redis.exists(...infra.keys.keysAboutUser('rita').slice(1))).toBe(0);
    // The mark still holds back the late event writes of the erased user.
    expect(await infra.redis.pttl(infra.keys.userHistory('rita'))).toBeGreaterThan(0);
  });

  it('keeps the profile of a PUT committed after the erasure in both stores, whichever reaches Redis first', async () => {
    await putUser(app, 'quinn', { timezone: 'Europe/Paris' });
    await withHeldIngest(async (proxy, slow) => {
      proxy.hold();
      const erasing = erase(slow, 'quinn');
      // The erasure's Redis step waits in the proxy; the user comes back and refuses pushes meanwhile.
      await proxy.whenHeld(/\bmulti\r\n/i);
      const putting = putUser(app, 'quinn', { consent: { personalization: true, push: false } });
      await untilWaitingOrSettled(putting);
      proxy.release();
      expect((await erasing).statusCode).toBe(200);
      expect((await putting).statusCode).toBe(200);
    });
    const stored = await storedProfile('quinn');
    expect(stored).toMatchObject({ consent_push: false, timezone: null });
    expect(await infra.redis.hgetall(infra.keys.userProfile('quinn'))).toEqual({
      personalization: '1',
      push: '0',
      timezone: '',
      revision: String(stored!.revision),
    });
  });
});

describe('PUT /v1/users/:userId withdrawing personalization consent', () => {
  it('detaches the stored events from the user with the withdrawal, also when Redis fails the request', async () => {
    await postEvents(app, [
      { eventId: 'sam-0', userId: 'sam', itemId: 'seen', type: 'view', sessionId: 's' },
    ]);
    const proxy = await startTcpProxy(infra.redisUrl);
    const cutOff = await buildIngestApp({
      config: loadIngestConfig({ ...infra.env, REDIS_URL: proxy.url(infra.redisUrl) }),
    });
    try {
      await proxy.refuse();
      const withdrawing = await putUser(cutOff, 'sam', { consent: { personalization: false, push: true } });
      expect(withdrawing.statusCode).toBe(503);
    } finally {
      await cutOff.close();
      await proxy.close();
    }
    // Postgres holds the withdrawal: it holds no event linked to the user either.
    expect(await storedProfile('sam')).toMatchObject({ consent_push: true });
    const { rows } = await infra.pool.query(
      "SELECT user_id, session_id FROM events WHERE event_id = 'sam-0'",
    );
    expect(rows).toHaveLength(1);
    expect(rows[0].user_id).toMatch(/^~anon:/);
    expect(rows[0].session_id).toBeNull();
  });
});

describe('/v1/users/:userId of a pseudonym', () => {
  it('refuses the user ids anonymised events are stored under with 400, leaving those events alone', async () => {
    await postEvents(app, [{ eventId: 'tom-0', userId: 'tom', itemId: 'seen', type: 'view' }]);
    await putUser(app, 'tom', { consent: { personalization: false, push: true } });
    const { rows } = await infra.pool.query("SELECT user_id FROM events WHERE event_id = 'tom-0'");
    const pseudonym = encodeURIComponent(rows[0].user_id);
    const put = await putUser(app, pseudonym, { consent: { personalization: false, push: false } });
    expect(put.statusCode).toBe(400);
    expect(put.json()).toMatchObject({ error: expect.any(String), message: expect.any(String) });
    expect((await erase(app, pseudonym)).statusCode).toBe(400);
    const after = await infra.pool.query("SELECT user_id FROM events WHERE event_id = 'tom-0'");
    expect(after.rows).toEqual(rows);
    const profiles = await infra.pool.query("SELECT 1 FROM users WHERE user_id LIKE '~anon:%'");
    expect(profiles.rowCount).toBe(0);
  });
});
