import {
  campaignAttributionKey,
  PushReport,
  PushReportQuery,
  RecommendationsReport,
  RecommendationsReportQuery,
} from '@elevens/domain';
import { errorResponses, unavailable } from '@elevens/http';
import type { PushStatsCount } from '@elevens/redis-stores';
import {
  type DecisionCounts,
  type HourWindow,
  hoursCovering,
  pushReportFrom,
  recommendationsReportFrom,
  withCampaignNames,
} from '@elevens/stats';
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';

const HOUR_MS = 3_600_000;

/** Push decision counts from the hourly Redis hashes, per campaign or per hour (ISO), for one campaign or all. */
async function decisionCounts(
  app: FastifyInstance,
  hours: HourWindow,
  groupBy: 'campaign' | 'hour',
  campaign: string | undefined,
): Promise<Map<string, DecisionCounts>> {
  const { firstHour, endHour } = hours;
  const spans =
    groupBy === 'campaign'
      ? [{ group: null, first: firstHour, end: endHour }]
      : Array.from({ length: Math.max(0, endHour - firstHour) }, (_, i) => ({
          group: new Date((firstHour + i) * HOUR_MS).toISOString(),
          first: firstHour + i,
          end: firstHour + i + 1,
        }));
  let results: PushStatsCount[][];
  try {
    // This process's latest counts first, as /v1/push/stats does: both count a decision answered here.
    await app.pushStats.flush();
    results = await Promise.all(spans.map((span) => app.pushLedger.readStats(span.first, span.end)));
  } catch (error) {
    throw unavailable('the push decision counts cannot be read now, retry shortly', { cause: error });
  }
  const totals = new Map<string, DecisionCounts>();
  results.forEach((counts, i) => {
    for (const count of counts) {
      if (campaign !== undefined && count.campaignId !== campaign) continue;
      const group = spans[i]!.group ?? count.campaignId;
      const entry = totals.get(group) ?? { sends: 0, suppressed: {} };
      if (count.reason === 'ok') entry.sends += count.count;
      // Allowed, then released by the sender: not sent after all.
      else if (count.reason === 'released') entry.sends -= count.count;
      else entry.suppressed[count.reason] = (entry.suppressed[count.reason] ?? 0) + count.count;
      totals.set(group, entry);
    }
  });
  return totals;
}

/**
 * Reports from the roll-ups (docs/attribution.md): never a scan of the raw events. Admin keys only: the
 * figures are the shop's business results.
 */
export async function reportRoutes(app: FastifyInstance) {
  const routes = app.withTypeProvider<ZodTypeProvider>();

  routes.get(
    '/v1/reports/recommendations',
    {
      config: { scope: 'admin' },
      schema: {
        tags: ['reports'],
        summary:
          'Impressions, clicks, CTR, carts, purchases, conversion and revenue of recommendation answers per ' +
          'arm, hour, model version, placement or experiment, with Wilson intervals and p-values.',
        querystring: RecommendationsReportQuery,
        response: { 200: RecommendationsReport, ...errorResponses(400, 503) },
      },
    },
    async (request) => {
      const q = request.query;
      const hours = hoursCovering(Date.parse(q.from), Date.parse(q.to));
      // The watermark first: a worker step committing meanwhile adds counts past it, never a claim past the counts.
      const watermark = await app.rollups.watermark();
      const counts = await app.rollups.groups({
        fromMs: hours.fromMs,
        toMs: hours.toMs,
        // Ids we did not issue (a client's own, or from before answer ids said anything) are recommendations
        // with every dimension unknown.
        kinds: ['recommendation', 'unknown'],
        groupBy: q.groupBy,
        ...(q.experiment === undefined ? {} : { experiment: q.experiment }),
        ...(q.placement === undefined ? {} : { placement: q.placement }),
      });
      return recommendationsReportFrom(
        {
          fromMs: hours.fromMs,
          toMs: hours.toMs,
          groupBy: q.groupBy,
          experiment: q.experiment ?? null,
          placement: q.placement ?? null,
        },
        counts,
        watermark?.getTime() ?? null,
      );
    },
  );

  routes.get(
    '/v1/reports/push',
    {
      config: { scope: 'admin' },
      schema: {
        tags: ['reports'],
        summary:
          'Push decisions (sends and refusals by reason) and the events attributed to them per campaign or hour, ' +
          'with clicks, purchases and revenue per send, Wilson intervals and p-values.',
        querystring: PushReportQuery,
        response: { 200: PushReport, ...errorResponses(400, 503) },
      },
    },
    async (request) => {
      const q = request.query;
      const hours = hoursCovering(Date.parse(q.from), Date.parse(q.to));
      // The watermark first, as for the recommendations report.
      const watermark = await app.rollups.watermark();
      const [counts, decisions] = await Promise.all([
        app.rollups.groups({
          fromMs: hours.fromMs,
          toMs: hours.toMs,
          kinds: ['push'],
          groupBy: q.groupBy,
          // Events are counted under the key a push answer id carries for the campaign.
          ...(q.campaign === undefined ? {} : { campaign: campaignAttributionKey(q.campaign) }),
        }),
        decisionCounts(app, hours, q.groupBy, q.campaign),
      ]);
      // The campaign asked for names its key even when the window holds none of its decisions.
      const campaigns = q.campaign === undefined ? decisions.keys() : [q.campaign];
      return pushReportFrom(
        { fromMs: hours.fromMs, toMs: hours.toMs, groupBy: q.groupBy, campaign: q.campaign ?? null },
        q.groupBy === 'campaign' ? withCampaignNames(counts, campaigns) : counts,
        decisions,
        watermark?.getTime() ?? null,
      );
    },
  );
}
