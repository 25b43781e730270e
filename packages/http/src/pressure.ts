import { getHeapStatistics } from 'node:v8';
import underPressure from '@fastify/under-pressure';
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { z } from 'zod';
import { unavailable } from './errors';

/** Load-shedding thresholds; 0 turns a check off. */
export const pressureEnv = {
  /** mean event-loop delay over one sample interval above which requests are shed */
  PRESSURE_MAX_EVENT_LOOP_DELAY_MS: z.coerce.number().min(0).default(250),
  /** share of V8's heap limit in use above which requests are shed */
  PRESSURE_MAX_HEAP_USED_RATIO: z.coerce.number().min(0).max(1).default(0.9),
  PRESSURE_SAMPLE_INTERVAL_MS: z.coerce.number().int().min(10).max(10_000).default(500),
  PRESSURE_RETRY_AFTER_SECONDS: z.coerce.number().int().min(1).max(300).default(2),
};

export type PressureConfig = z.output<z.ZodObject<typeof pressureEnv>>;

export interface PressurePluginOptions {
  maxEventLoopDelayMs: number;
  /** 0..1 of the heap limit */
  maxHeapUsedRatio: number;
  sampleIntervalMs: number;
  retryAfterSeconds: number;
}

export const pressureOptionsFromConfig = (config: PressureConfig): PressurePluginOptions => ({
  maxEventLoopDelayMs: config.PRESSURE_MAX_EVENT_LOOP_DELAY_MS,
  maxHeapUsedRatio: config.PRESSURE_MAX_HEAP_USED_RATIO,
  sampleIntervalMs: config.PRESSURE_SAMPLE_INTERVAL_MS,
  retryAfterSeconds: config.PRESSURE_RETRY_AFTER_SECONDS,
});

/**
 * Sheds load while the process is overloaded (event-loop delay or heap use above their thresholds, sampled every
 * interval): routes with a scope answer 503 with Retry-After before doing any work, so the requests already
 * admitted keep their latency. Public routes (health checks, metrics, docs) still answer, so operators can see
 * the process while it sheds. Register before the auth plugin: shedding must be the cheapest path.
 */
export const pressurePlugin = fp(
  async (app: FastifyInstance, options: PressurePluginOptions) => {
    const heapLimit = getHeapStatistics().heap_size_limit;
    // A ratio that rounds to 0 bytes would turn the check off instead of making it strictest.
    const maxHeapUsedBytes =
      options.maxHeapUsedRatio > 0 ? Math.max(1, Math.floor(heapLimit * options.maxHeapUsedRatio)) : 0;
    await app.register(underPressure, {
      maxEventLoopDelay: options.maxEventLoopDelayMs,
      maxHeapUsedBytes,
      sampleInterval: options.sampleIntervalMs,
      retryAfter: options.retryAfterSeconds,
      // No log line per shed request: under overload that would add to the load.
      pressureHandler: async (request) => {
        if (request.routeOptions.config.public === true) return;
        throw unavailable('the service is overloaded, retry shortly', {
          retryAfterSeconds: options.retryAfterSeconds,
        });
      },
    });
  },
  { name: 'elevens-pressure', fastify: '5.x' },
);
