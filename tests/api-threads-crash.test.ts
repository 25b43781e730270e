import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { get } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { publishModel } from '@elevens/redis-stores';
import { createTestInfra, freePort, type TestInfra } from '@elevens/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixtureModel } from '../services/api/test/recommendations-fixtures';
import { type ElevensProcess, spawnElevens } from './support/service-processes';

// `elevens serve api` with API_THREADS=3, one worker thread crashing while another's event loop is stuck: the
// process must still end (exit 1) so its orchestrator restarts it. The stuck thread never handles its close, and
// its socket keeps taking a share of new connections that hang.

/** Short: the stuck thread never closes, so the process ends only when this runs out, and the test waits it out. */
const SHUTDOWN_TIMEOUT_MS = 250;

/**
 * Loaded by every thread (NODE_OPTIONS --require): in an API worker thread (its workerData names a port), the first
 * to claim `stuck` spins for ever once the test writes that file, and the first to claim `crash` throws.
 */
const FAULTS = `
const { mkdirSync, existsSync } = require('node:fs');
const { join } = require('node:path');
const { workerData } = require('node:worker_threads');
const dir = process.env.ELEVENS_FAULTS_DIR;
if (dir && workerData && typeof workerData.port === 'number') {
  const claim = (name) => { try { mkdirSync(join(dir, 'claimed-' + name)); return true; } catch { return false; } };
  const poll = setInterval(() => {
    if (existsSync(join(dir, 'stuck')) && claim('stuck')) { clearInterval(poll); for (;;) {} }
    if (existsSync(join(dir, 'crash')) && claim('crash')) { clearInterval(poll); throw new Error('thread crashed'); }
  }, 20);
  poll.unref();
}
`;

let infra: TestInfra;
let api: ElevensProcess | null = null;
let faultsDir: string;

beforeAll(async () => {
  infra = await createTestInfra('api-threads-crash');
  faultsDir = mkdtempSync(join(tmpdir(), 'elevens-thread-faults-'));
  writeFileSync(join(faultsDir, 'faults.cjs'), FAULTS);
});

afterAll(async () => {
  await api?.kill();
  await infra?.close();
  rmSync(faultsDir, { recursive: true, force: true });
});

const readyz = (port: number) =>
  new Promise<number>((resolve) => {
    get({ host: '127.0.0.1', port, path: '/readyz', agent: false }, (response) => {
      response.resume();
      resolve(response.statusCode ?? 0);
    }).on('error', () => resolve(0));
  });

describe('an api process on threads', () => {
  it('ends with exit 1 when a thread crashes, even while another thread is stuck and cannot close', async () => {
    await publishModel(infra.redis, infra.keys, fixtureModel('v-crash-1'));
    const port = await freePort();
    const started = spawnElevens(['serve', 'api'], {
      ...infra.env,
      HOST: '127.0.0.1',
      PORT: String(port),
      API_THREADS: '3',
      SHUTDOWN_TIMEOUT_MS: String(SHUTDOWN_TIMEOUT_MS),
      LOG_LEVEL: 'info',
      ELEVENS_FAULTS_DIR: faultsDir,
      NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --require ${join(faultsDir, 'faults.cjs')}`.trim(),
    });
    api = started;
    for (let attempt = 0; ; attempt++) {
      if ((await readyz(port)) === 200 && started.output().includes('serving on every thread')) break;
      if (attempt > 600 || started.child.exitCode !== null)
        throw new Error(`the API did not start:\n${started.output()}`);
      await sleep(100);
    }

    mkdirSync(join(faultsDir, 'stuck'));
    for (let attempt = 0; !existsSync(join(faultsDir, 'claimed-stuck')); attempt++) {
      if (attempt > 100) throw new Error('no worker thread took the stuck role');
      await sleep(20);
    }
    mkdirSync(join(faultsDir, 'crash'));

    const ended = await Promise.race([started.exited, sleep(SHUTDOWN_TIMEOUT_MS + 8_000, null)]);
    expect(ended, `the process did not end:\n${started.output()}`).not.toBeNull();
    expect(ended?.code).toBe(1);
    expect(started.output()).toContain('an API thread ended: shutting the process down');
  }, 60_000);
});
