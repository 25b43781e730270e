import type { FastifyInstance } from 'fastify';
import { pushBudgetRoutes } from './budget';
import { type PushDecisionRouteOptions, pushDecisionRoutes } from './decisions';
import { pushRuleRoutes } from './rules';
import { pushStatsRoutes } from './stats';

/** Every `/v1/push` route; needs the push-rules plugin and the recommendations service registered first. */
export async function pushRoutes(app: FastifyInstance, options: PushDecisionRouteOptions) {
  await app.register(pushRuleRoutes);
  await app.register(pushDecisionRoutes, options);
  await app.register(pushBudgetRoutes, { defaultTimezone: options.defaultTimezone, now: options.now });
  await app.register(pushStatsRoutes);
}
