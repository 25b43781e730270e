import { ConfigError } from '@elevens/config';
import type { FastifyInstance } from 'fastify';

export interface ListenOptions {
  /** the process's name in messages: `api`, `ingest` */
  name: string;
  host: string;
  port: number;
  shutdownTimeoutMs: number;
  /** SHUTDOWN_DRAIN_MS: how long the app serves on, its health routes answering 503, before it closes */
  shutdownDrainMs?: number;
}

/** Why a listen failed, for the failures the operator fixes with the port or host setting (`portSetting`). */
const LISTEN_FAILURES: Record<string, (portSetting: string) => string> = {
  EADDRINUSE: (portSetting) => `the port is already in use; stop the other process or set ${portSetting}`,
  EACCES: (portSetting) => `permission denied (ports below 1024 need privileges); set ${portSetting}`,
  EADDRNOTAVAIL: () => 'not an address of this machine; set HOST',
  ENOTFOUND: () => 'the host name does not resolve; set HOST',
};

/**
 * Listens on `host:port`. A busy or forbidden address closes the app and throws a `ConfigError` whose message is
 * one line (the CLI prints it and exits 1), not Node's stack.
 */
export async function listenOrExplain(
  app: FastifyInstance,
  options: Pick<ListenOptions, 'name' | 'host' | 'port'> & {
    /** what sets the port, named in the message (default `PORT`) */
    portSetting?: string;
    /** share the port with the process's other threads listening on it (SO_REUSEPORT; the kernel spreads connections) */
    reusePort?: boolean;
  },
): Promise<string> {
  try {
    return await app.listen({
      host: options.host,
      port: options.port,
      ...(options.reusePort ? { reusePort: true } : {}),
    });
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    const reason = typeof code === 'string' ? LISTEN_FAILURES[code] : undefined;
    if (reason === undefined) throw error;
    await app.close();
    throw new ConfigError(
      `elevens ${options.name}: cannot listen on ${options.host}:${options.port} (${code}): ${reason(options.portSetting ?? 'PORT')}`,
    );
  }
}

/** The drain before a close: `start` makes the health routes answer 503, then the app serves on for `ms`. */
export interface Drain {
  ms: number;
  start(): void;
}

/**
 * On SIGINT/SIGTERM first drains (`drain`: the health routes answer 503 and the app serves on, so a load balancer
 * takes the process out before any request meets a closing one), then runs `close` (stop accepting connections,
 * let in-flight requests and onClose hooks finish), bounded by `timeoutMs`, then exits: 0 when it closed, 1 when it
 * failed or ran out of time. A second signal ends the process at once.
 */
export function closeOnSignals(
  log: FastifyInstance['log'],
  timeoutMs: number,
  close: () => Promise<unknown>,
  drain?: Drain,
): void {
  let closing = false;
  const shutdown = async (signal: string) => {
    if (closing) return;
    closing = true;
    const drainMs = drain?.ms ?? 0;
    log.info({ signal, drainMs }, 'shutting down');
    if (drain && drainMs > 0) {
      drain.start();
      await new Promise((resolve) => setTimeout(resolve, drainMs));
    }
    const timer = setTimeout(() => {
      log.error('shutdown timed out, exiting');
      process.exit(1);
    }, timeoutMs);
    timer.unref();
    close().then(
      () => process.exit(0),
      (error: unknown) => {
        log.error({ err: error }, 'error while shutting down');
        process.exit(1);
      },
    );
  };
  process.once('SIGINT', () => void shutdown('SIGINT'));
  process.once('SIGTERM', () => void shutdown('SIGTERM'));
}

/** Listens (`listenOrExplain`) and closes the app gracefully on SIGINT/SIGTERM (`closeOnSignals`). */
export async function listenWithGracefulShutdown(
  app: FastifyInstance,
  options: ListenOptions,
): Promise<string> {
  const address = await listenOrExplain(app, options);
  closeOnSignals(app.log, options.shutdownTimeoutMs, () => app.close(), {
    ms: options.shutdownDrainMs ?? 0,
    start: () => {
      app.lifecycle.draining = true;
    },
  });
  return address;
}
