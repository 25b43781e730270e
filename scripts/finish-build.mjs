#!/usr/bin/env node
// The second half of `npm run build`, after `tsc -b tsconfig.build.json` has compiled every workspace to dist/
// (or of packing @elevens/client, for the workspace folders given as arguments):
// 1. relative imports name the file they mean (`./push` → `./push.js`, `./keys` → `./keys/index.js`): the
//    sources import without extensions, which tsc, Vitest and tsx resolve and Node's ESM loader does not;
// 2. the files beside the sources that are read at run time (Lua scripts, the dashboard page) are copied to the
//    same place under dist/, where the compiled modules look for them;
// 3. @elevens/client's dist/wire.d.ts is written out in full from src/wire.ts, so the package's declarations
//    need neither @elevens/domain (unpublished) nor zod (not a dependency of the client).
import { cpSync, readFileSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { replaceTscAliasPaths } from 'tsc-alias';
import ts from 'typescript';

const root = fileURLToPath(new URL('..', import.meta.url));
const client = `${root}packages/client`;
const workspaces =
  process.argv.length > 2
    ? process.argv.slice(2).map((folder) => resolve(folder))
    : JSON.parse(readFileSync(`${root}tsconfig.build.json`, 'utf8')).references.map(
        (reference) => `${root}${reference.path}`,
      );

for (const workspace of workspaces) {
  await replaceTscAliasPaths({ configFile: `${workspace}/tsconfig.json`, resolveFullPaths: true });
  cpSync(`${workspace}/src`, `${workspace}/dist`, {
    recursive: true,
    filter: (path) => !path.endsWith('.ts'),
  });
}

if (workspaces.includes(client)) writeWireDeclarations();

/** Replaces dist/wire.d.ts by every type src/wire.ts exports, each written out as the structure it stands for. */
function writeWireDeclarations() {
  const config = ts.getParsedCommandLineOfConfigFile(
    `${client}/tsconfig.json`,
    {},
    { ...ts.sys, onUnRecoverableConfigFileDiagnostic: fail },
  );
  const wire = `${client}/src/wire.ts`;
  const program = ts.createProgram([wire], { ...config.options, noEmit: true });
  const checker = program.getTypeChecker();
  const source = program.getSourceFile(wire);
  const printer = ts.createPrinter();
  const flags =
    ts.NodeBuilderFlags.NoTruncation |
    ts.NodeBuilderFlags.InTypeAlias |
    ts.NodeBuilderFlags.MultilineObjectLiterals;
  const declarations = checker.getExportsOfModule(checker.getSymbolAtLocation(source)).map((exported) => {
    const symbol = exported.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(exported) : exported;
    const node = checker.typeToTypeNode(checker.getDeclaredTypeOfSymbol(symbol), undefined, flags);
    const doc = ts.displayPartsToString(symbol.getDocumentationComment(checker));
    const comment = doc === '' ? '' : `/** ${doc.replaceAll('\n', '\n * ')} */\n`;
    return `${comment}export type ${exported.name} = ${printer.printNode(ts.EmitHint.Unspecified, node, source)};\n`;
  });
  writeFileSync(
    `${client}/dist/wire.d.ts`,
    `// Written by scripts/finish-build.mjs from src/wire.ts: the services' wire types in full.\n${declarations.join('')}`,
  );
}

function fail(diagnostic) {
  throw new Error(ts.flattenDiagnosticMessageText(diagnostic.messageText, '\n'));
}
