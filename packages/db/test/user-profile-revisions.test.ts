import { eraseUser, upsertUser } from '@elevens/db';
import { createTestInfra, type TestInfra } from '@elevens/testkit';
import { afterAll, beforeAll, expect, it } from 'vitest';

let infra: TestInfra;

beforeAll(async () => {
  infra = await createTestInfra('db-user-profile-revisions');
});

afterAll(async () => {
  await infra?.close();
});

it('gives the write that commits last the larger revision', async () => {
  const first = await upsertUser(infra.pool, 'u', { consent: { personalization: true, push: true } });
  // A transaction holds the row; a write sent meanwhile waits for it and commits after it.
  const holder = await infra.pool.connect();
  try {
    await holder.query('BEGIN');
    const held = await upsertUser(holder, 'u', { consent: { personalization: true, push: true } });
    const waiting = upsertUser(infra.pool, 'u', { consent: { personalization: false, push: true } });
    await new Promise((resolve) => setTimeout(resolve, 100));
    await holder.query('COMMIT');
    const last = await waiting;
    expect(held.revision).toBeGreaterThan(first.revision);
    expect(last.revision).toBeGreaterThan(held.revision);
    expect(last.profile.consent.personalization).toBe(false);
  } finally {
    holder.release();
  }
});

it('gives a user re-created after an erasure a larger revision than any before', async () => {
  const before = await upsertUser(infra.pool, 'erased', { timezone: 'Europe/Paris' });
  await upsertUser(infra.pool, 'erased', { timezone: 'Asia/Tokyo' });
  const erased = await eraseUser(infra.pool, 'erased', async (revision) => revision);
  expect(erased.copied).toBeGreaterThan(before.revision + 1);
  const again = await upsertUser(infra.pool, 'erased', { consent: { personalization: true, push: false } });
  expect(again.revision).toBeGreaterThan(erased.copied);
  expect(again.profile).toMatchObject({
    userId: 'erased',
    timezone: null,
    consent: { personalization: true, push: false },
  });
});

it('orders a profile created while its user is erased after the erasure, which it waits for', async () => {
  let created: ReturnType<typeof upsertUser> | undefined;
  const erased = await eraseUser(infra.pool, 'returning', async (revision) => {
    // No row to lock yet: the write must still wait for the erasure's commit and draw a later revision.
    created = upsertUser(infra.pool, 'returning', { consent: { personalization: true, push: false } });
    await new Promise((resolve) => setTimeout(resolve, 100));
    return revision;
  });
  const { revision, profile } = await created!;
  expect(revision).toBeGreaterThan(erased.copied);
  expect(profile.consent.push).toBe(false);
  const { rows } = await infra.pool.query("SELECT revision FROM users WHERE user_id = 'returning'");
  expect(rows).toEqual([{ revision }]);
});

it('rolls the erasure back when its copy fails', async () => {
  await upsertUser(infra.pool, 'kept', { timezone: 'Asia/Tokyo' });
  await expect(
    eraseUser(infra.pool, 'kept', async () => {
      throw new Error('Redis is down');
    }),
  ).rejects.toThrow('Redis is down');
  const { rows } = await infra.pool.query("SELECT timezone FROM users WHERE user_id = 'kept'");
  expect(rows).toEqual([{ timezone: 'Asia/Tokyo' }]);
});
