import pino from 'pino';

/** Structured JSON logs for batch commands (one line per event, as the services log). */
export const createCliLogger = (name: string, level = process.env.LOG_LEVEL ?? 'info') =>
  pino({ name: `elevens-${name}`, level });

export type Logger = ReturnType<typeof createCliLogger>;
