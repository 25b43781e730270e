import { baseEnv, loadEnv } from '@elevens/config';
import { createApiKey, createPool, listApiKeys, type Pool, revokeApiKey } from '@elevens/db';
import type { ApiScope } from '@elevens/domain';
import { z } from 'zod';
import { requirePostgres } from '../postgres';
import { UserError } from '../run';

async function withPool(fn: (pool: Pool) => Promise<void>) {
  const config = loadEnv(z.object({ DATABASE_URL: baseEnv.DATABASE_URL }), process.env, 'keys');
  const pool = createPool(config.DATABASE_URL, { max: 1, applicationName: 'elevens-cli' });
  try {
    await requirePostgres(pool, config.DATABASE_URL);
    await fn(pool);
  } finally {
    await pool.end();
  }
}

/** `elevens keys create`. */
export async function keysCreateCommand(flags: { name: string; scopes: ApiScope[]; json?: boolean }) {
  const name = flags.name.trim();
  if (name.length === 0 || name.length > 100) throw new UserError('--name: 1 to 100 characters');
  await withPool(async (pool) => {
    const key = await createApiKey(pool, { name, scopes: flags.scopes });
    if (flags.json) {
      console.log(JSON.stringify({ id: key.id, secret: key.secret, scopes: key.scopes }));
      return;
    }
    console.log(`created key ${key.id} "${key.name}" with scopes ${key.scopes.join(', ')}`);
    console.log(`secret (shown only now; store it safely): ${key.secret}`);
    console.log(`use it as: authorization: Bearer ${key.secret}`);
  });
}

/** `elevens keys list`. */
export async function keysListCommand(flags: { json?: boolean }) {
  await withPool(async (pool) => {
    const all = await listApiKeys(pool);
    if (flags.json) {
      console.log(JSON.stringify(all));
      return;
    }
    if (all.length === 0) {
      console.log('no keys: create one with `elevens keys create --name <name> --scopes <scopes>`');
      return;
    }
    for (const key of all) {
      const status = key.revokedAt ? `revoked ${key.revokedAt}` : 'active';
      console.log(`${key.id}  ${key.name}  ${key.scopes.join(',')}  created ${key.createdAt}  ${status}`);
    }
  });
}

/** `elevens keys revoke <id>`. */
export async function keysRevokeCommand(id: string) {
  await withPool(async (pool) => {
    const outcome = await revokeApiKey(pool, id);
    if (outcome === 'not-found') throw new UserError(`no key ${id} (see \`elevens keys list\`)`);
    console.log(
      outcome === 'revoked'
        ? `revoked ${id}: serving processes refuse it within one second`
        : `${id} was already revoked`,
    );
  });
}
