import { ConfigError } from '@elevens/config';
import { InvalidArgumentError } from 'commander';

/** Postgres' undefined_table: the database was never migrated, or by an older release. */
const UNDEFINED_TABLE = '42P01';

/** Runs a command body; configuration and user errors end the process with one clear line, not a stack trace. */
export function action<A extends unknown[]>(fn: (...args: A) => Promise<void>) {
  return async (...args: A) => {
    try {
      await fn(...args);
    } catch (error) {
      if (error instanceof ConfigError || error instanceof UserError) {
        console.error(error.message);
      } else if ((error as { code?: unknown }).code === UNDEFINED_TABLE) {
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

/**
 * A flag's integer parser, `min` or more. It throws commander's InvalidArgumentError: a flag is parsed before any
 * `action` runs, and commander reports only that error as one line; any other would escape as a stack trace.
 */
export const parseInteger =
  (name: string, min = Number.NEGATIVE_INFINITY) =>
  (value: string) => {
    const n = Number(value);
    if (value.trim() === '' || !Number.isInteger(n))
      throw new InvalidArgumentError(`${name} must be an integer, got ${JSON.stringify(value)}`);
    if (n < min) throw new InvalidArgumentError(`${name} must be at least ${min}, got ${n}`);
    return n;
  };
