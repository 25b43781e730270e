import type { FastifyServerOptions } from 'fastify';

export interface LoggingOptions {
  level: string;
  /** a pino destination stream for tests; stdout otherwise */
  stream?: NodeJS.WritableStream;
}

/** Paths pino replaces with "[redacted]": credentials never reach the logs. */
export const REDACTED_PATHS = [
  'req.headers.authorization',
  'req.headers["x-api-key"]',
  'req.headers.cookie',
  'headers.authorization',
  'headers["x-api-key"]',
  'secret',
  '*.secret',
  'apiKey',
  '*.apiKey',
];

export function loggerOptions(options: LoggingOptions): FastifyServerOptions['logger'] {
  return {
    level: options.level,
    redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
    ...(options.stream ? { stream: options.stream } : {}),
  };
}
