import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { startModelRun } from '@elevens/db';
import { ModelStore, publishModel } from '@elevens/redis-stores';
import { createTestInfra, type TestInfra } from '@elevens/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { syntheticModel } from '../../../packages/redis-stores/test/model-store.conformance';

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
    expect(list.code, list.stderr).toBe(0);
    expect(list.stdout).toMatch(/^\* second\s+current/m);
    expect(list.stdout).toMatch(/^ {2}first\s+published/m);

    const rollback = await elevens(['model', 'rollback']);
    expect(rollback).toMatchObject({ code: 0, stdout: 'serving first; retired second\n' });
    const json = JSON.parse((await elevens(['model', 'list', '--json'])).stdout) as {
      lines: Record<string, { version: string; state: string; items: number }[]>;
    };
    expect(json.lines.default).toEqual([
      expect.objectContaining({ version: 'first', state: 'current', items: 50 }),
      expect.objectContaining({ version: 'second', state: 'retired' }),
    ]);
  });

  it('lists and rolls back a named model line with --model, leaving the default line alone', async () => {
    const line = new ModelStore(infra.redis, infra.keys).line('ease');
    await line.publish(syntheticModel('ease-1', 20, 3));
    await line.publish(syntheticModel('ease-2', 20, 3));
    const list = await elevens(['model', 'list']);
    expect(list.stdout).toMatch(/^model line ease:\n\* ease-2\s+current/m);
    expect(list.stdout).toMatch(/^model line default:/m);

    const rollback = await elevens(['model', 'rollback', '--model', 'ease']);
    expect(rollback).toMatchObject({ code: 0, stdout: 'serving ease-1; retired ease-2\n' });
    expect(await new ModelStore(infra.redis, infra.keys).line().current()).toBe('first');
    const only = JSON.parse((await elevens(['model', 'list', '--model', 'ease', '--json'])).stdout) as {
      lines: Record<string, unknown[]>;
    };
    expect(Object.keys(only.lines)).toEqual(['ease']);
    expect((await elevens(['model', 'rollback', '--model', 'No Such'])).code).not.toBe(0);
  });

  it('names the line of each recent run, a build still running too, and lists only its key prefix’s runs', async () => {
    const run = (version: string, modelLine: string, keyPrefix = infra.keyPrefix) =>
      startModelRun(infra.pool, { version, algorithm: 'cosine', params: {}, modelLine, keyPrefix });
    await run('run-ease', 'ease');
    await run('run-default', 'default');
    // Another shop's line of the same name, sharing this database under its own key prefix.
    await run('run-elsewhere', 'ease', 'another-shop:');
    const list = await elevens(['model', 'list']);
    expect(list.code, list.stderr).toBe(0);
    expect(list.stdout).toMatch(/^ {2}run-ease\s+running\s+line ease\s/m);
    expect(list.stdout).toMatch(/^ {2}run-default\s+running\s+line default\s/m);
    expect(list.stdout).not.toContain('run-elsewhere');
    const only = JSON.parse((await elevens(['model', 'list', '--model', 'ease', '--json'])).stdout) as {
      runs: { version: string; modelLine: string; keyPrefix: string }[];
    };
    expect(only.runs).toEqual([
      expect.objectContaining({ version: 'run-ease', modelLine: 'ease', keyPrefix: infra.keyPrefix }),
    ]);
  });
});
