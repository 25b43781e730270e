import { createKeys, createRedis, decidePush } from '@elevens/cache';
const redis = createRedis('redis://127.0.0.1:6379');
const keys = createKeys('bench:inj2:');
redis.defineCommand('floorTrivial', { numberOfKeys: 1, lua: 'return 1' });
const rules = [
  { channel: 'any', category: 'sale', windowMs: 7 * 86400000, effectiveLimit: 5, activeUntilMs: null },
  { channel: 'any', category: null, windowMs: 86400000, effectiveLimit: 10, activeUntilMs: null },
  { channel: 'push', category: null, windowMs: 3600000, effectiveLimit: 3, activeUntilMs: null },
];
let k = 0;
const input = () => ({ userId: 'u1', decisionUuid: 'x', nowMs: Date.now(), channel: 'push', category: 'sale', campaignId: `c${k++ % 1}`, duplicateMs: 86400000, assumedTimezone: '', quiet: false, checkCaps: true, reserve: 'counted' as const, retentionMs: 31 * 86400000, rules });
async function measure(name: string, fn: () => Promise<unknown>, n = 8000) {
  for (let i = 0; i < 200; i++) await Promise.all(Array.from({ length: 8 }, fn));
  const c0 = process.cpuUsage();
  for (let i = 0; i < n / 8; i++) await Promise.all(Array.from({ length: 8 }, fn));
  const c = process.cpuUsage(c0);
  console.log(name, ((c.user + c.system) / n).toFixed(1), 'µs CPU/call');
}
for (let r = 0; r < 3; r++) {
  await measure('trivial', () => (redis as any).floorTrivial('x:{u1}'));
  await measure('decidePush', () => decidePush(redis, keys, input()));
}
redis.disconnect();
