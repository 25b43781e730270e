import { buildApiApp, loadApiConfig } from '@elevens/api';
import { createTestInfra, type TestInfra } from '@elevens/testkit';
import type { Browser, Locator, Page } from 'playwright-core';
import { afterAll, beforeAll, expect, vi } from 'vitest';
import { launchHeadlessChromium } from './headless-chromium';

export const waitFor = <T>(check: () => Promise<T>) => vi.waitFor(check, { timeout: 10_000, interval: 100 });

/** Waits until the element's text contains `expected`. */
export const textContaining = (locator: Locator, expected: string) =>
  waitFor(async () => expect((await locator.textContent()) ?? '').toContain(expected));

export interface DashboardSession {
  infra: TestInfra;
  app: Awaited<ReturnType<typeof buildApiApp>>;
  /** uncaught errors of every page opened */
  pageErrors: string[];
  /** A new page on the dashboard, signed in with the test's admin key, ready. */
  open(): Promise<Page>;
}

/**
 * An api on its own database and key prefix, listening, and headless Chromium, for the calling file's tests
 * (started before them, closed after them). The fields are set once the file's tests run.
 */
export function dashboardSession(label: string): DashboardSession {
  let browser: Browser;
  let baseUrl: string;
  const session = { pageErrors: [] as string[] } as unknown as DashboardSession;
  beforeAll(async () => {
    session.infra = await createTestInfra(label);
    session.app = await buildApiApp({ config: loadApiConfig(session.infra.env) });
    baseUrl = await session.app.listen({ host: '127.0.0.1', port: 0 });
    browser = await launchHeadlessChromium();
  });
  afterAll(async () => {
    await browser?.close();
    await session.app?.close();
    await session.infra?.close();
  });
  session.open = async () => {
    const page = await browser.newPage({ viewport: { width: 1400, height: 1100 } });
    page.on('pageerror', (error) => session.pageErrors.push(error.message));
    page.on('dialog', (dialog) => dialog.accept());
    await page.goto(`${baseUrl}/dashboard`);
    await page.evaluate('sessionStorage.setItem("elevens.adminKey", "admin-key-for-e2e")');
    await page.reload();
    await page.waitForSelector('body[data-ready="true"]');
    return page;
  };
  return session;
}
