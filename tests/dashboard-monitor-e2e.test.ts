import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { buildApiApp, loadApiConfig } from '@elevens/api';
import { encodeRecommendationAnswerId } from '@elevens/domain';
import { buildIngestApp, type IngestApp, loadIngestConfig } from '@elevens/ingest';
import { createTestInfra, type TestInfra } from '@elevens/testkit';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chromiumMissing, launchHeadlessChromium } from './support/headless-chromium';

const missing = chromiumMissing('dashboard monitor end-to-end test');
if (missing) console.warn(missing);
const ARTIFACTS = join(import.meta.dirname, '..', 'test-artifacts');
const MINUTE_MS = 60_000;
/** The festival night the test plays, on the api's clock (the events carry these times too). */
const T0 = Date.parse('2026-11-11T16:00:30.000Z');
const EVENTS_COLOR = [0x25, 0x63, 0xeb];

/** The little of the DOM the page function below uses (the tests compile without the DOM library). */
interface BrowserDocument {
  querySelector(selector: string): {
    width: number;
    height: number;
    getContext(kind: '2d'): {
      getImageData(x: number, y: number, w: number, h: number): { data: Uint8ClampedArray };
    };
  } | null;
}

/**
 * Painted pixels of the chart canvas in `selector`, those within a small distance of `rgb`, and how many pixel
 * bytes changed since the last call for the same canvas (-1 on the first), counted in the page.
 */
async function canvasPixels(page: Page, selector: string, rgb: readonly number[]) {
  return page.evaluate(
    ({ selector, rgb }) => {
      const scope = globalThis as unknown as {
        document: BrowserDocument;
        lastPixels?: Record<string, Uint8ClampedArray>;
      };
      const canvas = scope.document.querySelector(`${selector} canvas`);
      if (!canvas) return { matching: -1, painted: -1, changed: -1 };
      const data = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
      const previous = scope.lastPixels?.[selector];
      let changed = previous === undefined ? -1 : Math.abs(previous.length - data.length);
      if (previous !== undefined) {
        for (let i = 0; i < Math.min(previous.length, data.length); i++)
          if (previous[i] !== data[i]) changed++;
      }
      scope.lastPixels = { ...scope.lastPixels, [selector]: data };
      let matching = 0;
      let painted = 0;
      for (let i = 0; i < data.length; i += 4) {
        if (data[i + 3]! > 0) painted++;
        const near =
          Math.abs(data[i]! - rgb[0]!) + Math.abs(data[i + 1]! - rgb[1]!) + Math.abs(data[i + 2]! - rgb[2]!) <
          60;
        if (near && data[i + 3]! > 200) matching++;
      }
      return { matching, painted, changed };
    },
    { selector, rgb },
  );
}

describe.skipIf(missing !== null)('live festival monitor in headless Chromium', () => {
  let infra: TestInfra;
  let api: Awaited<ReturnType<typeof buildApiApp>>;
  let ingest: IngestApp;
  let baseUrl: string;
  let browser: Browser;
  let page: Page;
  let clock = T0;
  const pageErrors: string[] = [];
  const answer = encodeRecommendationAnswerId(
    { modelVersion: 'v1', placement: 'home', experiment: null, arm: null, answeredAtMs: T0 },
    'e2e001',
  );

  /**
   * One minute of the night: `fans` users see two recommendations, click one and buy it, and get a push (a
   * second one is capped); rolled up and sampled in that minute, then the clock moves on and samples again,
   * so the minute is complete on screen.
   */
  async function playMinute(fans: number, tag: string) {
    clock += MINUTE_MS;
    const events = [];
    for (let u = 0; u < fans; u++) {
      const userId = `${tag}-${u}`;
      events.push(
        { userId, itemId: 'i1', type: 'impression', timestamp: clock, recommendationId: answer },
        { userId, itemId: 'i2', type: 'impression', timestamp: clock, recommendationId: answer },
        { userId, itemId: 'i1', type: 'click', timestamp: clock, recommendationId: answer },
        { userId, itemId: 'i1', type: 'purchase', timestamp: clock, price: 12.5, quantity: 1 },
      );
      for (const campaignId of ['flash-1', 'flash-2']) {
        await api.inject({
          method: 'POST',
          url: '/v1/push/decisions',
          payload: { userId, channel: 'push', campaignId },
        });
      }
    }
    const posted = await ingest.inject({ method: 'POST', url: '/v1/events', payload: { events } });
    expect(posted.statusCode, posted.body).toBeLessThan(300);
    await ingest.attribution.catchUp(Date.now());
    await api.monitor.sample();
    clock += MINUTE_MS;
    await api.monitor.sample();
    return events.length;
  }

  beforeAll(async () => {
    infra = await createTestInfra('dashboard-monitor-e2e');
    api = await buildApiApp({ config: loadApiConfig(infra.env), now: () => clock });
    // A short safety lag: catching up waits for it after the last event posted.
    const ingestConfig = {
      ...loadIngestConfig({ ...infra.env, LOG_LEVEL: 'silent' }),
      ATTRIBUTION_SAFETY_LAG_MS: 20,
    };
    ingest = await buildIngestApp({ config: ingestConfig });
    baseUrl = await api.listen({ host: '127.0.0.1', port: 0 });
    const rule = await api.inject({
      method: 'PUT',
      url: '/v1/push/rules/one-a-day',
      payload: { channel: 'push', limit: 1, window: '24h' },
    });
    expect(rule.statusCode, rule.body).toBe(200);
    await api.monitor.sample();
    browser = await launchHeadlessChromium();
    page = await browser.newPage({ viewport: { width: 1400, height: 1400 } });
    page.on('pageerror', (error) => pageErrors.push(error.message));
  });

  afterAll(async () => {
    await browser?.close();
    await ingest?.close();
    await api?.close();
    await infra?.close();
  });

  /** Waits until the page shows the sample taken at the current clock. */
  const showsCurrentSample = () =>
    page.waitForSelector(`#live[data-at="${new Date(clock).toISOString()}"]`, { timeout: 15_000 });

  // Two played minutes, a browser and a dozen page round trips: more than the default minute on a busy machine.
  it('draws the night with uPlot and redraws it as events arrive', { timeout: 180_000 }, async () => {
    const first = await playMinute(3, 'early');

    await page.goto(`${baseUrl}/dashboard`);
    await page.fill('#admin-key', 'admin-key-for-e2e');
    await page.click('#key-save');
    await page.waitForSelector('body[data-ready="true"]');
    await showsCurrentSample();
    await mkdir(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: join(ARTIFACTS, 'dashboard-monitor.png'), fullPage: true });
    expect(await page.textContent('#live-events')).toBe(String(first));
    expect(await page.textContent('#live-orders')).toBe('3');
    expect(await page.textContent('#live-ctr')).toBe('50.0 %');
    expect(await page.textContent('#live-push-sent')).toBe('3');
    expect(await page.textContent('#live-push-suppressed')).toBe('3');
    expect(await page.textContent('#live-reasons')).toContain('cap_exceeded');

    // Six charts, all uPlot canvases with something drawn; the events line in its own colour.
    expect(await page.locator('#live-charts .uplot canvas').count()).toBe(6);
    for (const id of ['events', 'orders', 'ctr', 'push', 'api', 'hours']) {
      expect((await canvasPixels(page, `#live-chart-${id}`, EVENTS_COLOR)).painted).toBeGreaterThan(1000);
    }
    const before = await canvasPixels(page, '#live-chart-events', EVENTS_COLOR);
    expect(before.matching).toBeGreaterThan(20);
    const shotBefore = await page.locator('#live-charts').screenshot();

    const second = await playMinute(8, 'peak');
    await showsCurrentSample();
    expect(await page.textContent('#live-events')).toBe(String(second));
    expect(await page.textContent('#live-orders')).toBe('8');
    const after = await canvasPixels(page, '#live-chart-events', EVENTS_COLOR);
    const shotAfter = await page.locator('#live-charts').screenshot();

    expect(after.changed).toBeGreaterThan(500);
    expect(Buffer.compare(shotBefore, shotAfter)).not.toBe(0);

    await writeFile(join(ARTIFACTS, 'monitor-before.png'), shotBefore);
    await writeFile(join(ARTIFACTS, 'monitor-after.png'), shotAfter);
    await page.screenshot({ path: join(ARTIFACTS, 'dashboard-monitor.png'), fullPage: true });
    expect(pageErrors).toEqual([]);
  });
});
