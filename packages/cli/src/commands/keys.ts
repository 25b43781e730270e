import { baseEnv, loadEnv } from '@elevens/config';
import { createApiKey, createPool, listApiKeys, type Pool, revokeApiKey } from '@elevens/db';
import { API_SCOPES, type ApiScope } from '@elevens/domain';
import { type Command, InvalidArgumentError } from 'commander';
import { z } from 'zod';
import { requirePostgres } from '../infra';
import { action, UserError } from '../run';

const isScope = (value: string): value is ApiScope => (API_SCOPES as readonly string[]).includes(value);

function parseScopes(text: string): ApiScope[] {
  const scopes = text
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.length > 0);
  const unknown = scopes.filter((s) => !isScope(s));
  if (scopes.length === 0 || unknown.length > 0) {
    throw new InvalidArgumentError(
      `${unknown.length > 0 ? `unknown scope ${unknown.join(', ')}` : 'no scope given'}; use a comma-separated list of ${API_SCOPES.join(', ')}`,
    );
  }
  return scopes.filter(isScope);
}

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

export function registerKeys(program: Command) {
  const keys = program.command('keys').description('create, list and revoke API keys');

  keys
    .command('create')
    .description('create a key; its secret is printed once and only its hash is stored')
    .requiredOption('--name <name>', 'what the key is for, e.g. storefront')
    .requiredOption('--scopes <scopes>', `comma-separated: ${API_SCOPES.join(', ')}`, parseScopes)
    .option('--json', 'print { id, secret, scopes } as JSON')
    .action(
      action(async (flags: { name: string; scopes: ApiScope[]; json?: boolean }) => {
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
      }),
    );

  keys
    .command('list')
    .description('list keys (ids, names, scopes; never secrets)')
    .option('--json', 'print the keys as a JSON array')
    .action(
      action(async (flags: { json?: boolean }) => {
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
            console.log(
              `${key.id}  ${key.name}  ${key.scopes.join(',')}  created ${key.createdAt}  ${status}`,
            );
          }
        });
      }),
    );

  keys
    .command('revoke')
    .description('revoke a key; serving processes refuse it within one second')
    .argument('<id>', 'the key id, e.g. key_0123456789abcdef')
    .action(
      action(async (id: string) => {
        await withPool(async (pool) => {
          const outcome = await revokeApiKey(pool, id);
          if (outcome === 'not-found') throw new UserError(`no key ${id} (see \`elevens keys list\`)`);
          console.log(
            outcome === 'revoked'
              ? `revoked ${id}: serving processes refuse it within one second`
              : `${id} was already revoked`,
          );
        });
      }),
    );
}
