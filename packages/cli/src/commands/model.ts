import { baseEnv, loadEnv } from '@elevens/config';
import { listModelRuns } from '@elevens/db';
import { listModelVersions, rollbackModel } from '@elevens/redis-stores';
import type { Command } from 'commander';
import { z } from 'zod';
import { openBatchInfra } from '../infra';
import { action, UserError } from '../run';

const ModelEnv = z.object({
  DATABASE_URL: baseEnv.DATABASE_URL,
  REDIS_URL: baseEnv.REDIS_URL,
  REDIS_KEY_PREFIX: baseEnv.REDIS_KEY_PREFIX,
});

export function registerModel(program: Command) {
  const model = program.command('model').description('list the published model versions, roll back');

  model
    .command('list')
    .description('model versions in Redis (current, published, retired) and the recent runs in Postgres')
    .option('--json', 'print { versions, runs } as JSON')
    .action(
      action(async (flags: { json?: boolean }) => {
        const infra = openBatchInfra(loadEnv(ModelEnv, process.env, 'model'));
        try {
          const versions = await listModelVersions(infra.redis, infra.keys);
          const runs = await listModelRuns(infra.pool, 10);
          if (flags.json) {
            console.log(JSON.stringify({ versions, runs }, null, 2));
            return;
          }
          if (versions.length === 0) console.log('no model version in Redis');
          for (const v of versions)
            console.log(
              `${v.state === 'current' ? '*' : ' '} ${v.version}  ${v.state.padEnd(9)} ${new Date(v.at).toISOString()}  ` +
                `${v.algorithm ?? '?'}  ${v.items ?? '?'} items`,
            );
          if (runs.length > 0) console.log('\nrecent runs:');
          for (const r of runs)
            console.log(
              `  ${r.version}  ${r.status.padEnd(9)} ${r.algorithm}  ${r.startedAt}` +
                `${r.error ? `  error: ${r.error}` : ''}`,
            );
        } finally {
          await infra.close();
        }
      }),
    );

  model
    .command('rollback')
    .description('serve the previous published version again; the current one is retired')
    .action(
      action(async () => {
        const infra = openBatchInfra(loadEnv(ModelEnv, process.env, 'model'));
        try {
          const { retired, restored } = await rollbackModel(infra.redis, infra.keys).catch((error: Error) => {
            throw new UserError(error.message);
          });
          console.log(`serving ${restored}; retired ${retired}`);
        } finally {
          await infra.close();
        }
      }),
    );
}
