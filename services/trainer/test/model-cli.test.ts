import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { publishModel } from '@elevens/redis-stores';
import { createTestInfra, type TestInfra } from '@elevens/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { syntheticModel } from './synthetic-model';

const bin = fileURLToPath(new URL('../../../packages/cli/bin/elevens.js', import.meta.url));
let infra: TestInfra;

const publish = (version: string) => publishModel(infra.redis, infra.keys, syntheticModel(version, 50, 5));

beforeAll(async () => {
  infra = await createTestInfra('build-model-cli');
});

afterAll(async () => {
  await infra?.close();
});

describe('elevens model', () => {
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

  it('lists versions with the current one marked, rolls back, and lists the result as JSON', async () => {
    await publish('first');
    await publish('second');
    const list = await elevens(['model', 'list']);
    expect(list.code).toBe(0);
    expect(list.stdout).toMatch(/^\* second\s+current/m);
    expect(list.stdout).toMatch(/^ {2}first\s+published/m);

    const rollback = await elevens(['model', 'rollback']);
    expect(rollback).toMatchObject({ code: 0, stdout: 'serving first; retired second\n' });
    const json = JSON.parse((await elevens(['model', 'list', '--json'])).stdout) as {
      versions: { version: string; state: string; items: number }[];
    };
    expect(json.versions).toEqual([
      expect.objectContaining({ version: 'first', state: 'current', items: 50 }),
      expect.objectContaining({ version: 'second', state: 'retired' }),
    ]);
  });
});
