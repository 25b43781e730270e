import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

const uplotDir = dirname(createRequire(import.meta.url).resolve('uplot/package.json'));
const uplotFile = (path: string) => readFileSync(join(uplotDir, path), 'utf8');

/** The charting library's version: asset URLs carry it, so browsers may keep them for a year. */
export const UPLOT_VERSION = (JSON.parse(uplotFile('package.json')) as { version: string }).version;

/** uPlot (MIT), served by the api itself: the dashboard works without any other host. */
export const DASHBOARD_ASSETS = {
  [`/dashboard/assets/uplot-${UPLOT_VERSION}.min.js`]: {
    type: 'text/javascript; charset=utf-8',
    body: uplotFile('dist/uPlot.iife.min.js'),
  },
  [`/dashboard/assets/uplot-${UPLOT_VERSION}.min.css`]: {
    type: 'text/css; charset=utf-8',
    body: uplotFile('dist/uPlot.min.css'),
  },
} as const;

/** The dashboard: one static page, HTML, CSS and script inline, read once at start-up. */
export const DASHBOARD_HTML = readFileSync(new URL('./page.html', import.meta.url), 'utf8').replaceAll(
  '%UPLOT_VERSION%',
  UPLOT_VERSION,
);
