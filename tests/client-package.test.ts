import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { buildApiApp, loadApiConfig } from '@elevens/api';
import { buildIngestApp, loadIngestConfig } from '@elevens/ingest';
import { createTestInfra, type TestInfra } from '@elevens/testkit';
import { build, type Rollup } from 'vite';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

/**
 * @elevens/client as a storefront gets it: packed (`npm pack`, which builds it), the tarball installed without a
 * registry into a plain JavaScript project and a TypeScript project outside the workspace, each calling the
 * running api and ingest services through it; and bundled for a browser.
 */
const run = promisify(execFile);
const CLIENT = fileURLToPath(new URL('../packages/client', import.meta.url));
const TSC = fileURLToPath(new URL('../node_modules/typescript/bin/tsc', import.meta.url));

/** A storefront's own processes: without the @elevens/source condition the tests set for the workspace's. */
const storefrontEnv = {
  ...process.env,
  NODE_OPTIONS: (process.env.NODE_OPTIONS ?? '')
    .split(' ')
    .filter((option) => option !== '--conditions=@elevens/source')
    .join(' '),
};

let infra: TestInfra;
let api: Awaited<ReturnType<typeof buildApiApp>>;
let ingest: Awaited<ReturnType<typeof buildIngestApp>>;
let work: string;
let packedFiles: string[];
let jsShop: string;
let tsShop: string;

/** A project of the storefront's outside the workspace, with the packed client installed from the tarball. */
async function storefrontProject(name: string, files: Record<string, string>, tarball: string) {
  const dir = join(work, name);
  await mkdir(dir);
  await writeFile(join(dir, 'package.json'), JSON.stringify({ name, private: true, type: 'module' }));
  for (const [file, text] of Object.entries(files)) await writeFile(join(dir, file), text);
  // --offline: npm may not reach a registry, so the package must need nothing but its tarball.
  await run('npm', ['install', '--offline', '--no-audit', '--no-fund', '--ignore-scripts', tarball], {
    cwd: dir,
    env: storefrontEnv,
  });
  return dir;
}

/** What both shops do: track one event, flush, ask for recommendations and a push decision; prints the answers. */
const shopScript = (shopper: string, urls: { apiUrl: string; ingestUrl: string }) => `
const elevens = new ElevensClient(${JSON.stringify(urls)});
const eventId = elevens.track({ userId: '${shopper}', itemId: '${shopper}-item', type: 'view' });
const stored = await elevens.close();
const recommendations = await elevens.recommendations({ userId: '${shopper}', limit: 3, exclude: ['x'] });
const push = await elevens.decidePush({ userId: '${shopper}', channel: 'push', campaignId: '${shopper}-campaign' });
const retryable = new ElevensError(503, 'overloaded', 'busy').retryable;
console.log(JSON.stringify({ eventId, stored, recommendations, push, retryable }));
`;

beforeAll(async () => {
  infra = await createTestInfra('client-package');
  api = await buildApiApp({ config: loadApiConfig(infra.env) });
  ingest = await buildIngestApp({ config: loadIngestConfig(infra.env) });
  const urls = {
    apiUrl: await api.listen({ host: '127.0.0.1', port: 0 }),
    ingestUrl: await ingest.listen({ host: '127.0.0.1', port: 0 }),
  };
  work = await mkdtemp(join(tmpdir(), 'elevens-client-package-'));
  const { stdout } = await run('npm', ['pack', '--json', '--pack-destination', work], { cwd: CLIENT });
  const [packed] = JSON.parse(stdout) as { filename: string; files: { path: string }[] }[];
  packedFiles = packed!.files.map((file) => file.path);
  const tarball = join(work, packed!.filename);
  jsShop = await storefrontProject(
    'js-shop',
    {
      'shop.js': `import { ElevensClient, ElevensError } from '@elevens/client';\n${shopScript('js-shopper', urls)}`,
      'storefront.js': `import { ElevensClient } from '@elevens/client';\nexport const elevens = new ElevensClient({ apiUrl: 'https://recs.shop.example' });\n`,
      // A CommonJS storefront: require() of this ESM package, which Node does without a flag from 22.12.
      'shop.cjs': `const { ElevensClient, ElevensError } = require('@elevens/client');
new ElevensClient(${JSON.stringify(urls)})
  .recommendations({ userId: 'cjs-shopper', limit: 3 })
  .then((recommendations) => console.log(JSON.stringify({ recommendations, isError: new ElevensError(0, 'network', '') instanceof Error })));
`,
    },
    tarball,
  );
  tsShop = await storefrontProject(
    'ts-shop',
    {
      'shop.ts': `import { ElevensClient, ElevensError, type TrackedEvent } from '@elevens/client';
${shopScript('ts-shopper', urls)}
// The declarations are the services' types, not any: an unknown event type does not compile.
const known: TrackedEvent['type'] = 'purchase';
// @ts-expect-error: not an event type of the service
const unknown: TrackedEvent['type'] = 'teleport';
const sources: ('personal' | 'similar' | 'bought_together' | 'trending' | 'popular' | 'pinned')[] = recommendations.items.map(
  (item) => item.source,
);
const reason: 'ok' | 'cap_exceeded' | 'quiet_hours' | 'no_consent' | 'duplicate_campaign' | 'unavailable' = push.reason;
console.log(JSON.stringify({ known, unknown, sources, reason }));
`,
      // The strictest resolution a Node project uses, the client's declarations checked too, no Node types.
      'tsconfig.json': JSON.stringify({
        compilerOptions: {
          target: 'ES2022',
          module: 'NodeNext',
          moduleResolution: 'NodeNext',
          lib: ['ES2022', 'DOM'],
          types: [],
          strict: true,
          skipLibCheck: false,
          outDir: 'out',
        },
        files: ['shop.ts'],
      }),
    },
    tarball,
  );
});

afterAll(async () => {
  await Promise.all([api?.close(), ingest?.close()]);
  await infra?.close();
  if (work) await rm(work, { recursive: true, force: true });
});

const storedEventIds = async (userId: string) =>
  (
    await infra.pool.query<{ event_id: string }>('SELECT event_id FROM events WHERE user_id = $1', [userId])
  ).rows.map((row) => row.event_id);

/** Runs a shop's compiled script and checks what it got from the services, and that its event was stored. */
async function expectShopWorks(dir: string, script: string, shopper: string) {
  const { stdout } = await run('node', [script], { cwd: dir, env: storefrontEnv });
  const answers = JSON.parse(stdout.trim().split('\n')[0]!);
  expect(answers.stored).toEqual({ accepted: 1, duplicates: 0, rejected: [] });
  expect(answers.recommendations).toMatchObject({ userId: shopper, items: expect.any(Array) });
  expect(answers.push).toMatchObject({ allowed: true, reason: 'ok', decisionId: expect.any(String) });
  expect(answers.retryable).toBe(true);
  expect(await storedEventIds(shopper)).toEqual([answers.eventId]);
  return stdout;
}

describe('the packed @elevens/client', () => {
  it('holds its compiled modules, declarations and README, and no sources', () => {
    expect(packedFiles).toEqual(
      expect.arrayContaining(['package.json', 'README.md', 'dist/index.js', 'dist/index.d.ts']),
    );
    expect(packedFiles.filter((path) => !/^dist\/.+\.(js|js\.map|d\.ts)$/.test(path))).toEqual([
      'README.md',
      'package.json',
    ]);
  });

  it('installs with no dependencies, and its declarations import nothing from outside the package', async () => {
    const installed = join(jsShop, 'node_modules/@elevens/client');
    const manifest = JSON.parse(await readFile(join(installed, 'package.json'), 'utf8'));
    expect(manifest.dependencies).toBeUndefined();
    const declarations = (await readdir(join(installed, 'dist'))).filter((file) => file.endsWith('.d.ts'));
    for (const file of declarations) {
      const text = await readFile(join(installed, 'dist', file), 'utf8');
      const specifiers = [...text.matchAll(/(?:from\s+|import\()['"]([^'"]+)['"]/g)].map(
        (match) => match[1]!,
      );
      expect(
        specifiers.filter((specifier) => !specifier.startsWith('./')),
        file,
      ).toEqual([]);
    }
  });

  it('works from plain JavaScript in Node', async () => {
    await expectShopWorks(jsShop, 'shop.js', 'js-shopper');
  });

  it('works from CommonJS through require(esm)', async () => {
    const { stdout } = await run('node', ['shop.cjs'], { cwd: jsShop, env: storefrontEnv });
    expect(JSON.parse(stdout)).toMatchObject({
      recommendations: { userId: 'cjs-shopper', items: expect.any(Array) },
      isError: true,
    });
  });

  it('type-checks a strict TypeScript project and works from it', async () => {
    await run('node', [TSC, '-p', tsShop], { cwd: tsShop, env: storefrontEnv });
    const stdout = await expectShopWorks(tsShop, 'out/shop.js', 'ts-shopper');
    expect(JSON.parse(stdout.trim().split('\n')[1]!)).toMatchObject({ known: 'purchase', reason: 'ok' });
  });

  it('bundles for a browser without any Node built-in', async () => {
    const result = (await build({
      root: jsShop,
      configFile: false,
      logLevel: 'silent',
      build: {
        write: false,
        minify: false,
        lib: { entry: join(jsShop, 'storefront.js'), formats: ['es'], fileName: 'storefront' },
      },
    })) as Rollup.RollupOutput[];
    const code = result
      .flatMap(({ output }) => output)
      .map((chunk) => (chunk.type === 'chunk' ? chunk.code : ''))
      .join('\n');
    expect(code).toContain('class ElevensClient');
    // Vite swaps a Node built-in for an empty __vite-browser-external module; a bundled import would remain.
    expect(code).not.toMatch(/node:|__vite-browser-external|^\s*import\s/m);
  });
});
