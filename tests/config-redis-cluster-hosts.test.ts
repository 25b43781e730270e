import { baseEnv, loadEnv } from '@elevens/config';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';

const load = (env: Record<string, string>) => loadEnv(z.object(baseEnv), env, 'test');

describe('REDIS_CLUSTER_NODES host names', () => {
  it('takes the names Docker gives containers and services, underscores included, as REDIS_URL does', () => {
    // Compose v1 names a service's container project_service_1, and a service may be named redis_node_1: Docker's
    // DNS answers both, REDIS_URL=redis://redis_node_1:6379 was taken, and the same host as a seed was refused.
    expect(load({ REDIS_URL: 'redis://redis_node_1:6379' }).REDIS_URL).toBe('redis://redis_node_1:6379');
    expect(
      load({ REDIS_CLUSTER_NODES: 'redis_node_1:6379,elevens_redis-cluster-2_1:6379' }).REDIS_CLUSTER_NODES,
    ).toEqual([
      { host: 'redis_node_1', port: 6379 },
      { host: 'elevens_redis-cluster-2_1', port: 6379 },
    ]);
  });

  it('still refuses a seed that is no host:port', () => {
    for (const bad of ['redis node:6379', 'redis/node:6379', 'user@redis:6379', '_:'])
      expect(() => load({ REDIS_CLUSTER_NODES: bad }), bad).toThrow(/REDIS_CLUSTER_NODES=.*host:port/);
  });
});
