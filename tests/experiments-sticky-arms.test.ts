import { type ApiApp, buildApiApp, loadApiConfig } from '@elevens/api';
import { assignArm } from '@elevens/domain';
import { createTestInfra, type TestInfra } from '@elevens/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

/**
 * A marketer edits a running experiment's arms (docs/attribution.md): a user leaves their arm only when it
 * shrinks, and then only for an arm that grows; the arms' order in the body moves no one. Every api process, and
 * one started after the edit, assigns the same arm.
 */
const NOW_MS = Date.parse('2026-11-10T12:00:00Z');
const USERS = 30_000;
let infra: TestInfra;
let app: ApiApp;
let other: ApiApp;

const build = () =>
  buildApiApp({
    config: loadApiConfig({ ...infra.env, LOG_LEVEL: 'silent', MODEL_POLL_MS: '60000' }),
    now: () => NOW_MS,
  });

beforeAll(async () => {
  infra = await createTestInfra('experiments-sticky-arms');
  app = await build();
  other = await build();
});

afterAll(async () => {
  await app?.close();
  await other?.close();
  await infra?.close();
});

const put = async (id: string, shares: Record<string, number>) => {
  const arms = Object.entries(shares).map(([name, share]) => ({ name, share }));
  const response = await app.inject({
    method: 'PUT',
    url: `/v1/experiments/${id}`,
    payload: { arms, placement: id },
  });
  expect(response.statusCode, response.body).toBe(200);
};

const armsOf = (served: ApiApp, placement: string) =>
  Array.from({ length: USERS }, (_, i) => served.experiments.assign(`user-${i}`, placement, true)!.arm.name);

/** How many users went from one arm to another, as `from>to`. */
function moves(before: string[], after: string[]): Map<string, number> {
  const counts = new Map<string, number>();
  before.forEach((arm, i) => {
    if (arm !== after[i]) counts.set(`${arm}>${after[i]}`, (counts.get(`${arm}>${after[i]}`) ?? 0) + 1);
  });
  return counts;
}

const shareOf = (arms: string[], name: string) => arms.filter((arm) => arm === name).length / USERS;

describe('an edit of a running experiment', () => {
  it('moves only users of a shrinking arm, only to a growing one, whatever the arms order', async () => {
    await put('ramp', { a: 0.34, b: 0.33, c: 0.33 });
    const before = armsOf(app, 'ramp');
    // a grows, b and c shrink, and the body lists the arms in another order
    await put('ramp', { c: 0.25, b: 0.25, a: 0.5 });
    const after = armsOf(app, 'ramp');
    const moved = moves(before, after);
    expect([...moved.keys()].sort()).toEqual(['b>a', 'c>a']);
    // the fewest moves the new shares allow: a's growth, 16 % of the users
    expect(Math.abs((moved.get('b>a')! + moved.get('c>a')!) / USERS - 0.16)).toBeLessThan(0.01);
    for (const [name, share] of [
      ['a', 0.5],
      ['b', 0.25],
      ['c', 0.25],
    ] as const)
      expect(Math.abs(shareOf(after, name) - share)).toBeLessThan(0.01);

    // another api process, and one started after the edit, assign every user the same arm
    await other.experiments.refresh();
    expect(armsOf(other, 'ramp')).toEqual(after);
    const restarted = await build();
    try {
      expect(armsOf(restarted, 'ramp')).toEqual(after);
    } finally {
      await restarted.close();
    }
  });

  it('moves no one when only the arms order changes', async () => {
    await put('order', { a: 0.2, b: 0.3, c: 0.5 });
    const before = armsOf(app, 'order');
    await put('order', { c: 0.5, a: 0.2, b: 0.3 });
    expect(armsOf(app, 'order')).toEqual(before);
  });

  it('fills a new arm from the others, and hands a removed arm’s users to the arms that grow', async () => {
    await put('grow', { a: 0.5, b: 0.5 });
    const first = armsOf(app, 'grow');
    await put('grow', { a: 0.4, b: 0.4, new: 0.2 });
    const second = armsOf(app, 'grow');
    expect([...moves(first, second).keys()].sort()).toEqual(['a>new', 'b>new']);
    await put('grow', { a: 0.3, b: 0.7 });
    const third = armsOf(app, 'grow');
    expect([...moves(second, third).keys()].sort()).toEqual(['a>b', 'new>b']);
    expect(Math.abs(shareOf(third, 'b') - 0.7)).toBeLessThan(0.01);
  });

  it('assigns an experiment stored before arms kept their users as it did: by the shares in order', async () => {
    const arms = [
      { name: 'x', share: 0.3 },
      { name: 'y', share: 0.7 },
    ];
    await infra.pool.query(
      `INSERT INTO experiments (id, arms, placement, starts_at) VALUES ('stored', $1::jsonb, 'stored', $2)`,
      [JSON.stringify(arms), new Date(NOW_MS)],
    );
    await infra.pool.query('UPDATE experiments_version SET version = version + 1');
    await app.experiments.refresh();
    const now = armsOf(app, 'stored');
    expect(now).toEqual(Array.from({ length: USERS }, (_, i) => assignArm('stored', `user-${i}`, arms).name));
    // and its first edit keeps them too: y grows, so only x's users move, to y
    await put('stored', { x: 0.2, y: 0.8 });
    expect([...moves(now, armsOf(app, 'stored')).keys()]).toEqual(['x>y']);
  });
});
