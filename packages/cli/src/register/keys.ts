import type { ApiScope } from '@elevens/domain';
import { type Command, InvalidArgumentError } from 'commander';
import { action } from '../run';
import { API_SCOPES } from './choices';

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

export function registerKeys(program: Command) {
  const keys = program.command('keys').description('create, list and revoke API keys');

  keys
    .command('create')
    .description('create a key; its secret is printed once and only its hash is stored')
    .requiredOption('--name <name>', 'what the key is for, e.g. storefront')
    .requiredOption('--scopes <scopes>', `comma-separated: ${API_SCOPES.join(', ')}`, parseScopes)
    .option('--json', 'print { id, secret, scopes } as JSON')
    .action(
      action(async (flags: { name: string; scopes: ApiScope[]; json?: boolean }) =>
        (await import('../commands/keys')).keysCreateCommand(flags),
      ),
    );

  keys
    .command('list')
    .description('list keys (ids, names, scopes; never secrets)')
    .option('--json', 'print the keys as a JSON array')
    .action(
      action(async (flags: { json?: boolean }) => (await import('../commands/keys')).keysListCommand(flags)),
    );

  keys
    .command('revoke')
    .description('revoke a key; serving processes refuse it within one second')
    .argument('<id>', 'the key id, e.g. key_0123456789abcdef')
    .action(action(async (id: string) => (await import('../commands/keys')).keysRevokeCommand(id)));
}
