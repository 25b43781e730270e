import { listenWithGracefulShutdown } from '@elevens/http';
import { buildApiApp } from './app';
import { loadApiConfig } from './config';

/** Reads the environment, starts the API service and shuts it down gracefully on SIGINT/SIGTERM. */
export async function startApiServer(env: NodeJS.ProcessEnv = process.env): Promise<string> {
  const config = loadApiConfig(env);
  const app = await buildApiApp({ config });
  return listenWithGracefulShutdown(app, {
    name: 'api',
    host: config.HOST,
    port: config.PORT,
    shutdownTimeoutMs: config.SHUTDOWN_TIMEOUT_MS,
  });
}
