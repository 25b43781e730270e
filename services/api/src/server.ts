import { randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';
import { type AddressInfo, createServer, type Server } from 'node:net';
import { extname } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { threadId, Worker } from 'node:worker_threads';
import { ConfigError } from '@elevens/config';
import { closeOnSignals, listenOrExplain, listenWithGracefulShutdown } from '@elevens/http';
import { buildApiApp } from './app';
import { type ApiConfig, loadApiConfig } from './config';
import { PrimaryThread } from './threads';

/** Reads the environment, starts the API service and shuts it down gracefully on SIGINT/SIGTERM. */
export async function startApiServer(env: NodeJS.ProcessEnv = process.env): Promise<string> {
  const config = loadApiConfig(env);
  if (config.API_THREADS > 1) return startThreadedApi(config, env);
  const app = await buildApiApp({ config });
  return listenWithGracefulShutdown(app, {
    name: 'api',
    host: config.HOST,
    port: config.PORT,
    shutdownTimeoutMs: config.SHUTDOWN_TIMEOUT_MS,
    shutdownDrainMs: config.SHUTDOWN_DRAIN_MS,
  });
}

/**
 * Whether two listeners may bind one port here (`reusePort`), as the threads of a multi-threaded API do. A Node
 * before 22.12 ignores the option and a platform without SO_REUSEPORT refuses it: the first worker's bind then
 * failed against the primary's as if another process held the port.
 */
async function listenersShareAPort(): Promise<boolean> {
  const listen = (server: Server, port: number) =>
    new Promise<boolean>((resolve) => {
      server.once('error', () => resolve(false));
      server.listen({ host: '127.0.0.1', port, reusePort: true }, () => resolve(true));
    });
  const first = createServer();
  const second = createServer();
  try {
    if (!(await listen(first, 0))) return false;
    return await listen(second, (first.address() as AddressInfo).port);
  } finally {
    for (const server of [first, second]) if (server.listening) server.close();
  }
}

/** The data a worker thread starts from (api-thread.ts). */
export interface ApiThreadData {
  env: Record<string, string | undefined>;
  /** the port the primary listens on, which the worker shares */
  port: number;
}

// The worker runs the module next to this one: compiled, with this thread's node options (V8's flags, such as
// the images' --max-semi-space-size, are the process's already), or the TypeScript sources through tsx as this
// one does (a thread does not inherit loader hooks), with the export condition that resolves the packages' sources.
const ownExtension = extname(fileURLToPath(import.meta.url));
const WORKER_ENTRY = new URL(`./api-thread${ownExtension}`, import.meta.url);
const WORKER_EXEC_ARGV =
  ownExtension === '.ts'
    ? {
        execArgv: [
          '--conditions=@elevens/source',
          '--import',
          pathToFileURL(createRequire(import.meta.url).resolve('tsx/esm')).href,
        ],
      }
    : {};

interface ApiWorker {
  /** asks the worker to drain: its health routes answer 503 while it serves on (SHUTDOWN_DRAIN_MS) */
  drain(): void;
  /** asks the worker to close its app (in-flight requests finish) and resolves once the thread has ended */
  close(): Promise<void>;
  /** resolves when the thread ends, with its exit code and the error that ended it, if one did */
  readonly exited: Promise<{ code: number; error: Error | null }>;
}

/** Starts one worker thread serving the app on `port`; resolves once it listens, rejects with its error if it cannot. */
function startWorker(primary: PrimaryThread, env: NodeJS.ProcessEnv, port: number): Promise<ApiWorker> {
  const data: ApiThreadData = { env: { ...env }, port };
  const worker = new Worker(WORKER_ENTRY, { workerData: data, ...WORKER_EXEC_ARGV });
  let error: Error | null = null;
  // An error the thread did not handle ends it; 'exit' follows.
  worker.on('error', (thrown) => {
    error = thrown;
  });
  // Not events.once: it would reject on that 'error'.
  const exited = new Promise<{ code: number; error: Error | null }>((resolve) =>
    worker.once('exit', (code) => resolve({ code, error })),
  );
  return new Promise((resolve, reject) => {
    const { rpc, detach } = primary.attach(worker, {
      listening: () => resolve({ drain: () => rpc.notify('drain'), close, exited }),
    });
    const close = async () => {
      rpc.notify('close');
      await exited;
    };
    void exited.then((ended) => {
      detach();
      reject(ended.error ?? new Error(`an API thread exited with code ${ended.code} before it listened`));
    });
  });
}

/**
 * API_THREADS > 1: this thread (the primary) and API_THREADS - 1 worker threads each serve the whole app on one
 * port (SO_REUSEPORT); the primary loads the model's lists into memory they share (threads.ts). A thread that
 * ends on its own ends the process (exit 1), as a crash of a single-threaded API would; SIGINT/SIGTERM close
 * every thread's app gracefully.
 */
async function startThreadedApi(parsed: ApiConfig, processEnv: NodeJS.ProcessEnv): Promise<string> {
  if (!(await listenersShareAPort())) {
    throw new ConfigError(
      `elevens api: API_THREADS=${parsed.API_THREADS} needs threads listening on one port (SO_REUSEPORT: Linux, ` +
        `Node 22.12 or later), which Node ${process.version} on ${process.platform} cannot do; set API_THREADS=1 ` +
        'or run a Node that can',
    );
  }
  // One key for every thread's hashes of user ids in the logs, so an id hashes alike whichever thread logs it.
  const hashKey =
    parsed.LOG_HASH_USER_IDS && parsed.LOG_USER_ID_HASH_KEY === undefined
      ? randomBytes(32).toString('hex')
      : null;
  const config = hashKey === null ? parsed : { ...parsed, LOG_USER_ID_HASH_KEY: hashKey };
  const env = hashKey === null ? processEnv : { ...processEnv, LOG_USER_ID_HASH_KEY: hashKey };
  const primary = new PrimaryThread();
  const app = await buildApiApp({ config, thread: primary.link, logging: { thread: threadId } });
  primary.serveFrom({
    modelStore: app.modelStore,
    ownMetrics: () => app.metrics.registry.getMetricsAsJSON(),
  });
  const address = await listenOrExplain(app, {
    name: 'api',
    host: config.HOST,
    port: config.PORT,
    reusePort: true,
  });
  const { port } = app.server.address() as AddressInfo;
  const workers: ApiWorker[] = [];
  let closing = false;
  const closeAll = async () => {
    closing = true;
    await Promise.all([app.close(), ...workers.map((worker) => worker.close())]);
  };
  try {
    for (let n = 1; n < config.API_THREADS; n++) workers.push(await startWorker(primary, env, port));
  } catch (error) {
    await closeAll();
    throw error;
  }
  for (const worker of workers)
    void worker.exited.then(({ code, error }) => {
      if (closing) return;
      app.log.error({ code, err: error }, 'an API thread ended: shutting the process down');
      // A thread whose event loop is stuck never closes: the process would stay up, its socket still taking a
      // share of new connections, and no orchestrator would restart it.
      setTimeout(() => process.exit(1), config.SHUTDOWN_TIMEOUT_MS).unref();
      closeAll().finally(() => process.exit(1));
    });
  closeOnSignals(app.log, config.SHUTDOWN_TIMEOUT_MS, closeAll, {
    ms: config.SHUTDOWN_DRAIN_MS,
    start: () => {
      app.lifecycle.draining = true;
      for (const worker of workers) worker.drain();
    },
  });
  app.log.info({ threads: config.API_THREADS }, 'serving on every thread');
  return address;
}
