import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { buildApiApp, loadApiConfig } from '@elevens/api';
import { createTestInfra, type TestInfra } from '@elevens/testkit';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chromiumMissing, launchHeadlessChromium } from './support/headless-chromium';

let infra: TestInfra;
let app: Awaited<ReturnType<typeof buildApiApp>>;
let baseUrl: string;

beforeAll(async () => {
  infra = await createTestInfra('security-dashboard-framing');
  app = await buildApiApp({ config: loadApiConfig({ ...infra.env, LOG_LEVEL: 'silent' }) });
  baseUrl = await app.listen({ host: '127.0.0.1', port: 0 });
});

afterAll(async () => {
  await app?.close();
  await infra?.close();
});

describe('the dashboard page', () => {
  it('forbids framing, sniffing, referrers, a <base> and form targets', async () => {
    const page = await app.inject({ method: 'GET', url: '/dashboard' });
    expect(page.statusCode).toBe(200);
    const csp = String(page.headers['content-security-policy']).split(/;\s*/);
    expect(csp).toEqual(
      expect.arrayContaining(["frame-ancestors 'none'", "base-uri 'none'", "form-action 'none'"]),
    );
    expect(page.headers).toMatchObject({
      'x-frame-options': 'DENY',
      'x-content-type-options': 'nosniff',
      'referrer-policy': 'no-referrer',
    });
    const asset = /src="(\/dashboard\/assets\/[^"]+\.js)"/.exec(page.body)?.[1];
    expect(asset).toBeDefined();
    const script = await app.inject({ method: 'GET', url: asset! });
    expect(script.statusCode).toBe(200);
    expect(script.headers['x-content-type-options']).toBe('nosniff');
  });

  const missing = chromiumMissing('dashboard framing test');
  if (missing) console.warn(missing);

  describe.skipIf(missing !== null)('in headless Chromium', () => {
    let browser: Browser;
    let attacker: Server;
    let attackerUrl: string;

    beforeAll(async () => {
      browser = await launchHeadlessChromium();
      // Another origin (another port) whose page lays the dashboard in a frame, as a clickjacking page would.
      attacker = createServer((_request, response) => {
        response.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
        response.end(
          `<!doctype html><iframe id="victim" src="${baseUrl}/dashboard" width="800" height="600"></iframe>`,
        );
      });
      await new Promise<void>((resolve) => attacker.listen(0, '127.0.0.1', resolve));
      attackerUrl = `http://127.0.0.1:${(attacker.address() as AddressInfo).port}/`;
    });

    afterAll(async () => {
      await browser?.close();
      await new Promise((resolve) => attacker?.close(resolve));
    });

    it('is not shown inside another site', async () => {
      const page = await browser.newPage();
      try {
        const dashboardAnswered = page.waitForResponse(
          (response) => response.url() === `${baseUrl}/dashboard`,
        );
        await page.goto(attackerUrl);
        expect((await dashboardAnswered).status()).toBe(200);
        await page.waitForLoadState('load');
        const framed = page.frames().find((frame) => frame !== page.mainFrame())!;
        expect(framed).toBeDefined();
        expect(await framed.locator('#admin-key').count()).toBe(0);
      } finally {
        await page.close();
      }
    });

    it('still works opened on its own: the key form and the admin calls run under its policy', async () => {
      const page = await browser.newPage();
      const errors: string[] = [];
      page.on('pageerror', (error) => errors.push(error.message));
      // The browser reports what the policy refuses on the console (the favicon's 404 is no concern here).
      page.on('console', (message) => {
        if (/Content Security Policy|Refused/i.test(message.text())) errors.push(message.text());
      });
      try {
        await page.goto(`${baseUrl}/dashboard`);
        await page.fill('#admin-key', 'any-key-keys-are-not-required-here');
        await page.press('#admin-key', 'Enter');
        await page.waitForSelector('body[data-ready="true"]');
        expect(page.url()).toBe(`${baseUrl}/dashboard`);
        expect(await page.locator('#app').isVisible()).toBe(true);
        expect(await page.locator('#runs-table').textContent()).toContain('No model runs yet.');
        expect(errors).toEqual([]);
      } finally {
        await page.close();
      }
    });
  });
});
