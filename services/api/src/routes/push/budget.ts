import { PushBudgetParams, PushBudgetQuery, PushBudgetReply } from '@elevens/domain';
import { errorResponses, unavailable } from '@elevens/http';
import {
  applicableRules,
  CHANNELS,
  compareRestrictiveness,
  isQuietAt,
  MAX_WINDOW_MS,
  quietHoursApply,
  quietUntil,
  resolveTimeZone,
  ruleIsActive,
  ruleUsage,
  type SendRecord,
} from '@elevens/push-rules';
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';

const iso = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());

export interface PushBudgetRouteOptions {
  defaultTimezone: string;
  /** the wall clock budgets are evaluated at (epoch ms), as decisions are */
  now: () => number;
}

export async function pushBudgetRoutes(app: FastifyInstance, options: PushBudgetRouteOptions) {
  app.withTypeProvider<ZodTypeProvider>().get(
    '/v1/push/users/:userId/budget',
    {
      config: { scope: 'push:decide' },
      schema: {
        tags: ['push'],
        summary:
          'What is left for a user: per rule in force, and per channel for a message of the category, at the priority.',
        params: PushBudgetParams,
        querystring: PushBudgetQuery,
        response: { 200: PushBudgetReply, ...errorResponses(400, 503) },
      },
    },
    async (request) => {
      const { userId } = request.params;
      const { category, priority } = request.query;
      const nowMs = options.now();
      const served = app.pushConfig.current();
      const state = await app.pushLedger
        .readUserState(userId, nowMs - MAX_WINDOW_MS)
        .catch((error: unknown) => {
          request.log.warn({ err: error }, 'push budget unavailable');
          throw unavailable('the budget cannot be read now, retry shortly', { cause: error });
        });
      const sends = state.sends as SendRecord[];
      const timeZone = resolveTimeZone(state.timezone, options.defaultTimezone);
      const viewById = new Map(served.stored.rules.map((view) => [view.ruleId, view]));
      const rules = served.rules
        .filter((rule) => ruleIsActive(rule, nowMs))
        .sort(compareRestrictiveness)
        .map((rule) => {
          const usage = ruleUsage(rule, sends, nowMs, priority);
          return {
            ruleId: rule.ruleId,
            channel: rule.channel,
            category: rule.category,
            limit: rule.limit,
            window: viewById.get(rule.ruleId)!.window,
            used: usage.used,
            remaining: usage.remaining,
            resetsAt: iso(usage.resetsAtMs),
          };
        });
      const quiet = served.quietHours;
      const channels = CHANNELS.map((channel) => {
        let tightest: { ruleId: string; remaining: number } | null = null;
        for (const rule of applicableRules(served.rules, { channel, category: category ?? null }, nowMs)) {
          const { remaining } = ruleUsage(rule, sends, nowMs, priority);
          if (tightest === null || remaining < tightest.remaining)
            tightest = { ruleId: rule.ruleId, remaining };
        }
        const quietNow =
          quiet !== null && quietHoursApply(quiet, channel) && isQuietAt(quiet, timeZone, nowMs);
        return {
          channel,
          remaining: tightest?.remaining ?? null,
          ruleId: tightest?.ruleId ?? null,
          quietUntil: quietNow ? iso(quietUntil(quiet, timeZone, nowMs)) : null,
        };
      });
      return { userId, at: iso(nowMs)!, timezone: timeZone, priority, rules, channels };
    },
  );
}
