import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const MAIN = fileURLToPath(new URL('../src/main.ts', import.meta.url));
const commandModule = (name: string) => fileURLToPath(new URL(`../src/commands/${name}.ts`, import.meta.url));

/** Each workspace package's folder, by package name (`@elevens/db` → packages/db). */
const workspaceFolders = new Map(
  ['packages', 'services'].flatMap((group) =>
    readdirSync(join(ROOT, group))
      .map((name) => join(ROOT, group, name))
      .filter((folder) => existsSync(join(folder, 'package.json')))
      .map((folder) => [
        JSON.parse(readFileSync(join(folder, 'package.json'), 'utf8')).name as string,
        folder,
      ]),
  ),
);

/** The source file a workspace package's specifier (`@elevens/db`, `@elevens/db/migrate`) names, as tsc and Vitest resolve it. */
function workspaceSourceOf(specifier: string): string | undefined {
  const [scope = '', name = '', ...subpath] = specifier.split('/');
  const folder = workspaceFolders.get(`${scope}/${name}`);
  if (folder === undefined) return undefined;
  const exports = JSON.parse(readFileSync(join(folder, 'package.json'), 'utf8')).exports;
  const source = exports?.[subpath.length > 0 ? `./${subpath.join('/')}` : '.']?.['@elevens/source'];
  if (typeof source !== 'string') throw new Error(`${specifier}: not exported under @elevens/source`);
  return resolve(folder, source);
}

/** The source file a relative import names: `./x` is x.ts or x/index.ts, as tsc and tsx resolve it. */
function sourceOf(from: string, specifier: string): string {
  const base = resolve(dirname(from), specifier);
  const file = [`${base}.ts`, `${base}/index.ts`].find((candidate) => existsSync(candidate));
  if (file === undefined) throw new Error(`${from}: cannot resolve ${specifier}`);
  return file;
}

/**
 * The packages Node loads with `entry` (main.ts: before the CLI parses its arguments): everything it imports
 * statically, and what those import, through the CLI's own files and the workspace packages' sources (so a
 * workspace index that re-exports a heavy module shows it). An `import type` is erased; an `import { type X }` is
 * not (under verbatimModuleSyntax it stays, as an import of the module), and a dynamic `import()` waits for its
 * action. Node's built-in modules cost nothing to load and are left out.
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
      const name = specifier.text;
      if (name.startsWith('.')) walk(sourceOf(file, name));
      else if (!name.startsWith('node:')) {
        const workspaceSource = workspaceSourceOf(name);
        if (workspaceSource === undefined) packages.add(name);
        else walk(workspaceSource);
      }
    }
  };
  walk(entry);
  return packages;
}

describe('the elevens CLI at start-up', () => {
  // Every run (`elevens serve api` in the images, each of the suite's spawned commands) paid ~0.4 s loading
  // Fastify, both services, the trainer and ml-matrix before commander had read its arguments.
  it('loads commander, its registrations and the import-free lists they offer only: each command loads its implementation when it runs', () => {
    expect([...packagesLoadedBy(MAIN)].sort()).toEqual(['commander']);
  });
});

describe('a command that needs Postgres only', () => {
  // Loading @elevens/redis-stores (ioredis, the stores) cost each run of these a Redis client it never opens.
  it.each(['import', 'keys', 'rollups'])('%s loads no Redis client', (command) => {
    expect(packagesLoadedBy(commandModule(command))).not.toContain('ioredis');
  });
  it.each(['import', 'keys', 'rollups'])('%s loads no migrations runner', (command) => {
    expect(packagesLoadedBy(commandModule(command))).not.toContain('node-pg-migrate');
  });
});
