import { ConfigError } from '@elevens/config';

/** Runs a command body; configuration and user errors end the process with one clear line, not a stack trace. */
export function action<A extends unknown[]>(fn: (...args: A) => Promise<void>) {
  return async (...args: A) => {
    try {
      await fn(...args);
    } catch (error) {
      if (error instanceof ConfigError || error instanceof UserError) {
        console.error(error.message);
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

export const parseInteger = (name: string) => (value: string) => {
  const n = Number(value);
  if (!Number.isInteger(n)) throw new UserError(`${name} must be an integer, got ${JSON.stringify(value)}`);
  return n;
};
