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
  await eraseUser(infra.pool, 'erased');
  const again = await upsertUser(infra.pool, 'erased', { consent: { personalization: true, push: false } });
  expect(again.revision).toBeGreaterThan(before.revision + 1);
  expect(again.profile).toMatchObject({
    userId: 'erased',
    timezone: null,
    consent: { personalization: true, push: false },
  });
});
