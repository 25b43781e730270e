import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import { ErrorBody } from '@elevens/domain';
import type {
  ConnectionError,
  FastifyError,
  FastifyInstance,
  FastifyReply,
  FastifyRequest,
  HTTPMethods,
} from 'fastify';
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

/**
 * A 503 the client should retry. `cause`: the store's error behind it, which the metrics count as the request's
 * failure on that store (elevens_postgres_errors_total, elevens_redis_errors_total).
 */
export const unavailable = (
  message: string,
  { retryAfterSeconds = 1, cause }: { retryAfterSeconds?: number; cause?: unknown } = {},
) =>
  Object.assign(
    new HttpError(503, 'unavailable', message, undefined, retryAfterSeconds),
    cause === undefined ? {} : { cause },
  );

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

/**
 * `Command timed out`: ioredis' `commandTimeout`, a Redis that did not answer in time (REDIS_COMMAND_TIMEOUT).
 * `Query read timeout`: pg's `query_timeout`, a Postgres connection that stopped answering (packages/db's plugin).
 */
const STORE_DOWN_MESSAGES =
  /Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error|Client was closed and is not queryable|Connection is closed|enableOfflineQueue|max retries per request|^Command timed out$|^Query read timeout$/i;

/**
 * Postgres SQLSTATEs of a server that cannot do the work now, though the statement was sound: class 08
 * (connection exception), class 53 (insufficient resources: too many connections, disk full, out of memory),
 * 57P01–57P03 (shutting down or starting), 57014 (statement cancelled), 25006 (a read-only transaction: a hot
 * standby reached after a failover), 40001 and 40P01 (serialization failure, deadlock: the transaction was rolled
 * back for a retry) and 55P03 (a lock not available).
 */
const TRANSIENT_SQLSTATE = /^(08[0-9A-Z]{3}|53[0-9A-Z]{3}|57P0[123]|57014|25006|40001|40P01|55P03)$/;

/**
 * Redis error replies of a server that refuses commands for a while: a replica (READONLY, MASTERDOWN), a server
 * loading its data (LOADING), running a long script (BUSY), out of memory (OOM), unable to persist (MISCONF), or a
 * cluster without a serving node or moving a slot (CLUSTERDOWN, TRYAGAIN, NOREPLICAS).
 */
const TRANSIENT_REDIS_REPLY =
  /^(READONLY|MASTERDOWN|LOADING|BUSY|OOM|MISCONF|CLUSTERDOWN|TRYAGAIN|NOREPLICAS) /;

/**
 * True when an error means a data store cannot serve now (as opposed to a bad query or a bug): socket errors,
 * the messages pg and ioredis give for lost or refused connections, Postgres states such as a hot standby or a
 * deadlock (`TRANSIENT_SQLSTATE`), and Redis replies such as a replica's READONLY (`TRANSIENT_REDIS_REPLY`), as
 * met after a failover. Such failures answer 503 with Retry-After: the client should retry, and nothing was
 * acknowledged.
 */
export function isStoreUnavailable(error: unknown): boolean {
  if (typeof error !== 'object' || error === null) return false;
  const { name, code, message } = error as { name?: unknown; code?: unknown; message?: unknown };
  if (typeof code === 'string' && (NETWORK_ERROR_CODES.has(code) || TRANSIENT_SQLSTATE.test(code)))
    return true;
  if (name === 'MaxRetriesPerRequestError') return true;
  if (typeof message !== 'string') return false;
  return STORE_DOWN_MESSAGES.test(message) || (name === 'ReplyError' && TRANSIENT_REDIS_REPLY.test(message));
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

const errorBody = (code: string, message: string, details?: unknown): ErrorBody =>
  details === undefined ? { error: code, message } : { error: code, message, details };

/** `body.events.0.userId` for the issue at `/events/0/userId` of the body; `body` for the body itself. */
const issuePath = (context: string, instancePath: string) =>
  [context, ...instancePath.split('/').filter((part) => part.length > 0)].join('.');

const BAD_URL_MESSAGE = 'the URL is not validly percent-encoded UTF-8';

/**
 * The 400 of a URL whose query string does not decode, or null when it decodes. The router refuses such a path
 * (FST_ERR_BAD_URL) but keeps such a query parameter as sent: `userId=%E0%A4%A` was served as those 9 characters.
 */
export function undecodableQueryError(url: string): HttpError | null {
  const queryStart = url.indexOf('?');
  if (queryStart === -1 || url.indexOf('%', queryStart) === -1) return null;
  try {
    decodeURIComponent(url.slice(queryStart + 1));
    return null;
  } catch {
    return new HttpError(400, 'bad_request', BAD_URL_MESSAGE);
  }
}

/** Fastify's own messages for these echo the raw URL back; ours say what is wrong. */
const FRAMEWORK_MESSAGES: Record<string, string> = {
  FST_ERR_BAD_URL: BAD_URL_MESSAGE,
  FST_ERR_MAX_PARAM_LENGTH: 'a path segment is too long',
};

/**
 * Answers any error as `{ error, message, details? }`. Anything the client caused keeps its 4xx status; only our
 * own failures are 5xx, and their messages are not shown to clients. Route errors and the errors Fastify raises
 * before a route is found (`frameworkErrors`: bad URL encoding, an overlong path segment) both come here.
 */
export function replyWithError(err: FastifyError | HttpError, request: FastifyRequest, reply: FastifyReply) {
  // Errors raised before routing (frameworkErrors) meet no onRequest hook, which sets these elsewhere.
  reply.header('x-request-id', request.id).header('x-content-type-options', 'nosniff');
  if (err instanceof HttpError) {
    if (err.retryAfter !== undefined) reply.header('retry-after', String(err.retryAfter));
    if (err.statusCode >= 500) request.log.warn({ err }, err.message);
    return reply.code(err.statusCode).send(errorBody(err.code, err.message, err.details));
  }
  if (hasZodFastifySchemaValidationErrors(err)) {
    const issues = err.validation.map((v) => ({
      path: issuePath(err.validationContext ?? 'request', v.instancePath),
      message: v.message,
    }));
    return reply
      .code(400)
      .send(errorBody('bad_request', issues.map((i) => `${i.path}: ${i.message}`).join('; '), issues));
  }
  const status = typeof err.statusCode === 'number' ? err.statusCode : 500;
  if (status >= 500 && isRejectedValue(err)) {
    return reply
      .code(400)
      .send(
        errorBody('bad_request', 'a value is out of range or not storable (for example a NUL character)'),
      );
  }
  if (status >= 500 && isStoreUnavailable(err)) {
    request.log.warn({ err }, 'a data store is unavailable');
    reply.header('retry-after', String(STORE_RETRY_AFTER_SECONDS));
    return reply.code(503).send(errorBody('unavailable', 'a data store is unavailable, retry shortly'));
  }
  if (status >= 400 && status < 500) {
    const headers = (err as { headers?: Record<string, string> }).headers;
    if (headers) reply.headers(headers);
    return reply
      .code(status)
      .send(errorBody(CODE_BY_STATUS[status] ?? 'bad_request', FRAMEWORK_MESSAGES[err.code] ?? err.message));
  }
  request.log.error({ err }, 'request failed');
  if (status === 503) {
    reply.header('retry-after', '1');
    return reply.code(503).send(errorBody('unavailable', 'temporarily unavailable, retry shortly'));
  }
  return reply.code(500).send(errorBody('internal', 'internal error'));
}

/** Node's HTTP parser errors worth naming; any other request it cannot parse is answered 400 too. */
const CLIENT_ERRORS: Record<string, { status: number; message: string }> = {
  ERR_HTTP_REQUEST_TIMEOUT: { status: 408, message: 'the request was not received in time' },
  HPE_HEADER_OVERFLOW: { status: 431, message: 'the request line and headers are too large' },
  HPE_INVALID_URL: {
    status: 400,
    message: 'the request target has bytes a URL may not carry: percent-encode them',
  },
  HPE_INVALID_HEADER_TOKEN: {
    status: 400,
    message: 'a header name or value has characters HTTP does not allow',
  },
  HPE_INVALID_METHOD: { status: 400, message: 'not an HTTP method' },
  HPE_INVALID_CONTENT_LENGTH: { status: 400, message: 'Content-Length is not a number' },
};

/**
 * Answers a request Node's HTTP parser refused (raw bytes in the URL or a header, a broken request line, headers
 * too large) with the usual `{ error, message }`, then closes the connection, as Fastify's default handler does.
 * No request exists yet, so no hook, log line or request id is involved.
 */
export function answerClientError(error: ConnectionError, socket: Socket): void {
  // A reset connection has no one to answer.
  if (error.code === 'ECONNRESET' || socket.destroyed) return;
  const { status, message } = CLIENT_ERRORS[error.code ?? ''] ?? {
    status: 400,
    message: 'not a valid HTTP/1.1 request',
  };
  const body = JSON.stringify(errorBody(CODE_BY_STATUS[status] ?? 'bad_request', message));
  if (socket.writable) {
    socket.write(
      `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\ncontent-type: application/json; charset=utf-8\r\n` +
        'x-content-type-options: nosniff\r\n' +
        `content-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
    );
  }
  socket.destroy(error);
}

/** Routes registered for a catch-all path (`OPTIONS *` for CORS preflights) match every path. */
const isCatchAll = (url: string) => url === '*' || url === '/*';

/** The path of a request URL, or null when its percent-encoding does not decode. */
function decodablePath(url: string): string | null {
  const path = url.split('?', 1)[0]!;
  try {
    decodeURIComponent(path);
    return path;
  } catch {
    return null;
  }
}

/**
 * A request no route answers: 405 with `Allow` when the path has routes for other methods (Fastify itself
 * answers 404 then), 400 when its URL cannot be decoded, else 404. The methods come from the routes as they are
 * registered, so `installErrorHandling` must run before any route.
 */
function installNotFoundHandling(app: FastifyInstance): void {
  const pathMethods = new Set<HTTPMethods>();
  const catchAllMethods = new Set<HTTPMethods>();
  app.addHook('onRoute', (route) => {
    for (const method of [route.method].flat()) {
      (isCatchAll(route.url) ? catchAllMethods : pathMethods).add(method);
    }
  });
  app.setNotFoundHandler((request, reply) => {
    const path = decodablePath(request.url);
    if (path === null) return reply.code(400).send(errorBody('bad_request', BAD_URL_MESSAGE));
    const routed = path.startsWith('/')
      ? [...pathMethods].filter(
          (method) => !catchAllMethods.has(method) && app.findRoute({ method, url: path }) !== null,
        )
      : [];
    // A route of this very method that calls for a 404 (a static file that is missing) means not found.
    if (routed.length === 0 || routed.includes(request.method as HTTPMethods)) {
      return reply.code(404).send(errorBody('not_found', `no route for ${request.method} ${path}`));
    }
    const allow = [...new Set([...routed, ...catchAllMethods])].sort().join(', ');
    return reply
      .code(405)
      .header('allow', allow)
      .send(
        errorBody('method_not_allowed', `${request.method} is not allowed on ${path} (allowed: ${allow})`),
      );
  });
}

/**
 * Every error becomes `{ error, message, details? }`: route errors, requests no route answers (404, 405) and,
 * with `frameworkErrors: replyWithError` and `clientErrorHandler: answerClientError` among the Fastify options,
 * the errors raised before routing. Call it before registering any route.
 */
export function installErrorHandling(app: FastifyInstance): void {
  app.setErrorHandler(replyWithError);
  installNotFoundHandling(app);
}
