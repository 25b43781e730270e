import { existsSync } from 'node:fs';
import { type Browser, chromium } from 'playwright-core';

/** Debian's Chromium, which the browser tests drive through playwright-core. */
export const CHROMIUM = '/usr/bin/chromium';

/** Why a browser test cannot run here (with what to install), or null when it can. */
export function chromiumMissing(testName: string): string | null {
  if (existsSync(CHROMIUM)) return null;
  return `${testName} skipped: ${CHROMIUM} is absent (apt-get install -y chromium)`;
}

/** Headless Chromium without the background traffic (updates, sync, QUIC) a test has no use for. */
export const launchHeadlessChromium = (): Promise<Browser> =>
  chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
