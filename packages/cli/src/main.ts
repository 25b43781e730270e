import { Command } from 'commander';
import { registerBuild } from './register/build';
import { registerDemo } from './register/demo';
import { registerEvaluate } from './register/evaluate';
import { registerEvents } from './register/events';
import { registerGenerate } from './register/generate';
import { registerImport } from './register/import';
import { registerKeys } from './register/keys';
import { registerLoadtest } from './register/loadtest';
import { registerMigrate } from './register/migrate';
import { registerModel } from './register/model';
import { registerReplay } from './register/replay';
import { registerReport } from './register/report';
import { registerRollups } from './register/rollups';
import { registerServe } from './register/serve';

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
