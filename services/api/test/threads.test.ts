import { MessageChannel } from 'node:worker_threads';
import type { ModelLists } from '@elevens/redis-stores';
import { afterEach, describe, expect, it } from 'vitest';
import { ThreadRpc } from '../src/thread-rpc';
import { SharedListRegistry } from '../src/threads';

const lists = (n: number): ModelLists => {
  const shared = (length: number) => new SharedArrayBuffer(length * 4);
  const ptr = new Uint32Array(shared(2));
  ptr[1] = n;
  return { ptr, idx: new Uint32Array(shared(n)), score: new Float32Array(shared(n)) };
};

describe('SharedListRegistry', () => {
  it('loads a version once, whichever thread asks first, and hands every thread the same arrays', async () => {
    const registry = new SharedListRegistry();
    let loads = 0;
    const load = async () => {
      loads++;
      return lists(3);
    };
    const [first, second] = await Promise.all([
      registry.get(1, 'v1', 'neighbors', load),
      registry.get(0, 'v1', 'neighbors', load),
    ]);
    expect(loads).toBe(1);
    expect(second).toBe(first);
    // Each kind is its own load.
    await registry.get(0, 'v1', 'boughtTogether', load);
    expect(loads).toBe(2);
  });

  it('keeps a version while some thread holds it or asked for it since its last report, and lets it go after', async () => {
    const registry = new SharedListRegistry();
    const load = async () => lists(1);
    await registry.get(0, 'v1', 'neighbors', load);
    await registry.get(1, 'v1', 'neighbors', load);
    registry.holding(0, ['v1']);
    registry.holding(1, ['v1']);
    // Thread 1 moves to v2 first: v1 stays, thread 0 still holds it.
    await registry.get(1, 'v2', 'neighbors', load);
    registry.holding(0, ['v1']);
    expect(registry.versions()).toEqual(new Set(['v1', 'v2']));
    registry.holding(1, ['v2', 'v1']);
    // Thread 0 asks for v2; its report after that poll drops v1 (thread 1 still keeps its previous, v1).
    await registry.get(0, 'v2', 'neighbors', load);
    registry.holding(0, ['v2']);
    expect(registry.versions()).toEqual(new Set(['v1', 'v2']));
    registry.holding(1, ['v2']);
    expect(registry.versions()).toEqual(new Set(['v2']));
    // A thread that ends holds nothing.
    registry.forget(0);
    registry.forget(1);
    expect(registry.versions()).toEqual(new Set());
  });

  it('does not keep a failed load: the next ask loads again', async () => {
    const registry = new SharedListRegistry();
    await expect(
      registry.get(0, 'v1', 'neighbors', async () => {
        throw new Error('Redis is down');
      }),
    ).rejects.toThrow('Redis is down');
    expect(await registry.get(0, 'v1', 'neighbors', async () => lists(2))).toMatchObject({
      ptr: new Uint32Array([0, 2]),
    });
  });
});

describe('ThreadRpc', () => {
  const channels: MessageChannel[] = [];
  afterEach(() => {
    for (const channel of channels.splice(0)) {
      channel.port1.close();
      channel.port2.close();
    }
  });
  const connected = (handlers: ConstructorParameters<typeof ThreadRpc>[1]) => {
    const channel = new MessageChannel();
    channels.push(channel);
    const received: unknown[] = [];
    const caller = new ThreadRpc(channel.port1, {});
    new ThreadRpc(channel.port2, {
      ...handlers,
      note: (value: never) => {
        received.push(value);
      },
    });
    return { caller, received };
  };

  it('answers calls with the handler’s value or error, shares typed arrays over shared memory, and delivers notes', async () => {
    const memory = lists(4);
    const { caller, received } = connected({
      double: (n: never) => (n as number) * 2,
      lists: async () => memory,
      broken: () => {
        throw new Error('no such version');
      },
    });
    expect(await caller.call('double', 21)).toBe(42);
    const arrived = await caller.call<ModelLists>('lists');
    arrived.idx[0] = 7;
    expect(memory.idx[0]).toBe(7);
    await expect(caller.call('broken')).rejects.toThrow('no such version');
    await expect(caller.call('absent')).rejects.toThrow('no handler for absent');
    caller.notify('note', 'v1');
    await expect.poll(() => received).toEqual(['v1']);
  });

  it('fails the calls waiting and every later call once the other side is gone', async () => {
    const { caller } = connected({ never: () => new Promise(() => {}) });
    const waiting = caller.call('never');
    caller.fail('the API thread has ended');
    await expect(waiting).rejects.toThrow('the API thread has ended');
    await expect(caller.call('never')).rejects.toThrow('the API thread has ended');
  });
});
