import { setTimeout as sleep } from 'node:timers/promises';
import { Duration } from '@elevens/config';
import { type AttributionStep, DEFAULT_ATTRIBUTION_WINDOW_MS } from '@elevens/db';
import type { FastifyInstance } from 'fastify';
import fp from 'fastify-plugin';
import { z } from 'zod';

declare module 'fastify' {
  interface FastifyInstance {
    attribution: AttributionWorker;
  }
}

export interface AttributionWorker {
  /**
   * Runs steps until the roll-ups hold every event received before the safe instant and, with `untilMs`,
   * until the watermark has reached that instant (waiting for the safety lag and open transactions); the last
   * step.
   */
  catchUp(untilMs?: number): Promise<AttributionStep>;
}

/** The ATTRIBUTION_* variables of the ingest process (docs/attribution.md). */
export const attributionEnv = {
  /** run the roll-up worker in this process */
  ATTRIBUTION_ENABLED: z
    .enum(['true', 'false'])
    .default('false')
    .transform((value) => value === 'true'),
  /** last-touch window for clicks, carts and purchases sent without a recommendationId */
  ATTRIBUTION_WINDOW: Duration.default(DEFAULT_ATTRIBUTION_WINDOW_MS),
  /** how often newly committed events are rolled up */
  ATTRIBUTION_INTERVAL_MS: z.coerce.number().int().min(50).max(600_000).default(1_000),
  /** events are rolled up once received this long ago (and no transaction older than them is open) */
  ATTRIBUTION_SAFETY_LAG_MS: z.coerce.number().int().min(0).max(600_000).default(1_000),
};

type AttributionConfig = { [K in keyof typeof attributionEnv]: z.output<(typeof attributionEnv)[K]> };

export interface AttributionOptions {
  enabled: boolean;
  windowMs: number;
  intervalMs: number;
  safetyLagMs: number;
  /** receive-time span per step */
  maxSpanMs: number;
}

/**
 * The worker's options from a process config. Configs without the ATTRIBUTION_* variables get the defaults (the
 * worker off), so this takes any config object.
 */
export function attributionSettingsFrom(
  config: Partial<AttributionConfig> & Readonly<Record<string, unknown>>,
): AttributionOptions {
  return {
    enabled: config.ATTRIBUTION_ENABLED ?? false,
    windowMs: config.ATTRIBUTION_WINDOW ?? DEFAULT_ATTRIBUTION_WINDOW_MS,
    intervalMs: config.ATTRIBUTION_INTERVAL_MS ?? 1_000,
    safetyLagMs: config.ATTRIBUTION_SAFETY_LAG_MS ?? 1_000,
    maxSpanMs: 5 * 60_000,
  };
}

/**
 * Rolls up newly committed events every interval (docs/attribution.md): each step attributes the events
 * received since the watermark and advances it in one transaction, so a crash, a restart or a second ingest
 * process never counts an event twice. A step that leaves events behind is followed by the next at once.
 * Closing the app stops the timer and waits for the step under way.
 */
export const attributionPlugin = fp(
  async (app: FastifyInstance, options: AttributionOptions) => {
    const rollups = app.rollupWriter;
    const catchUp = async (untilMs = Number.NEGATIVE_INFINITY): Promise<AttributionStep> => {
      for (;;) {
        const step = await rollups.step(options);
        if (step.behind) continue;
        if (step.toMs >= untilMs) return step;
        await sleep(Math.min(options.intervalMs, 50));
      }
    };
    let running: Promise<unknown> | null = null;
    const run = () => {
      running ??= catchUp()
        .catch((error: unknown) => app.log.warn({ err: error }, 'could not roll up the new events'))
        .finally(() => {
          running = null;
        });
      return running;
    };
    app.decorate('attribution', { catchUp });
    if (!options.enabled) return;
    let timer: NodeJS.Timeout | null = null;
    app.addHook('onReady', async () => {
      timer = setInterval(run, options.intervalMs);
      timer.unref();
    });
    app.addHook('onClose', async () => {
      if (timer) clearInterval(timer);
      await running;
    });
  },
  { name: 'elevens-ingest-attribution', fastify: '5.x', dependencies: ['elevens-db'] },
);
