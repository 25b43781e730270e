import { buildApiApp, loadApiConfig } from '@elevens/api';
import { createTestInfra, type TestInfra } from '@elevens/testkit';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { textContaining, waitFor } from './support/dashboard-session';
import { chromiumMissing, launchHeadlessChromium } from './support/headless-chromium';

const missing = chromiumMissing('dashboard polling end-to-end test');
if (missing) console.warn(missing);

describe.skipIf(missing !== null)('dashboard polling with the monitor failing or slow', () => {
  let infra: TestInfra;
  let api: Awaited<ReturnType<typeof buildApiApp>>;
  let baseUrl: string;
  let browser: Browser;
  let page: Page;

  beforeAll(async () => {
    infra = await createTestInfra('dashboard-polling-e2e');
    api = await buildApiApp({ config: loadApiConfig(infra.env) });
    baseUrl = await api.listen({ host: '127.0.0.1', port: 0 });
    browser = await launchHeadlessChromium();
    page = await browser.newPage();
  });

  afterAll(async () => {
    await browser?.close();
    await api?.close();
    await infra?.close();
  });

  it('says the figures are not updating and backs off while the monitor answers 503', {
    timeout: 60_000,
  }, async () => {
    let calls = 0;
    await page.route('**/v1/dashboard/monitor*', (route) => {
      calls++;
      return route.fulfill({
        status: 503,
        contentType: 'application/json',
        body: JSON.stringify({ error: 'unavailable', message: 'the monitor cannot read its counters now' }),
      });
    });
    await page.goto(`${baseUrl}/dashboard`);
    await page.fill('#admin-key', 'admin-key-for-e2e');
    await page.click('#key-save');
    await page.waitForSelector('body[data-ready="true"]');
    await page.waitForTimeout(9_000);
    expect(await page.textContent('#live-status')).toContain('not updating');
    // Every 2 s would be 5 or 6 requests; doubling waits (2, 4, 8 s) make 3.
    expect(calls).toBeLessThanOrEqual(3);
    await page.unroute('**/v1/dashboard/monitor*');
  });

  it('never has two monitor requests in flight when the api is slower than the poll', {
    timeout: 60_000,
  }, async () => {
    let inFlight = 0;
    let most = 0;
    await page.route('**/v1/dashboard/monitor*', async (route) => {
      inFlight++;
      most = Math.max(most, inFlight);
      await new Promise((resolve) => setTimeout(resolve, 5_000));
      inFlight--;
      await route.continue().catch(() => {});
    });
    await page.goto(`${baseUrl}/dashboard`);
    await page.waitForSelector('body[data-ready="true"]', { timeout: 20_000 });
    await page.waitForTimeout(8_000);
    expect(most).toBe(1);
    await page.waitForSelector('#live[data-at]');
    await page.unroute('**/v1/dashboard/monitor*');
  });

  it('says the figures are not updating when a poll is never answered, rather than leaving them as if live', async () => {
    const fresh = await browser.newPage();
    // The page's clock, so the poll's time limit passes without the test waiting it out.
    await fresh.clock.install();
    let polls = 0;
    await fresh.route('**/v1/dashboard/monitor*', () => {
      polls++;
    });
    await fresh.goto(`${baseUrl}/dashboard`);
    await fresh.fill('#admin-key', 'admin-key-for-e2e');
    await fresh.click('#key-save');
    await waitFor(async () => expect(polls).toBe(1));
    expect(await fresh.textContent('#live-status')).toBe('');
    await fresh.clock.fastForward(10_000);
    await textContaining(fresh.locator('#live-status'), 'not updating: no answer within 10 s');
    expect(polls).toBe(1);
    await fresh.close();
  });

  it('pauses the figures for as long as a rate limit’s Retry-After asks, given in seconds or as a date', async () => {
    const fresh = await browser.newPage();
    // The page's clock, so the pauses pass without the test waiting them out.
    await fresh.clock.install();
    const polls = { traffic: 0, monitor: 0 };
    const rateLimited = (retryAfter: string) => ({
      status: 429,
      headers: { 'retry-after': retryAfter },
      json: { error: 'rate_limited', message: 'too many requests' },
    });
    await fresh.route('**/v1/dashboard/traffic', (route) =>
      ++polls.traffic === 1 ? route.fulfill(rateLimited('30')) : route.continue(),
    );
    await fresh.route('**/v1/dashboard/monitor*', async (route) => {
      if (++polls.monitor > 1) return route.continue();
      const pageNow = (await fresh.evaluate('Date.now()')) as number;
      return route.fulfill(rateLimited(new Date(pageNow + 60_000).toUTCString()));
    });
    await fresh.goto(`${baseUrl}/dashboard`);
    await fresh.fill('#admin-key', 'admin-key-for-e2e');
    await fresh.click('#key-save');
    await fresh.waitForSelector('body[data-ready="true"]');
    await textContaining(fresh.locator('#live-status'), 'paused until');
    expect(await fresh.textContent('#live-status')).toContain('rate limited (too many requests)');
    expect(await fresh.textContent('#traffic-errors')).toContain('Figures paused until');

    // Doubling waits would have polled again at 4 s.
    await fresh.clock.fastForward(25_000);
    expect(await fresh.textContent('#live-status')).toContain('paused until');
    await fresh.clock.fastForward(10_000);
    await waitFor(async () => expect(await fresh.textContent('#traffic-errors')).toBe(''));
    expect(polls.monitor).toBe(1);
    await fresh.clock.fastForward(30_000);
    await textContaining(fresh.locator('#live-status'), 'sampled');
    expect(polls.monitor).toBe(2);
    await fresh.close();
  });

  it('dates the roll-ups’ progress when it is not today, so a stopped worker does not look current', async () => {
    const stoppedAt = '2026-11-10T15:59:00.000Z';
    const fresh = await browser.newPage();
    await fresh.route('**/v1/dashboard/monitor*', async (route) => {
      const response = await route.fetch();
      const snapshot = { ...(await response.json()), countedUntil: stoppedAt };
      await route.fulfill({ response, json: snapshot });
    });
    await fresh.goto(`${baseUrl}/dashboard`);
    await fresh.fill('#admin-key', 'admin-key-for-e2e');
    await fresh.click('#key-save');
    await fresh.waitForSelector('body[data-ready="true"]');
    const status = await fresh.textContent('#live-status');
    expect(status).toContain('events received until');
    expect(status).toContain('2026');
    await fresh.close();
  });

  it('says which figures are unavailable when one store is away, and blanks them instead of showing 0', async () => {
    const lastRead = '2026-11-10T15:59:00.000Z';
    const fresh = await browser.newPage();
    await fresh.route('**/v1/dashboard/monitor*', async (route) => {
      const response = await route.fetch();
      const live = await response.json();
      const minutes = live.minutes.map((m: Record<string, unknown>) => ({
        ...m,
        unavailable: ['push'],
        pushSent: null,
        pushSuppressed: null,
      }));
      const sources = { ...live.sources, push: { available: false, readAt: lastRead } };
      await route.fulfill({ response, json: { ...live, sources, minutes } });
    });
    await fresh.goto(`${baseUrl}/dashboard`);
    await fresh.fill('#admin-key', 'admin-key-for-e2e');
    await fresh.click('#key-save');
    await fresh.waitForSelector('body[data-ready="true"]');
    expect(await fresh.getAttribute('#live', 'data-partial')).toBe('push');
    expect(await fresh.isVisible('#live-partial')).toBe(true);
    const partial = await fresh.textContent('#live-partial');
    expect(partial).toContain('Push sent and suppressed (Redis): unavailable, last read');
    expect(partial).toContain('2026');
    expect(await fresh.textContent('#live-status')).toContain('partly unavailable');
    expect(await fresh.textContent('#live-push-sent')).toBe('–');
    expect(await fresh.textContent('#live-push-suppressed')).toBe('–');
    await fresh.close();
  });
});
