import { ErrorBody } from '@elevens/domain';
import type { FastifyError, FastifyInstance } from 'fastify';
import { hasZodFastifySchemaValidationErrors } from 'fastify-type-provider-zod';

const CODE_BY_STATUS: Record<number, string> = {
  400: 'bad_request',
  401: 'unauthorized',
  403: 'forbidden',
  404: 'not_found',
  405: 'method_not_allowed',
  406: 'not_acceptable',
  408: 'request_timeout',
  409: 'conflict',
  413: 'payload_too_large',
  414: 'uri_too_long',
  415: 'unsupported_media_type',
  422: 'unprocessable',
  429: 'rate_limited',
  431: 'headers_too_large',
  503: 'unavailable',
};

/** An error whose message is safe to show the client, answered with its status and code. */
export class HttpError extends Error {
  constructor(
    readonly statusCode: number,
    readonly code: string,
    message: string,
    readonly details?: unknown,
    /** seconds, sent as Retry-After */
    readonly retryAfter?: number,
  ) {
    super(message);
  }
}

/** Retry-After of answers given while a data store is unreachable. */
const STORE_RETRY_AFTER_SECONDS = 1;

export const unavailable = (message: string, retryAfterSeconds = 1) =>
  new HttpError(503, 'unavailable', message, undefined, retryAfterSeconds);

/** Socket failures: a dependency (Postgres, Redis) is unreachable, whatever port it listens on. */
export const NETWORK_ERROR_CODES: ReadonlySet<string> = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'ENOTFOUND',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EAI_AGAIN',
]);

const STORE_DOWN_MESSAGES =
  /Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error|Client was closed and is not queryable|Connection is closed|enableOfflineQueue|max retries per request/i;

/**
 * True when an error means a data store cannot be reached now (as opposed to a bad query or a bug): socket
 * errors, Postgres SQLSTATE class 08 (connection exception), 57P01–57P03 (server shutting down or starting),
 * 53300 (too many connections), and the messages pg and ioredis give for lost or refused connections. Such
 * failures answer 503 with Retry-After: the client should retry, and nothing was acknowledged.
 */
export function isStoreUnavailable(error: unknown): boolean {
  if (typeof error !== 'object' || error === null) return false;
  const { name, code, message } = error as { name?: unknown; code?: unknown; message?: unknown };
  if (typeof code === 'string') {
    if (NETWORK_ERROR_CODES.has(code)) return true;
    if (/^08[0-9A-Z]{3}$/.test(code) || /^57P0[123]$/.test(code) || code === '53300') return true;
  }
  if (name === 'MaxRetriesPerRequestError') return true;
  return typeof message === 'string' && STORE_DOWN_MESSAGES.test(message);
}

/**
 * True for Postgres data exceptions (SQLSTATE class 22: a NUL in text, a number out of a column's range, an
 * impossible date). Our own code writes only values it validated, so such a value came with the request and is
 * the client's error: 400.
 */
export function isRejectedValue(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && /^22[0-9A-Z]{3}$/.test(code);
}

/** The error answers a route may give, for its response schema. */
export function errorResponses<const S extends readonly number[]>(...statuses: S) {
  return Object.fromEntries(statuses.map((s) => [s, ErrorBody])) as { [K in S[number]]: typeof ErrorBody };
}

/**
 * Every error becomes `{ error, message, details? }`. Anything the client caused keeps its 4xx status; only
 * our own failures are 5xx, and their messages are not shown to clients.
 */
export function installErrorHandling(app: FastifyInstance): void {
  app.setErrorHandler((err: FastifyError | HttpError, request, reply) => {
    if (err instanceof HttpError) {
      if (err.retryAfter !== undefined) reply.header('retry-after', String(err.retryAfter));
      if (err.statusCode >= 500) request.log.warn({ err }, err.message);
      return reply.code(err.statusCode).send({
        error: err.code,
        message: err.message,
        ...(err.details === undefined ? {} : { details: err.details }),
      });
    }
    if (hasZodFastifySchemaValidationErrors(err)) {
      const issues = err.validation.map((v) => ({
        path: `${err.validationContext ?? 'request'}${v.instancePath.replaceAll('/', '.')}`,
        message: v.message,
      }));
      return reply.code(400).send({
        error: 'bad_request',
        message: issues.map((i) => `${i.path}: ${i.message}`).join('; '),
        details: issues,
      });
    }
    const status = typeof err.statusCode === 'number' ? err.statusCode : 500;
    if (status >= 500 && isRejectedValue(err)) {
      return reply.code(400).send({
        error: 'bad_request',
        message: 'a value is out of range or not storable (for example a NUL character)',
      });
    }
    if (status >= 500 && isStoreUnavailable(err)) {
      request.log.warn({ err }, 'a data store is unavailable');
      reply.header('retry-after', String(STORE_RETRY_AFTER_SECONDS));
      return reply
        .code(503)
        .send({ error: 'unavailable', message: 'a data store is unavailable, retry shortly' });
    }
    if (status >= 400 && status < 500) {
      const headers = (err as { headers?: Record<string, string> }).headers;
      if (headers) reply.headers(headers);
      return reply
        .code(status)
        .send({ error: CODE_BY_STATUS[status] ?? 'bad_request', message: err.message });
    }
    request.log.error({ err }, 'request failed');
    if (status === 503) {
      reply.header('retry-after', '1');
      return reply
        .code(503)
        .send({ error: 'unavailable', message: 'temporarily unavailable, retry shortly' });
    }
    return reply.code(500).send({ error: 'internal', message: 'internal error' });
  });
  app.setNotFoundHandler((request, reply) => {
    reply
      .code(404)
      .send({ error: 'not_found', message: `no route for ${request.method} ${request.url.split('?')[0]}` });
  });
}
