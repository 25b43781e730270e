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

/**
 * Where the monitor's figures come from, each read on its own: `rollups` (PostgreSQL: events, orders, revenue,
 * CTR, the hours, countedUntil), `push` (Redis: push sent and suppressed), `http` (this process's metrics:
 * requests, errors, latency).
 */
export const MONITOR_SOURCES = ['rollups', 'push', 'http'] as const;
export type MonitorSource = (typeof MONITOR_SOURCES)[number];

const MonitorSourceState = z
  .object({
    available: z.boolean().meta({ description: 'false: the latest sample could not read this source.' }),
    readAt: z
      .string()
      .nullable()
      .meta({ description: 'When it was last read (its figures are as of then); null: never.' }),
  })
  .meta({ id: 'MonitorSourceState' });

/** A count of one source, null in a minute that source could not be read for. */
const Count = z.number().int().nullable();

export const MonitorMinute = z
  .object({
    minute: z.string().meta({ description: 'Start of the minute (UTC).' }),
    complete: z.boolean().meta({ description: 'false for the minute under way.' }),
    unavailable: z.array(z.enum(MONITOR_SOURCES)).meta({
      description:
        'Sources that could not be read for some of this minute (longer than three sample intervals): their figures here are null.',
    }),
    events: Count.meta({ description: 'Events rolled up in this minute (all types).' }),
    impressions: Count.meta({ description: 'Impressions of recommendation answers.' }),
    clicks: Count.meta({ description: 'Clicks attributed to recommendation answers.' }),
    ctr: Ratio.meta({ description: 'clicks / impressions; null without impressions.' }),
    orders: Count.meta({ description: 'Purchase events.' }),
    revenue: z.number().nullable().meta({ description: 'Σ price × quantity of those purchases.' }),
    pushSent: Count.meta({
      description:
        "Push decisions allowed (reason 'ok') less those released, every api process; a minute that sees releases of earlier minutes' sends may be negative.",
    }),
    pushSuppressed: z
      .record(z.string(), z.number().int())
      .nullable()
      .meta({ description: 'Refused push decisions by reason.' }),
    requests: Count.meta({ description: 'API requests answered by this process (storefront routes).' }),
    errors: Count.meta({ description: 'Of those, answered 5xx.' }),
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
    sources: z
      .object({ rollups: MonitorSourceState, push: MonitorSourceState, http: MonitorSourceState })
      .meta({
        description:
          'Whether each source could be read at the latest sample. One away (Postgres or Redis down) leaves the others served: the hours and countedUntil are then those last read.',
      }),
    minutes: z.array(MonitorMinute),
    hours: z.array(MonitorHour).meta({
      description: 'The last 24 hours from the roll-ups (as of sources.rollups.readAt), oldest first.',
    }),
  })
  .meta({ id: 'MonitorSnapshot' });
export type MonitorSnapshot = z.infer<typeof MonitorSnapshot>;
