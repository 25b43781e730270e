import { experimentReply } from '@elevens/db';
import {
  DeletedExperiment,
  Experiment,
  ExperimentInput,
  ExperimentList,
  ExperimentParams,
  ExperimentPutParams,
  experimentProblem,
} from '@elevens/domain';
import { errorResponses, HttpError } from '@elevens/http';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';

export interface ExperimentRouteOptions {
  /** the clock default start times and statuses are taken from (epoch ms) */
  now: () => number;
}

/** Who made a change: the API key's name and id, or null when keys are not required. */
const callerOf = (request: FastifyRequest): string | null =>
  request.apiKey ? `${request.apiKey.name} (${request.apiKey.id})` : null;

/**
 * An arm history longer than this api reads (RECS_HISTORY_LENGTH) would be served at that length, the arm then
 * testing nothing it names: refused, so the marketer learns it at once rather than from a null result.
 */
function historyLongerThanRead(input: ExperimentInput, readLength: number): string | null {
  const index = input.arms.findIndex((arm) => (arm.settings?.historyLength ?? 0) > readLength);
  if (index < 0) return null;
  return `arms.${index}.settings.historyLength: at most ${readLength}, the history this api reads (RECS_HISTORY_LENGTH)`;
}

const notFound = (id: string) => new HttpError(404, 'not_found', `no experiment ${JSON.stringify(id)}`);

/** Experiments between serving configurations (docs/attribution.md); admin keys only. */
export async function experimentRoutes(app: FastifyInstance, options: ExperimentRouteOptions) {
  const routes = app.withTypeProvider<ZodTypeProvider>();
  const { now } = options;

  /**
   * Serves a committed change from this process at once. The change is stored whatever this re-read meets, so a
   * failure is not the caller's: it still gets its success, and the poll picks the change up within one interval.
   */
  const serveCommitted = async (request: FastifyRequest) => {
    try {
      await app.experiments.refresh();
    } catch (error) {
      request.log.warn({ err: error }, 'experiment change stored; this process serves it from its next poll');
    }
  };

  routes.put(
    '/v1/experiments/:id',
    {
      config: { scope: 'admin' },
      schema: {
        tags: ['experiments'],
        summary:
          'Create or replace an experiment: arms with traffic shares, an optional placement and window.',
        params: ExperimentPutParams,
        body: ExperimentInput,
        response: { 200: Experiment, ...errorResponses(400, 409, 415, 503) },
      },
    },
    async (request) => {
      const { id } = request.params;
      const input = request.body;
      const problem =
        experimentProblem(input) ?? historyLongerThanRead(input, app.recommendationSettings.historyLength);
      if (problem !== null) throw new HttpError(400, 'bad_request', problem);
      const nowMs = now();
      const result = await app.experimentStore.put(id, input, callerOf(request), nowMs);
      if (!result.ok && 'untilNotAfterFromMs' in result)
        throw new HttpError(
          400,
          'bad_request',
          `until: must be after from (${new Date(result.untilNotAfterFromMs).toISOString()})`,
        );
      if (!result.ok)
        throw new HttpError(
          409,
          'conflict',
          `experiment ${JSON.stringify(result.conflictsWith)} runs on the same placement in an overlapping window`,
          { conflictsWith: result.conflictsWith },
        );
      await serveCommitted(request);
      return experimentReply(result.experiment, result.version, nowMs);
    },
  );

  routes.get(
    '/v1/experiments/:id',
    {
      config: { scope: 'admin' },
      schema: {
        tags: ['experiments'],
        summary: 'One experiment, with its status now.',
        params: ExperimentParams,
        response: { 200: Experiment, ...errorResponses(400, 404, 503) },
      },
    },
    async (request) => {
      const [experiment, version] = await Promise.all([
        app.experimentStore.get(request.params.id),
        app.experimentStore.version(),
      ]);
      if (experiment === null) throw notFound(request.params.id);
      return experimentReply(experiment, version, now());
    },
  );

  routes.get(
    '/v1/experiments',
    {
      config: { scope: 'admin' },
      schema: {
        tags: ['experiments'],
        summary: 'Every stored experiment, with the set version.',
        response: { 200: ExperimentList, ...errorResponses(503) },
      },
    },
    async () => {
      const [experiments, version] = await Promise.all([
        app.experimentStore.list(),
        app.experimentStore.version(),
      ]);
      const nowMs = now();
      return { version, experiments: experiments.map((e) => experimentReply(e, version, nowMs)) };
    },
  );

  routes.delete(
    '/v1/experiments/:id',
    {
      config: { scope: 'admin' },
      schema: {
        tags: ['experiments'],
        summary: 'Stop and forget an experiment (its roll-ups stay).',
        params: ExperimentParams,
        response: { 200: DeletedExperiment, ...errorResponses(400, 404, 503) },
      },
    },
    async (request) => {
      const version = await app.experimentStore.delete(request.params.id);
      if (version === null) throw notFound(request.params.id);
      await serveCommitted(request);
      return { id: request.params.id, deleted: true as const, version };
    },
  );
}
