import { ConfigError } from '@elevens/config';
import type { FastifyInstance } from 'fastify';

export interface ListenOptions {
  /** the process's name in messages: `api`, `ingest` */
  name: string;
  host: string;
  port: number;
  shutdownTimeoutMs: number;
}

/** Why a listen failed, for the failures the operator fixes with HOST or PORT. */
const LISTEN_FAILURES: Record<string, string> = {
  EADDRINUSE: 'the port is already in use; stop the other process or set PORT',
  EACCES: 'permission denied (ports below 1024 need privileges); set PORT',
  EADDRNOTAVAIL: 'not an address of this machine; set HOST',
  ENOTFOUND: 'the host name does not resolve; set HOST',
};

/**
 * Listens, and on SIGINT/SIGTERM stops accepting connections, lets in-flight requests and onClose hooks finish
 * (bounded by the timeout), then exits. A busy or forbidden address closes the app and throws a `ConfigError`
 * whose message is one line (the CLI prints it and exits 1), not Node's stack.
 */
export async function listenWithGracefulShutdown(
  app: FastifyInstance,
  options: ListenOptions,
): Promise<string> {
  let address: string;
  try {
    address = await app.listen({ host: options.host, port: options.port });
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    const reason = typeof code === 'string' ? LISTEN_FAILURES[code] : undefined;
    if (reason === undefined) throw error;
    await app.close();
    throw new ConfigError(
      `elevens ${options.name}: cannot listen on ${options.host}:${options.port} (${code}): ${reason}`,
    );
  }
  let closing = false;
  const shutdown = (signal: string) => {
    if (closing) return;
    closing = true;
    app.log.info({ signal }, 'shutting down');
    const timer = setTimeout(() => {
      app.log.error('shutdown timed out, exiting');
      process.exit(1);
    }, options.shutdownTimeoutMs);
    timer.unref();
    app.close().then(
      () => process.exit(0),
      (error: unknown) => {
        app.log.error({ err: error }, 'error while shutting down');
        process.exit(1);
      },
    );
  };
  process.once('SIGINT', () => shutdown('SIGINT'));
  process.once('SIGTERM', () => shutdown('SIGTERM'));
  return address;
}
