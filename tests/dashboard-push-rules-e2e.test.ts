import type { Page } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { dashboardSession, textContaining, waitFor } from './support/dashboard-session';
import { chromiumMissing } from './support/headless-chromium';

const missing = chromiumMissing('dashboard push rules end-to-end test');
if (missing) console.warn(missing);

describe.skipIf(missing !== null)("the dashboard's push caps form with two marketers", () => {
  const dashboard = dashboardSession('dashboard-push-rules-e2e');
  const { pageErrors } = dashboard;
  const open = () => dashboard.open();
  const storedRule = async (ruleId: string) =>
    (await dashboard.app.inject({ method: 'GET', url: `/v1/push/rules/${ruleId}` })).json();
  const editAndSave = async (page: Page, ruleId: string, limit: string) => {
    await page.locator(`#rules-table tr[data-rule-id="${ruleId}"] button`, { hasText: 'Edit' }).click();
    await page.fill('#rule-limit', limit);
    await page.click('#rule-save');
  };

  it("refuses to save a rule over a colleague's newer save, then saves the change redone on the reloaded rule", async () => {
    await dashboard.app.inject({
      method: 'PUT',
      url: '/v1/push/rules/festival-daily',
      payload: { channel: 'push', limit: 3, window: '24h' },
    });
    const first = await open();
    const second = await open();

    await editAndSave(first, 'festival-daily', '4');
    await textContaining(first.locator('#rule-result'), 'Saved rule festival-daily (version 2)');
    await editAndSave(second, 'festival-daily', '5');
    await textContaining(
      second.locator('#rule-errors'),
      'changed since the page read it (version 2 is in force)',
    );
    expect(await storedRule('festival-daily')).toMatchObject({ limit: 4, version: 2 });
    expect(await second.inputValue('#rule-limit')).toBe('5');

    await second.click('#rules-reload');
    await waitFor(async () => expect(await second.inputValue('#rule-limit')).toBe('4'));
    await second.fill('#rule-limit', '5');
    await second.click('#rule-save');
    await textContaining(second.locator('#rule-result'), 'Saved rule festival-daily (version 3)');
    expect(await storedRule('festival-daily')).toMatchObject({ limit: 5, version: 3 });

    // A rule a colleague created meanwhile under the same id is not replaced by a "new" rule of that id.
    await first.fill('#rule-id', 'flash-sale');
    await dashboard.app.inject({
      method: 'PUT',
      url: '/v1/push/rules/flash-sale',
      payload: { channel: 'any', limit: 1, window: '1h' },
    });
    await first.click('#rule-save');
    await textContaining(first.locator('#rule-errors'), 'rule flash-sale changed since the page read it');
    expect(await storedRule('flash-sale')).toMatchObject({ channel: 'any', limit: 1 });

    // Deleting a rule a colleague changed since is refused too.
    await first.click('#rules-reload');
    await textContaining(first.locator('#rules-table'), 'flash-sale');
    await dashboard.app.inject({
      method: 'PUT',
      url: '/v1/push/rules/flash-sale',
      payload: { channel: 'any', limit: 2, window: '1h' },
    });
    await first.locator('#rules-table tr[data-rule-id="flash-sale"] button', { hasText: 'Delete' }).click();
    await textContaining(first.locator('#rule-errors'), 'version 2 is in force');
    expect(await storedRule('flash-sale')).toMatchObject({ limit: 2 });

    await first.close();
    await second.close();
    expect(pageErrors).toEqual([]);
  });

  /** Holds the page's changes of `path` until `release`, listing their methods; reads go through. */
  const holdChanges = async (page: Page, path: string) => {
    const sent: string[] = [];
    let release = () => {};
    const released = new Promise<void>((resolve) => {
      release = resolve;
    });
    await page.route(`**${path}`, async (route) => {
      if (route.request().method() === 'GET') return route.continue();
      sent.push(route.request().method());
      await released;
      return route.continue();
    });
    return { sent, release };
  };

  it("sends a double-clicked save once, never reporting the page's own save as a colleague's", async () => {
    const page = await open();
    // Each save is held until the double click is over, as on a busy night's slow answers.
    const rule = await holdChanges(page, '/v1/push/rules/double-click');
    await page.fill('#rule-id', 'double-click');
    await page.dblclick('#rule-save');
    rule.release();
    await textContaining(page.locator('#rule-result'), 'Saved rule double-click (version 1)');
    expect(rule.sent).toEqual(['PUT']);
    expect(await page.textContent('#rule-errors')).toBe('');

    const quiet = await holdChanges(page, '/v1/push/quiet-hours');
    await page.fill('#quiet-start', '20:30');
    await page.dblclick('#quiet-save');
    quiet.release();
    await textContaining(page.locator('#quiet-result'), 'Saved quiet hours');
    expect(quiet.sent).toEqual(['PUT']);
    expect(await page.textContent('#quiet-errors')).toBe('');

    const boosts = await holdChanges(page, '/v1/rules/boosts');
    await page.click('#pin-add');
    await page.locator('#pins-table tbody tr').last().locator('[data-field="item"]').fill('hero-tee');
    await page.dblclick('#boosts-save');
    boosts.release();
    await textContaining(page.locator('#boosts-result'), 'Saved version 1');
    expect(boosts.sent).toEqual(['PUT']);
    expect(await page.textContent('#boosts-errors')).toBe('');
    await page.close();
    expect(pageErrors).toEqual([]);
  });

  it("refuses to save quiet hours over a colleague's newer save", async () => {
    const first = await open();
    const second = await open();
    await first.fill('#quiet-start', '21:00');
    await first.click('#quiet-save');
    await textContaining(first.locator('#quiet-result'), 'Saved quiet hours');
    await second.fill('#quiet-start', '23:00');
    await second.click('#quiet-save');
    await textContaining(second.locator('#quiet-errors'), 'the quiet hours changed since the page read it');
    const stored = (await dashboard.app.inject({ method: 'GET', url: '/v1/push/quiet-hours' })).json();
    expect(stored.current).toMatchObject({ start: '21:00' });

    await second.click('#quiet-reload');
    await waitFor(async () => expect(await second.inputValue('#quiet-start')).toBe('21:00'));
    await second.fill('#quiet-start', '23:00');
    await second.click('#quiet-save');
    await textContaining(second.locator('#quiet-result'), 'Saved quiet hours');
    const after = (await dashboard.app.inject({ method: 'GET', url: '/v1/push/quiet-hours' })).json();
    expect(after.current).toMatchObject({ start: '23:00' });
    await first.close();
    await second.close();
    expect(pageErrors).toEqual([]);
  });
});
