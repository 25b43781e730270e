import { createServer, type Server, Socket } from 'node:net';

/**
 * A TCP proxy a test controls, to fail a dependency for real: point a service's DATABASE_URL or REDIS_URL at
 * `url(...)`, then `cut()` its connections (a failover), `refuse()` new ones (the server is down) and
 * `restore()` forwarding (it is back); or `hold()` what its clients send and `release()` it later, which puts
 * one process's writes behind another's deterministically, where timing alone would race.
 */
export interface TcpProxy {
  readonly port: number;
  /** `target` with its host and port replaced by the proxy's */
  url(target: string): string;
  /** Destroys every open connection; new ones are still forwarded. */
  cut(): void;
  /** Stops listening (new connections are refused) and destroys every open connection. */
  refuse(): Promise<void>;
  /** Listens and forwards again, on the same port. */
  restore(): Promise<void>;
  /**
   * Keeps what clients send from now on, in order, instead of forwarding it; with `from`, bytes pass until a chunk
   * matching it (as latin1 text) arrives, which is kept with everything after it.
   */
  hold(from?: RegExp): void;
  /** Forwards what was kept, then passes clients' bytes through again. */
  release(): void;
  /** Resolves once the bytes kept while held match `pattern` (as latin1 text: a command's name, say). */
  whenHeld(pattern: RegExp): Promise<void>;
  close(): Promise<void>;
}

const listen = (server: Server, port: number) =>
  new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });

const stopListening = (server: Server) =>
  new Promise<void>((resolve) => {
    if (!server.listening) return resolve();
    server.close(() => resolve());
  });

/** Forwards 127.0.0.1:<free port> to the host and port of `target` (a URL such as postgres://…:5432/db). */
export async function startTcpProxy(target: string): Promise<TcpProxy> {
  const upstream = new URL(target);
  const upstreamHost = upstream.hostname;
  const upstreamPort = Number(upstream.port);
  const open = new Set<Socket>();
  let held = false;
  let holdFrom: RegExp | null = null;
  const kept: { remote: Socket; chunk: Buffer }[] = [];
  let waiting: { pattern: RegExp; resolve: () => void }[] = [];
  const settleWaiting = () => {
    const text = Buffer.concat(kept.map(({ chunk }) => chunk)).toString('latin1');
    waiting = waiting.filter(({ pattern, resolve }) => {
      if (!pattern.test(text)) return true;
      resolve();
      return false;
    });
  };

  const server = createServer((client) => {
    const remote = new Socket();
    open.add(client);
    open.add(remote);
    const drop = () => {
      client.destroy();
      remote.destroy();
      open.delete(client);
      open.delete(remote);
    };
    client.on('error', drop).on('close', drop);
    remote.on('error', drop).on('close', drop);
    remote.connect(upstreamPort, upstreamHost, () => {
      client.on('data', (chunk: Buffer) => {
        if (holdFrom?.test(chunk.toString('latin1'))) {
          held = true;
          holdFrom = null;
        }
        if (!held) {
          remote.write(chunk);
          return;
        }
        kept.push({ remote, chunk });
        settleWaiting();
      });
      remote.pipe(client);
    });
  });
  await listen(server, 0);
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('proxy has no TCP address');
  const port = address.port;

  const cut = () => {
    for (const socket of open) socket.destroy();
    open.clear();
  };

  return {
    port,
    url(targetUrl) {
      const proxied = new URL(targetUrl);
      proxied.hostname = '127.0.0.1';
      proxied.port = String(port);
      return proxied.toString();
    },
    cut,
    async refuse() {
      const stopped = stopListening(server);
      cut();
      await stopped;
    },
    async restore() {
      if (!server.listening) await listen(server, port);
    },
    hold(from) {
      if (from) holdFrom = from;
      else held = true;
    },
    release() {
      held = false;
      holdFrom = null;
      for (const { remote, chunk } of kept.splice(0)) remote.write(chunk);
    },
    whenHeld: (pattern) =>
      new Promise<void>((resolve) => {
        waiting.push({ pattern, resolve });
        settleWaiting();
      }),
    async close() {
      const stopped = stopListening(server);
      cut();
      await stopped;
    },
  };
}
