import { execFile, execFileSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { ApiEnv } from '@elevens/api';
import { baseEnv, loadEnv, parseDuration } from '@elevens/config';
import { IngestEnv } from '@elevens/ingest';
import { BuildEnv } from '@elevens/trainer';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { z } from 'zod';

/**
 * docker-compose.yml and docker/*.Dockerfile read against the code, without a Docker engine: what each container
 * is given and how it is started, checked, and stopped.
 */

const root = fileURLToPath(new URL('..', import.meta.url));
const read = (path: string) => readFileSync(`${root}${path}`, 'utf8');
const run = promisify(execFile);

interface Service {
  image?: string;
  build?: { context: string; dockerfile: string };
  command?: string[];
  environment?: Record<string, string>;
  healthcheck?: { test: string[] };
  stop_grace_period?: string;
  restart?: string;
  init?: boolean;
  profiles?: string[];
  volumes?: string[];
  depends_on?: Record<string, { condition: string }>;
}

const compose = parse(read('docker-compose.yml'), { merge: true }) as {
  services: Record<string, Service>;
  volumes?: Record<string, unknown>;
};

/** The runtime stage of a Dockerfile (after its last FROM) and its CMD. */
function dockerfile(path: string) {
  const text = read(path);
  const runtime = text.slice(text.lastIndexOf('\nFROM '));
  const cmd = /^CMD (\[.*\])$/m.exec(runtime)?.[1];
  return { text, runtime, cmd: cmd === undefined ? [] : (JSON.parse(cmd) as string[]) };
}

/** Every service that runs the elevens CLI from one of the images, with the command it runs. */
const elevens = Object.entries(compose.services).flatMap(([name, service]) =>
  service.build === undefined
    ? []
    : [{ name, service, command: service.command ?? dockerfile(service.build.dockerfile).cmd }],
);

/** The schema of the process a command starts: the variables it reads. */
function schemaOf(command: string[]): z.ZodObject {
  const [verb, what] = command;
  if (verb === 'serve' && what === 'api') return ApiEnv;
  if (verb === 'serve' && what === 'ingest') return IngestEnv;
  if (verb === 'build') return BuildEnv;
  if (verb === 'migrate') return z.object(baseEnv);
  throw new Error(`no schema known for \`elevens ${command.join(' ')}\``);
}

describe('docker-compose.yml', () => {
  it('runs the elevens CLI in several services', () => {
    expect(elevens.map(({ name }) => name)).toEqual(
      expect.arrayContaining(['migrate', 'ingest', 'api', 'build', 'api-1', 'ingest-1', 'trainer']),
    );
  });

  it.each(elevens)(
    '$name: sets only variables its process reads, each valid',
    ({ name, service, command }) => {
      const schema = schemaOf(command);
      const env = service.environment ?? {};
      for (const variable of Object.keys(env))
        expect(schema.shape, `${name}: ${variable}`).toHaveProperty(variable);
      expect(() => loadEnv(schema, env, name)).not.toThrow();
    },
  );

  it.each(elevens)('$name: runs node behind an init, so SIGTERM stops it', ({ service }) => {
    // Node as PID 1 ignores SIGTERM unless the program handles it (`build --every` does not): `docker compose
    // stop` then waited its grace period and killed the container.
    expect(service.init).toBe(true);
  });

  const servers = elevens.filter(({ command }) => command[0] === 'serve');

  it.each(servers)(
    '$name: gives SIGTERM longer than SHUTDOWN_DRAIN_MS and SHUTDOWN_TIMEOUT_MS',
    ({ service, command }) => {
      const config = loadEnv(schemaOf(command), service.environment ?? {}, 'compose') as {
        SHUTDOWN_TIMEOUT_MS: number;
        SHUTDOWN_DRAIN_MS: number;
      };
      // Docker's default is 10 s, SHUTDOWN_TIMEOUT_MS's too: requests still open at the end were cut by SIGKILL.
      const grace = parseDuration(service.stop_grace_period ?? '10s');
      expect(grace).toBeGreaterThanOrEqual(config.SHUTDOWN_DRAIN_MS + config.SHUTDOWN_TIMEOUT_MS + 2_000);
    },
  );

  // docker/haproxy.cfg checks each server every 1 s and takes it out after 2 failures: a process behind it that
  // closed at once answered 503 to the requests HAProxy still sent it.
  const balanced = servers.filter(({ name }) =>
    new RegExp(`^\\s*server ${name} `, 'm').test(read('docker/haproxy.cfg')),
  );

  it('drains every process behind HAProxy before it closes', () => {
    expect(balanced.map(({ name }) => name).sort()).toEqual(['api-1', 'api-2', 'ingest-1', 'ingest-2']);
    for (const { name, service, command } of balanced) {
      const config = loadEnv(schemaOf(command), service.environment ?? {}, 'compose') as {
        SHUTDOWN_DRAIN_MS: number;
      };
      expect(config.SHUTDOWN_DRAIN_MS, name).toBeGreaterThanOrEqual(3_000);
    }
  });

  it.each(servers)('$name: health-checks a health route on its own port', ({ service, command }) => {
    const config = loadEnv(schemaOf(command), service.environment ?? {}, 'compose') as { PORT: number };
    const url = /fetch\('([^']+)'\)/.exec(service.healthcheck?.test.join(' ') ?? '')?.[1];
    expect(url).toBeDefined();
    const parsed = new URL(url!);
    expect(Number(parsed.port)).toBe(config.PORT);
    expect(['/healthz', '/readyz']).toContain(parsed.pathname);
  });

  /** Services that run once and exit (migrations, joining the cluster): others wait for them to complete. */
  const oneShots = new Set(
    Object.values(compose.services).flatMap((service) =>
      Object.entries(service.depends_on ?? {})
        .filter(([, { condition }]) => condition === 'service_completed_successfully')
        .map(([name]) => name),
    ),
  );
  const longRunning = Object.keys(compose.services).filter((name) => !oneShots.has(name));

  it('knows which services run once', () => {
    expect([...oneShots].sort()).toEqual(['migrate', 'migrate-cluster', 'redis-cluster-create']);
  });

  it.each(longRunning)('%s: comes back after Docker restarts or it exits on its own', (name) => {
    // Without a policy a store or the build job stayed down after a reboot (Docker restarts only the containers
    // that have one): the api and ingest came back to no Postgres and Redis, and no model was built again. An
    // api whose thread ends exits 1 for this restart (docs/operations.md); stopped by the operator, it stays down.
    expect(compose.services[name]!.restart).toBe('unless-stopped');
  });

  /** The stores and where their images keep their data. */
  const stores = Object.entries(compose.services).flatMap(([name, service]) => {
    if (service.image?.startsWith('postgres:'))
      return [{ name, service, dataDir: '/var/lib/postgresql/data' }];
    if (service.image?.startsWith('redis:') && service.command?.[0] === 'redis-server')
      return [{ name, service, dataDir: '/data' }];
    return [];
  });

  it('finds the stores', () => {
    expect(stores.map(({ name }) => name)).toEqual(
      expect.arrayContaining(['postgres', 'redis', 'redis-cluster-1', 'redis-cluster-2', 'redis-cluster-3']),
    );
  });

  it.each(stores)('$name: keeps its data on a named volume', ({ service, dataDir }) => {
    // An anonymous volume is left behind by `docker compose down`, and `up` starts on an empty one: Redis lost
    // the served model, every user's live history and the push caps' reservations (pushes beyond the caps).
    const mounts = (service.volumes ?? []).map((mount) => mount.split(':'));
    const named = mounts.find(([, target]) => target === dataDir)?.[0];
    expect(named).toBeDefined();
    expect(Object.keys(compose.volumes ?? {})).toContain(named);
  });

  describe('a Redis health check', () => {
    // redis-cli exits 0 on an error reply: `redis-cli ping` passed while Redis answered LOADING, reading its
    // append-only file after a restart, and `migrate`, started on that health, gave up after 3 s ("Redis is not
    // reachable"), so `docker compose up` ended there and started neither the api, nor ingest, nor the build.
    const redisStores = stores.filter(({ service }) => service.image?.startsWith('redis:'));
    /** What the stand-in server answers every command with, as Redis does in RESP. */
    let answer = '';
    let server: Server;
    let binDir: string;

    beforeAll(async () => {
      server = createServer((socket) => socket.on('data', () => socket.write(answer)));
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      const { port } = server.address() as { port: number };
      // The real redis-cli, pointed at the stand-in: the check's own command line is run unchanged.
      const redisCli = execFileSync('sh', ['-c', 'command -v redis-cli'], { encoding: 'utf8' }).trim();
      binDir = mkdtempSync(join(tmpdir(), 'elevens-compose-redis-cli-'));
      writeFileSync(join(binDir, 'redis-cli'), `#!/bin/sh\nexec '${redisCli}' -p ${port} "$@"\n`);
      chmodSync(join(binDir, 'redis-cli'), 0o755);
    });

    afterAll(async () => {
      rmSync(binDir, { recursive: true, force: true });
      await new Promise((resolve) => server.close(resolve));
    });

    /** The exit code of a health check's test, run as Docker runs it (CMD: its arguments; CMD-SHELL: through sh). */
    async function exitCodeOf(test: string[]): Promise<number> {
      const [kind, ...args] = test;
      const [file, ...argv] = kind === 'CMD-SHELL' ? ['sh', '-c', args.join(' ')] : args;
      const env = { ...process.env, PATH: `${binDir}:${process.env.PATH}` };
      try {
        await run(file!, argv, { env, timeout: 10_000 });
        return 0;
      } catch (error) {
        return (error as { code?: number }).code ?? -1;
      }
    }

    it('finds the Redis stores', () => {
      expect(redisStores.map(({ name }) => name).sort()).toEqual([
        'redis',
        'redis-cluster-1',
        'redis-cluster-2',
        'redis-cluster-3',
      ]);
    });

    it.each(redisStores)(
      '$name: fails while Redis loads its data and passes once it answers',
      async ({ service }) => {
        const test = service.healthcheck!.test;
        answer = '-LOADING Redis is loading the dataset in memory\r\n';
        expect(await exitCodeOf(test)).not.toBe(0);
        answer = '+PONG\r\n';
        expect(await exitCodeOf(test)).toBe(0);
      },
    );
  });

  it('checks Postgres over TCP, which its first-start temporary server does not listen on', () => {
    // Over the Unix socket pg_isready answered the server that initdb's scripts run on, stopped right after.
    const test = compose.services.postgres!.healthcheck!.test.join(' ');
    expect(test).toMatch(/pg_isready .*(-h|--host)[ =](127\.0\.0\.1|localhost)\b/);
  });
});

describe.each(['api', 'ingest', 'build'])('docker/%s.Dockerfile', (name) => {
  const { text, runtime } = dockerfile(`docker/${name}.Dockerfile`);

  it('runs the compiled CLI on a Node LTS line as an unprivileged user, with the migrations', () => {
    for (const from of text.matchAll(/^FROM node:(\d+)/gm)) expect(['22', '24']).toContain(from[1]);
    expect(runtime).toMatch(/^ENTRYPOINT \["node", "packages\/cli\/dist\/main\.js"\]$/m);
    expect(runtime).toMatch(/^USER node$/m);
    // packages/db finds them at /app/migrations; Lua scripts and the dashboard page are copied into dist/ by
    // `npm run build` (scripts/finish-build.mjs), which runs in the build stage.
    expect(runtime).toMatch(/^COPY .*\bmigrations \.\/migrations$/m);
    expect(text).toMatch(/npm run build/);
    expect(text).toMatch(/^COPY scripts /m);
  });
});

describe('.dockerignore', () => {
  it('keeps dependencies, build output and test data out of the build context', () => {
    const lines = read('.dockerignore').split('\n');
    for (const entry of ['node_modules', '**/node_modules', '**/dist', 'test-artifacts', '.git'])
      expect(lines).toContain(entry);
  });
});
