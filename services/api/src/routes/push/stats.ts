import { type PushChannel, type PushReason, PushStatsQuery, PushStatsReply } from '@elevens/domain';
import { errorResponses, stringifyReply, unavailable } from '@elevens/http';
import type { PushStatsCount } from '@elevens/redis-stores';
import { hoursCovering } from '@elevens/stats';
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';

export async function pushStatsRoutes(app: FastifyInstance) {
  app.withTypeProvider<ZodTypeProvider>().get(
    '/v1/push/stats',
    {
      config: { scope: 'admin' },
      schema: {
        tags: ['push'],
        summary: 'Decisions counted by channel, campaign and reason, in whole UTC hours covering [from, to).',
        querystring: PushStatsQuery,
        response: { 200: PushStatsReply, ...errorResponses(400, 503) },
      },
      // Serialized as built: the reply schema's records drop a key named `__proto__` (zod guards plain objects
      // with it), and a campaign may be named so; the totals are own properties of prototype-less objects.
      serializerCompiler: stringifyReply,
    },
    async (request) => {
      // The hours the reports count for the same window (`/v1/reports/push`'s sends are these decisions).
      const hours = hoursCovering(Date.parse(request.query.from), Date.parse(request.query.to));
      let counts: PushStatsCount[];
      try {
        // This process's latest counts first, so a decision answered here is in its own report.
        await app.pushStats.flush();
        counts = await app.pushLedger.readStats(hours.firstHour, hours.endHour);
      } catch (error) {
        request.log.warn({ err: error }, 'push stats unavailable');
        throw unavailable('the stats cannot be read now, retry shortly', { cause: error });
      }
      // Without a prototype: campaign ids are the senders' own strings, and one named `constructor` or
      // `toString` would otherwise add its count to an inherited function.
      const byChannel: Record<string, number> = Object.create(null);
      const byCampaign: Record<string, number> = Object.create(null);
      const byReason: Record<string, number> = Object.create(null);
      const releasedByCampaign: Record<string, number> = Object.create(null);
      let total = 0;
      let released = 0;
      const decisions: PushStatsCount[] = [];
      for (const row of counts) {
        // A release is not a decision: counted beside them.
        if (row.reason === 'released') {
          released += row.count;
          releasedByCampaign[row.campaignId] = (releasedByCampaign[row.campaignId] ?? 0) + row.count;
          continue;
        }
        decisions.push(row);
        total += row.count;
        byReason[row.reason] = (byReason[row.reason] ?? 0) + row.count;
        byChannel[row.channel] = (byChannel[row.channel] ?? 0) + row.count;
        byCampaign[row.campaignId] = (byCampaign[row.campaignId] ?? 0) + row.count;
      }
      const rows = decisions
        .map((row) => ({
          channel: row.channel as PushChannel,
          campaignId: row.campaignId,
          reason: row.reason as PushReason,
          count: row.count,
        }))
        .sort((a, b) => b.count - a.count || a.campaignId.localeCompare(b.campaignId));
      return {
        from: new Date(hours.fromMs).toISOString(),
        to: new Date(hours.toMs).toISOString(),
        total,
        byChannel,
        byCampaign,
        byReason,
        rows,
        released,
        releasedByCampaign,
      };
    },
  );
}
