import { newAnswerNonce } from '@elevens/domain';
import { describe, expect, it } from 'vitest';

describe('answer nonces', () => {
  it('are six base64url characters, across refills of the block, and do not repeat', () => {
    // Twelve blocks of 256 nonces.
    const nonces = Array.from({ length: 12 * 256 + 1 }, () => newAnswerNonce());
    for (const nonce of nonces) expect(nonce).toMatch(/^[A-Za-z0-9_-]{6}$/);
    // 36 random bits each: one repeat among 3,073 has odds of about 1 in 15,000, two of about 1 in 10^9.
    expect(new Set(nonces).size).toBeGreaterThanOrEqual(nonces.length - 1);
    // Every base64url digit appears: the bytes are spread over all 64.
    expect(new Set(nonces.join('')).size).toBe(64);
  });
});
