import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { buildApiApp, loadApiConfig } from '@elevens/api';
import { finishModelRun, startModelRun } from '@elevens/db';
import { createTestInfra, type TestInfra } from '@elevens/testkit';
import type { Browser, Locator, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { chromiumMissing, launchHeadlessChromium } from './support/headless-chromium';

const missing = chromiumMissing('dashboard end-to-end test');
if (missing) console.warn(missing);
const ARTIFACTS = join(import.meta.dirname, '..', 'test-artifacts');

/** Waits until the element's text contains `expected` and returns the text. */
async function textContaining(locator: Locator, expected: string): Promise<string> {
  return vi.waitFor(
    async () => {
      const text = (await locator.textContent()) ?? '';
      expect(text).toContain(expected);
      return text;
    },
    { timeout: 10_000, interval: 100 },
  );
}

describe.skipIf(missing !== null)('dashboard in headless Chromium', () => {
  let infra: TestInfra;
  let app: Awaited<ReturnType<typeof buildApiApp>>;
  let baseUrl: string;
  let browser: Browser;
  let page: Page;
  const pageErrors: string[] = [];

  const decide = async (userId: string) =>
    (
      await app.inject({
        method: 'POST',
        url: '/v1/push/decisions',
        payload: { userId, channel: 'push', campaignId: `campaign-${Math.random()}` },
      })
    ).json() as { allowed: boolean; reason: string; ruleId?: string };

  beforeAll(async () => {
    infra = await createTestInfra('dashboard-e2e');
    app = await buildApiApp({ config: loadApiConfig(infra.env) });
    baseUrl = await app.listen({ host: '127.0.0.1', port: 0 });
    for (const [version, ndcg10, hr10] of [
      ['v1', 0.12, 0.3],
      ['v2', 0.18, 0.36],
      ['v3', 0.16, 0.41],
    ] as const) {
      await startModelRun(infra.pool, { version, algorithm: 'cosine', params: {} });
      await finishModelRun(infra.pool, version, { status: 'published', metrics: { ndcg10, hr10 } });
    }
    browser = await launchHeadlessChromium();
    page = await browser.newPage({ viewport: { width: 1400, height: 1100 } });
    page.on('pageerror', (error) => pageErrors.push(error.message));
  });

  afterAll(async () => {
    await browser?.close();
    await app?.close();
    await infra?.close();
  });

  it('creates a cap in the page that then suppresses a decision made through the API', async () => {
    // Three sends to one fan before any rule: the preview replays them.
    for (let i = 0; i < 3; i++) expect(await decide('fan-1')).toMatchObject({ allowed: true });

    await page.goto(`${baseUrl}/dashboard`);
    await page.fill('#admin-key', 'admin-key-for-e2e');
    await page.click('#key-save');
    await page.waitForSelector('body[data-ready="true"]');
    expect(await page.evaluate('sessionStorage.getItem("elevens.adminKey")')).toBe('admin-key-for-e2e');
    await textContaining(page.locator('#rules-table'), 'No rules');
    expect(await page.locator('#runs-chart .uplot canvas').count()).toBe(1);
    expect(await page.locator('#runs-chart .u-legend').textContent()).toMatch(/NDCG@10.*HR@10/);

    await page.fill('#rule-id', 'e2e-daily');
    await page.selectOption('#rule-channel', 'push');
    await page.fill('#rule-limit', '1');
    await page.fill('#rule-window', 'forever');
    await page.click('#rule-save');
    await textContaining(page.locator('#rule-errors'), 'Window: a number and m, h or d');

    await page.fill('#rule-window', '24h');
    await page.click('#rule-preview');
    await textContaining(page.locator('#rule-result'), "would have suppressed 2 of the last 24 hours' 3");

    await page.click('#rule-save');
    await textContaining(page.locator('#rule-result'), 'Saved rule e2e-daily');
    await textContaining(page.locator('#rules-table'), 'e2e-daily');

    expect(await decide('fan-1')).toMatchObject({
      allowed: false,
      reason: 'cap_exceeded',
      ruleId: 'e2e-daily',
    });
    expect(await decide('fan-2')).toMatchObject({ allowed: true, reason: 'ok' });
    expect(await decide('fan-2')).toMatchObject({
      allowed: false,
      reason: 'cap_exceeded',
      ruleId: 'e2e-daily',
    });

    await page.click('#boost-add');
    await page.locator('#boosts-table tbody tr').last().locator('[data-field="id"]').fill('shoes');
    await page.locator('#boosts-table tbody tr').last().locator('[data-field="factor"]').fill('2');
    await page.click('#pin-add');
    await page.locator('#pins-table tbody tr').last().locator('[data-field="item"]').fill('hero-sneaker');
    await page.click('#boosts-save');
    await textContaining(page.locator('#boosts-result'), '1 boosts, 1 pins');
    const boosts = (await app.inject({ method: 'GET', url: '/v1/rules/boosts' })).json();
    expect(boosts).toMatchObject({
      boosts: [{ category: 'shoes', factor: 2 }],
      pins: [{ itemId: 'hero-sneaker', position: 1 }],
    });

    await textContaining(page.locator('#traffic-reasons'), 'ok (allowed)');

    await mkdir(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: join(ARTIFACTS, 'dashboard.png'), fullPage: true });
    expect(pageErrors).toEqual([]);
  });

  it('saves the windows it did not change as they were, to the second and across the clocks going back', async () => {
    // 06:30Z on 1 November 2026 is 01:30 in New York the second time that night, after the clocks went back.
    const boosts = [{ category: 'night-owls', factor: 1.5, from: '2026-11-01T06:30:00Z' }];
    const pins = [{ itemId: 'festival-tee', position: 2, until: '2026-11-11T23:59:59Z' }];
    const saved = await app.inject({ method: 'PUT', url: '/v1/rules/boosts', payload: { boosts, pins } });
    expect(saved.statusCode, saved.body).toBe(200);
    const rule = { channel: 'push', limit: 2, window: '24h', activeFrom: '2026-11-10T08:00:30Z' };
    const put = await app.inject({ method: 'PUT', url: '/v1/push/rules/festival-window', payload: rule });
    expect(put.statusCode, put.body).toBe(200);

    const newYork = await browser.newPage({
      viewport: { width: 1400, height: 1100 },
      timezoneId: 'America/New_York',
    });
    newYork.on('pageerror', (error) => pageErrors.push(error.message));
    await newYork.goto(`${baseUrl}/dashboard`);
    await newYork.evaluate('sessionStorage.setItem("elevens.adminKey", "admin-key-for-e2e")');
    await newYork.reload();
    await newYork.waitForSelector('body[data-ready="true"]');

    await newYork
      .locator('#rules-table tr[data-rule-id="festival-window"] button', { hasText: 'Edit' })
      .click();
    await newYork.fill('#rule-limit', '3');
    await newYork.click('#rule-save');
    await textContaining(newYork.locator('#rule-result'), 'Saved rule festival-window');
    const rules = (await app.inject({ method: 'GET', url: '/v1/push/rules' })).json();
    const edited = rules.rules.find((r: { ruleId: string }) => r.ruleId === 'festival-window');
    expect(edited.limit).toBe(3);
    expect(Date.parse(edited.activeFrom)).toBe(Date.parse(rule.activeFrom));

    await newYork.click('#pin-add');
    await newYork.locator('#pins-table tbody tr').last().locator('[data-field="item"]').fill('glow-stick');
    await newYork.click('#boosts-save');
    await textContaining(newYork.locator('#boosts-result'), '1 boosts, 2 pins');
    const after = (await app.inject({ method: 'GET', url: '/v1/rules/boosts' })).json();
    expect(Date.parse(after.boosts[0].from)).toBe(Date.parse(boosts[0]!.from));
    expect(Date.parse(after.pins[0].until)).toBe(Date.parse(pins[0]!.until));
    await newYork.close();
    expect(pageErrors).toEqual([]);
  });

  it("refuses to save boosts over a colleague's newer save, keeping both the stored set and the edits on screen", async () => {
    const open = async () => {
      const page = await browser.newPage({ viewport: { width: 1400, height: 1100 } });
      page.on('pageerror', (error) => pageErrors.push(error.message));
      await page.goto(`${baseUrl}/dashboard`);
      await page.evaluate('sessionStorage.setItem("elevens.adminKey", "admin-key-for-e2e")');
      await page.reload();
      await page.waitForSelector('body[data-ready="true"]');
      return page;
    };
    const first = await open();
    const second = await open();
    const addPin = async (page: typeof first, itemId: string) => {
      await page.click('#pin-add');
      await page.locator('#pins-table tbody tr').last().locator('[data-field="item"]').fill(itemId);
      await page.click('#boosts-save');
    };
    await addPin(first, 'first-hero');
    await textContaining(first.locator('#boosts-result'), 'Saved version');
    await addPin(second, 'second-hero');
    await textContaining(second.locator('#boosts-errors'), 'changed since they were read');

    const stored = (await app.inject({ method: 'GET', url: '/v1/rules/boosts' })).json();
    const pinned = stored.pins.map((pin: { itemId: string }) => pin.itemId);
    expect(pinned).toContain('first-hero');
    expect(pinned).not.toContain('second-hero');
    expect(await second.locator('#pins-table [data-field="item"]').last().inputValue()).toBe('second-hero');

    await second.click('#boosts-reload');
    await vi.waitFor(
      async () =>
        expect(await second.locator('#pins-table [data-field="item"]').last().inputValue()).toBe(
          'first-hero',
        ),
      { timeout: 10_000, interval: 100 },
    );
    await addPin(second, 'second-hero');
    await textContaining(second.locator('#boosts-result'), 'Saved version');
    const both = (await app.inject({ method: 'GET', url: '/v1/rules/boosts' })).json();
    expect(both.pins.map((pin: { itemId: string }) => pin.itemId)).toEqual(
      expect.arrayContaining(['first-hero', 'second-hero']),
    );
    await first.close();
    await second.close();
    expect(pageErrors).toEqual([]);
  });
});
