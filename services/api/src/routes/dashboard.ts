import { PushRuleBody, QuietHoursBody } from '@elevens/domain';
import { errorResponses, HttpError, setPageHeaders } from '@elevens/http';
import { type PushRule, parseClock, parseWindow } from '@elevens/push-rules';
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { DASHBOARD_ASSETS, DASHBOARD_HTML } from '../dashboard/page';
import {
  summarizePreview,
  suppressedByQuietHours,
  suppressedByRule,
  userSendsOf,
} from '../dashboard/preview';
import { trafficSnapshot } from '../dashboard/traffic';

export interface DashboardRouteOptions {
  /** time zone of users whose profile has none, as for decisions */
  defaultTimezone: string;
  /** REDIS_KEY_PREFIX: the model runs listed are this deployment's (others' may share the database) */
  keyPrefix: string;
  /** most users a preview replays; default 20,000 */
  previewMaxUsers?: number;
  /** the wall clock previews count back from (epoch ms), as decisions are made at */
  now: () => number;
}

const DAY_MS = 86_400_000;

/**
 * The page's scripts and styles are its own and inline. It may not be framed (a page of another site would
 * otherwise lay it under its own and have an admin click its buttons or paste a key into it), nor take a `<base>`
 * or a form target from injected markup.
 */
const DASHBOARD_CSP = [
  "default-src 'none'",
  "script-src 'self' 'unsafe-inline'",
  "style-src 'self' 'unsafe-inline'",
  "connect-src 'self'",
  "img-src 'self' data:",
  "frame-ancestors 'none'",
  "base-uri 'none'",
  "form-action 'none'",
].join('; ');

const ModelRunView = z.object({
  version: z.string(),
  modelLine: z
    .string()
    .nullable()
    .meta({ description: 'The model line it builds; null for a run recorded before runs named it.' }),
  keyPrefix: z.string().nullable().meta({
    description: 'The Redis key prefix it publishes under; null for a run recorded before runs named it.',
  }),
  algorithm: z.string(),
  status: z.enum(['running', 'published', 'rejected', 'failed']),
  metrics: z.record(z.string(), z.unknown()).nullable(),
  error: z.string().nullable(),
  startedAt: z.string(),
  finishedAt: z.string().nullable(),
});
const ModelRunsQuery = z.object({ limit: z.coerce.number().int().min(1).max(500).default(50) });
const ModelRunsReply = z.object({ runs: z.array(ModelRunView) }).meta({ id: 'ModelRunsReply' });

const TrafficReply = z
  .object({
    atMs: z.number(),
    requests: z.number().meta({
      description:
        "Requests answered since this process started, but the dashboard's own, scrapes, probes and the API docs.",
    }),
    shed: z.number().meta({ description: 'Of those, answered 503.' }),
    decisions: z
      .record(z.string(), z.number())
      .meta({ description: "Push decisions by reason; 'ok' = allowed." }),
  })
  .meta({ id: 'TrafficReply' });

const PreviewReply = z
  .object({
    since: z.string(),
    users: z.number().int(),
    decisions: z.number().int().meta({
      description: "Allowed decisions counted by caps in the last 24 hours, admins' overrides included.",
    }),
    suppressed: z.number().int().meta({
      description:
        'Of those, how many the candidate would have refused (never an override: it went out anyway).',
    }),
    usersAffected: z.number().int(),
    complete: z.boolean().meta({ description: 'false: only the first users found were replayed.' }),
  })
  .meta({ id: 'SuppressionPreview' });

/** A window the push rules refuse (e.g. longer than they support) is the client's mistake: 400, not 500. */
function windowMsOf(window: string): number {
  try {
    return parseWindow(window);
  } catch (error) {
    throw new HttpError(400, 'bad_request', `window: ${(error as Error).message}`);
  }
}

const toRule = (body: z.output<typeof PushRuleBody>): PushRule => ({
  ruleId: 'preview',
  channel: body.channel,
  limit: body.limit,
  windowMs: windowMsOf(body.window),
  category: body.category ?? null,
  activeFromMs: body.activeFrom === undefined ? null : Date.parse(body.activeFrom),
  activeUntilMs: body.activeUntil === undefined ? null : Date.parse(body.activeUntil),
  enabled: body.enabled,
});

/**
 * The marketer dashboard (`GET /dashboard`, a static page that asks for an admin key, and its charting library)
 * and the admin endpoints only it needs: model runs, live traffic from this process's metrics, and previews of
 * cap and quiet-hours changes replayed over the last 24 hours of sends. The live monitor is routes/monitor.ts.
 */
export async function dashboardRoutes(app: FastifyInstance, options: DashboardRouteOptions) {
  const routes = app.withTypeProvider<ZodTypeProvider>();
  const maxUsers = options.previewMaxUsers ?? 20_000;

  routes.get('/dashboard', { config: { public: true }, schema: { hide: true } }, async (_request, reply) =>
    setPageHeaders(reply, DASHBOARD_CSP)
      .header('content-type', 'text/html; charset=utf-8')
      .header('cache-control', 'no-store')
      .send(DASHBOARD_HTML),
  );

  for (const [url, asset] of Object.entries(DASHBOARD_ASSETS)) {
    routes.get(
      url,
      { config: { public: true }, schema: { hide: true }, logLevel: 'warn' },
      async (_request, reply) =>
        reply
          .header('content-type', asset.type)
          // The URL names the library's version: a new version is a new URL, so this one never changes.
          .header('cache-control', 'public, max-age=31536000, immutable')
          .header('x-content-type-options', 'nosniff')
          .send(asset.body),
    );
  }

  routes.get(
    '/v1/model/runs',
    {
      config: { scope: 'admin' },
      schema: {
        tags: ['model'],
        summary:
          "This deployment's recent model builds (its key prefix's), newest first, with their offline evaluation metrics.",
        querystring: ModelRunsQuery,
        response: { 200: ModelRunsReply, ...errorResponses(400) },
      },
    },
    async (request) => {
      const runs = await app.modelRuns.list(request.query.limit, { keyPrefix: options.keyPrefix });
      return {
        runs: runs.map((r) => ({
          version: r.version,
          modelLine: r.modelLine,
          keyPrefix: r.keyPrefix,
          algorithm: r.algorithm,
          status: r.status,
          metrics: r.metrics,
          error: r.error,
          startedAt: r.startedAt,
          finishedAt: r.finishedAt,
        })),
      };
    },
  );

  routes.get(
    '/v1/dashboard/traffic',
    {
      config: { scope: 'admin' },
      logLevel: 'warn',
      schema: {
        tags: ['dashboard'],
        summary: "This process's cumulative request and push-decision counters, for live rates.",
        response: { 200: TrafficReply },
      },
    },
    async () => trafficSnapshot(app.metrics, options.now),
  );

  const since = () => options.now() - DAY_MS;
  /** The sends after `sinceMs` to replay, with those in the `lookBackMs` before it that a cap's window holds. */
  const recentSends = async (sinceMs: number, lookBackMs = 0) => {
    const { users, complete } = await app.pushLedger.readRecentSends(sinceMs - lookBackMs, maxUsers);
    return { users: userSendsOf(users, options.defaultTimezone, sinceMs), complete };
  };

  routes.post(
    '/v1/dashboard/preview/push-rule',
    {
      config: { scope: 'admin' },
      schema: {
        tags: ['dashboard'],
        summary: "How many of the last 24 hours' allowed decisions this cap would have refused.",
        body: PushRuleBody,
        response: { 200: PreviewReply, ...errorResponses(400, 415) },
      },
    },
    async (request) => {
      const rule = toRule(request.body);
      const sinceMs = since();
      // The first sends of the day are decided against those of the window before it, as live.
      const { users, complete } = await recentSends(sinceMs, rule.windowMs);
      const preview = summarizePreview(users, (user) => suppressedByRule(rule, user.sends, user.earlier));
      return { since: new Date(sinceMs).toISOString(), ...preview, complete };
    },
  );

  routes.post(
    '/v1/dashboard/preview/quiet-hours',
    {
      config: { scope: 'admin' },
      schema: {
        tags: ['dashboard'],
        summary:
          "How many of the last 24 hours' allowed decisions fell in these quiet hours, in each user's zone.",
        body: QuietHoursBody,
        response: { 200: PreviewReply, ...errorResponses(400, 415) },
      },
    },
    async (request) => {
      const body = request.body;
      const quiet = {
        startMinute: parseClock(body.start),
        endMinute: parseClock(body.end),
        channels: body.channels,
      };
      const sinceMs = since();
      const { users, complete } = await recentSends(sinceMs);
      const preview = summarizePreview(users, (user) =>
        body.enabled ? suppressedByQuietHours(quiet, user.sends, user.timeZone) : 0,
      );
      return { since: new Date(sinceMs).toISOString(), ...preview, complete };
    },
  );
}
