import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { MAX_EXTERNAL_ID_LENGTH } from '@elevens/domain';
import Fastify, {
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
  type FastifyServerOptions,
  LogController,
} from 'fastify';
import { serializerCompiler, validatorCompiler, type ZodTypeProvider } from 'fastify-type-provider-zod';
import { answerClientError, installErrorHandling, replyWithError, undecodableQueryError } from './errors';
import { type LoggingOptions, lazyChildLoggerFactory, loggerOptions } from './logging';

/** Sets on an answer the headers a hook would have set, had the answer not come before the hooks. */
export type EarlyAnswerHeaders = (request: FastifyRequest, reply: FastifyReply) => void;

declare module 'fastify' {
  interface FastifyInstance {
    /**
     * Adds headers to the answers given before the onRequest hooks run: a request arriving while the app closes
     * (503), a URL that does not decode (400). The CORS plugin adds its own, so a page can read those answers too.
     */
    addEarlyAnswerHeaders(headers: EarlyAnswerHeaders): void;
    /**
     * `draining`: the process is stopping (SIGTERM) and its health routes answer 503 so a load balancer takes it
     * out, while it goes on serving until it closes (`closeOnSignals`, SHUTDOWN_DRAIN_MS).
     */
    lifecycle: { draining: boolean };
  }
}

export interface BaseAppOptions {
  logging: LoggingOptions;
  /** body size limit in bytes */
  bodyLimit?: number;
  /** extra Fastify options (e.g. a pino instance for tests) */
  fastify?: Partial<FastifyServerOptions>;
  /** the slow-client bounds, each as `CLIENT_TIMEOUTS` unless given: tests lower them to see them reached */
  clientTimeouts?: Partial<ClientTimeouts>;
}

/**
 * The longest path segment the router matches: an `ExternalId` percent-encoded (at most 9 characters per UTF-16
 * unit, three escaped UTF-8 bytes). Find-my-way's default of 100 answered 414 to ids the schemas accept.
 */
const MAX_PATH_SEGMENT_LENGTH = MAX_EXTERNAL_ID_LENGTH * 9;

/**
 * Bounds on a client that holds a connection without finishing its request (slow-loris): Fastify turns Node's own
 * request timeout off, so headers sent a line at a time, a body dripped a byte at a time, or a connection that
 * sends nothing each held a socket for ever. Idle keep-alive connections keep Fastify's 72 s.
 */
export interface ClientTimeouts {
  /** the request line and headers must arrive within this (answered 408, then closed) */
  headersMs: number;
  /** the whole request, body included, must arrive within this (answered 408, then closed) */
  requestMs: number;
  /** a connection silent this long before its first answer is closed */
  silentConnectionMs: number;
}

/** As HAProxy's `timeout http-request` and `timeout client` (docker/haproxy.cfg). */
const CLIENT_TIMEOUTS: ClientTimeouts = { headersMs: 10_000, requestMs: 30_000, silentConnectionMs: 30_000 };

/**
 * The client's `x-request-id` kept as the request's id: a UUID, a ULID, a trace id. Anything else (overlong, a tab,
 * a space, non-ASCII bytes) would reach every log line of the request and the answer's header as sent; such a
 * request gets an id of ours instead.
 */
const CLIENT_REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

const requestIdOf = (request: IncomingMessage): string => {
  const sent = request.headers['x-request-id'];
  return typeof sent === 'string' && CLIENT_REQUEST_ID.test(sent) ? sent : randomUUID();
};

/** A Fastify instance with Elevens' shared conventions: zod schemas, request ids, JSON errors, pino logs. */
export function createBaseApp(options: BaseAppOptions) {
  const earlyAnswerHeaders: EarlyAnswerHeaders[] = [];
  const withEarlyAnswerHeaders = (request: FastifyRequest, reply: FastifyReply) => {
    for (const setHeaders of earlyAnswerHeaders) setHeaders(request, reply);
    return reply;
  };
  const clientTimeouts = { ...CLIENT_TIMEOUTS, ...options.clientTimeouts };
  const app = Fastify({
    logger: loggerOptions(options.logging),
    bodyLimit: options.bodyLimit ?? 1_048_576,
    // Fastify would take the header as sent: `requestIdOf` reads it.
    requestIdHeader: false,
    genReqId: requestIdOf,
    logController: new LogController({ requestIdLogLabel: 'requestId' }),
    childLoggerFactory: lazyChildLoggerFactory,
    routerOptions: { maxParamLength: MAX_PATH_SEGMENT_LENGTH },
    // Errors raised before routing answer in the same JSON shape as every other error.
    frameworkErrors: (error, request, reply) =>
      replyWithError(error, request, withEarlyAnswerHeaders(request, reply)),
    clientErrorHandler: answerClientError,
    // Fastify's own 503 while closing has another shape: the onRequest hook below answers instead.
    return503OnClosing: false,
    requestTimeout: clientTimeouts.requestMs,
    connectionTimeout: clientTimeouts.silentConnectionMs,
    ...options.fastify,
  }).withTypeProvider<ZodTypeProvider>();
  // Not a Fastify option. Node applies the request timeout to the body only while this one is shorter.
  app.server.headersTimeout = clientTimeouts.headersMs;
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  // Only JSON bodies are parsed: any other content type (text/plain included) is answered 415, never handed to a
  // route's schema as a string to be refused 400.
  app.removeContentTypeParser('text/plain');
  // An empty JSON body is no body: HTTP clients that set `content-type: application/json` on every call (Python's
  // requests sends `Content-Length: 0` with it on a DELETE) were refused 400 by Fastify's parser on routes that
  // take no body; a route that needs one still refuses its absence through its schema. Prototype and constructor
  // poisoning are refused as by Fastify's default parser.
  const parseJson = app.getDefaultJsonParser('error', 'error');
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    if (body.length === 0) done(null, undefined);
    // parseAs 'string' hands a string; the overload's type does not narrow to it.
    else parseJson(request, body as string, done);
  });
  installErrorHandling(app as unknown as FastifyInstance);
  app.decorate('addEarlyAnswerHeaders', (headers: EarlyAnswerHeaders) => {
    earlyAnswerHeaders.push(headers);
  });
  app.decorate('lifecycle', { draining: false });
  let closing = false;
  app.addHook('preClose', (done) => {
    closing = true;
    // Node closes the connections that are idle when the server closes, once: a connection still serving a
    // request then is kept alive after its answer (72 s, unless its client hangs up), holding up the close and
    // every onClose hook. From now on a connection is closed when idle for 1 ms (plus Node's margin of 1 s).
    app.server.keepAliveTimeout = 1;
    done();
  });
  // Hooks on every request take a callback, not a promise: one promise and microtask less per request each.
  // The request id is set here, the first hook every routed request meets, and kept by every answer (errors
  // too); an onSend hook for it cost each reply a run through Fastify's onSend hook chain.
  // `x-content-type-options: nosniff` is set here too, so that no browser reads a JSON answer echoing client
  // input as HTML. The answers given here end the request before the later hooks (CORS) run, so they get those
  // hooks' headers here.
  app.addHook('onRequest', (request, reply, done) => {
    reply.header('x-request-id', request.id).header('x-content-type-options', 'nosniff');
    if (closing) {
      withEarlyAnswerHeaders(request, reply)
        .code(503)
        .header('retry-after', '1')
        .send({ error: 'unavailable', message: 'the service is shutting down, retry shortly' });
      return;
    }
    const badUrl = undecodableQueryError(request.url);
    if (badUrl === null) return done();
    replyWithError(badUrl, request, withEarlyAnswerHeaders(request, reply));
  });
  return app;
}

export type ElevensApp = ReturnType<typeof createBaseApp>;
