/**
 * bench:capacity — what one request, one event and one model cost the stores, measured on the path a user takes:
 * a Redis server of its own (so no other work shows in its counters), a scratch database, and `elevens serve
 * ingest` / `elevens serve api` as child processes. The generator's shop goes through the ingest API; a build
 * publishes its model; then each kind of request is sent over HTTP and the stores' counters are read before and
 * after: Redis `INFO commandstats` (calls per command, those inside scripts included) and `INFO stats` (bytes
 * received and sent), Postgres relation sizes. docs/scaling.md turns these into the capacity model.
 *
 * BENCH_CAPACITY_USERS (default 2,000), _ITEMS (1,000), _EVENTS (60,000), _REQUESTS (500 per kind, 32 at a time).
 */

import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DEFAULT_DATABASE_URL } from '@elevens/config';
import { createPool } from '@elevens/db';
import { dropDatabase, ensureDatabase, migrate } from '@elevens/db/migrate';
import { generateCatalog, generateEvents, resolveGeneratorOptions } from '@elevens/generator';
import { freePort } from '@elevens/testkit/redis-cluster';
import { RUNTIME } from './runtime';

const USERS = Number(process.env.BENCH_CAPACITY_USERS ?? 2_000);
const ITEMS = Number(process.env.BENCH_CAPACITY_ITEMS ?? 1_000);
const EVENTS = Number(process.env.BENCH_CAPACITY_EVENTS ?? 60_000);
const REQUESTS = Number(process.env.BENCH_CAPACITY_REQUESTS ?? 500);
const SEED = 11;
const DATABASE = 'elevens_bench_capacity';
const PREFIX = 'cap:';
const BIN = fileURLToPath(new URL('../../packages/cli/bin/elevens.js', import.meta.url));

const log = (line: string) => console.error(`[bench:capacity] ${line}`);

function databaseUrl(name: string): string {
  const url = new URL(process.env.DATABASE_URL ?? DEFAULT_DATABASE_URL);
  url.pathname = `/${name}`;
  return url.toString();
}

/** A Redis server of our own: its counters see only this benchmark's traffic. */
async function startRedis(): Promise<{ url: string; stop: () => Promise<void> }> {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'elevens-capacity-'));
  const child = spawn(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', dir],
    { stdio: 'ignore' },
  );
  for (let attempt = 0; attempt < 100; attempt++) {
    try {
      if (
        execFileSync('redis-cli', ['-p', String(port), 'ping'])
          .toString()
          .trim() === 'PONG'
      )
        break;
    } catch {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return {
    url: `redis://127.0.0.1:${port}`,
    stop: async () => {
      child.kill('SIGTERM');
      await once(child, 'exit');
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

function redisInfo(url: string, section: string): Map<string, string> {
  const port = new URL(url).port;
  const text = execFileSync('redis-cli', ['-p', port, 'info', section]).toString();
  const fields = new Map<string, string>();
  for (const line of text.split('\r\n')) {
    const at = line.indexOf(':');
    if (at > 0) fields.set(line.slice(0, at), line.slice(at + 1));
  }
  return fields;
}

interface RedisCounters {
  calls: Map<string, number>;
  /** the Redis main thread's CPU time (user + system), µs: commands, scripts and networking */
  cpuUs: number;
  bytesIn: number;
  bytesOut: number;
  usedMemory: number;
}

function redisCounters(url: string): RedisCounters {
  const calls = new Map<string, number>();
  for (const [key, value] of redisInfo(url, 'commandstats')) {
    const command = key.replace(/^cmdstat_/, '');
    if (command === 'info') continue;
    calls.set(command, Number(/calls=(\d+)/.exec(value)?.[1] ?? 0));
  }
  const cpu = redisInfo(url, 'cpu');
  const stats = redisInfo(url, 'stats');
  const memory = redisInfo(url, 'memory');
  return {
    calls,
    bytesIn: Number(stats.get('total_net_input_bytes')),
    bytesOut: Number(stats.get('total_net_output_bytes')),
    usedMemory: Number(memory.get('used_memory')),
    cpuUs: (Number(cpu.get('used_cpu_user_main_thread')) + Number(cpu.get('used_cpu_sys_main_thread'))) * 1e6,
  };
}

interface PerUnit {
  commands: string;
  commandsPerUnit: number;
  cpuUs: number;
  bytesIn: number;
  bytesOut: number;
}

/** What the services send Redis with no request in flight (their polls), per millisecond. */
interface Background {
  calls: Map<string, number>;
  cpuUs: number;
  bytesIn: number;
  bytesOut: number;
}

const NO_BACKGROUND: Background = { calls: new Map(), cpuUs: 0, bytesIn: 0, bytesOut: 0 };

function backgroundOf(before: RedisCounters, after: RedisCounters, ms: number): Background {
  const calls = new Map<string, number>();
  for (const [command, n] of after.calls) calls.set(command, (n - (before.calls.get(command) ?? 0)) / ms);
  return {
    calls,
    cpuUs: (after.cpuUs - before.cpuUs) / ms,
    bytesIn: (after.bytesIn - before.bytesIn) / ms,
    bytesOut: (after.bytesOut - before.bytesOut) / ms,
  };
}

/**
 * Commands, CPU and bytes per unit between two readings `ms` apart, less the background of that long (the INFO
 * calls themselves are left out).
 */
function perUnit(
  before: RedisCounters,
  after: RedisCounters,
  units: number,
  ms = 0,
  background: Background = NO_BACKGROUND,
): PerUnit {
  const commands: [string, number][] = [];
  let total = 0;
  for (const [command, calls] of after.calls) {
    const delta = calls - (before.calls.get(command) ?? 0) - (background.calls.get(command) ?? 0) * ms;
    if (delta / units < 0.005) continue;
    commands.push([command, delta / units]);
    total += delta / units;
  }
  commands.sort((a, b) => b[1] - a[1]);
  return {
    commands: commands.map(([command, n]) => `${command} ${n.toFixed(2)}`).join(', '),
    commandsPerUnit: total,
    cpuUs: (after.cpuUs - before.cpuUs - background.cpuUs * ms) / units,
    bytesIn: (after.bytesIn - before.bytesIn - background.bytesIn * ms) / units,
    bytesOut: (after.bytesOut - before.bytesOut - background.bytesOut * ms) / units,
  };
}

function startService(
  name: 'api' | 'ingest',
  env: NodeJS.ProcessEnv,
): Promise<{ url: string; child: ChildProcess }> {
  return freePort().then(async (port) => {
    const child = spawn(process.execPath, [BIN, 'serve', name], {
      env: { ...env, HOST: '127.0.0.1', PORT: String(port) },
      stdio: ['ignore', 'ignore', 'inherit'],
    });
    const url = `http://127.0.0.1:${port}`;
    for (let attempt = 0; attempt < 300; attempt++) {
      const ready = await fetch(`${url}/readyz`).then(
        (response) => response.ok,
        () => false,
      );
      if (ready) return { url, child };
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    throw new Error(`elevens serve ${name} did not become ready`);
  });
}

async function send(url: string, method: string, body?: unknown): Promise<unknown> {
  const response = await fetch(url, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const json = await response.json();
  if (!response.ok) throw new Error(`${method} ${url} answered ${response.status}: ${JSON.stringify(json)}`);
  return json;
}

async function eventRelationBytes(databaseUrlText: string): Promise<number> {
  const pool = createPool(databaseUrlText, { max: 1 });
  const { rows } = await pool.query<{ bytes: string }>(
    `SELECT (SELECT coalesce(sum(pg_total_relation_size(inhrelid)), 0) FROM pg_inherits
              WHERE inhparent = 'events'::regclass)
          + pg_total_relation_size('event_ids') AS bytes`,
  );
  await pool.end();
  return Number(rows[0]!.bytes);
}

/** Runs `task` over `items`, `concurrency` at a time: requests overlap as a storefront's do, so the per-request
 * figures are not a lone request's (a wake-up of Redis for each) and the services' polls weigh little. */
async function inParallel<T>(
  items: readonly T[],
  concurrency: number,
  task: (item: T, index: number) => Promise<unknown>,
) {
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const index = next++;
      await task(items[index]!, index);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
}

const CONCURRENCY = 32;

const row = (cells: (string | number)[]) => `| ${cells.join(' | ')} |`;
const fixed = (n: number, digits = 1) => n.toFixed(digits);

async function main() {
  console.log(`runtime: ${RUNTIME}`);
  const redis = await startRedis();
  const dbUrl = databaseUrl(DATABASE);
  const serverUrl = databaseUrl('postgres');
  await dropDatabase(serverUrl, DATABASE);
  await ensureDatabase(dbUrl);
  await migrate(dbUrl);
  const env = {
    ...process.env,
    DATABASE_URL: dbUrl,
    REDIS_URL: redis.url,
    REDIS_KEY_PREFIX: PREFIX,
    AUTH_REQUIRED: 'false',
    LOG_LEVEL: 'warn',
    MODEL_POLL_MS: '200',
  };
  const services: ChildProcess[] = [];
  try {
    const ingest = await startService('ingest', env);
    services.push(ingest.child);
    const generator = { users: USERS, items: ITEMS, events: EVENTS, seed: SEED };
    const options = { ...generator, startMs: resolveGeneratorOptions(generator).startMs };
    const catalog = [...generateCatalog(options)];
    for (let at = 0; at < catalog.length; at += 1000)
      await send(`${ingest.url}/v1/items`, 'PUT', { items: catalog.slice(at, at + 1000) });

    const events = [...generateEvents(options)];
    const bytesBefore = await eventRelationBytes(dbUrl);
    const ingestBefore = redisCounters(redis.url);
    for (let at = 0; at < events.length; at += 500)
      await send(`${ingest.url}/v1/events`, 'POST', { events: events.slice(at, at + 500) });
    const ingestAfter = redisCounters(redis.url);
    const eventBytes = ((await eventRelationBytes(dbUrl)) - bytesBefore) / events.length;
    const perEvent = perUnit(ingestBefore, ingestAfter, events.length);
    log(`ingested ${events.length} events of ${USERS} users on ${ITEMS} items`);

    const modelBefore = redisCounters(redis.url).usedMemory;
    execFileSync(process.execPath, [BIN, 'build'], { env, stdio: ['ignore', 'ignore', 'inherit'] });
    const modelBytes = redisCounters(redis.url).usedMemory - modelBefore;

    const api = await startService('api', env);
    services.push(api.child);
    const users = [...new Set(events.map((e) => e.userId))].slice(0, REQUESTS);
    const recommend = (userId: string) =>
      send(`${api.url}/v1/recommendations?userId=${encodeURIComponent(userId)}&limit=10`, 'GET') as Promise<{
        modelVersion: string | null;
      }>;
    while ((await recommend(users[0]!)).modelVersion === null) await new Promise((r) => setTimeout(r, 100));

    const idleStart = redisCounters(redis.url);
    const idleMs = 3_000;
    await new Promise((resolve) => setTimeout(resolve, idleMs));
    const background = backgroundOf(idleStart, redisCounters(redis.url), idleMs);
    const measure = async (units: number, run: () => Promise<void>) => {
      const before = redisCounters(redis.url);
      const startedAt = performance.now();
      await run();
      return perUnit(before, redisCounters(redis.url), units, performance.now() - startedAt, background);
    };
    // Users other than users[0], whose first answer above filled the reply cache.
    const asked = users.slice(1);
    const computed = await measure(asked.length, () => inParallel(asked, CONCURRENCY, recommend));
    const cached = await measure(asked.length, () => inParallel(asked, CONCURRENCY, recommend));
    const viewed = events.filter((e) => e.type === 'view');
    const turn = await measure(asked.length, () =>
      inParallel(asked, CONCURRENCY, async (userId, i) => {
        const itemId = viewed[i % viewed.length]!.itemId;
        await send(`${ingest.url}/v1/events`, 'POST', {
          events: [{ eventId: `cap-${i}`, userId, itemId, type: 'view', timestamp: Date.now() }],
        });
        await recommend(userId);
      }),
    );
    const decided = await measure(asked.length, () =>
      inParallel(asked, CONCURRENCY, (userId) =>
        send(`${api.url}/v1/push/decisions`, 'POST', {
          userId,
          channel: 'push',
          campaignId: 'capacity',
          category: 'sale',
          withItem: true,
        }),
      ),
    );

    console.log(
      `bench:capacity — ${events.length} events, ${USERS} users, ${ITEMS} items, ${asked.length} requests per kind`,
    );
    console.log('');
    console.log(
      row(['per', 'Redis commands', 'Redis CPU µs', 'Redis bytes in', 'Redis bytes out', 'commands']),
    );
    console.log(row(['---', '---:', '---:', '---:', '---:', '---']));
    const line = (name: string, figures: PerUnit) =>
      console.log(
        row([
          name,
          fixed(figures.commandsPerUnit, 2),
          fixed(figures.cpuUs, 1),
          fixed(figures.bytesIn, 0),
          fixed(figures.bytesOut, 0),
          figures.commands,
        ]),
      );
    line('event (POST /v1/events, batches of 500)', perEvent);
    line('recommendation, computed (reply cache miss)', computed);
    line('recommendation, reply cache hit', cached);
    line('storefront turn (one view through ingest, then a recommendation)', turn);
    line('push decision with item', decided);
    console.log('');
    const backgroundCommands = [...background.calls.values()].reduce((a, b) => a + b, 0) * 1000;
    console.log(
      `Background (both services' polls, subtracted above): ${fixed(backgroundCommands, 0)} commands/s, ${fixed(background.cpuUs * 1000, 0)} µs of Redis CPU per second`,
    );
    console.log(`Postgres per stored event (events, its indexes, event_ids): ${fixed(eventBytes, 0)} bytes`);
    console.log(
      `Redis per published model: ${fixed(modelBytes / 2 ** 20, 2)} MiB for ${ITEMS} catalog items (${fixed(modelBytes / ITEMS, 0)} bytes per item)`,
    );
  } finally {
    for (const child of services) {
      child.kill('SIGTERM');
      if (child.exitCode === null) await once(child, 'exit');
    }
    await redis.stop();
    await dropDatabase(serverUrl, DATABASE);
  }
}

await main();
