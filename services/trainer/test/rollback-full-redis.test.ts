import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { ModelStore, serversOf } from '@elevens/redis-stores';
import { type ClusterTestInfra, createClusterTestInfra, redisClusterUnavailable } from '@elevens/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { syntheticModel } from '../../../packages/redis-stores/test/model-store.conformance';

/**
 * The operator's emergency tools on a Redis at its memory limit (maxmemory, noeviction: Redis refuses commands
 * that may grow memory). Run on a local cluster of this file's own, whose limit it may lower without touching
 * anyone else's Redis.
 */
const clusterMissing = redisClusterUnavailable();
const bin = fileURLToPath(new URL('../../../packages/cli/bin/elevens.js', import.meta.url));

describe.skipIf(clusterMissing !== null)(
  `elevens model rollback on a full Redis${clusterMissing ? ` (${clusterMissing})` : ''}`,
  () => {
    let infra: ClusterTestInfra;

    beforeAll(async () => {
      infra = await createClusterTestInfra('rollback-full-redis', { ownCluster: true });
    });

    afterAll(async () => {
      await infra?.close();
    });

    const elevens = async (args: string[]) => {
      try {
        const { stdout } = await promisify(execFile)('node', [bin, ...args], {
          env: { ...process.env, ...infra.env },
          timeout: 60_000,
        });
        return { code: 0, stdout, stderr: '' };
      } catch (error) {
        const e = error as { code: number; stdout: string; stderr: string };
        return { code: e.code, stdout: e.stdout, stderr: e.stderr };
      }
    };

    it('serves the previous version again, and a clean-up frees the retired one, while Redis refuses writes', async () => {
      const line = new ModelStore(infra.redis, infra.keys).line();
      await line.publish(syntheticModel('good', 200, 10));
      await line.publish(syntheticModel('bad', 200, 10));

      for (const server of serversOf(infra.redis)) {
        const used = Number(/used_memory:(\d+)/.exec(await server.info('memory'))![1]);
        await server.config('SET', 'maxmemory', String(Math.floor(used / 2)));
      }
      // Full indeed: a write in the line's slot is refused.
      await expect(infra.redis.set(infra.keys.modelCurrent(), 'bad')).rejects.toThrow(/OOM/);

      const rollback = await elevens(['model', 'rollback']);
      expect(rollback, rollback.stderr).toMatchObject({ code: 0, stdout: 'serving good; retired bad\n' });
      expect(await line.current()).toBe('good');

      expect(await line.deleteOldVersions({ graceMs: 0 })).toEqual(['bad']);
      expect(await infra.redis.exists(...infra.keys.modelVersionKeys('bad', line.name))).toBe(0);
      expect(await line.holds('good')).toBe(true);
    });
  },
);
