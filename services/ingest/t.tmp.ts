import { createPool, insertEventGroups } from '@elevens/db';
import { generateEvents } from '@elevens/generator';
const pool = createPool('postgres://root@127.0.0.1:5432/elevens_ingest_scratch');
const dayAgo = Date.now() - 86_400_000;
for (const method of ['unnest', 'copy', 'unnest', 'copy'] as const) {
  const tag = 't' + Date.now();
  const all = Array.from(generateEvents({ users: 20000, items: 50000, events: 30000, seed: Date.now() % 1000, days: 1, startMs: dayAgo }), (e) => ({ eventId: tag + e.eventId, userId: e.userId, itemId: e.itemId, type: e.type, timestampMs: e.timestamp, sessionId: e.sessionId, recommendationId: null, quantity: null, price: null, properties: null }));
  const cpu = process.cpuUsage(); const t = performance.now();
  for (let i = 0; i < all.length; i += 5000) await insertEventGroups(pool, [all.slice(i, i + 5000)], method);
  const c = process.cpuUsage(cpu);
  console.log(method, 'wall', (performance.now() - t).toFixed(0), 'ms; node cpu', ((c.user + c.system) / 1000).toFixed(0), 'ms for 30k');
}
await pool.end();
