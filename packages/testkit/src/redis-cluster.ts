import { type ChildProcess, execFile, execFileSync, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const HOST = '127.0.0.1';

/** Where a local Redis Cluster listens: its masters' addresses. */
export interface RedisClusterAddress {
  nodes: { host: string; port: number }[];
  /** the seed list as REDIS_CLUSTER_NODES takes it: `host:port,…` */
  seeds: string;
}

/** A local Redis Cluster this process started, and how to stop it. */
export interface RedisClusterFixture extends RedisClusterAddress {
  /** Kills every node and removes their directories; safe to call more than once. */
  stop(): Promise<void>;
}

let missing: string | null | undefined;

/**
 * Why a local cluster cannot be started here (`redis-server` or `redis-cli` not on the PATH), or null when it
 * can. Tests on the cluster skip with this text as their reason.
 */
export function redisClusterUnavailable(): string | null {
  if (missing !== undefined) return missing;
  missing = null;
  for (const binary of ['redis-server', 'redis-cli']) {
    try {
      execFileSync(binary, ['--version'], { stdio: 'ignore', timeout: 5_000 });
    } catch {
      missing = `skipped: ${binary} is not on the PATH (install the Debian package redis-server) to run these tests on a local Redis Cluster`;
      break;
    }
  }
  return missing;
}

/** A port nothing listens on now, picked by the kernel. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, HOST, () => {
      const address = server.address();
      server.close(() =>
        typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port')),
      );
    });
  });
}

async function cli(port: number, ...args: string[]): Promise<string> {
  const { stdout } = await run('redis-cli', ['-h', HOST, '-p', String(port), ...args], { timeout: 10_000 });
  return stdout;
}

async function waitFor(what: string, deadline: number, check: () => Promise<boolean>): Promise<void> {
  for (;;) {
    if (await check().catch(() => false)) return;
    if (Date.now() > deadline) throw new Error(`local Redis Cluster: ${what} not reached in time`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

// Nodes still running when this process (a test worker, the run's global setup) exits without its tear-down (a
// crash, a timeout) are killed then.
const running = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

/**
 * Starts `masters` (three by default) `redis-server` processes with `cluster-enabled yes` on free ports, each in a
 * temporary directory, joins them with `redis-cli --cluster create … --cluster-replicas 0`, and resolves once every
 * node reports `cluster_state:ok`. The test run shares one (tests/support/global-setup.ts, `sharedRedisCluster`);
 * a file that changes a node's settings (maxmemory) starts its own in beforeAll. A failed start stops what it
 * began.
 */
export async function startRedisCluster(
  options: { masters?: number; timeoutMs?: number } = {},
): Promise<RedisClusterFixture> {
  const reason = redisClusterUnavailable();
  if (reason !== null) throw new Error(reason);
  const masters = options.masters ?? 3;
  const deadline = Date.now() + (options.timeoutMs ?? 30_000);
  const dir = mkdtempSync(join(tmpdir(), 'elevens-redis-cluster-'));
  const children: ChildProcess[] = [];
  // Killed, not awaited: it is unreferenced, so its exit would not keep a script's event loop alive to be seen.
  let stopWatcher = () => {};
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    stopWatcher();
    await Promise.all(
      children.map(
        (child) =>
          new Promise<void>((resolve) => {
            running.delete(child);
            if (child.exitCode !== null || child.signalCode !== null) return resolve();
            child.once('exit', () => resolve());
            child.kill('SIGKILL');
          }),
      ),
    );
    rmSync(dir, { recursive: true, force: true });
  };

  try {
    const ports: number[] = [];
    const taken = new Set<number>();
    const distinctFreePort = async () => {
      let port = await freePort();
      while (taken.has(port)) port = await freePort();
      taken.add(port);
      return port;
    };
    for (let i = 0; i < masters; i++) {
      // The cluster bus gets a port of its own, not port + 10000, which may be taken.
      const port = await distinctFreePort();
      const busPort = await distinctFreePort();
      ports.push(port);
      const nodeDir = join(dir, String(port));
      mkdirSync(nodeDir);
      const child = spawn(
        'redis-server',
        [
          '--port',
          String(port),
          '--cluster-port',
          String(busPort),
          '--bind',
          HOST,
          '--cluster-enabled',
          'yes',
          '--cluster-config-file',
          'nodes.conf',
          '--cluster-node-timeout',
          '5000',
          '--dir',
          nodeDir,
          '--save',
          '',
          '--appendonly',
          'no',
          '--logfile',
          join(nodeDir, 'redis.log'),
        ],
        { stdio: 'ignore' },
      );
      children.push(child);
      running.add(child);
    }
    // Should this process die without its tear-down (killed at a test runner's time limit), or the process that
    // forked it (a test run whose worker this is: killed, it leaves its workers running), a watcher outside both
    // kills the nodes (those still running redis-server) and removes their directory within a second.
    const owners = process.send ? [process.pid, process.ppid] : [process.pid];
    const watcher = spawn(
      'sh',
      [
        '-c',
        'owners=$0; dir=$1; shift; ' +
          'alive() { for owner in $owners; do kill -0 "$owner" 2>/dev/null || return 1; done; }; ' +
          'while alive; do sleep 1; done; ' +
          'for pid in "$@"; do grep -q redis-server /proc/$pid/cmdline 2>/dev/null && kill -9 "$pid"; done; ' +
          'rm -rf "$dir"',
        owners.join(' '),
        dir,
        ...children.map((child) => String(child.pid)),
      ],
      { stdio: 'ignore', detached: true },
    );
    watcher.unref();
    stopWatcher = () => watcher.kill('SIGKILL');
    for (const port of ports)
      await waitFor(
        `node ${port} answering`,
        deadline,
        async () => (await cli(port, 'ping')).trim() === 'PONG',
      );
    await run(
      'redis-cli',
      [
        '--cluster',
        'create',
        ...ports.map((port) => `${HOST}:${port}`),
        '--cluster-replicas',
        '0',
        '--cluster-yes',
      ],
      { timeout: 30_000 },
    );
    for (const port of ports)
      await waitFor(`cluster_state:ok on node ${port}`, deadline, async () =>
        (await cli(port, 'cluster', 'info')).includes('cluster_state:ok'),
      );
    const nodes = ports.map((port) => ({ host: HOST, port }));
    return {
      nodes,
      seeds: nodes.map((node) => `${node.host}:${node.port}`).join(','),
      stop,
    } satisfies RedisClusterFixture;
  } catch (error) {
    await stop();
    throw error;
  }
}
