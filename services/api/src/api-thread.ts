/**
 * A worker thread of a multi-threaded API (server.ts, API_THREADS > 1): builds the app from the primary's
 * environment, listens on the primary's port (SO_REUSEPORT), says so, drains and closes its app when the primary
 * asks (then the thread ends).
 */
import { parentPort, threadId, workerData } from 'node:worker_threads';
import { listenOrExplain } from '@elevens/http';
import { buildApiApp } from './app';
import { loadApiConfig } from './config';
import type { ApiThreadData } from './server';
import { ThreadRpc } from './thread-rpc';
import { postableMetrics, workerLink } from './threads';

if (!parentPort) throw new Error('api-thread runs as a worker thread of the API (API_THREADS)');
const port = parentPort;
const { env, port: sharedPort } = workerData as ApiThreadData;

let app: Awaited<ReturnType<typeof buildApiApp>> | null = null;
const rpc = new ThreadRpc(port, {
  ownMetrics: async () => (app ? postableMetrics(await app.metrics.registry.getMetricsAsJSON()) : []),
  drain: async () => {
    if (app) app.lifecycle.draining = true;
  },
  close: async () => {
    await app?.close();
    port.close();
  },
});

try {
  const config = loadApiConfig(env);
  app = await buildApiApp({ config, thread: workerLink(rpc), logging: { thread: threadId } });
  await listenOrExplain(app, { name: 'api', host: config.HOST, port: sharedPort, reusePort: true });
  rpc.notify('listening');
} catch (error) {
  // Thrown on, it ends the thread: the primary gets it as the worker's 'error' and stops starting.
  await app?.close();
  throw error;
}
