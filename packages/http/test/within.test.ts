import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { connect, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TIMED_OUT, within } from '../src/within';

/** Holds the event loop for `ms`, as a build or a model load in the same process does. */
function blockEventLoop(ms: number) {
  const until = Date.now() + ms;
  while (Date.now() < until);
}

// An echo server in a process of its own, like a store that is quick and well: it answers while this process's
// event loop is held.
const ECHO_SERVER = `
const server = require('node:net').createServer((socket) => socket.on('data', (chunk) => socket.write(chunk)));
server.listen(0, '127.0.0.1', () => console.log(server.address().port));
`;

let echoServer: ChildProcess;
let port: number;

beforeAll(async () => {
  echoServer = spawn(process.execPath, ['-e', ECHO_SERVER], { stdio: ['ignore', 'pipe', 'inherit'] });
  const [line] = await once(echoServer.stdout!, 'data');
  port = Number(String(line).trim());
});

afterAll(() => {
  echoServer.kill();
});

/** The answer to one byte written to the echo server, as a store's reply promise. */
async function askEcho(): Promise<{ answer: Promise<string>; socket: Socket }> {
  const socket = connect(port, '127.0.0.1');
  await once(socket, 'connect');
  const answer = once(socket, 'data').then(([chunk]) => (chunk as Buffer).toString());
  socket.write('x');
  return { answer, socket };
}

describe('within', () => {
  it('gives the answer that arrived while the event loop was held past the limit', async () => {
    const { answer, socket } = await askEcho();
    const outcome = within(answer, 50);
    // The echo comes back within a millisecond, but nothing reads it until the loop is free, after the limit.
    blockEventLoop(200);
    expect(await outcome).toBe('x');
    socket.destroy();
  });

  it('times out a store that does not answer', async () => {
    const never = new Promise<string>(() => {});
    const started = Date.now();
    expect(await within(never, 50)).toBe(TIMED_OUT);
    expect(Date.now() - started).toBeGreaterThanOrEqual(45);
  });

  it('gives a prompt answer at once', async () => {
    const { answer, socket } = await askEcho();
    expect(await within(answer, 5_000)).toBe('x');
    socket.destroy();
  });
});
