import { Command } from 'commander';
import { registerBuild } from './commands/build';
import { registerDemo } from './commands/demo';
import { registerMigrate } from './commands/migrate';
import { registerServe } from './commands/serve';

const program = new Command('elevens')
  .description('Elevens: personalized recommendations and push-frequency caps for storefronts')
  .showHelpAfterError();

registerMigrate(program);
registerServe(program);
registerBuild(program);
registerDemo(program);

await program.parseAsync(process.argv);
