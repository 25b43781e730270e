import { z } from 'zod';

/** Thrown when the environment does not satisfy a process's schema; its message is one line naming each bad variable. */
export class ConfigError extends Error {
  override name = 'ConfigError';
}

/** Parses `env` with a process's schema; a failure lists each bad variable on one line. */
export function loadEnv<S extends z.ZodType>(
  schema: S,
  env: NodeJS.ProcessEnv,
  processName: string,
): z.output<S> {
  const empty = emptyNumbers(schema, env);
  const result = schema.safeParse(env);
  if (result.success && empty.length === 0) return result.data;
  const issues = (result.error?.issues ?? []).filter((issue) => !empty.includes(String(issue.path[0])));
  const problems = [
    ...empty.map((name) => `${name}=${JSON.stringify(env[name])}: is empty; give a number or unset it`),
    ...issues.map((issue) => {
      const name = issue.path.join('.') || '(environment)';
      const value = issue.path.length === 1 ? env[String(issue.path[0])] : undefined;
      if (value === undefined) return `${name}: ${issue.message}`;
      if (isSecret(schema, name)) return `${name} (set, value not shown): ${issue.message}`;
      return `${name}=${JSON.stringify(withoutPassword(value))}: ${issue.message}`;
    }),
  ];
  throw new ConfigError(`elevens ${processName}: invalid environment: ${problems.join('; ')}`);
}

/** Schemas of variables whose values are secrets (`secret`): a refusal names them but never shows their value. */
const SECRET_SCHEMAS = new WeakSet<z.ZodType>();

/** Marks a variable's schema as holding a secret, so a start-up refusal does not print its value. */
export function secret<S extends z.ZodType>(schema: S): S {
  SECRET_SCHEMAS.add(schema);
  return schema;
}

function isSecret(schema: z.ZodType, name: string): boolean {
  if (!(schema instanceof z.ZodObject)) return false;
  const field = (schema.shape as Record<string, z.ZodType>)[name];
  return field !== undefined && (SECRET_SCHEMAS.has(field) || SECRET_SCHEMAS.has(unwrapped(field)));
}

/**
 * The value with the passwords of a URL in it (`scheme://user:password@`, `?password=`) masked: refusals go to
 * the process's output, which log collectors keep, and a URL is refused for its shape whatever password it carries.
 */
const withoutPassword = (value: string) =>
  value.replace(/(\/\/[^/?#@:]*:)[^/]*@/g, '$1***@').replace(/([?&]password=)[^&#]*/gi, '$1***');

/** The schema under its default, optional and nullable wrappers. */
function unwrapped(schema: z.ZodType): z.ZodType {
  return schema instanceof z.ZodDefault ||
    schema instanceof z.ZodPrefault ||
    schema instanceof z.ZodOptional ||
    schema instanceof z.ZodNullable
    ? unwrapped(schema.unwrap() as z.ZodType)
    : schema;
}

/**
 * The variables of `schema` read with `z.coerce.number()` that `env` sets blank. Number('') is 0, so `PORT=` (or
 * `PORT=${PORT}` with PORT unset) listened on a random port and `RATE_LIMIT_ADMIN=` lifted the limit: a blank
 * number is refused instead, as any other value that is no number.
 */
function emptyNumbers(schema: z.ZodType, env: NodeJS.ProcessEnv): string[] {
  if (!(schema instanceof z.ZodObject)) return [];
  return Object.entries(schema.shape as Record<string, z.ZodType>)
    .filter(([name, field]) => {
      const number = unwrapped(field);
      return env[name]?.trim() === '' && number instanceof z.ZodNumber && number.def.coerce === true;
    })
    .map(([name]) => name);
}

export const DEFAULT_DATABASE_URL = 'postgres://root@127.0.0.1:5432/elevens';
export const DEFAULT_REDIS_URL = 'redis://127.0.0.1:6379';

/**
 * A URL of one of `protocols` naming a host: without one (`redis://`, or `postgres:db/elevens` missing its //)
 * the clients fell back to localhost, or ioredis threw at start-up. `hostElsewhere` accepts a URL that names
 * its host another way.
 */
const url = (protocols: string[], example: string, hostElsewhere = (_url: URL) => false) =>
  z.string().superRefine((value, ctx) => {
    let parsed: URL | undefined;
    try {
      parsed = new URL(value);
    } catch {}
    if (parsed === undefined || !protocols.includes(parsed.protocol))
      ctx.addIssue({
        code: 'custom',
        message: `must be a ${protocols.map((p) => p.replace(':', '://')).join(' or ')} URL`,
      });
    else if (parsed.hostname === '' && !hostElsewhere(parsed))
      ctx.addIssue({ code: 'custom', message: `names no host (give e.g. ${example})` });
  });

/** A Redis Cluster seed node. */
export interface RedisClusterNode {
  host: string;
  port: number;
}

/** A host name may hold `_`: Docker names containers and services so (`project_service_1`), and its DNS answers them. */
const CLUSTER_NODE = /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.-]+):(\d{1,5})$/;

/**
 * `host:port,…` seed nodes of a Redis Cluster (IPv6 hosts in brackets); unset or empty: no cluster. A few seeds
 * suffice: the client learns the other nodes from them.
 */
export const RedisClusterNodes = z
  .string()
  .optional()
  .transform((text, ctx): RedisClusterNode[] | undefined => {
    if (text === undefined || text.trim() === '') return undefined;
    const nodes: RedisClusterNode[] = [];
    for (const part of text.split(',')) {
      const match = CLUSTER_NODE.exec(part.trim());
      const port = Number(match?.[2]);
      if (!match || port < 1 || port > 65535) {
        ctx.addIssue({
          code: 'custom',
          message: `${JSON.stringify(part.trim())} is not host:port; give seed nodes as host:port,host:port`,
        });
        return z.NEVER;
      }
      nodes.push({ host: match[1]!.replace(/^\[|\]$/g, ''), port });
    }
    return nodes;
  });

export const LogLevel = z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']);

/** Variables every process shares. */
export const baseEnv = {
  /** a Unix socket directory may be given as `?host=` (postgres:///elevens?host=/var/run/postgresql) */
  DATABASE_URL: url(
    ['postgres:', 'postgresql:'],
    'postgres://user@host:5432/elevens, or ?host=<socket directory>',
    (parsed) => parsed.searchParams.has('host'),
  ).default(DEFAULT_DATABASE_URL),
  REDIS_URL: url(['redis:', 'rediss:'], 'redis://host:6379').default(DEFAULT_REDIS_URL),
  /** When set, Redis is this cluster and REDIS_URL is not used. */
  REDIS_CLUSTER_NODES: RedisClusterNodes,
  REDIS_KEY_PREFIX: z
    .string()
    .regex(/^[A-Za-z0-9_:.-]*$/, 'letters, digits and _ : . - only')
    .default('elevens:'),
  LOG_LEVEL: LogLevel.default('info'),
};

/** The longest a Node timer waits (about 24.8 days): a longer one fires after 1 ms. */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/** Variables of an HTTP process. */
export const httpEnv = (defaultPort: number) => ({
  HOST: z.string().min(1).default('0.0.0.0'),
  PORT: z.coerce.number().int().min(0).max(65535).default(defaultPort),
  SHUTDOWN_TIMEOUT_MS: z.coerce.number().int().min(0).max(MAX_TIMER_MS).default(10_000),
  /**
   * After SIGTERM, how long the process keeps serving while its health routes answer 503 (draining), before it
   * closes: a load balancer's checks take it out first, so no request reaches it while it closes.
   */
  SHUTDOWN_DRAIN_MS: z.coerce.number().int().min(0).max(60_000).default(0),
  /**
   * How long a serving process waits for Redis to answer a command: past it the command fails (recommendations
   * answer degraded, push decisions fail closed, writes answer 503) and a connection silent that long is made
   * again. Without a bound a Redis that stalls with its connections open held every request until TCP gave up.
   */
  REDIS_COMMAND_TIMEOUT: Duration.pipe(PositiveMilliseconds)
    .pipe(z.number().max(60_000, 'must be 60s or less: a longer wait is the stall this bounds'))
    .default(1_000),
  /** API keys are required on every route but health checks; tests of other concerns may turn this off. */
  AUTH_REQUIRED: z
    .enum(['true', 'false'])
    .default('true')
    .transform((value) => value === 'true'),
});

/** Durations such as `90d`, `15m`, `500ms`, `2h`, `30s` in milliseconds. */
export function parseDuration(text: string): number {
  const match = /^(\d+)(?:\.(\d+))?(ms|s|m|h|d)$/.exec(text.trim());
  if (!match) throw new Error(`not a duration: ${JSON.stringify(text)} (use e.g. 500ms, 30s, 15m, 2h, 90d)`);
  const [, whole, fraction = '', unitName] = match;
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[
    unitName as 'ms' | 's' | 'm' | 'h' | 'd'
  ];
  // The fraction's digits times the unit, then divided: exact when the result is whole (1.001s is 1001, not
  // 1.001 * 1000 = 1000.9999999999999).
  return Number(whole) * unit + (Number(fraction) * unit) / 10 ** fraction.length;
}

const DURATION_UNITS = [
  ['d', 86_400_000],
  ['h', 3_600_000],
  ['m', 60_000],
  ['s', 1000],
] as const;

/**
 * Whole milliseconds as a duration variable would give them (`500ms`, `1.5s`, `10s`, `2h`): in the largest unit
 * that shows them exactly with up to three decimals, so messages name a setting as the operator wrote it.
 */
export function formatDuration(ms: number): string {
  for (const [unit, unitMs] of DURATION_UNITS)
    if (ms >= unitMs && (ms * 1000) % unitMs === 0) return `${ms / unitMs}${unit}`;
  return `${ms}ms`;
}

/**
 * A duration variable in whole milliseconds: timers and Redis expiries take no fraction of one (Redis refuses a
 * `PX 2.5`, @fastify/rate-limit truncates a window of 0.5 ms to 0).
 */
export const Duration = z.string().transform((text, ctx) => {
  try {
    const ms = parseDuration(text);
    if (Number.isInteger(ms)) return ms;
    ctx.addIssue({ code: 'custom', message: `not a whole number of milliseconds: ${JSON.stringify(text)}` });
  } catch (error) {
    ctx.addIssue({ code: 'custom', message: (error as Error).message });
  }
  return z.NEVER;
});

/** A `Duration` that must last: an expiry of 0 deletes its key as it is written. */
export const PositiveMilliseconds = z.number().min(1, 'must be 1ms or more');
