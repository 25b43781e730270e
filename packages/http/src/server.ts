import type { FastifyInstance } from 'fastify';

export interface ListenOptions {
  host: string;
  port: number;
  shutdownTimeoutMs: number;
}

/**
 * Listens, and on SIGINT/SIGTERM stops accepting connections, lets in-flight requests and onClose hooks finish
 * (bounded by the timeout), then exits.
 */
export async function listenWithGracefulShutdown(
  app: FastifyInstance,
  options: ListenOptions,
): Promise<string> {
  const address = await app.listen({ host: options.host, port: options.port });
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
