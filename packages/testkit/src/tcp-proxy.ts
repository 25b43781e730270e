import net from 'node:net';

/**
 * A TCP proxy in front of a real server (Redis, Postgres) whose client-to-server direction a test can hold:
 * while held, what clients send is kept, in order, and forwarded at `release()`. It puts one process's writes
 * behind another's deterministically, where timing alone would race.
 */
export interface TcpProxy {
  port: number;
  /** Keeps clients' bytes from now on. */
  hold(): void;
  /** Forwards what was kept, then passes bytes through again. */
  release(): void;
  /** Resolves once the bytes kept while held match `pattern` (as latin1 text: a command's name, say). */
  whenHeld(pattern: RegExp): Promise<void>;
  close(): Promise<void>;
}

export async function startTcpProxy(targetHost: string, targetPort: number): Promise<TcpProxy> {
  let held = false;
  const kept: { upstream: net.Socket; chunk: Buffer }[] = [];
  let waiting: { pattern: RegExp; resolve: () => void }[] = [];
  const keptText = () => Buffer.concat(kept.map(({ chunk }) => chunk)).toString('latin1');
  const settleWaiting = () => {
    const text = keptText();
    waiting = waiting.filter(({ pattern, resolve }) => {
      if (!pattern.test(text)) return true;
      resolve();
      return false;
    });
  };
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const upstream = net.connect(targetPort, targetHost);
    sockets.add(client).add(upstream);
    client.on('data', (chunk) => {
      if (!held) {
        upstream.write(chunk);
        return;
      }
      kept.push({ upstream, chunk });
      settleWaiting();
    });
    upstream.pipe(client);
    const end = () => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on('close', end).on('error', end);
    upstream.on('close', end).on('error', end);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    hold() {
      held = true;
    },
    release() {
      held = false;
      for (const { upstream, chunk } of kept.splice(0)) upstream.write(chunk);
    },
    whenHeld: (pattern) =>
      new Promise<void>((resolve) => {
        waiting.push({ pattern, resolve });
        settleWaiting();
      }),
    close: () => {
      for (const socket of sockets) socket.destroy();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
