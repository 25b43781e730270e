import { baseEnv, loadEnv } from '@elevens/config';
import { ensureDatabase, migrate } from '@elevens/db/migrate';
import { type KeyLayoutUpgrade, upgradeKeyLayout } from '@elevens/redis-stores';
import { z } from 'zod';
import { openBatchInfra, requireServices } from '../infra';

const count = (n: number, noun: string) => `${n} ${noun}${n === 1 ? '' : 's'}`;

/** One line saying what the Redis key layout upgrade moved. */
function describeKeyLayoutUpgrade(upgrade: KeyLayoutUpgrade): string {
  if (!upgrade.model && !upgrade.catalog) return 'redis key layout is up to date';
  const moved: string[] = [];
  if (upgrade.model) moved.push(`model (${count(upgrade.modelVersions, 'version')})`);
  if (upgrade.catalog) moved.push(`catalog (${count(upgrade.unservableItems, 'unservable item')})`);
  let line = `redis: moved ${moved.join(' and ')} to the cluster-safe layout`;
  if (upgrade.keptCurrent !== null)
    line += `; the default model line keeps serving ${upgrade.keptCurrent} (the old layout served ${upgrade.oldCurrent})`;
  if (upgrade.discardedKeys > 0)
    line += `; deleted ${count(upgrade.discardedKeys, 'old key')} of unpublished or already moved versions`;
  return line;
}

/** `elevens migrate`. */
export async function migrateCommand() {
  const config = loadEnv(z.object(baseEnv), process.env, 'migrate');
  await requireServices(config, { createDatabase: ensureDatabase });
  const applied = await migrate(config.DATABASE_URL);
  console.log(applied.length ? `applied ${applied.join(', ')}` : 'database is up to date');
  const infra = openBatchInfra(config);
  try {
    console.log(describeKeyLayoutUpgrade(await upgradeKeyLayout(infra.redis, infra.keys)));
  } finally {
    await infra.close();
  }
}
