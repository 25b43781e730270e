import { randomUUID } from 'node:crypto';
import type { TrafficKind } from './scenario';

export interface Population {
  users: number;
  items: number;
}

const pick = (n: number) => Math.floor(Math.random() * n);
const EVENT_TYPES = ['view', 'view', 'view', 'view', 'cart', 'fav', 'purchase'] as const;
const PUSH_CHANNELS = ['push', 'push', 'email', 'inapp'] as const;

/** Where each kind of traffic goes. */
export const TARGET_SERVICE: Record<TrafficKind, 'api' | 'ingest'> = {
  recommendations: 'api',
  events: 'ingest',
  push: 'api',
};

/** One request as the load sends it. */
export interface LoadRequest {
  method: 'GET' | 'POST';
  path: string;
  /** JSON */
  body?: string;
}

/**
 * The next request of one kind: every request its own user, item and ids (events carry a fresh eventId, so none
 * is counted as a duplicate).
 */
export function nextRequest(kind: TrafficKind, population: Population): LoadRequest {
  const user = `lt-u${pick(population.users)}`;
  switch (kind) {
    case 'recommendations':
      return { method: 'GET', path: `/v1/recommendations?userId=${user}&limit=10` };
    case 'events':
      return {
        method: 'POST',
        path: '/v1/events',
        body: JSON.stringify({
          eventId: randomUUID(),
          userId: user,
          itemId: `lt-i${pick(population.items)}`,
          type: EVENT_TYPES[pick(EVENT_TYPES.length)],
        }),
      };
    case 'push':
      return {
        method: 'POST',
        path: '/v1/push/decisions',
        body: JSON.stringify({
          userId: user,
          channel: PUSH_CHANNELS[pick(PUSH_CHANNELS.length)],
          campaignId: `lt-c${randomUUID()}`,
        }),
      };
  }
}
