import { z } from 'zod';
import { PUSH_REASONS } from './push';

/** Minutes the live monitor keeps in memory; a snapshot returns up to this many. */
export const MONITOR_MAX_MINUTES = 120;

export const MonitorQuery = z.object({
  minutes: z.coerce.number().int().min(1).max(MONITOR_MAX_MINUTES).default(60).meta({
    description: 'Most recent minutes returned (none before sampling began), the current one last.',
  }),
});
export type MonitorQuery = z.infer<typeof MonitorQuery>;

/** Refused push decisions by reason: every reason but 'ok'. */
export const PUSH_SUPPRESSION_REASONS = PUSH_REASONS.filter(
  (reason): reason is Exclude<(typeof PUSH_REASONS)[number], 'ok'> => reason !== 'ok',
);

const Ratio = z.number().nullable();

export const MonitorMinute = z
  .object({
    minute: z.string().meta({ description: 'Start of the minute (UTC).' }),
    complete: z.boolean().meta({ description: 'false for the minute under way.' }),
    events: z.number().int().meta({ description: 'Events rolled up in this minute (all types).' }),
    impressions: z.number().int().meta({ description: 'Impressions of recommendation answers.' }),
    clicks: z.number().int().meta({ description: 'Clicks attributed to recommendation answers.' }),
    ctr: Ratio.meta({ description: 'clicks / impressions; null without impressions.' }),
    orders: z.number().int().meta({ description: 'Purchase events.' }),
    revenue: z.number().meta({ description: 'Σ price × quantity of those purchases.' }),
    pushSent: z.number().int().meta({
      description:
        "Push decisions allowed (reason 'ok') less those released, every api process; a minute that sees releases of earlier minutes' sends may be negative.",
    }),
    pushSuppressed: z
      .record(z.string(), z.number().int())
      .meta({ description: 'Refused push decisions by reason.' }),
    requests: z
      .number()
      .int()
      .meta({ description: 'API requests answered by this process (storefront routes).' }),
    errors: z.number().int().meta({ description: 'Of those, answered 5xx.' }),
    errorRate: Ratio,
    latencyMs: z.object({ p50: z.number(), p95: z.number(), p99: z.number() }).nullable().meta({
      description: 'Latency quantiles estimated from the histogram buckets; null without requests.',
    }),
  })
  .meta({ id: 'MonitorMinute' });
export type MonitorMinute = z.infer<typeof MonitorMinute>;

export const MonitorHour = z
  .object({
    hour: z.string().meta({ description: 'Start of the hour (UTC) the events happened in.' }),
    events: z.number().int(),
    impressions: z.number().int(),
    clicks: z.number().int(),
    ctr: Ratio,
    carts: z.number().int(),
    orders: z.number().int(),
    units: z.number().int(),
    revenue: z.number(),
  })
  .meta({ id: 'MonitorHour' });
export type MonitorHour = z.infer<typeof MonitorHour>;

export const MonitorSnapshot = z
  .object({
    at: z.string().meta({ description: 'When the latest sample was taken.' }),
    sampleEveryMs: z.number().int(),
    sampledSince: z
      .string()
      .meta({ description: 'First sample of this process: per-minute figures start here.' }),
    countedUntil: z
      .string()
      .nullable()
      .meta({ description: 'Roll-ups hold every event received before this instant.' }),
    minutes: z.array(MonitorMinute),
    hours: z.array(MonitorHour).meta({ description: 'The last 24 hours from the roll-ups, oldest first.' }),
  })
  .meta({ id: 'MonitorSnapshot' });
export type MonitorSnapshot = z.infer<typeof MonitorSnapshot>;
