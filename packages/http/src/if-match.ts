import type { FastifyReply } from 'fastify';
import { HttpError } from './errors';

/** The version in force as an entity tag, for a client's next If-Match. */
export const tagVersion = (reply: FastifyReply, version: number) => reply.header('etag', `"${version}"`);

/**
 * The 412 of a change its If-Match no longer matches: the reply carries the version in force as ETag and
 * `details.currentVersion`, so the client can read again and redo its change against it.
 */
export function preconditionFailed(reply: FastifyReply, message: string, currentVersion: number): HttpError {
  tagVersion(reply, currentVersion);
  return new HttpError(412, 'precondition_failed', message, { currentVersion });
}
