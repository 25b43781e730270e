#!/usr/bin/env node
// The elevens command. It runs the compiled CLI (dist/, made by `npm run build`), as the Docker images do.
// Under the @elevens/source export condition (NODE_OPTIONS=--conditions=@elevens/source, as the tests and the
// benchmarks set it) it runs the TypeScript sources through tsx instead; so it does, saying so, when dist/ was
// never built.
import { existsSync } from 'node:fs';
import { register } from 'node:module';

const main = import.meta.resolve('@elevens/cli/main');
if (main.endsWith('.js') && existsSync(new URL(main))) {
  await import(main);
} else {
  if (main.endsWith('.js'))
    console.error(
      'elevens: no compiled CLI (npm run build makes it): running the TypeScript sources through tsx',
    );
  const { register: registerTsx } = await import('tsx/esm/api');
  registerTsx();
  // Every @elevens package resolves to its src/ as well, not to a dist/ that is missing or older than them.
  register('./source-condition.js', import.meta.url);
  await import('../src/main.ts');
}
