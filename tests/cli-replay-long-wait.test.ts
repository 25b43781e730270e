import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MAX_TIMER_MS } from '@elevens/config';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { type ReplayClock, replayFile } from '../packages/cli/src/commands/replay';

const HOUR = 3_600_000;
/** A thousandth of real time: the file's hour between its two events is 1,000 hours, 41.7 days, to wait. */
const SPEED = 0.001;
const FIRST_EVENT_MS = Date.UTC(2026, 5, 1);

let dir: string;
let file: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'elevens-replay-long-wait-'));
  file = join(dir, 'events.csv');
  writeFileSync(
    file,
    'event_id,user_id,item_id,type,timestamp\n' +
      `first,u1,i1,view,${FIRST_EVENT_MS}\nan-hour-later,u1,i2,view,${FIRST_EVENT_MS + HOUR}\n`,
  );
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

/**
 * A clock whose waits take no real time, each timer as Node runs it: one asked for longer than MAX_TIMER_MS fires
 * after 1 ms (with a TimeoutOverflowWarning).
 */
function nodeTimerClock(): ReplayClock {
  let nowMs = 0;
  return {
    now: () => nowMs,
    sleep: async (ms) => {
      nowMs += ms > MAX_TIMER_MS ? 1 : Math.max(ms, 1);
      await new Promise((resolve) => setImmediate(resolve));
    },
  };
}

it('waits out a gap of the schedule longer than a timer can hold before sending the events after it', async () => {
  const clock = nodeTimerClock();
  const arrivals: { eventId: string; atMs: number }[] = [];
  const server = createServer((request, response) => {
    let body = '';
    request.on('data', (chunk: Buffer) => {
      body += chunk.toString();
    });
    request.on('end', () => {
      const { events } = JSON.parse(body) as { events: { eventId: string }[] };
      for (const { eventId } of events) arrivals.push({ eventId, atMs: clock.now() });
      response.writeHead(200, { 'content-type': 'application/json' });
      response.end(JSON.stringify({ accepted: events.length, duplicates: 0, rejected: [] }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    const report = await replayFile(file, {
      target: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
      speed: SPEED,
      format: 'csv',
      clock,
    });
    expect(report).toMatchObject({ events: 2, accepted: 2, errors: {} });
    expect(arrivals.map((a) => a.eventId)).toEqual(['first', 'an-hour-later']);
    // The schedule starts at the clock's 0: the second event is due after the file's hour at SPEED.
    const dueMs = HOUR / SPEED;
    expect(dueMs).toBeGreaterThan(MAX_TIMER_MS);
    expect(arrivals[1]!.atMs).toBeGreaterThanOrEqual(dueMs);
    // Sent once due, not a timer's span late.
    expect(arrivals[1]!.atMs).toBeLessThan(dueMs + 1_000);
  } finally {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
});
