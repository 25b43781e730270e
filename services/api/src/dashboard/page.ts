import { readFileSync } from 'node:fs';

/** The dashboard: one static page, HTML, CSS and script inline, read once at start-up. */
export const DASHBOARD_HTML = readFileSync(new URL('./page.html', import.meta.url), 'utf8');
