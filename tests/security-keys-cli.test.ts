import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { buildApiApp, loadApiConfig } from '@elevens/api';
import { createTestInfra, type TestInfra } from '@elevens/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const bin = fileURLToPath(new URL('../packages/cli/bin/elevens.js', import.meta.url));

let infra: TestInfra;

async function elevens(args: string[]) {
  try {
    const { stdout, stderr } = await run('node', [bin, ...args], {
      env: { ...process.env, ...infra.env },
      timeout: 60_000,
    });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

beforeAll(async () => {
  infra = await createTestInfra('security-keys-cli');
});

afterAll(async () => {
  await infra?.close();
});

// Each run of the real binary compiles the CLI through tsx (seconds on a busy machine): independent runs go
// in parallel, and there are as few as the behaviours need.
describe('elevens keys', () => {
  it('creates keys whose secret is printed once, lists them without secrets, and revokes one', async () => {
    const [asJson, asText, badScope] = await Promise.all([
      elevens(['keys', 'create', '--name', 'storefront', '--scopes', 'recommendations:read', '--json']),
      elevens(['keys', 'create', '--name', 'backend', '--scopes', 'events:write,push:decide']),
      elevens(['keys', 'create', '--name', 'x', '--scopes', 'recommendations:write']),
    ]);
    expect(asJson.code).toBe(0);
    const key = JSON.parse(asJson.stdout) as { id: string; secret: string; scopes: string[] };
    expect(Object.keys(key).sort()).toEqual(['id', 'scopes', 'secret']);
    expect(key.scopes).toEqual(['recommendations:read']);

    expect(asText.code).toBe(0);
    const textSecret = /elv_[A-Za-z0-9_-]+/.exec(asText.stdout)?.[0];
    expect(textSecret).toBeDefined();
    expect(asText.stdout).toContain(`authorization: Bearer ${textSecret}`);
    expect(asText.stdout).toContain('events:write, push:decide');

    expect(badScope.code).toBe(1);
    expect(badScope.stderr).toMatch(/unknown scope recommendations:write/);

    const api = await buildApiApp({
      config: loadApiConfig({ ...infra.env, AUTH_REQUIRED: 'true', LOG_LEVEL: 'silent' }),
    });
    const recommend = () =>
      api.inject({
        method: 'GET',
        url: '/v1/recommendations?userId=u1',
        headers: { authorization: `Bearer ${key.secret}` },
      });
    try {
      expect((await recommend()).statusCode).toBe(200);

      const listed = await elevens(['keys', 'list', '--json']);
      expect(listed.code).toBe(0);
      expect(listed.stdout).not.toContain(key.secret);
      expect(listed.stdout).not.toContain(textSecret);
      const all = JSON.parse(listed.stdout) as { id: string; name: string }[];
      expect(all).toHaveLength(2);
      expect(all).toEqual(
        expect.arrayContaining([
          expect.objectContaining({ id: key.id, name: 'storefront', revokedAt: null }),
          expect.objectContaining({ name: 'backend', scopes: ['events:write', 'push:decide'] }),
        ]),
      );

      const revoked = await elevens(['keys', 'revoke', key.id]);
      expect(revoked.code).toBe(0);
      expect(revoked.stdout).toMatch(/revoked/);
      await api.reloadApiKeys();
      expect((await recommend()).statusCode).toBe(401);
    } finally {
      await api.close();
    }
    const { rows } = await infra.pool.query('SELECT revoked_at FROM api_keys WHERE id = $1', [key.id]);
    expect(rows[0].revoked_at).toBeInstanceOf(Date);
  });
});
