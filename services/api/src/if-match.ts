import { StaleVersion } from '@elevens/db';
import { ifMatchVersions } from '@elevens/domain';
import { preconditionFailed } from '@elevens/http';
import type { FastifyReply, FastifyRequest } from 'fastify';

/**
 * Runs a change of a versioned resource (boost rules, a push rule, the quiet hours) with the versions the request's
 * If-Match names; a version no longer in force (`StaleVersion`, nothing stored) becomes the 412, naming what changed
 * (`what`, such as "rule festival-push") and the version in force (`inForce` words it).
 */
export async function changeUnlessStale<T>(
  request: FastifyRequest,
  reply: FastifyReply,
  what: string,
  inForce: (currentVersion: number) => string,
  change: (ifVersions: number[] | undefined) => Promise<T>,
): Promise<T> {
  try {
    return await change(ifMatchVersions(request.headers['if-match']));
  } catch (error) {
    if (!(error instanceof StaleVersion)) throw error;
    const { currentVersion } = error;
    throw preconditionFailed(
      reply,
      `${what} changed since If-Match: ${request.headers['if-match']} was read: ${inForce(currentVersion)} and nothing was stored; GET again, redo the change and send it with If-Match: "${currentVersion}"`,
      currentVersion,
    );
  }
}

/** `inForce` of `changeUnlessStale` for a resource whose version 0 is not special. */
export const versionInForce = (currentVersion: number) => `version ${currentVersion} is in force`;
