import { get } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { publishModel } from '@elevens/redis-stores';
import { createTestInfra, freePort, metricSample, type TestInfra } from '@elevens/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixtureModel } from '../services/api/test/recommendations-fixtures';
import { type ElevensProcess, spawnElevens } from './support/service-processes';

// `elevens serve api` with API_THREADS=2: two event loops in one process on one port, the model's lists loaded
// once into shared memory, /metrics counting both, SIGTERM closing both.

const REQUESTS = 40;

let infra: TestInfra;
let api: ElevensProcess | null = null;

beforeAll(async () => {
  infra = await createTestInfra('api-threads');
});

afterAll(async () => {
  await api?.kill();
  await infra?.close();
});

/** GET on a connection of its own (no keep-alive), so the kernel picks a thread for each request. */
function getOnNewConnection(port: number, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    get({ host: '127.0.0.1', port, path, agent: false }, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () =>
        resolve({ status: response.statusCode ?? 0, body: Buffer.concat(chunks).toString() }),
      );
    }).on('error', reject);
  });
}

/** The similar items of `itemId` in answers asked on REQUESTS new connections, with each answer's version. */
async function similarOnManyConnections(port: number, itemId: string) {
  const answers = await Promise.all(
    Array.from({ length: REQUESTS }, () => getOnNewConnection(port, `/v1/items/${itemId}/similar`)),
  );
  return answers.map(({ status, body }) => {
    expect(status).toBe(200);
    const reply = JSON.parse(body) as { modelVersion: string; items: { itemId: string }[] };
    return `${reply.modelVersion}: ${reply.items.map((item) => item.itemId).join(',')}`;
  });
}

describe('API_THREADS=2', () => {
  it('serves from both threads on one port, the same model, one /metrics, a new version on both, and exits 0 on SIGTERM', async () => {
    await publishModel(infra.redis, infra.keys, fixtureModel('v-threads-1'));
    const port = await freePort();
    const started = spawnElevens(['serve', 'api'], {
      ...infra.env,
      HOST: '127.0.0.1',
      PORT: String(port),
      API_THREADS: '2',
      MODEL_POLL_MS: '50',
      LOG_LEVEL: 'info',
    });
    api = started;

    for (let attempt = 0; ; attempt++) {
      const ready = await getOnNewConnection(port, '/readyz').then(
        (answer) => answer.status === 200,
        () => false,
      );
      // The primary answers as soon as it listens; the process serves on every thread once it logs so.
      if (ready && started.output().includes('serving on every thread')) break;
      if (attempt > 600 || started.child.exitCode !== null)
        throw new Error(`the API did not start:\n${started.output()}`);
      await sleep(100);
    }
    // A thread serves once its model is loaded; each thread's first poll loads it before it listens.
    expect(await similarOnManyConnections(port, 'a0')).toEqual(Array(REQUESTS).fill('v-threads-1: a1,a2,b0'));

    // Both threads answered: every request's log line names its thread (worker_threads' id: 0 is the primary; a
    // loader's thread, under tsx, may take the next ids).
    const threads = new Set(
      [...started.output().matchAll(/"thread":(\d+),[^\n]*"url":"\/v1\/items\/a0\/similar"/g)].map(
        (match) => match[1],
      ),
    );
    expect(threads.size).toBe(2);
    expect(threads).toContain('0');

    // /metrics, whichever thread answers it, counts both threads' requests; the process metrics appear once.
    for (let scrape = 0; scrape < 6; scrape++) {
      const text = (await getOnNewConnection(port, '/metrics')).body;
      const route = { route: '/v1/items/:itemId/similar', status: '200' };
      expect(metricSample(text, 'elevens_http_requests_total', route)).toBe(REQUESTS);
      expect(metricSample(text, 'elevens_http_request_duration_seconds_count', route)).toBe(REQUESTS);
      expect(metricSample(text, 'elevens_model_info', { version: 'v-threads-1' })).toBe(1);
      expect(text.match(/^elevens_process_resident_memory_bytes/gm)).toHaveLength(1);
    }

    // So does the dashboard's live traffic: one thread alone answered fewer than all the requests.
    for (let ask = 0; ask < 4; ask++) {
      const answer = await getOnNewConnection(port, '/v1/dashboard/traffic');
      expect(answer.status).toBe(200);
      expect((JSON.parse(answer.body) as { requests: number }).requests).toBeGreaterThanOrEqual(REQUESTS);
    }

    // A new version reaches every thread within a few polls, and no answer mixes the two versions' lists.
    const next = fixtureModel('v-threads-2');
    const idx = Uint32Array.from(next.neighbors.idx);
    const first = next.neighbors.ptr[next.itemIds.indexOf('a0')]!;
    idx[first] = next.itemIds.indexOf('a2');
    idx[first + 1] = next.itemIds.indexOf('a1');
    next.neighbors = { ...next.neighbors, idx };
    await publishModel(infra.redis, infra.keys, next);
    let answers: string[] = [];
    for (let attempt = 0; attempt < 100; attempt++) {
      answers = await similarOnManyConnections(port, 'a0');
      for (const answer of answers)
        expect(['v-threads-1: a1,a2,b0', 'v-threads-2: a2,a1,b0']).toContain(answer);
      if (answers.every((answer) => answer.startsWith('v-threads-2'))) break;
      await sleep(50);
    }
    expect(answers).toEqual(Array(REQUESTS).fill('v-threads-2: a2,a1,b0'));

    await started.kill('SIGTERM');
    expect((await started.exited).code, started.output()).toBe(0);
    expect(started.output()).toContain('shutting down');
  });
});
