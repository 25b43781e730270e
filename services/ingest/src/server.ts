import { listenWithGracefulShutdown } from '@elevens/http';
import { buildIngestApp } from './app';
import { loadIngestConfig } from './config';

/** Reads the environment, starts the ingest service and shuts it down gracefully on SIGINT/SIGTERM. */
export async function startIngestServer(env: NodeJS.ProcessEnv = process.env): Promise<string> {
  const config = loadIngestConfig(env);
  const app = await buildIngestApp({ config });
  return listenWithGracefulShutdown(app, {
    name: 'ingest',
    host: config.HOST,
    port: config.PORT,
    shutdownTimeoutMs: config.SHUTDOWN_TIMEOUT_MS,
    shutdownDrainMs: config.SHUTDOWN_DRAIN_MS,
  });
}
