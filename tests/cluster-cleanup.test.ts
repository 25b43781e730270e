import { execFile, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname } from 'node:path';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { redisClusterUnavailable } from '@elevens/testkit';
import { afterAll, describe, expect, it } from 'vitest';

/**
 * A test run killed outright (SIGKILL at a CI time limit) leaves its workers running: a cluster one of them
 * started must go all the same, so that no nodes or directories are left over for the next run.
 */
const clusterMissing = redisClusterUnavailable();
const ROOT = fileURLToPath(new URL('..', import.meta.url));
const run = promisify(execFile);

/** The worker: starts a cluster, prints its ports, then lives on, as a test worker whose run was killed does. */
const WORKER = `
const { register } = await import('tsx/esm/api');
register();
const { startRedisCluster } = await import('@elevens/testkit/redis-cluster');
const cluster = await startRedisCluster();
console.log(JSON.stringify({ pid: process.pid, ports: cluster.nodes.map((node) => node.port) }));
setInterval(() => {}, 60_000);
`;
/** The run's main process: starts the worker with an IPC channel, as Vitest's forks pool does. */
const MAIN = `
const { spawn } = await import('node:child_process');
spawn(process.execPath, ['--input-type=module', '-e', process.argv[1]], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
setInterval(() => {}, 60_000);
`;

const redisCli = async (port: number, ...args: string[]) =>
  (
    await run('redis-cli', ['-h', '127.0.0.1', '-p', String(port), ...args], { timeout: 5_000 })
  ).stdout.trim();
const answers = (port: number) =>
  redisCli(port, 'ping').then(
    (reply) => reply === 'PONG',
    () => false,
  );

describe.skipIf(clusterMissing !== null)(
  `a local Redis Cluster started in a test worker${clusterMissing ? ` (${clusterMissing})` : ''}`,
  () => {
    const started: number[] = [];
    afterAll(() => {
      for (const pid of started)
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // already gone
        }
    });

    it("is stopped and its directory removed when the run's main process is killed and the worker lives on", async () => {
      const main = spawn(process.execPath, ['--input-type=module', '-e', MAIN, WORKER], {
        cwd: ROOT,
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      started.push(main.pid!);
      const lines = createInterface({ input: main.stdout! })[Symbol.asyncIterator]();
      const { pid, ports } = JSON.parse((await lines.next()).value as string) as {
        pid: number;
        ports: number[];
      };
      started.push(pid);
      const dir = dirname((await redisCli(ports[0]!, 'config', 'get', 'dir')).split('\n')[1]!);
      expect(existsSync(dir)).toBe(true);

      main.kill('SIGKILL');
      const deadline = Date.now() + 10_000;
      const gone = async () => !existsSync(dir) && !(await Promise.all(ports.map(answers))).some(Boolean);
      while (!(await gone()) && Date.now() < deadline) await sleep(100);
      expect(await Promise.all(ports.map(answers))).toEqual(ports.map(() => false));
      expect(existsSync(dir)).toBe(false);
      // The worker is still running: the cluster went with the run, not with it.
      expect(() => process.kill(pid, 0)).not.toThrow();
    });
  },
);
