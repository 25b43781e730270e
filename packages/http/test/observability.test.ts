import { afterEach, describe, expect, it } from 'vitest';
import { createBaseApp, type ElevensApp } from '../src/app';
import { healthRoutes } from '../src/health';
import { createMetrics } from '../src/metrics';

const apps: ElevensApp[] = [];
afterEach(async () => {
  await Promise.all(apps.splice(0).map((app) => app.close()));
});

/** The sample lines (not HELP or TYPE) of the metric `name` in a Prometheus text exposition. */
const samplesOf = (text: string, name: string) =>
  text.split('\n').filter((line) => line.startsWith(`${name} `) || line.startsWith(`${name}{`));

describe('model gauges', () => {
  it('leave the model age out until a model is served, as the version', async () => {
    let served: { version: string; builtAtMs: number } | null = null;
    const api = createMetrics('api', { processMetrics: false, servedModel: () => served });
    const before = await api.registry.metrics();
    expect(samplesOf(before, 'elevens_model_info')).toEqual([]);
    expect(samplesOf(before, 'elevens_model_age_seconds')).toEqual([]);

    served = { version: 'v1', builtAtMs: Date.now() - 90_000 };
    const after = await api.registry.metrics();
    expect(samplesOf(after, 'elevens_model_info')).toHaveLength(1);
    const [age] = samplesOf(after, 'elevens_model_age_seconds');
    expect(Number(age!.split(' ').at(-1))).toBeGreaterThanOrEqual(90);
  });

  it('are absent from a service that serves no model', async () => {
    const ingest = createMetrics('ingest', { processMetrics: false });
    const text = await ingest.registry.metrics();
    expect(samplesOf(text, 'elevens_model_age_seconds')).toEqual([]);
  });
});

describe('request latency histogram', () => {
  it('tells sub-millisecond answers apart (a cached recommendation, a push decision)', async () => {
    const metrics = createMetrics('api', { processMetrics: false });
    const labels = { method: 'GET', route: '/v1/recommendations', status: '200' };
    // An idle api answers these in 0.1–0.5 ms: with 1 ms as the lowest bound, all of them shared one bucket
    // and p50 and p99 read as interpolations across 0–1 ms whatever the latency.
    for (const ms of [0.15, 0.2, 0.3, 0.45, 0.8]) metrics.httpRequestDuration.observe(labels, ms / 1000);
    // prom-client adds the bucket's `le` label to the histogram's own label names.
    const buckets = (await metrics.httpRequestDuration.get()).values
      .filter((v) => v.metricName === 'elevens_http_request_duration_seconds_bucket')
      .map((v) => ({ le: Number((v.labels as { le?: string | number }).le), count: v.value }));
    const countsUpTo1ms = new Set(buckets.filter((b) => b.le <= 0.001).map((b) => b.count));
    expect(countsUpTo1ms.size).toBeGreaterThanOrEqual(3);
    expect(buckets.find((b) => b.le === 10)?.count).toBe(5);
  });
});

describe('GET /readyz', () => {
  it('answers 503 naming a store whose check does not answer in time', async () => {
    const app = createBaseApp({ logging: { level: 'silent' } });
    apps.push(app);
    await app.register(healthRoutes, {
      checks: { postgres: async () => true, redis: () => new Promise<boolean>(() => {}) },
      timeoutMs: 50,
    });
    const outcome = await Promise.race([
      app.inject({ method: 'GET', url: '/readyz' }),
      new Promise<'no answer'>((resolve) => setTimeout(() => resolve('no answer'), 2_000)),
    ]);
    expect(outcome).not.toBe('no answer');
    if (outcome === 'no answer') return;
    expect(outcome.statusCode).toBe(503);
    expect(outcome.json()).toEqual({ status: 'unready', checks: { postgres: 'ok', redis: 'down' } });
  });

  it('answers 503 naming a store whose check fails, not 500 naming none', async () => {
    const app = createBaseApp({ logging: { level: 'silent' } });
    apps.push(app);
    await app.register(healthRoutes, {
      checks: {
        postgres: async () => {
          throw new Error('Connection terminated unexpectedly');
        },
        redis: async () => true,
      },
    });
    const response = await app.inject({ method: 'GET', url: '/readyz' });
    expect(response.statusCode).toBe(503);
    expect(response.json()).toEqual({ status: 'unready', checks: { postgres: 'down', redis: 'ok' } });
  });
});
