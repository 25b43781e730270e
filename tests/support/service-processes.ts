import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { freePort } from '@elevens/testkit';

const CLI = fileURLToPath(new URL('../../packages/cli/bin/elevens.js', import.meta.url));
const HOST = '127.0.0.1';

/** A child process a test started, with what it wrote to stderr kept for failure messages. */
export interface StartedProcess {
  readonly child: ChildProcess;
  /** resolves once the process has exited, with its code and signal */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  stderr(): string;
  /** Sends `signal` (SIGKILL by default) unless the process already exited, and waits for the exit. */
  kill(signal?: NodeJS.Signals): Promise<void>;
}

function track(child: ChildProcess): StartedProcess {
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  // 'close', not 'exit': at 'exit' the child's output may still be in the pipes, and a test read an empty stderr
  // from a command that had printed its one line (on a loaded machine).
  const exited = once(child, 'close').then(([code, signal]) => ({
    code: code as number | null,
    signal: signal as NodeJS.Signals | null,
  }));
  return {
    child,
    exited,
    stderr: () => stderr,
    async kill(signal = 'SIGKILL') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      await exited;
    },
  };
}

/** An `elevens serve <service>` process listening on a port of its own. */
export interface ServiceProcess extends StartedProcess {
  readonly name: string;
  readonly url: string;
  readonly port: number;
}

/**
 * Starts `elevens serve <service>` (the bin the images run) with `env` on a free port and resolves once its
 * `/readyz` answers 200 (Postgres and Redis both answer), so a load balancer's check would take it in.
 */
export async function startService(
  service: 'api' | 'ingest',
  name: string,
  env: Record<string, string>,
  timeoutMs = 60_000,
): Promise<ServiceProcess> {
  const port = await freePort();
  const url = `http://${HOST}:${port}`;
  const started = track(
    spawn(process.execPath, [CLI, 'serve', service], {
      env: { ...process.env, ...env, HOST, PORT: String(port) },
      stdio: ['ignore', 'ignore', 'pipe'],
    }),
  );
  const serviceProcess = { ...started, name, url, port };
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (started.child.exitCode !== null)
      throw new Error(`${name} exited with code ${started.child.exitCode}: ${started.stderr()}`);
    const ready = await fetch(`${url}/readyz`).then(
      (response) => response.status === 200,
      () => false,
    );
    if (ready) return serviceProcess;
    if (Date.now() > deadline) {
      await started.kill();
      throw new Error(`${name} was not ready within ${timeoutMs} ms: ${started.stderr()}`);
    }
    await sleep(100);
  }
}

/** `elevens <args>` with `env` on top of this process's environment, its stdout and stderr piped. */
const spawnCli = (args: string[], env: Record<string, string>) =>
  spawn(process.execPath, [CLI, ...args], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });

/** A running `elevens` command whose stdout and stderr are kept together, in the order they arrived. */
export interface ElevensProcess extends StartedProcess {
  output(): string;
}

/** Starts `elevens <args>` with `env` on top of this process's environment, keeping everything it writes. */
export function spawnElevens(args: string[], env: Record<string, string>): ElevensProcess {
  const child = spawnCli(args, env);
  let output = '';
  const keep = (chunk: Buffer) => {
    output += chunk.toString();
  };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  return { ...track(child), output: () => output };
}

/** Runs an `elevens` command to its end; resolves with its exit code and output whatever the code. */
export async function runElevens(
  args: string[],
  env: Record<string, string>,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawnCli(args, env);
  let stdout = '';
  child.stdout.on('data', (chunk: Buffer) => {
    stdout += chunk.toString();
  });
  const started = track(child);
  const { code } = await started.exited;
  return { code, stdout, stderr: started.stderr() };
}

/** Why HAProxy cannot run here (`haproxy` not on the PATH), or null when it can. */
export function haproxyUnavailable(): string | null {
  try {
    execFileSync('haproxy', ['-v'], { stdio: 'ignore', timeout: 5_000 });
    return null;
  } catch {
    return 'skipped: haproxy is not on the PATH (install the Debian package haproxy) to drive load through the load balancer';
  }
}

/** Where the local copy of a compose HAProxy config listens and sends requests. */
export interface LocalHaproxyAddresses {
  /** frontend name → local port its `bind` moves to */
  frontends: Record<string, number>;
  /** server name → local port of the process standing for that container */
  servers: Record<string, number>;
  /** the admin socket the test reads server statistics from */
  statsSocket: string;
}

/**
 * docker/haproxy.cfg with only its addresses moved to this machine: each frontend's `bind :<port>` to
 * 127.0.0.1:<local port>, each `server <name> <host>:<port>` to 127.0.0.1:<local port>, and an admin socket
 * added to `global`. Every other setting (checks, retries, redispatch, timeouts) is the file's own, so the test
 * exercises what compose runs. Throws when the file names a frontend or server the test did not place.
 */
export function localHaproxyConfig(template: string, addresses: LocalHaproxyAddresses): string {
  let frontend: string | null = null;
  const placed = new Set<string>();
  const lines = template.split('\n').map((line) => {
    const section = /^(frontend|backend|defaults|global|resolvers|listen)\b\s*(\S*)/.exec(line);
    if (section) {
      frontend = section[1] === 'frontend' ? section[2]! : null;
      return section[1] === 'global' ? `${line}\n  stats socket ${addresses.statsSocket} level admin` : line;
    }
    const bind = /^(\s+bind\s+)\S*:(\d+)(.*)$/.exec(line);
    if (bind && frontend !== null) {
      const port = addresses.frontends[frontend];
      if (port === undefined) throw new Error(`no local port for frontend ${frontend}`);
      placed.add(`frontend ${frontend}`);
      return `${bind[1]}${HOST}:${port}${bind[3]}`;
    }
    const server = /^(\s+server\s+(\S+)\s+)\S+:\d+(.*)$/.exec(line);
    if (server) {
      const port = addresses.servers[server[2]!];
      if (port === undefined) throw new Error(`no local port for server ${server[2]}`);
      placed.add(`server ${server[2]}`);
      return `${server[1]}${HOST}:${port}${server[3]}`;
    }
    return line;
  });
  for (const name of Object.keys(addresses.frontends))
    if (!placed.has(`frontend ${name}`)) throw new Error(`the config has no frontend ${name} binding a port`);
  for (const name of Object.keys(addresses.servers))
    if (!placed.has(`server ${name}`)) throw new Error(`the config has no server ${name}`);
  return lines.join('\n');
}

/** One server's line of HAProxy's `show stat`, the columns the tests read. */
export interface HaproxyServerStat {
  backend: string;
  server: string;
  /** UP, DOWN, … (with a transition such as "UP 1/2" while checks settle) */
  status: string;
  /** responses with a 2xx status */
  responses2xx: number;
  /** requests this server got again after a failure on it (retries) */
  retries: number;
  /** requests sent to another server after a failure on this one */
  redispatches: number;
}

/** HAProxy running a config file the test wrote, in the foreground. */
export interface HaproxyProcess extends StartedProcess {
  serverStats(): Promise<HaproxyServerStat[]>;
}

async function adminCommand(socket: string, command: string): Promise<string> {
  const connection = connect(socket);
  let reply = '';
  connection.on('data', (chunk: Buffer) => {
    reply += chunk.toString();
  });
  connection.write(`${command}\n`);
  await once(connection, 'end');
  return reply;
}

/** Starts `haproxy -db -f <configPath>` with `config` written there; resolves once `frontendPort` accepts. */
export async function startHaproxy(
  configPath: string,
  config: string,
  statsSocket: string,
  frontendPort: number,
): Promise<HaproxyProcess> {
  writeFileSync(configPath, config);
  const started = track(spawn('haproxy', ['-db', '-f', configPath], { stdio: ['ignore', 'ignore', 'pipe'] }));
  const deadline = Date.now() + 10_000;
  for (;;) {
    if (started.child.exitCode !== null)
      throw new Error(`haproxy exited with code ${started.child.exitCode}: ${started.stderr()}`);
    const listening = await new Promise<boolean>((resolve) => {
      const probe = connect(frontendPort, HOST);
      probe.once('connect', () => {
        probe.destroy();
        resolve(true);
      });
      probe.once('error', () => resolve(false));
    });
    // It may listen on its frontend a moment before its stats socket exists.
    if (listening && existsSync(statsSocket)) break;
    if (Date.now() > deadline) {
      await started.kill();
      throw new Error(`haproxy did not listen on ${frontendPort} and ${statsSocket}: ${started.stderr()}`);
    }
    await sleep(50);
  }
  return {
    ...started,
    async serverStats() {
      const [header, ...rows] = (await adminCommand(statsSocket, 'show stat')).trim().split('\n');
      const columns = header!.replace(/^# /, '').split(',');
      const column = (row: string[], name: string) => row[columns.indexOf(name)] ?? '';
      return rows
        .map((line) => line.split(','))
        .filter((row) => !['FRONTEND', 'BACKEND'].includes(column(row, 'svname')))
        .map((row) => ({
          backend: column(row, 'pxname'),
          server: column(row, 'svname'),
          status: column(row, 'status'),
          responses2xx: Number(column(row, 'hrsp_2xx')),
          retries: Number(column(row, 'wretr')),
          redispatches: Number(column(row, 'wredis')),
        }));
    },
  };
}
