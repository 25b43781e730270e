import { coreKeys } from './core';

/**
 * The one place Redis keys are built, under one configurable prefix (tests give each file its own). Each area
 * has its own file; this module composes them.
 */
export function createKeys(prefix: string) {
  const core = coreKeys(prefix);
  return {
    ...core,
    /** Every key about one user, for erasure. */
    keysAboutUser(userId: string): string[] {
      return [...core.keysAboutUser(userId)];
    },
  };
}

export type RedisKeys = ReturnType<typeof createKeys>;
