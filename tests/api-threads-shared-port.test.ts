/**
 * API_THREADS > 1 needs threads listening on one port (SO_REUSEPORT: Linux, Node 22.12 or later). On a Node or a
 * platform without it, `elevens serve api` stops with one line saying so, not with a stack trace claiming the
 * port is in use by another process (the worker thread's bind failing against the primary's).
 */
import { execFile, execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { createTestInfra, freePort, type TestInfra } from '@elevens/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const bin = fileURLToPath(new URL('../packages/cli/bin/elevens.js', import.meta.url));

/** Node added `reusePort` to `listen` in 22.12 and 23.1; only some platforms (Linux among them) have it. */
function sharesPorts(version: string): boolean {
  const [major = 0, minor = 0] = version.split('.').map(Number);
  return (
    process.platform === 'linux' &&
    (major > 23 || (major === 23 && minor >= 1) || (major === 22 && minor >= 12))
  );
}

/**
 * A Node that cannot share a port: the one running the tests, else the system's own (the CI machines keep Node 20
 * there while the tests run on 22 and 24). Without one the refusal cannot be shown here.
 */
function nodeWithoutSharedPorts(): string | undefined {
  if (!sharesPorts(process.versions.node)) return process.execPath;
  for (const candidate of ['/usr/bin/node', '/usr/local/bin/node']) {
    if (!existsSync(candidate)) continue;
    const version = execFileSync(candidate, ['-p', 'process.versions.node'], { encoding: 'utf8' }).trim();
    if (!sharesPorts(version)) return candidate;
  }
  return undefined;
}

const oldNode = nodeWithoutSharedPorts();

let infra: TestInfra;

beforeAll(async () => {
  infra = await createTestInfra('api-threads-shared-port');
});

afterAll(async () => {
  await infra?.close();
});

describe.runIf(oldNode !== undefined)(`API_THREADS=2 on a Node that cannot share a port (${oldNode})`, () => {
  it('stops elevens serve api with one line naming API_THREADS and exit code 1', async () => {
    const port = await freePort();
    const failure = await run(oldNode!, [bin, 'serve', 'api'], {
      env: { ...process.env, ...infra.env, HOST: '127.0.0.1', PORT: String(port), API_THREADS: '2' },
      timeout: 60_000,
    }).then(
      () => ({ code: 0, stderr: '' }),
      (error: { code: number; stderr: string }) => error,
    );
    expect(failure.code).toBe(1);
    const lines = failure.stderr.trim().split('\n');
    expect(lines, failure.stderr).toHaveLength(1);
    expect(lines[0]).toMatch(/^elevens api: API_THREADS=2 needs .*SO_REUSEPORT.*; set API_THREADS=1/);
  });
});
