/**
 * The benchmarks' servers, each in a child process of its own, so the load generator does not share their event
 * loop and no server shares another's heap, flags or timers:
 *   - a service under test: the benchmark script re-run as `<script> <mode> ...args`, with the node flags it runs
 *     with in production;
 *   - the bare baseline route (bare-route.mjs), as a user would write it, with Node's default flags.
 * A child announces its port on one marked line of stdout and passes its other lines through; SIGTERM closes it.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { readdirSync, readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { DEFAULT_REDIS_URL, loadEnv, RedisClusterNodes } from '@elevens/config';
import type { RedisConnection } from '@elevens/redis-stores';
import { startRedisCluster } from '@elevens/testkit/redis-cluster';
import { z } from 'zod';

/** bare-route.mjs prints the same marker. */
const PORT_MARKER = 'bench-port ';

const BARE_ROUTE = fileURLToPath(new URL('./bare-route.mjs', import.meta.url));

/** The node flags the API runs with in production (NODE_OPTIONS in docker/api.Dockerfile). */
export const API_NODE_FLAGS = ['--max-semi-space-size=64'] as const;

/**
 * With `--cluster` among the arguments, starts a local three-master Redis Cluster for this run (the tests'
 * fixture, packages/testkit) and names it in REDIS_CLUSTER_NODES, which `benchRedis()` and every child process
 * then use; resolves to its stop function (nothing to stop without the flag). Without the flag, a
 * REDIS_CLUSTER_NODES already set names a running cluster, else REDIS_URL a server.
 */
export async function clusterForRun(): Promise<() => Promise<void>> {
  if (!process.argv.includes('--cluster')) return async () => {};
  const cluster = await startRedisCluster();
  process.env.REDIS_CLUSTER_NODES = cluster.seeds;
  return cluster.stop;
}

/** The Redis the benchmark and its children use: REDIS_CLUSTER_NODES when set (it wins), else REDIS_URL. */
export function benchRedis(): RedisConnection {
  const env = loadEnv(z.object({ REDIS_CLUSTER_NODES: RedisClusterNodes }), process.env, 'bench');
  return { url: process.env.REDIS_URL ?? DEFAULT_REDIS_URL, clusterNodes: env.REDIS_CLUSTER_NODES };
}

/** The Redis of the run, for its header: a server's URL or a cluster's seeds. */
export function benchRedisLabel(): string {
  const { url, clusterNodes } = benchRedis();
  return clusterNodes
    ? `Redis Cluster, seeds ${clusterNodes.map((node) => `${node.host}:${node.port}`).join(',')}`
    : `Redis ${url}`;
}

export interface BenchServer {
  port: number;
  pid: number;
  /** SIGTERM, then waits for the process to exit */
  stop(): Promise<void>;
}

interface Listening {
  server: { address(): unknown };
}

/** Child side: prints the port and closes the app (and anything else in `close`) on SIGTERM. */
export function announcePort(app: Listening, close: () => Promise<unknown>): void {
  process.once('SIGTERM', () => {
    close().finally(() => process.exit(0));
  });
  console.log(`${PORT_MARKER}${(app.server.address() as { port: number }).port}`);
}

/** Child side, for a server that closes itself on SIGTERM (`startApiServer`): prints the port of `address`. */
export function announceAddress(address: string): void {
  console.log(`${PORT_MARKER}${new URL(address).port}`);
}

function startChild(args: readonly string[], env: NodeJS.ProcessEnv): Promise<BenchServer> {
  const child: ChildProcess = spawn(process.execPath, args, { env, stdio: ['ignore', 'pipe', 'inherit'] });
  let exited = false;
  child.once('exit', () => {
    exited = true;
  });
  const stop = async () => {
    if (exited) return;
    const exit = once(child, 'exit');
    child.kill('SIGTERM');
    await exit;
  };
  return new Promise((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`${args.join(' ')} exited with ${code}`)));
    createInterface({ input: child.stdout! }).on('line', (line) => {
      if (!line.startsWith(PORT_MARKER)) return console.log(line);
      resolve({ port: Number(line.slice(PORT_MARKER.length)), pid: child.pid!, stop });
    });
  });
}

export interface ServiceOptions {
  /** node flags before the script (production flags, a profiler) */
  nodeFlags?: readonly string[];
  /** variables set for the child on top of this process's environment */
  env?: Record<string, string>;
}

/**
 * Runs the script at the file URL `script` (a caller's import.meta.url) as `script mode ...args` through tsx, with
 * this process's environment (the source condition included).
 */
export function startService(
  script: string,
  mode: string,
  args: readonly string[],
  { nodeFlags = [], env = {} }: ServiceOptions = {},
): Promise<BenchServer> {
  return startChild([...nodeFlags, '--import', 'tsx', fileURLToPath(script), mode, ...args], {
    ...process.env,
    ...env,
  });
}

/**
 * The bare route with Node's default flags: `get <key>` answers GET /bare with the value at `key`; `evalsha
 * <prefix>` answers POST /bare with one trivial EVALSHA on a key of the body's user. It uses the Redis Cluster
 * REDIS_CLUSTER_NODES names when set (as `benchRedis()` does), else `redisUrl`.
 */
export function startBareRoute(kind: 'get' | 'evalsha', arg: string, redisUrl: string): Promise<BenchServer> {
  const { NODE_OPTIONS: _flagsOfThisProcess, ...env } = process.env;
  return startChild([BARE_ROUTE, kind, arg], { ...env, REDIS_URL: redisUrl });
}

/** A /proc/<pid>/stat line's command name and utime + stime in ms (the name may hold spaces and parentheses). */
function parseStat(stat: string): { comm: string; cpuMs: number } {
  const fields = stat.slice(stat.lastIndexOf(') ') + 2).split(' ');
  return {
    comm: stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')')),
    cpuMs: ((Number(fields[11]) + Number(fields[12])) * 1000) / 100,
  };
}

/** utime + stime of a process in ms (Linux /proc); null where /proc is unavailable. */
export function processCpuMs(pid: number): number | null {
  try {
    return parseStat(readFileSync(`/proc/${pid}/stat`, 'utf8')).cpuMs;
  } catch {
    return null;
  }
}

/**
 * CPU ms so far of each process whose command name is `comm`, by pid (Linux /proc): all of Postgres's processes,
 * say. Empty where /proc is unavailable.
 */
export function commandCpuMs(comm: string): Map<number, number> {
  const byPid = new Map<number, number>();
  let pids: string[];
  try {
    pids = readdirSync('/proc').filter((name) => /^\d+$/.test(name));
  } catch {
    return byPid;
  }
  for (const pid of pids) {
    try {
      const stat = parseStat(readFileSync(`/proc/${pid}/stat`, 'utf8'));
      if (stat.comm === comm) byPid.set(Number(pid), stat.cpuMs);
    } catch {
      // the process ended while the directory was read
    }
  }
  return byPid;
}

/**
 * CPU ms the processes of two `commandCpuMs` readings spent between them: a process that started in between counts
 * from 0; one that ended in between is missed.
 */
export function commandCpuSpentMs(before: Map<number, number>, after: Map<number, number>): number {
  let ms = 0;
  for (const [pid, now] of after) ms += now - (before.get(pid) ?? 0);
  return ms;
}

/** The machine's CPU ms so far, busy and idle (iowait counts as idle), over all cores (Linux /proc/stat). */
export function machineCpuMs(): { busy: number; idle: number } | null {
  try {
    const fields = readFileSync('/proc/stat', 'utf8')
      .split('\n')[0]!
      .trim()
      .split(/\s+/)
      .slice(1)
      .map(Number);
    const idle = fields[3]! + fields[4]!;
    const total = fields.slice(0, 8).reduce((sum, n) => sum + n, 0);
    return { busy: ((total - idle) * 1000) / 100, idle: (idle * 1000) / 100 };
  } catch {
    return null;
  }
}

/** Resident memory of a process now and its peak, MiB (Linux /proc); null where /proc is unavailable. */
export function processMemoryMiB(pid: number): { rss: number; peak: number } | null {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kib = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1]);
    return { rss: kib('VmRSS') / 1024, peak: kib('VmHWM') / 1024 };
  } catch {
    return null;
  }
}
