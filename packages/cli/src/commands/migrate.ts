import { baseEnv, loadEnv } from '@elevens/config';
import type { Command } from 'commander';
import { z } from 'zod';
import { migrateDatabase, requireServices } from '../infra';
import { action } from '../run';

export function registerMigrate(program: Command) {
  program
    .command('migrate')
    .description('create the database if needed and apply pending migrations')
    .action(
      action(async () => {
        const config = loadEnv(z.object(baseEnv), process.env, 'migrate');
        await requireServices(config.DATABASE_URL, config.REDIS_URL);
        const applied = await migrateDatabase(config.DATABASE_URL, () => {});
        console.log(applied.length ? `applied ${applied.join(', ')}` : 'database is up to date');
      }),
    );
}
