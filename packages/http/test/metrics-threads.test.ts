import { createLogSink } from '@elevens/testkit';
import { afterEach, describe, expect, it } from 'vitest';
import { createBaseApp, type ElevensApp } from '../src/app';
import { createMetrics, metricsPlugin, type OtherThreadsMetrics } from '../src/metrics';

const apps: ElevensApp[] = [];
afterEach(async () => {
  await Promise.all(apps.splice(0).map((app) => app.close()));
});

/** The sample lines (not HELP or TYPE) of the metric `name` in a Prometheus text exposition. */
const samplesOf = (text: string, name: string) =>
  text.split('\n').filter((line) => line.startsWith(`${name} `) || line.startsWith(`${name}{`));

const sampleValue = (sample: string | undefined) => Number(sample?.split(' ').at(-1));

describe("a multi-threaded process's metrics", () => {
  it('keep the process metrics only the primary thread reports, the start time among them', async () => {
    const worker = createMetrics('api', { processMetrics: false });
    const primary = createMetrics('api', {
      otherThreads: async () => ({ metrics: [await worker.registry.getMetricsAsJSON()], late: [] }),
    });
    const text = await (await primary.processRegistry()).metrics();
    // Restarts and uptime are read from it; prom-client's cluster aggregation omits it.
    expect(sampleValue(samplesOf(text, 'elevens_process_start_time_seconds')[0])).toBeGreaterThan(
      1_600_000_000,
    );
    expect(samplesOf(text, 'elevens_process_resident_memory_bytes')).toHaveLength(1);
  });

  it('at /metrics count the threads that did not answer in time, once, and name them in the log', async () => {
    const logs = createLogSink();
    const app = createBaseApp({ logging: { level: 'info', stream: logs.stream } });
    apps.push(app);
    const worker = createMetrics('api', { processMetrics: false });
    worker.httpRequests.inc({ method: 'GET', route: '/x', status: '200' }, 3);
    let others: OtherThreadsMetrics = { metrics: [await worker.registry.getMetricsAsJSON()], late: [] };
    await app.register(metricsPlugin, {
      service: 'api',
      processMetrics: false,
      otherThreads: async () => others,
    });
    app.get('/x', async () => ({}));
    await app.ready();
    await app.inject({ url: '/x' });

    const scrape = async () => (await app.inject({ url: '/metrics' })).body;
    const requests = (text: string) =>
      sampleValue(samplesOf(text, 'elevens_http_requests_total').find((line) => line.includes('route="/x"')));
    let text = await scrape();
    expect(requests(text)).toBe(4);
    expect(samplesOf(text, 'elevens_metrics_late_threads')).toEqual([
      'elevens_metrics_late_threads{service="api"} 0',
    ]);
    expect(logs.entries().filter((line) => line.msg?.includes('did not give their metrics'))).toEqual([]);

    // Threads 3 and 4 late, 3's last metrics standing in: one series, not one per thread that reports it.
    others = { ...others, late: [3, 4] };
    text = await scrape();
    expect(requests(text)).toBe(4);
    expect(samplesOf(text, 'elevens_metrics_late_threads')).toEqual([
      'elevens_metrics_late_threads{service="api"} 2',
    ]);
    expect(logs.entries().filter((line) => line.msg?.includes('did not give their metrics'))).toMatchObject([
      { level: 40, threads: [3, 4] },
    ]);
  });
});
