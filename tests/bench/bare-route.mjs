// The benchmarks' ceiling: a bare Fastify route doing one Redis command, as a user would write it, run by
// tests/bench/servers.ts as `node bare-route.mjs <kind> <arg>` with Node's default flags and no loader.
//   get <key>        GET /bare answers the value stored at <key> (a real recommendations reply) as JSON;
//   evalsha <prefix> POST /bare parses the JSON body and runs one trivial script (EVALSHA) on <prefix>bare:{userId}.
// REDIS_CLUSTER_NODES=host:port,… makes its client an ioredis Cluster of those seeds (default options), else REDIS_URL.
import Fastify from 'fastify';
import Redis from 'ioredis';

const [kind, arg] = process.argv.slice(2);
const seeds = process.env.REDIS_CLUSTER_NODES?.trim();
const redis = seeds
  ? new Redis.Cluster(
      seeds.split(',').map((seed) => {
        const [, host, port] = /^\[?([^\]]+)\]?:(\d+)$/.exec(seed.trim());
        return { host, port: Number(port) };
      }),
    )
  : new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379');
const app = Fastify();

if (kind === 'get') {
  app.get('/bare', async (_request, reply) =>
    reply.type('application/json').send(await redis.getBuffer(arg)),
  );
} else if (kind === 'evalsha') {
  redis.defineCommand('trivial', { numberOfKeys: 1, lua: 'return 1' });
  app.post('/bare', async (request) => ({
    allowed: (await redis.trivial(`${arg}bare:{${request.body.userId}}`)) === 1,
  }));
} else {
  throw new Error(`usage: bare-route.mjs get <key> | evalsha <prefix> (got ${kind})`);
}

await app.listen({ host: '127.0.0.1', port: 0 });
process.once('SIGTERM', () => {
  app
    .close()
    .then(() => redis.quit())
    .finally(() => process.exit(0));
});
// tests/bench/servers.ts reads this line.
console.log(`bench-port ${app.server.address().port}`);
