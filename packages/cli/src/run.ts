import { InvalidArgumentError } from 'commander';

/** Postgres' undefined_table: the database was never migrated, or by an older release. */
const UNDEFINED_TABLE = '42P01';

/** Whether `error` is Postgres saying a table is missing: a database never migrated (action says to migrate). */
export const isUnmigrated = (error: unknown) =>
  (error as { code?: unknown } | null)?.code === UNDEFINED_TABLE;

/**
 * Runs a command body; configuration and user errors end the process with one clear line, not a stack trace.
 * @elevens/config (and zod with it) is loaded only once a command failed: every command is registered, and
 * `elevens <command> --help` answered, without it.
 */
export function action<A extends unknown[]>(fn: (...args: A) => Promise<void>) {
  return async (...args: A) => {
    try {
      await fn(...args);
    } catch (error) {
      const { ConfigError } = await import('@elevens/config');
      if (error instanceof ConfigError || error instanceof UserError) {
        console.error(error.message);
      } else if (isUnmigrated(error)) {
        console.error(`${(error as Error).message}: run \`elevens migrate\` first`);
      } else {
        console.error(error);
      }
      process.exit(1);
    }
  };
}

/** A failure the user can fix from its message alone. */
export class UserError extends Error {
  override name = 'UserError';
}

/** Why `value` is not an integer from `min` to `max` for the flag `name`, or null. */
function integerProblem(name: string, value: string, min: number, max: number): string | null {
  const n = Number(value);
  if (value.trim() === '' || !Number.isInteger(n))
    return `${name} must be an integer, got ${JSON.stringify(value)}`;
  if (n < min) return `${name} must be at least ${min}, got ${n}`;
  if (n > max) return `${name} must be at most ${max}, got ${n}`;
  return null;
}

/**
 * A flag's integer parser, from `min` to `max`. It throws commander's InvalidArgumentError: a flag is parsed
 * before any `action` runs, and commander reports only that error as one line; any other would escape as a stack
 * trace.
 */
export const parseInteger =
  (name: string, min = Number.NEGATIVE_INFINITY, max = Number.POSITIVE_INFINITY) =>
  (value: string) => {
    const problem = integerProblem(name, value, min, max);
    if (problem !== null) throw new InvalidArgumentError(problem);
    return Number(value);
  };

/** The integer `value` of the flag `name`, `min` or more, checked inside an `action`: a UserError otherwise. */
export function integerFlag(name: string, value: string, min: number): number {
  const problem = integerProblem(name, value, min, Number.POSITIVE_INFINITY);
  if (problem !== null) throw new UserError(problem);
  return Number(value);
}

/**
 * The http(s) base URL `text` of the flag `name`, without a trailing slash. Anything else is a UserError citing
 * `example`: `localhost:3000` parses as a URL of scheme `localhost:`, which no request could be sent to.
 */
export function httpUrlFlag(name: string, text: string, example: string): string {
  const url = URL.canParse(text) ? new URL(text) : null;
  if (url === null || (url.protocol !== 'http:' && url.protocol !== 'https:'))
    throw new UserError(`${name} must be an http(s) URL such as ${example}, got ${JSON.stringify(text)}`);
  return url.toString().replace(/\/$/, '');
}
