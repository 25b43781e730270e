/**
 * The API app and a bare baseline route served from a child process, so the load generator does not share the
 * server's event loop. The benchmark script re-runs itself as `<script> serve <prefix>`; the child announces its
 * two ports on one marked line of stdout and passes its other lines through.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

const PORTS_MARKER = 'bench-ports ';

/** The node flags the API runs with in production (NODE_OPTIONS in docker/api.Dockerfile). */
const API_NODE_FLAGS = ['--max-semi-space-size=64'];

export interface ServerPorts {
  api: number;
  bare: number;
}

interface Listening {
  server: { address(): unknown };
}

const portOf = (app: Listening) => (app.server.address() as { port: number }).port;

/** Child side: prints both ports and closes both apps (and anything else in `close`) on SIGTERM. */
export function announcePorts(api: Listening, bare: Listening, close: () => Promise<unknown>): void {
  process.once('SIGTERM', () => {
    close().finally(() => process.exit(0));
  });
  console.log(`${PORTS_MARKER}${JSON.stringify({ api: portOf(api), bare: portOf(bare) })}`);
}

/**
 * Parent side: runs `script serve prefix ...childArgs` with the API's production node flags (under --cpu-prof
 * when BENCH_CPU_PROF names a directory).
 */
export function startServerPair(
  script: string,
  prefix: string,
  childArgs: readonly string[] = [],
): Promise<{ child: ChildProcess } & ServerPorts> {
  const child = spawn(
    process.execPath,
    [
      ...API_NODE_FLAGS,
      ...(process.env.BENCH_CPU_PROF ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_CPU_PROF}`] : []),
      '--import',
      'tsx',
      fileURLToPath(script),
      'serve',
      prefix,
      ...childArgs,
    ],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  return new Promise((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`the server process exited with ${code}`)));
    createInterface({ input: child.stdout! }).on('line', (line) => {
      if (!line.startsWith(PORTS_MARKER)) return console.log(line);
      resolve({ child, ...(JSON.parse(line.slice(PORTS_MARKER.length)) as ServerPorts) });
    });
  });
}
