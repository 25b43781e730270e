import { buildApiApp, loadApiConfig } from '@elevens/api';
import { createApiKey, upsertItems } from '@elevens/db';
import type { Page } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { dashboardSession, textContaining, waitFor } from './support/dashboard-session';
import { chromiumMissing } from './support/headless-chromium';

const missing = chromiumMissing('dashboard marketer end-to-end test');
if (missing) console.warn(missing);

describe.skipIf(missing !== null)('the dashboard as a marketer uses it', () => {
  const dashboard = dashboardSession('dashboard-marketer-e2e');
  const { pageErrors } = dashboard;
  const open = () => dashboard.open();
  const addPin = async (page: Page, itemId: string) => {
    await page.click('#pin-add');
    await page.locator('#pins-table tbody tr').last().locator('[data-field="item"]').fill(itemId);
  };

  it('names the items saved boosts and pins cannot serve, and why, after a save and on a later visit', async () => {
    await upsertItems(dashboard.infra.pool, [
      { itemId: 'served-tee', title: 'Tee', available: true },
      { itemId: 'counterfeit-bag', title: 'Bag', blocked: true },
      { itemId: 'sold-out-lamp', title: 'Lamp', available: false },
    ]);
    const page = await open();
    expect(await page.locator('#boosts-unservable').isHidden()).toBe(true);
    await page.click('#boost-add');
    const boost = page.locator('#boosts-table tbody tr').last();
    await boost.locator('[data-field="target"]').selectOption('item');
    await boost.locator('[data-field="id"]').fill('counterfeit-bag');
    await addPin(page, 'served-tee');
    await addPin(page, 'sold-out-lamp');
    await addPin(page, 'hero-sneekr');
    await page.click('#boosts-save');
    await textContaining(page.locator('#boosts-result'), 'Saved version 1: 1 boosts, 3 pins');
    await textContaining(page.locator('#boosts-result'), 'cannot be served now');
    const unservable = page.locator('#boosts-unservable');
    await textContaining(unservable, 'Version 1 names 3 items that cannot be served now');
    const text = (await unservable.textContent()) ?? '';
    expect(text).toContain('counterfeit-bag: blocked in the catalog');
    expect(text).toContain('sold-out-lamp: unavailable in the catalog');
    expect(text).toContain('hero-sneekr: not in the catalog nor in the served model');
    expect(text).not.toContain('served-tee');
    expect(await unservable.isVisible()).toBe(true);

    // A colleague opening the page later sees it too (GET answers the same list).
    const later = await open();
    await textContaining(later.locator('#boosts-unservable'), 'hero-sneekr: not in the catalog');
    await later.close();

    // Once every item named can be served, the warning goes.
    // The pins of the lamp and the sneaker are the last two rows.
    for (let i = 0; i < 2; i++) await page.locator('#pins-table tbody tr').last().locator('button').click();
    await page.locator('#boosts-table tbody tr button', { hasText: 'Remove' }).click();
    await page.click('#boosts-save');
    await textContaining(page.locator('#boosts-result'), 'Saved version 2: 0 boosts, 1 pins.');
    await waitFor(async () => expect(await unservable.isHidden()).toBe(true));
    expect((await unservable.textContent()) ?? '').toBe('');
    await page.close();
    expect(pageErrors).toEqual([]);
  });

  it('keeps unsaved quiet-hours edits while rules are saved, reloaded and deleted', async () => {
    const put = await dashboard.app.inject({
      method: 'PUT',
      url: '/v1/push/quiet-hours',
      payload: { start: '22:00', end: '08:00', channels: ['push'] },
    });
    expect(put.statusCode, put.body).toBe(200);
    const page = await open();
    expect(await page.inputValue('#quiet-start')).toBe('22:00');
    await page.fill('#quiet-start', '21:00');
    await page.locator('#quiet-channels input[value="email"]').check();

    await page.fill('#rule-id', 'marketer-daily');
    await page.fill('#rule-limit', '2');
    await page.click('#rule-save');
    await textContaining(page.locator('#rule-result'), 'Saved rule marketer-daily');
    await textContaining(page.locator('#rules-table'), 'marketer-daily');
    await page.click('#rules-reload');
    await textContaining(page.locator('#rules-table'), 'marketer-daily');
    await page
      .locator('#rules-table tr[data-rule-id="marketer-daily"] button', { hasText: 'Delete' })
      .click();
    await textContaining(page.locator('#rules-table'), 'No rules');
    expect(await page.inputValue('#quiet-start')).toBe('21:00');
    expect(await page.locator('#quiet-channels input[value="email"]').isChecked()).toBe(true);

    await page.click('#quiet-save');
    await textContaining(page.locator('#quiet-result'), 'Saved quiet hours (version 2)');
    const stored = (await dashboard.app.inject({ method: 'GET', url: '/v1/push/quiet-hours' })).json();
    expect(stored.current).toMatchObject({ start: '21:00', channels: ['push', 'email'] });

    // With no edits pending, a rule save shows the quiet hours a colleague saved meanwhile.
    await dashboard.app.inject({
      method: 'PUT',
      url: '/v1/push/quiet-hours',
      payload: { start: '23:00', end: '07:00', channels: ['any'] },
    });
    await page.fill('#rule-id', 'marketer-weekly');
    await page.click('#rule-save');
    await textContaining(page.locator('#rule-result'), 'Saved rule marketer-weekly');
    await waitFor(async () => expect(await page.inputValue('#quiet-start')).toBe('23:00'));
    expect(await page.inputValue('#quiet-end')).toBe('07:00');
    await page.close();
    expect(pageErrors).toEqual([]);
  });

  it("refuses kept quiet-hours edits over a colleague's save made while they were kept", async () => {
    const page = await open();
    await page.fill('#quiet-start', '20:00');
    await dashboard.app.inject({
      method: 'PUT',
      url: '/v1/push/quiet-hours',
      payload: { start: '19:00', end: '07:00', channels: ['push'] },
    });
    await page.fill('#rule-id', 'marketer-hourly');
    await page.click('#rule-save');
    await textContaining(page.locator('#rule-result'), 'Saved rule marketer-hourly');
    await textContaining(page.locator('#quiet-current'), '19:00');
    expect(await page.inputValue('#quiet-start')).toBe('20:00');
    await page.click('#quiet-save');
    await textContaining(page.locator('#quiet-errors'), 'the quiet hours changed since the page read it');
    const stored = (await dashboard.app.inject({ method: 'GET', url: '/v1/push/quiet-hours' })).json();
    expect(stored.current).toMatchObject({ start: '19:00' });
    await page.close();
    expect(pageErrors).toEqual([]);
  });
  it('saves quiet hours and boosts again after the reads following a save fail, naming the versions it saved', async () => {
    const page = await open();
    // From here the page's reads of the rules and of the boosts fail (an api restarting); its saves go through.
    const unavailable = { status: 503, json: { error: 'unavailable', message: 'restarting' } };
    await page.route('**/v1/push/rules', (route) => route.fulfill(unavailable));
    await page.route('**/v1/rules/boosts', (route) =>
      route.request().method() === 'GET' ? route.fulfill(unavailable) : route.continue(),
    );
    const storedQuiet = async () =>
      (await dashboard.app.inject({ method: 'GET', url: '/v1/push/quiet-hours' })).json().current;
    const storedBoosts = async () =>
      (await dashboard.app.inject({ method: 'GET', url: '/v1/rules/boosts' })).json();

    await page.fill('#quiet-start', '20:30');
    await page.click('#quiet-save');
    await waitFor(async () => expect(await storedQuiet()).toMatchObject({ start: '20:30' }));
    const quietSaved = (await storedQuiet()).version;
    await textContaining(page.locator('#quiet-result'), `Saved quiet hours (version ${quietSaved})`);
    await page.fill('#quiet-start', '20:45');
    await page.click('#quiet-save');
    await textContaining(page.locator('#quiet-result'), `Saved quiet hours (version ${quietSaved + 1})`);
    expect(await storedQuiet()).toMatchObject({ start: '20:45', version: quietSaved + 1 });

    await addPin(page, 'reload-failed-tee');
    await page.click('#boosts-save');
    await waitFor(async () =>
      expect((await storedBoosts()).pins).toContainEqual(
        expect.objectContaining({ itemId: 'reload-failed-tee' }),
      ),
    );
    const boostsSaved = (await storedBoosts()).version;
    await textContaining(page.locator('#boosts-result'), `Saved version ${boostsSaved}`);
    await addPin(page, 'reload-failed-cap');
    await page.click('#boosts-save');
    await textContaining(page.locator('#boosts-result'), `Saved version ${boostsSaved + 1}`);
    const pinned = (await storedBoosts()).pins.map((pin: { itemId: string }) => pin.itemId);
    expect(pinned).toEqual(expect.arrayContaining(['reload-failed-tee', 'reload-failed-cap']));
    expect(await page.textContent('#quiet-errors')).toBe('');
    expect(await page.textContent('#boosts-errors')).toBe('');
    await page.close();
    expect(pageErrors).toEqual([]);
  });

  it('asks again for an admin key when the one given lacks the admin scope, rather than showing the page with it', async () => {
    const storefront = await createApiKey(dashboard.infra.pool, {
      name: 'storefront',
      scopes: ['recommendations:read'],
    });
    const marketing = await createApiKey(dashboard.infra.pool, { name: 'marketing', scopes: ['admin'] });
    const guarded = await buildApiApp({
      config: loadApiConfig({ ...dashboard.infra.env, AUTH_REQUIRED: 'true' }),
    });
    try {
      const url = await guarded.listen({ host: '127.0.0.1', port: 0 });
      const page = await open();
      await page.goto(`${url}/dashboard`);
      await page.fill('#admin-key', storefront.secret);
      await page.click('#key-save');
      await textContaining(page.locator('#key-error'), 'this key lacks the scope admin');
      await textContaining(page.locator('#key-error'), 'needs a key with the admin scope');
      expect(await page.locator('#app').isHidden()).toBe(true);
      expect(await page.locator('#key-form').isVisible()).toBe(true);

      await page.fill('#admin-key', marketing.secret);
      await page.click('#key-save');
      await page.waitForSelector('#live[data-at]');
      await page.locator('#rules-table tbody tr').first().waitFor();
      expect(await page.locator('#app').isVisible()).toBe(true);
      expect(await page.textContent('#key-error')).toBe('');
      await page.close();
    } finally {
      await guarded.close();
    }
    expect(pageErrors).toEqual([]);
  });

  it('draws a chart of one minute (a monitor just started) over that minute, not over years', async () => {
    const page = await open();
    const minute = Math.floor(Date.now() / 60_000) * 60;
    // The chart the monitor draws in its first minute, holding that minute alone; the page's pollers use their own.
    await page.evaluate(`
      document.body.append(el('div', { id: 'one-minute-chart' }));
      plot('one-minute-chart', { series: [{ label: 'events', color: '#2563eb', gaps: true }] }, [[${minute}], [42]]);
    `);
    // uPlot sets its scales at its next commit.
    const span = await waitFor(async () => {
      const x = (await page.evaluate(
        "[charts['one-minute-chart'].chart.scales.x.min, charts['one-minute-chart'].chart.scales.x.max]",
      )) as [number | null, number | null];
      expect(x[0]).not.toBeNull();
      return x as [number, number];
    });
    expect(span[0]).toBeLessThanOrEqual(minute);
    expect(span[1]).toBeGreaterThanOrEqual(minute);
    expect(span[1] - span[0]).toBeLessThanOrEqual(3600);
    await page.close();
    expect(pageErrors).toEqual([]);
  });
});
