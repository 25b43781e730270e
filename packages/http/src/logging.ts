import { createHmac, randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import { secret } from '@elevens/config';
import type { FastifyBaseLogger, FastifyRequest, FastifyServerOptions } from 'fastify';
import type { Bindings, ChildLoggerOptions, Logger } from 'pino';
import { z } from 'zod';

export const logPrivacyEnv = {
  /** true: user ids appear in logs only as keyed hashes (same id → same hash within one hash key) */
  LOG_HASH_USER_IDS: z
    .enum(['true', 'false'])
    .default('false')
    .transform((value) => value === 'true'),
  /** key of those hashes; set the same one on every process to correlate a user across their logs */
  LOG_USER_ID_HASH_KEY: secret(z.string().min(16).optional()),
};

export interface LoggingOptions {
  level: string;
  /** a pino destination stream for tests; stdout otherwise */
  stream?: NodeJS.WritableStream;
  /** log user ids as keyed hashes instead of as sent */
  hashUserIds?: boolean;
  /** HMAC key for those hashes; a random one per process when absent */
  userIdHashKey?: string;
  /** the worker_threads id of the thread logging, on every line (a multi-threaded process: API_THREADS) */
  thread?: number;
}

/** The logging options the privacy variables set. */
export const logPrivacyFromConfig = (config: {
  LOG_HASH_USER_IDS: boolean;
  LOG_USER_ID_HASH_KEY?: string | undefined;
}): Pick<LoggingOptions, 'hashUserIds' | 'userIdHashKey'> => ({
  hashUserIds: config.LOG_HASH_USER_IDS,
  ...(config.LOG_USER_ID_HASH_KEY === undefined ? {} : { userIdHashKey: config.LOG_USER_ID_HASH_KEY }),
});

/** Paths pino replaces with "[redacted]": credentials never reach the logs. */
export const REDACTED_PATHS = [
  'req.headers.authorization',
  'req.headers["x-api-key"]',
  'req.headers.cookie',
  'headers.authorization',
  'headers["x-api-key"]',
  'headers.cookie',
  'authorization',
  '*.authorization',
  'secret',
  '*.secret',
  'apiKey',
  '*.apiKey',
  '["x-api-key"]',
  '*["x-api-key"]',
];

/**
 * An API key's secret in a URL (`@elevens/db`'s `API_KEY_SECRET_PREFIX`, its underscore possibly percent-encoded),
 * up to the end of its path segment or query value. Keys are read from headers only, but a client that sends one
 * as `?apiKey=` would otherwise see it written into every request log line.
 */
const SECRET_IN_URL = /elv(?:_|%5f)[^&/?#\s]*/gi;

/** True when a URL carries what looks like an API key secret. */
export const urlCarriesSecret = (url: string): boolean => /elv(?:_|%5f)/i.test(url);

/** The URL with every API key secret it carries replaced by `elv_[redacted]`. */
export const redactSecretsInUrl = (url: string): string => url.replace(SECRET_IN_URL, 'elv_[redacted]');

/** Where a user id may sit in a log object; hashed (not removed) when user-id hashing is on. */
export const USER_ID_PATHS = ['userId', '*.userId', '*.*.userId'];

/** A short keyed hash of a user id: stable within one key, and not reversible by trying likely ids. */
export function userIdHasher(key: string): (userId: unknown) => string {
  return (userId) => `uh_${createHmac('sha256', key).update(String(userId)).digest('hex').slice(0, 16)}`;
}

/**
 * Path parameters that hold a user id, or an id carrying one: a push decision id holds its user id in base64url,
 * which anyone can decode.
 */
export const USER_ID_PATH_PARAMS = ['userId', 'decisionId'];

/** The path segments those parameters follow in the routes (`/users/:userId`, `/decisions/:decisionId`). */
const USER_ID_PARENT_SEGMENTS: ReadonlySet<string> = new Set(['users', 'decisions']);

/**
 * The segments of a URL no route matched (a wrong method, a wrong service, a bad or overlong segment) that may hold
 * a user id: those following a `users` or `decisions` segment. Such a request has no parameters to go by.
 */
function unroutedUserIdSegments(url: string): string[] {
  const queryStart = url.indexOf('?');
  const segments = (queryStart === -1 ? url : url.slice(0, queryStart)).split('/');
  const values: string[] = [];
  for (let i = 1; i < segments.length; i++)
    if (USER_ID_PARENT_SEGMENTS.has(segments[i - 1]!)) values.push(safeDecode(segments[i]!));
  return values;
}

/** The URL with the user id hashed: in path segments equal to `pathValues` and in `userId` query parameters. */
export function hashUserIdsInUrl(
  url: string,
  pathValues: readonly string[],
  hash: (userId: string) => string,
): string {
  const queryStart = url.indexOf('?');
  let path = queryStart === -1 ? url : url.slice(0, queryStart);
  const hashed = pathValues.filter((value) => value !== '');
  if (hashed.length > 0) {
    path = path
      .split('/')
      .map((segment) => {
        const decoded = safeDecode(segment);
        return hashed.includes(decoded) ? hash(decoded) : segment;
      })
      .join('/');
  }
  if (queryStart === -1) return path;
  const query = new URLSearchParams(url.slice(queryStart + 1));
  for (const name of ['userId', 'user_id']) {
    const values = query.getAll(name);
    if (values.length === 0) continue;
    query.delete(name);
    for (const value of values) query.append(name, hash(value));
  }
  return `${path}?${query.toString()}`;
}

function safeDecode(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}

/** Fastify's own request serializer, logging the URL `urlOf` gives with any API key secret in it redacted. */
const requestSerializer = (urlOf: (request: FastifyRequest) => string) => (request: FastifyRequest) => ({
  method: request.method,
  url: redactSecretsInUrl(urlOf(request)),
  host: request.host,
  remoteAddress: request.ip,
  remotePort: request.socket?.remotePort,
});

export function loggerOptions(options: LoggingOptions): FastifyServerOptions['logger'] {
  const base = {
    level: options.level,
    ...(options.stream ? { stream: options.stream } : {}),
    ...(options.thread === undefined
      ? {}
      : { base: { pid: process.pid, hostname: hostname(), thread: options.thread } }),
  };
  if (!options.hashUserIds) {
    return {
      ...base,
      redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
      serializers: { req: requestSerializer((request) => request.url) },
    };
  }
  const hash = userIdHasher(options.userIdHashKey ?? randomBytes(32).toString('hex'));
  return {
    ...base,
    redact: {
      paths: [...REDACTED_PATHS, ...USER_ID_PATHS],
      censor: (value: unknown, path: string[]) => (path.at(-1) === 'userId' ? hash(value) : '[redacted]'),
    },
    serializers: {
      // The user id hashed wherever the URL carries it.
      req: requestSerializer((request) => {
        const params = request.params as Record<string, unknown> | undefined;
        const pathValues =
          request.routeOptions?.url === undefined
            ? unroutedUserIdSegments(request.url)
            : USER_ID_PATH_PARAMS.map((name) => params?.[name]).filter(
                (value): value is string => typeof value === 'string',
              );
        return hashUserIdsInUrl(request.url, pathValues, hash);
      }),
    },
  };
}

type LogMethod = (...args: unknown[]) => void;
type LevelName = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace';

/**
 * A request's child logger, made on first use. Fastify makes one per request (a pino child carrying the request
 * id, with the redaction rules: a few µs and several objects), yet at the usual levels most requests log nothing.
 * Every call is checked against the level first, so a request that logs nothing never makes its child.
 */
class LazyChildLogger {
  private made: Logger | null = null;

  constructor(
    private readonly parent: Logger,
    private readonly bindingsOfChild: Bindings,
  ) {}

  private get logger(): Logger {
    if (this.made === null) this.made = this.parent.child(this.bindingsOfChild);
    return this.made;
  }

  private log(level: LevelName, args: unknown[]): void {
    if (!(this.made ?? this.parent).isLevelEnabled(level)) return;
    const logger = this.logger;
    (logger[level] as LogMethod).apply(logger, args);
  }

  get level(): string {
    return (this.made ?? this.parent).level;
  }

  set level(level: string) {
    this.logger.level = level;
  }

  fatal(...args: unknown[]): void {
    this.log('fatal', args);
  }
  error(...args: unknown[]): void {
    this.log('error', args);
  }
  warn(...args: unknown[]): void {
    this.log('warn', args);
  }
  info(...args: unknown[]): void {
    this.log('info', args);
  }
  debug(...args: unknown[]): void {
    this.log('debug', args);
  }
  trace(...args: unknown[]): void {
    this.log('trace', args);
  }
  silent(): void {}

  child(bindings: Bindings, options?: ChildLoggerOptions): FastifyBaseLogger {
    return this.logger.child(bindings, options);
  }
}

const isPino = (logger: FastifyBaseLogger): logger is FastifyBaseLogger & Logger =>
  typeof (logger as Partial<Logger>).isLevelEnabled === 'function';

/**
 * Fastify's `childLoggerFactory`: request loggers made on first use. A route with its own log level or serializers
 * gets its child at once, as Fastify would make it.
 */
export function lazyChildLoggerFactory(
  logger: FastifyBaseLogger,
  bindings: Bindings,
  options: ChildLoggerOptions,
): FastifyBaseLogger {
  if (!isPino(logger) || options.level !== undefined || options.serializers !== undefined)
    return logger.child(bindings, options);
  return new LazyChildLogger(logger, bindings) as unknown as FastifyBaseLogger;
}
