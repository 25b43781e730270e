/**
 * Closed-loop load for turns of dependent requests to different servers (bench:festival): autocannon drives one
 * server per connection and cannot hold a request until another server has answered. Each loop owns one
 * keep-alive HTTP/1.1 connection per server and sends one request at a time. Answers must carry a
 * Content-Length (Fastify sends one with every answer here): anything else fails the run. On this machine the
 * client costs about 27 µs of CPU per request, where node:http costs 65–105 µs and autocannon 37–51 µs (each
 * against the bare route), so the servers keep most of the two cores.
 */
import { once } from 'node:events';
import { connect, type Socket } from 'node:net';

export interface HttpAnswer {
  status: number;
  body: Buffer;
}

const HEAD_END = '\r\n\r\n';

export class HttpConnection {
  private received: Buffer = Buffer.alloc(0);
  private pending: { resolve(answer: HttpAnswer): void; reject(error: Error): void } | null = null;
  private failure: Error | null = null;

  private constructor(private readonly socket: Socket) {
    socket.on('data', (chunk: Buffer) => {
      this.received = this.received.length === 0 ? chunk : Buffer.concat([this.received, chunk]);
      this.readAnswer();
    });
    socket.on('error', (error) => this.fail(error));
    socket.on('close', () => this.fail(new Error('the server closed the connection')));
  }

  static async open(port: number): Promise<HttpConnection> {
    const socket = connect(port, '127.0.0.1');
    socket.setNoDelay(true);
    await once(socket, 'connect');
    return new HttpConnection(socket);
  }

  /** Sends one request; `body` is sent as JSON. */
  request(method: 'GET' | 'POST', path: string, body?: string): Promise<HttpAnswer> {
    if (this.failure) return Promise.reject(this.failure);
    if (this.pending) return Promise.reject(new Error('one request at a time per connection'));
    const head = `${method} ${path} HTTP/1.1\r\nhost: 127.0.0.1\r\n`;
    return new Promise((resolve, reject) => {
      this.pending = { resolve, reject };
      this.socket.write(
        body === undefined
          ? `${head}\r\n`
          : `${head}content-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
      );
    });
  }

  close(): void {
    this.socket.destroy();
  }

  private readAnswer(): void {
    if (this.pending === null) return;
    const headEnd = this.received.indexOf(HEAD_END);
    if (headEnd < 0) return;
    const head = this.received.toString('latin1', 0, headEnd);
    const length = /\r\ncontent-length: *(\d+)/i.exec(head);
    if (length === null) {
      this.fail(new Error(`an answer without Content-Length: ${head.split('\r\n')[0]}`));
      return;
    }
    const bodyStart = headEnd + HEAD_END.length;
    const bodyEnd = bodyStart + Number(length[1]);
    if (this.received.length < bodyEnd) return;
    // "HTTP/1.1 200 OK": the status code is at 9–12.
    const answer = { status: Number(head.slice(9, 12)), body: this.received.subarray(bodyStart, bodyEnd) };
    this.received = this.received.subarray(bodyEnd);
    const { resolve } = this.pending;
    this.pending = null;
    resolve(answer);
  }

  private fail(error: Error): void {
    this.failure ??= error;
    this.pending?.reject(error);
    this.pending = null;
    this.socket.destroy();
  }
}

/** `count` connections to one server. */
export const openConnections = (port: number, count: number) =>
  Promise.all(Array.from({ length: count }, () => HttpConnection.open(port)));

export interface LoopBounds {
  /** stop starting turns after this long */
  seconds: number;
  /** and after this many turns in all */
  maxTurns: number;
}

/**
 * Runs `turn(loop)` in `loops` concurrent closed loops within the bounds; returns the turns run and the seconds
 * they took (until the last turn ended).
 */
export async function runLoops(
  loops: number,
  { seconds, maxTurns }: LoopBounds,
  turn: (loop: number) => Promise<void>,
): Promise<{ turns: number; seconds: number }> {
  const started = performance.now();
  const deadline = started + seconds * 1000;
  let turns = 0;
  await Promise.all(
    Array.from({ length: loops }, async (_, loop) => {
      while (turns < maxTurns && performance.now() < deadline) {
        turns++;
        await turn(loop);
      }
    }),
  );
  return { turns, seconds: (performance.now() - started) / 1000 };
}
