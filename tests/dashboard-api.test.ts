import { buildApiApp, loadApiConfig } from '@elevens/api';
import { finishModelRun, startModelRun } from '@elevens/db';
import { evaluateCaps, type PushRule, type SendRecord } from '@elevens/push-rules';
import { createTestInfra, type TestInfra } from '@elevens/testkit';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type ReplayedSend,
  suppressedByQuietHours,
  suppressedByRule,
} from '../services/api/src/dashboard/preview';

const HOUR = 3_600_000;
const channels = ['push', 'email', 'sms', 'inapp'] as const;

/**
 * The reference: each send decided in time order, at its priority, by the push module's own cap evaluation (the
 * live decider's semantics; the decision script implements the same), refused ones dropped,
 * after the `earlier` sends, which are kept without being decided. An admin's override is kept undecided too: it
 * went out whatever the caps, and counts against later sends as the decision script counts it.
 */
function bruteForceSuppressed(
  rule: PushRule,
  sends: readonly ReplayedSend[],
  earlier: readonly SendRecord[] = [],
): number {
  const kept: SendRecord[] = [...earlier];
  let suppressed = 0;
  for (const send of [...sends].sort((a, b) => a.atMs - b.atMs)) {
    const priority = send.priority ?? 'normal';
    if (send.overridden || evaluateCaps([rule], kept, send, priority, send.atMs).allowed) kept.push(send);
    else suppressed++;
  }
  return suppressed;
}

describe('preview replay', () => {
  it('suppressedByRule matches deciding each send in order with evaluateCaps', () => {
    const send = fc.record({
      atMs: fc.integer({ min: 0, max: 48 * HOUR }),
      channel: fc.constantFrom(...channels),
      category: fc.constantFrom(null, 'sale', 'news'),
      overridden: fc.boolean(),
    });
    const rule = fc.record({
      ruleId: fc.constant('candidate'),
      channel: fc.constantFrom(...channels, 'any' as const),
      limit: fc.integer({ min: 0, max: 4 }),
      windowMs: fc.constantFrom(HOUR, 6 * HOUR, 24 * HOUR),
      category: fc.constantFrom(null, 'sale'),
      activeFromMs: fc.option(fc.integer({ min: 0, max: 48 * HOUR }), { nil: null }),
      activeUntilMs: fc.option(fc.integer({ min: 0, max: 48 * HOUR }), { nil: null }),
      enabled: fc.boolean(),
    });
    fc.assert(
      fc.property(rule, fc.array(send, { maxLength: 40 }), (r, sends) => {
        expect(suppressedByRule(r, sends)).toBe(bruteForceSuppressed(r, sends));
      }),
      { numRuns: 500 },
    );
    // Sends before the replayed period count in the window of those after it, and are not decided again.
    fc.assert(
      fc.property(
        rule,
        fc.array(send, { maxLength: 40 }),
        fc.integer({ min: 0, max: 48 * HOUR }),
        (r, all, since) => {
          const earlier = all.filter((s) => s.atMs <= since);
          const later = all.filter((s) => s.atMs > since);
          expect(suppressedByRule(r, later, earlier)).toBe(bruteForceSuppressed(r, later, earlier));
        },
      ),
      { numRuns: 500 },
    );
  });

  it('replays each send at its own priority, as the live decider decides it: a low one gets the low-priority share', () => {
    const send = fc.record({
      atMs: fc.integer({ min: 0, max: 48 * HOUR }),
      channel: fc.constantFrom('push', 'email'),
      category: fc.constant(null),
      overridden: fc.boolean(),
      priority: fc.constantFrom('low', 'normal', 'high'),
    });
    const rule = fc.record({
      ruleId: fc.constant('candidate'),
      channel: fc.constantFrom('push', 'any'),
      limit: fc.integer({ min: 0, max: 4 }),
      windowMs: fc.constantFrom(HOUR, 24 * HOUR),
      category: fc.constant(null),
      activeFromMs: fc.constant(null),
      activeUntilMs: fc.constant(null),
      enabled: fc.constant(true),
    });
    fc.assert(
      fc.property(rule, fc.array(send, { maxLength: 40 }), (r, sends) => {
        expect(suppressedByRule(r, sends)).toBe(bruteForceSuppressed(r, sends));
      }),
      { numRuns: 500 },
    );
    // Three per day: a user sent two normal messages gets no third low-priority one, live or in the preview.
    const threePerDay: PushRule = {
      ruleId: 'daily',
      channel: 'push',
      limit: 3,
      windowMs: 24 * HOUR,
      category: null,
      activeFromMs: null,
      activeUntilMs: null,
      enabled: true,
    };
    const day: ReplayedSend[] = [
      { atMs: 1 * HOUR, channel: 'push', category: null, priority: 'normal' },
      { atMs: 2 * HOUR, channel: 'push', category: null, priority: 'normal' },
      { atMs: 3 * HOUR, channel: 'push', category: null, priority: 'low' },
    ];
    expect(bruteForceSuppressed(threePerDay, day)).toBe(1);
    expect(suppressedByRule(threePerDay, day)).toBe(1);
  });

  it("counts sends inside quiet hours in each user's own time zone", () => {
    const quiet = { startMinute: 22 * 60, endMinute: 8 * 60, channels: ['push'] as const };
    // 2026-11-10T23:30Z is 23:30 in London (quiet) and 07:30 next day in Shanghai (quiet), 18:30 in New York.
    const at = Date.parse('2026-11-10T23:30:00Z');
    const sends: SendRecord[] = [
      { atMs: at, channel: 'push', category: null },
      { atMs: at, channel: 'email', category: null },
      { atMs: at + HOUR, channel: 'push', category: null },
      // An admin's override went out in quiet hours: never counted as held.
      { atMs: at, channel: 'push', category: null, overridden: true },
    ];
    expect(suppressedByQuietHours(quiet, sends, 'Europe/London')).toBe(2);
    expect(suppressedByQuietHours(quiet, sends, 'Asia/Shanghai')).toBe(1);
    expect(suppressedByQuietHours(quiet, sends, 'America/New_York')).toBe(0);
  });
});

describe('dashboard endpoints', () => {
  let infra: TestInfra;
  let app: Awaited<ReturnType<typeof buildApiApp>>;
  /** Decisions and previews are made at noon UTC, so quiet hours 00:00–23:59 hold them whenever the tests run. */
  const NOW = Date.parse('2026-11-11T12:00:00.000Z');

  beforeAll(async () => {
    infra = await createTestInfra('dashboard-api');
    app = await buildApiApp({ config: loadApiConfig(infra.env), now: () => NOW });
  });

  afterAll(async () => {
    await app.close();
    await infra.close();
  });

  it('serves the page without a key', async () => {
    const response = await app.inject({ method: 'GET', url: '/dashboard' });
    expect(response.statusCode).toBe(200);
    expect(response.headers['content-type']).toContain('text/html');
    expect(response.body).toContain('<title>Elevens dashboard</title>');
    expect(response.body).toContain('sessionStorage.getItem(KEY_STORAGE)');
  });

  it('lists model runs newest first with their metrics', async () => {
    await startModelRun(infra.pool, { version: 'v1', algorithm: 'cosine', params: {} });
    await finishModelRun(infra.pool, 'v1', { status: 'published', metrics: { ndcg10: 0.21, hr10: 0.4 } });
    await startModelRun(infra.pool, { version: 'v2', algorithm: 'swing', params: {} });
    const response = await app.inject({ method: 'GET', url: '/v1/model/runs?limit=10' });
    expect(response.statusCode).toBe(200);
    const { runs } = response.json();
    expect(runs.map((r: { version: string }) => r.version)).toEqual(['v2', 'v1']);
    expect(runs[1]).toMatchObject({ status: 'published', metrics: { ndcg10: 0.21, hr10: 0.4 } });
    expect((await app.inject({ method: 'GET', url: '/v1/model/runs?limit=0' })).statusCode).toBe(400);
  });

  it("lists this deployment's runs only, each with its model line, and the page's runs table shows the line", async () => {
    await startModelRun(infra.pool, {
      version: 'v-line',
      algorithm: 'cosine',
      params: {},
      modelLine: 'homepage',
      keyPrefix: infra.keyPrefix,
    });
    // A run recorded before runs named their line and prefix.
    await startModelRun(infra.pool, { version: 'v-unnamed', algorithm: 'cosine', params: {} });
    // Another deployment's build, in the same database under its own key prefix: not this dashboard's.
    await startModelRun(infra.pool, {
      version: 'v-elsewhere',
      algorithm: 'cosine',
      params: {},
      modelLine: 'homepage',
      keyPrefix: `${infra.keyPrefix}other:`,
    });
    const response = await app.inject({ method: 'GET', url: '/v1/model/runs?limit=500' });
    expect(response.statusCode).toBe(200);
    const runs: { version: string }[] = response.json().runs;
    expect(runs.find((r) => r.version === 'v-line')).toMatchObject({
      modelLine: 'homepage',
      keyPrefix: infra.keyPrefix,
    });
    expect(runs.find((r) => r.version === 'v-unnamed')).toMatchObject({ modelLine: null, keyPrefix: null });
    expect(runs.map((r) => r.version)).not.toContain('v-elsewhere');
    const page = (await app.inject({ method: 'GET', url: '/dashboard' })).body;
    expect(page).toMatch(/<table id="runs-table"><thead><tr><th>version<\/th><th>line<\/th>/);
    expect(page).toContain("el('td', {}, r.modelLine ?? '–')");
  });

  it("previews a cap and quiet hours over the last 24 hours' decisions", async () => {
    for (const userId of ['p1', 'p1', 'p1', 'p2']) {
      const decision = await app.inject({
        method: 'POST',
        url: '/v1/push/decisions',
        payload: { userId, channel: 'push', campaignId: `c-${Math.random()}` },
      });
      expect(decision.json()).toMatchObject({ allowed: true, reason: 'ok' });
    }
    const rule = await app.inject({
      method: 'POST',
      url: '/v1/dashboard/preview/push-rule',
      payload: { channel: 'push', limit: 1, window: '24h', enabled: true },
    });
    expect(rule.statusCode).toBe(200);
    expect(rule.json()).toMatchObject({
      users: 2,
      decisions: 4,
      suppressed: 2,
      usersAffected: 1,
      complete: true,
    });
    const emailOnly = await app.inject({
      method: 'POST',
      url: '/v1/dashboard/preview/push-rule',
      payload: { channel: 'email', limit: 0, window: '1h' },
    });
    expect(emailOnly.json()).toMatchObject({ decisions: 4, suppressed: 0 });
    const allDay = await app.inject({
      method: 'POST',
      url: '/v1/dashboard/preview/quiet-hours',
      payload: { start: '00:00', end: '23:59', channels: ['any'] },
    });
    expect(allDay.json()).toMatchObject({ decisions: 4, suppressed: 4, usersAffected: 2 });
    const invalid = await app.inject({
      method: 'POST',
      url: '/v1/dashboard/preview/push-rule',
      payload: { channel: 'push', limit: 1, window: 'forever' },
    });
    expect(invalid.statusCode).toBe(400);
    expect(invalid.json().error).toBe('bad_request');
  });

  it("reports cumulative traffic counters for live rates, without the dashboard's own requests, as the monitor", async () => {
    const first = (await app.inject({ method: 'GET', url: '/v1/dashboard/traffic' })).json();
    for (const url of ['/healthz', '/dashboard', '/v1/model/runs', '/metrics', '/v1/dashboard/traffic'])
      await app.inject({ method: 'GET', url });
    const decision = await app.inject({
      method: 'POST',
      url: '/v1/push/decisions',
      payload: { userId: 'traffic-shopper', channel: 'push', campaignId: 'traffic-campaign' },
    });
    expect(decision.statusCode).toBe(200);
    const second = (await app.inject({ method: 'GET', url: '/v1/dashboard/traffic' })).json();
    expect(second.requests).toBe(first.requests + 1);
    expect(second.shed).toBe(first.shed);
    // Stamped by the app's clock, as decisions and previews are: the page's rates divide by its steps.
    expect([first.atMs, second.atMs]).toEqual([NOW, NOW]);
  });
});

describe('cap previews reaching back before the replayed day', () => {
  let infra: TestInfra;
  let app: Awaited<ReturnType<typeof buildApiApp>>;
  const NOW = Date.parse('2026-11-11T12:00:00.000Z');
  let clock = NOW;

  beforeAll(async () => {
    infra = await createTestInfra('dashboard-api-lookback');
    app = await buildApiApp({ config: loadApiConfig(infra.env), now: () => clock });
  });

  afterAll(async () => {
    await app.close();
    await infra.close();
  });

  it("counts the sends before the last 24 hours that the candidate's window still holds", async () => {
    for (const [userId, hoursAgo] of [
      ['early-fan', 30],
      ['early-fan', 20],
      ['weekly-fan', 72],
      ['weekly-fan', 50],
      ['weekly-fan', 2],
      ['lapsed-fan', 40],
    ] as const) {
      clock = NOW - hoursAgo * HOUR;
      const decision = await app.inject({
        method: 'POST',
        url: '/v1/push/decisions',
        payload: { userId, channel: 'push', campaignId: `c-${userId}-${hoursAgo}` },
      });
      expect(decision.json()).toMatchObject({ allowed: true, reason: 'ok' });
    }
    clock = NOW;
    const preview = async (limit: number, window: string) => {
      const response = await app.inject({
        method: 'POST',
        url: '/v1/dashboard/preview/push-rule',
        payload: { channel: 'push', limit, window },
      });
      expect(response.statusCode, response.body).toBe(200);
      return response.json();
    };
    // Live, early-fan's send 20 hours ago meets the one 30 hours ago in a 24-hour window.
    expect(await preview(1, '24h')).toMatchObject({
      users: 2,
      decisions: 2,
      suppressed: 1,
      usersAffected: 1,
      complete: true,
    });
    // weekly-fan's two sends 72 and 50 hours ago fill a weekly cap of 2 before the send 2 hours ago.
    expect(await preview(2, '7d')).toMatchObject({ users: 2, decisions: 2, suppressed: 1, usersAffected: 1 });
  });
});
