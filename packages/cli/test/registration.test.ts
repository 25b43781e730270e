import { existsSync, readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { API_SCOPES as DOMAIN_API_SCOPES } from '@elevens/domain';
import { DEFAULT_MODEL_LINE as STORES_DEFAULT_MODEL_LINE } from '@elevens/redis-stores';
import {
  BUILD_ALGORITHMS as TRAINER_BUILD_ALGORITHMS,
  DATASET_NAMES as TRAINER_DATASET_NAMES,
} from '@elevens/trainer';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import { API_SCOPES, BUILD_ALGORITHMS, DATASET_NAMES, DEFAULT_MODEL_LINE } from '../src/register/choices';

const MAIN = fileURLToPath(new URL('../src/main.ts', import.meta.url));
const commandModule = (name: string) => fileURLToPath(new URL(`../src/commands/${name}.ts`, import.meta.url));

/** The source file a relative import names: `./x` is x.ts or x/index.ts, as tsc and tsx resolve it. */
function sourceOf(from: string, specifier: string): string {
  const base = resolve(dirname(from), specifier);
  const file = [`${base}.ts`, `${base}/index.ts`].find((candidate) => existsSync(candidate));
  if (file === undefined) throw new Error(`${from}: cannot resolve ${specifier}`);
  return file;
}

/**
 * The modules Node loads with `entry` (main.ts: before the CLI parses its arguments): everything it imports
 * statically, and what those import, through the CLI's own files. An `import type` is erased; an
 * `import { type X }` is not (under verbatimModuleSyntax it stays, as an import of the module), and a dynamic
 * `import()` waits for its action. Returns the packages reached.
 */
function packagesLoadedBy(entry: string): Set<string> {
  const packages = new Set<string>();
  const files = new Set<string>();
  const walk = (file: string) => {
    if (files.has(file)) return;
    files.add(file);
    const source = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.Latest);
    for (const statement of source.statements) {
      let specifier: ts.Expression | undefined;
      if (ts.isImportDeclaration(statement) && !statement.importClause?.isTypeOnly)
        specifier = statement.moduleSpecifier;
      else if (ts.isExportDeclaration(statement) && !statement.isTypeOnly)
        specifier = statement.moduleSpecifier;
      if (specifier === undefined || !ts.isStringLiteral(specifier)) continue;
      if (specifier.text.startsWith('.')) walk(sourceOf(file, specifier.text));
      else packages.add(specifier.text);
    }
  };
  walk(entry);
  return packages;
}

describe('the elevens CLI at start-up', () => {
  // Every run (`elevens serve api` in the images, each of the suite's spawned commands) paid ~0.4 s loading
  // Fastify, both services, the trainer and ml-matrix before commander had read its arguments.
  it('loads commander and its registrations only: each command loads its implementation when it runs', () => {
    expect([...packagesLoadedBy(MAIN)].sort()).toEqual(['commander']);
  });
});

describe('a command that needs Postgres only', () => {
  // Loading @elevens/redis-stores (ioredis, the stores) cost each run of these a Redis client it never opens.
  it.each(['import', 'keys', 'rollups'])('%s loads no Redis client', (command) => {
    expect(packagesLoadedBy(commandModule(command))).not.toContain('@elevens/redis-stores');
  });
});

describe('the choices the registrations write out', () => {
  it('equal, in order, the lists of the packages that own them', () => {
    expect(API_SCOPES).toEqual(DOMAIN_API_SCOPES);
    expect(BUILD_ALGORITHMS).toEqual(TRAINER_BUILD_ALGORITHMS);
    expect(DATASET_NAMES).toEqual(TRAINER_DATASET_NAMES);
    expect(DEFAULT_MODEL_LINE).toBe(STORES_DEFAULT_MODEL_LINE);
  });
});
