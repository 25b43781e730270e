import { authKeys } from './auth';
import { coreKeys } from './core';
import { modelKeys } from './model';
import { pushKeys } from './push';
import { rulesKeys } from './rules';

/**
 * The one place Redis keys are built, under one configurable prefix (tests give each file its own). Each area
 * has its own file; this module composes them.
 */
export function createKeys(prefix: string) {
  const core = coreKeys(prefix);
  const push = pushKeys(prefix);
  return {
    ...core,
    ...modelKeys(prefix),
    ...push,
    ...rulesKeys(prefix),
    ...authKeys(prefix),
    /** Every key about one user, for erasure. */
    keysAboutUser(userId: string): string[] {
      return [...core.keysAboutUser(userId), ...push.pushKeysAboutUser(userId)];
    },
  };
}

export type RedisKeys = ReturnType<typeof createKeys>;
export { DEFAULT_MODEL_LINE, MODEL_LINE_PATTERN } from './model';
