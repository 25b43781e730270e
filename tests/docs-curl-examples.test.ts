import { execFile } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { isDeepStrictEqual, promisify } from 'node:util';
import { buildApiApp, loadApiConfig } from '@elevens/api';
import { createApiKey } from '@elevens/db';
import { ApiScope } from '@elevens/domain';
import { buildIngestApp, loadIngestConfig } from '@elevens/ingest';
import { createTestInfra, type TestInfra } from '@elevens/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

/**
 * Every `curl` example of README.md, docs/*.md and the comments of docker-compose.yml, run as written
 * (through bash and the real curl) against an ingest and an api service of this file's own. Only three
 * things are put in: the services' addresses for localhost:3000 and :3001; for `<secret>` the secret of the
 * key that the document's own `elevens keys create … --scopes …` line makes (or, on an `export NAME=elv_...`
 * line, for $NAME); for any other `<field>`, that field of an earlier answer in the document (`<decisionId>`).
 * An example answers 2xx unless it says otherwise with `# → 401` or `# → 4xx`; a `# → {json}` after it is
 * its whole answer.
 */

const run = promisify(execFile);
const root = fileURLToPath(new URL('..', import.meta.url));

type Expected = { status: RegExp; body?: unknown };

type Step =
  | { kind: 'key'; line: number; scopes: ApiScope[]; exportAs?: string }
  | { kind: 'export'; line: number; name: string; value: string }
  | { kind: 'curl'; line: number; command: string; expected: Expected };

interface Document {
  path: string;
  steps: Step[];
}

/**
 * Lines a reader would type, with their line numbers: fenced shell blocks and inline code of markdown,
 * comments of YAML.
 */
function shellLines(path: string, text: string): { line: number; text: string }[] {
  const lines = text.split('\n');
  if (path.endsWith('.yml')) {
    return lines.flatMap((line, i) => {
      const comment = /^\s*#\s?(.*)$/.exec(line);
      return comment ? [{ line: i + 1, text: comment[1]!.trim() }] : [];
    });
  }
  const shell: { line: number; text: string }[] = [];
  let fence: string | null = null;
  lines.forEach((line, i) => {
    const marker = /^\s*```(\w*)/.exec(line);
    if (marker) {
      fence = fence === null ? marker[1]! : null;
      return;
    }
    if (fence === null) {
      for (const span of line.matchAll(/`([^`]+)`/g)) {
        if (/^curl |keys create /.test(span[1]!)) shell.push({ line: i + 1, text: span[1]! });
      }
    } else if (['sh', 'bash', 'shell', 'console', ''].includes(fence)) {
      shell.push({ line: i + 1, text: line });
    }
  });
  return shell;
}

/** Whether shell text ends inside a quoted string, so that the command goes on on the next line. */
function endsInsideQuotes(text: string): boolean {
  let quote: string | null = null;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (quote === null) {
      if (c === '\\') i++;
      else if (c === "'" || c === '"') quote = c;
      else if (c === '#' && (i === 0 || /\s/.test(text[i - 1]!))) {
        // A comment ("the customer's time zone") runs to the end of its line; its quotes are no quotes.
        const end = text.indexOf('\n', i);
        if (end === -1) break;
        i = end;
      }
    } else if (c === quote) quote = null;
    else if (quote === '"' && c === '\\') i++;
  }
  return quote !== null;
}

/** `# → 401`, `# → 4xx` or `# → {json}`, trailing a command or on the line after it. */
function expectedOutcome(text: string): Expected | null {
  const arrow = /#\s*→\s*(.+?)\s*$/.exec(text);
  if (!arrow) return null;
  const outcome = arrow[1]!;
  if (/^\d{3}$/.test(outcome)) return { status: new RegExp(`^${outcome}$`) };
  if (/^[1-5]xx$/.test(outcome)) return { status: new RegExp(`^${outcome[0]}\\d\\d$`) };
  return { status: /^2\d\d$/, body: JSON.parse(outcome) };
}

function parseDocument(path: string): Document {
  const lines = shellLines(path, readFileSync(`${root}${path}`, 'utf8'));
  const steps: Step[] = [];
  for (let i = 0; i < lines.length; i++) {
    const { line, text } = lines[i]!;
    const scopes = /keys create .*--scopes[ =](\S+)/.exec(text);
    if (scopes) {
      const exportAs = /^export (\w+)=/.exec(text)?.[1];
      steps.push({
        kind: 'key',
        line,
        scopes: ApiScope.array().parse(scopes[1]!.split(',')),
        ...(exportAs === undefined ? {} : { exportAs }),
      });
      continue;
    }
    const exported = /^export (\w+)=(\S+)/.exec(text);
    if (exported) {
      steps.push({ kind: 'export', line, name: exported[1]!, value: exported[2]! });
      continue;
    }
    if (!/^\s*curl\s/.test(text)) continue;
    let command = text;
    while ((command.trimEnd().endsWith('\\') || endsInsideQuotes(command)) && i + 1 < lines.length) {
      command += `\n${lines[++i]!.text}`;
    }
    const lastLine = command.slice(command.lastIndexOf('\n') + 1);
    const next = lines[i + 1];
    const expected = expectedOutcome(lastLine) ??
      (next && /^\s*#\s*→/.test(next.text) ? expectedOutcome(next.text) : null) ?? { status: /^2\d\d$/ };
    steps.push({ kind: 'curl', line, command, expected });
  }
  return { path, steps };
}

const documents = [
  'README.md',
  ...readdirSync(`${root}docs`)
    .filter((name) => name.endsWith('.md'))
    .sort()
    .map((name) => `docs/${name}`),
  'docker-compose.yml',
].map(parseDocument);

let infra: TestInfra;
let ingest: Awaited<ReturnType<typeof buildIngestApp>>;
let api: Awaited<ReturnType<typeof buildApiApp>>;
let urls: Record<'3000' | '3001', string>;
const secrets = new Map<Step, string>();

/** Midday UTC: the push guide's quiet hours (22:00 to 08:00) would refuse its decision at night. */
const PUSH_CLOCK_MS = Date.parse('2026-11-11T12:00:00Z');

beforeAll(async () => {
  infra = await createTestInfra('docs-curl');
  // Keys exist before the services start, so their first key table holds them.
  for (const { steps } of documents) {
    for (const step of steps) {
      if (step.kind === 'key') {
        const key = await createApiKey(infra.pool, { name: `docs-line-${step.line}`, scopes: step.scopes });
        secrets.set(step, key.secret);
      }
    }
  }
  const env = { ...infra.env, AUTH_REQUIRED: 'true' };
  ingest = await buildIngestApp({ config: loadIngestConfig(env) });
  api = await buildApiApp({ config: loadApiConfig(env), now: () => PUSH_CLOCK_MS });
  urls = {
    '3001': await ingest.listen({ host: '127.0.0.1', port: 0 }),
    '3000': await api.listen({ host: '127.0.0.1', port: 0 }),
  };
});

afterAll(async () => {
  await Promise.all([ingest?.close(), api?.close()]);
  await infra?.close();
});

const withLocalServices = (text: string) =>
  text.replace(
    /(?:https?:\/\/)?(?:localhost|127\.0\.0\.1):(3000|3001)\b/g,
    (_, port: '3000' | '3001') => urls[port],
  );

/** Each `curl` of a command prints its answer, a newline and its status; curl's own errors go to stderr. */
const CURL_REPORTING_STATUS =
  'curl() { command curl --silent --show-error --max-time 10 --write-out "\\n%{http_code}\\n" "$@"; }';

async function runCurl(
  command: string,
  env: Record<string, string>,
): Promise<{ status: string; body: string }> {
  // --norc: bash run with its stdin a socket (Node's pipes are) and no SHLVL takes itself for sshd's and reads
  // ~/.bashrc, whose aliases and PATH are no part of an example (and whose start-up took a second a command).
  const { stdout } = await run('bash', ['--norc', '-c', `${CURL_REPORTING_STATUS}\n${command}`], {
    env: { PATH: process.env.PATH ?? '', ...env },
  });
  const lines = stdout.trimEnd().split('\n');
  return { status: lines.at(-1)!, body: lines.slice(0, -1).join('\n') };
}

async function runDocument({ path, steps }: Document): Promise<string[]> {
  const failures: string[] = [];
  const env: Record<string, string> = {};
  let secret: string | undefined;
  const answered = new Map<string, string>();
  for (const step of steps) {
    if (step.kind === 'key') {
      if (step.exportAs === undefined) secret = secrets.get(step);
      else env[step.exportAs] = secrets.get(step)!;
      continue;
    }
    if (step.kind === 'export') {
      env[step.name] = withLocalServices(step.value);
      continue;
    }
    const where = `${path}:${step.line} ${step.command.split('\n')[0]}`;
    const unresolved: string[] = [];
    const command = withLocalServices(step.command).replace(/<(\w+)>/g, (placeholder, name: string) => {
      const value = name === 'secret' ? secret : answered.get(name);
      if (value === undefined) unresolved.push(placeholder);
      return value ?? placeholder;
    });
    if (unresolved.length > 0) {
      failures.push(`${where}: nothing earlier in the document gives ${unresolved.join(', ')}`);
      continue;
    }
    const { status, body } = await runCurl(command, env).catch((error: Error) => ({
      status: 'no answer',
      body: error.message,
    }));
    if (!step.expected.status.test(status)) {
      failures.push(`${where}: answered ${status} ${body.slice(0, 300)}`);
      continue;
    }
    let json: unknown;
    try {
      json = JSON.parse(body);
    } catch {
      json = undefined;
    }
    if (step.expected.body !== undefined && !isDeepStrictEqual(json, step.expected.body)) {
      failures.push(`${where}: answered ${body}, the document shows ${JSON.stringify(step.expected.body)}`);
    }
    if (json !== null && typeof json === 'object') {
      for (const [field, value] of Object.entries(json))
        if (typeof value === 'string') answered.set(field, value);
    }
  }
  return failures;
}

describe('curl examples in the documentation', () => {
  it('finds the examples of the README, the push guide and the compose file', () => {
    const curls = (path: string) =>
      documents.find((d) => d.path === path)!.steps.filter((step) => step.kind === 'curl');
    expect(curls('README.md').length).toBeGreaterThanOrEqual(3);
    expect(curls('docs/push.md').length).toBeGreaterThanOrEqual(10);
    expect(curls('docker-compose.yml')).toHaveLength(1);
    expect(curls('README.md').some((step) => step.expected.status.test('401'))).toBe(true);
  });

  for (const document of documents.filter(({ steps }) => steps.some((step) => step.kind === 'curl'))) {
    it(`${document.path}: every example works as written`, async () => {
      expect(await runDocument(document)).toEqual([]);
    });
  }
});
