import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { baseEnv, ConfigError, loadEnv } from '../src/index';

const load = (env: Record<string, string>) => loadEnv(z.object(baseEnv), env, 'test');

describe('REDIS_CLUSTER_NODES', () => {
  it('is unset, or empty, for a standalone Redis', () => {
    expect(load({}).REDIS_CLUSTER_NODES).toBeUndefined();
    expect(load({ REDIS_CLUSTER_NODES: ' ' }).REDIS_CLUSTER_NODES).toBeUndefined();
  });

  it('reads seed nodes as host:port pairs, IPv6 hosts in brackets', () => {
    expect(
      load({ REDIS_CLUSTER_NODES: '10.0.0.1:7000, redis-b.internal:7001,[::1]:7002' }).REDIS_CLUSTER_NODES,
    ).toEqual([
      { host: '10.0.0.1', port: 7000 },
      { host: 'redis-b.internal', port: 7001 },
      { host: '::1', port: 7002 },
    ]);
  });

  it('refuses anything else in one line naming the variable and the bad part', () => {
    for (const bad of ['10.0.0.1', 'redis://10.0.0.1:7000', '10.0.0.1:0', 'a:70000', 'a:7000,,b:7001']) {
      let error: unknown;
      try {
        load({ REDIS_CLUSTER_NODES: bad });
      } catch (caught) {
        error = caught;
      }
      expect(error, bad).toBeInstanceOf(ConfigError);
      const message = (error as Error).message;
      expect(message).not.toContain('\n');
      expect(message).toContain('REDIS_CLUSTER_NODES=');
      expect(message).toContain('host:port');
    }
  });
});
