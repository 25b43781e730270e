import { Command } from 'commander';
import { registerBuild } from './commands/build';
import { registerDemo } from './commands/demo';
import { registerEvaluate } from './commands/evaluate';
import { registerEvents } from './commands/events';
import { registerGenerate } from './commands/generate';
import { registerImport } from './commands/import';
import { registerKeys } from './commands/keys';
import { registerLoadtest } from './commands/loadtest';
import { registerMigrate } from './commands/migrate';
import { registerModel } from './commands/model';
import { registerReplay } from './commands/replay';
import { registerReport } from './commands/report';
import { registerRollups } from './commands/rollups';
import { registerServe } from './commands/serve';

const program = new Command('elevens')
  .description('Elevens: personalized recommendations and push-frequency caps for storefronts')
  .showHelpAfterError();

registerMigrate(program);
registerServe(program);
registerBuild(program);
registerModel(program);
registerDemo(program);
registerEvaluate(program);
registerKeys(program);
registerLoadtest(program);
registerEvents(program);
registerImport(program);
registerGenerate(program);
registerReplay(program);
registerReport(program);
registerRollups(program);

await program.parseAsync(process.argv);
