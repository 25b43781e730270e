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
  const result = schema.safeParse(env);
  if (result.success) return result.data;
  const problems = result.error.issues.map((issue) => {
    const name = issue.path.join('.') || '(environment)';
    const value = issue.path.length === 1 ? env[String(issue.path[0])] : undefined;
    return value === undefined
      ? `${name}: ${issue.message}`
      : `${name}=${JSON.stringify(value)}: ${issue.message}`;
  });
  throw new ConfigError(`elevens ${processName}: invalid environment: ${problems.join('; ')}`);
}

export const DEFAULT_DATABASE_URL = 'postgres://root@127.0.0.1:5432/elevens';
export const DEFAULT_REDIS_URL = 'redis://127.0.0.1:6379';

const url = (protocols: string[]) =>
  z.string().refine(
    (value) => {
      try {
        return protocols.includes(new URL(value).protocol);
      } catch {
        return false;
      }
    },
    { message: `must be a ${protocols.map((p) => p.replace(':', '://')).join(' or ')} URL` },
  );

/** A Redis Cluster seed node. */
export interface RedisClusterNode {
  host: string;
  port: number;
}

const CLUSTER_NODE = /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/;

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
  DATABASE_URL: url(['postgres:', 'postgresql:']).default(DEFAULT_DATABASE_URL),
  REDIS_URL: url(['redis:', 'rediss:']).default(DEFAULT_REDIS_URL),
  /** When set, Redis is this cluster and REDIS_URL is not used. */
  REDIS_CLUSTER_NODES: RedisClusterNodes,
  REDIS_KEY_PREFIX: z
    .string()
    .regex(/^[A-Za-z0-9_:.-]*$/, 'letters, digits and _ : . - only')
    .default('elevens:'),
  LOG_LEVEL: LogLevel.default('info'),
};

/** Variables of an HTTP process. */
export const httpEnv = (defaultPort: number) => ({
  HOST: z.string().min(1).default('0.0.0.0'),
  PORT: z.coerce.number().int().min(0).max(65535).default(defaultPort),
  SHUTDOWN_TIMEOUT_MS: z.coerce.number().int().min(0).default(10_000),
  /** API keys are required on every route but health checks; tests of other concerns may turn this off. */
  AUTH_REQUIRED: z
    .enum(['true', 'false'])
    .default('true')
    .transform((value) => value === 'true'),
});

/** Durations such as `90d`, `15m`, `500ms`, `2h`, `30s` in milliseconds. */
export function parseDuration(text: string): number {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)$/.exec(text.trim());
  if (!match) throw new Error(`not a duration: ${JSON.stringify(text)} (use e.g. 500ms, 30s, 15m, 2h, 90d)`);
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[
    match[2] as 'ms' | 's' | 'm' | 'h' | 'd'
  ];
  return Number(match[1]) * unit;
}

export const Duration = z.string().transform((text, ctx) => {
  try {
    return parseDuration(text);
  } catch (error) {
    ctx.addIssue({ code: 'custom', message: (error as Error).message });
    return z.NEVER;
  }
});
