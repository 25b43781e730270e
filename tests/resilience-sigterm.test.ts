import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { request } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { createTestInfra, freePort, type TestInfra } from '@elevens/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const bin = fileURLToPath(new URL('../packages/cli/bin/elevens.js', import.meta.url));

let infra: TestInfra;
let child: ChildProcess | null = null;

beforeAll(async () => {
  infra = await createTestInfra('resilience-sigterm');
});

afterAll(async () => {
  if (child?.exitCode === null) child.kill('SIGKILL');
  await infra?.close();
});

async function waitForHealth(port: number, output: () => string) {
  for (let attempt = 0; attempt < 300; attempt++) {
    const up = await fetch(`http://127.0.0.1:${port}/healthz`).then(
      (r) => r.ok,
      () => false,
    );
    if (up) return;
    await sleep(100);
  }
  throw new Error(`ingest did not start:\n${output()}`);
}

/** Polls `check` every 20 ms until it holds; throws naming `what` when it does not within 10 s. */
async function until(what: string, check: () => boolean | Promise<boolean>) {
  const deadline = Date.now() + 10_000;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`${what} did not happen within 10 s`);
    await sleep(20);
  }
}

/**
 * A request whose body arrives in two parts: the first now (so the server has routed it and is reading its
 * body), the rest when `finish()` is called.
 */
function slowPost(port: number, body: string) {
  const payload = Buffer.from(body);
  const half = Math.floor(payload.length / 2);
  const req = request({
    host: '127.0.0.1',
    port,
    method: 'POST',
    path: '/v1/events',
    headers: { 'content-type': 'application/json', 'content-length': payload.length },
  });
  const answer = new Promise<{ status: number; body: string }>((resolve, reject) => {
    req.on('response', (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () =>
        resolve({ status: response.statusCode ?? 0, body: Buffer.concat(chunks).toString() }),
      );
    });
    req.on('error', reject);
  });
  req.write(payload.subarray(0, half));
  return {
    answer,
    finish: () => req.end(payload.subarray(half)),
  };
}

describe('SIGTERM', () => {
  it('lets in-flight requests finish, commits what it acknowledged, and exits 0', async () => {
    const port = await freePort();
    let output = '';
    child = spawn('node', [bin, 'serve', 'ingest'], {
      env: { ...process.env, ...infra.env, HOST: '127.0.0.1', PORT: String(port), LOG_LEVEL: 'info' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout!.on('data', (chunk) => {
      output += chunk;
    });
    child.stderr!.on('data', (chunk) => {
      output += chunk;
    });
    const exited = once(child, 'exit') as Promise<[number | null, string | null]>;
    await waitForHealth(port, () => output);

    const batches = Array.from({ length: 4 }, (_, b) =>
      Array.from({ length: 50 }, (_, i) => ({
        eventId: `sigterm-${b}-${i}`,
        userId: `u${i % 7}`,
        itemId: `i${(b * 50 + i) % 13}`,
        type: 'view',
      })),
    );
    const inFlight = batches.map((events) => slowPost(port, JSON.stringify({ events })));
    // The server logs each request once it has read its head: from then on these requests are in flight.
    await until('the requests reaching the server', () => {
      const heads = output.match(/"url":"\/v1\/events"[^\n]*"msg":"incoming request"/g);
      return (heads?.length ?? 0) === batches.length;
    });
    child.kill('SIGTERM');
    await until('the shutdown starting', () => output.includes('shutting down'));
    // A connection accepted before the server stopped listening is no new one after SIGTERM: ask again.
    let refused = false;
    await until('a new connection being refused', async () => {
      refused = await fetch(`http://127.0.0.1:${port}/healthz`).then(
        () => false,
        () => true,
      );
      return refused;
    });
    for (const request of inFlight) request.finish();
    const answers = await Promise.all(inFlight.map((r) => r.answer));
    const [code] = await exited;

    expect(refused, 'a new connection after SIGTERM').toBe(true);
    for (const answer of answers) expect(answer.status, answer.body).toBe(200);
    const acknowledged = answers.reduce(
      (sum, a) => sum + (JSON.parse(a.body) as { accepted: number }).accepted,
      0,
    );
    expect(acknowledged).toBe(200);
    expect(code, output).toBe(0);
    const { rows } = await infra.pool.query(
      "SELECT count(*)::int AS n FROM events WHERE event_id LIKE 'sigterm-%'",
    );
    expect(rows[0].n).toBe(acknowledged);
  });
});
