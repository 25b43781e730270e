import { createHash, randomBytes } from 'node:crypto';
import type { ApiScope } from '@elevens/domain';
import type { Queryable } from './pool';

/** Every secret starts with this, so a leaked one is recognisable (secret scanners, log reviews). */
export const API_KEY_SECRET_PREFIX = 'elv_';

export interface ApiKeyIdentity {
  id: string;
  name: string;
  scopes: ApiScope[];
}

/** An active key as serving processes hold it: the hash of its secret, never the secret. */
export interface ActiveApiKey extends ApiKeyIdentity {
  /** hex SHA-256 of the secret */
  secretHash: string;
}

export interface ApiKeyInfo extends ApiKeyIdentity {
  createdAt: string;
  revokedAt: string | null;
}

export interface CreatedApiKey extends ApiKeyInfo {
  /** shown once; only its hash is stored */
  secret: string;
}

interface ApiKeyRow {
  id: string;
  name: string;
  scopes: ApiScope[];
  secret_hash: Buffer;
  created_at: Date;
  revoked_at: Date | null;
}

/**
 * SHA-256 of the secret. A slow password hash (bcrypt, scrypt) protects low-entropy secrets people choose; these
 * are 256 random bits, out of reach of brute force however fast the hash, and a fast one keeps verifying a key
 * to microseconds on every request.
 */
export function hashApiKeySecret(secret: string): string {
  return createHash('sha256').update(secret, 'utf8').digest('hex');
}

const toInfo = (row: ApiKeyRow): ApiKeyInfo => ({
  id: row.id,
  name: row.name,
  scopes: row.scopes,
  createdAt: row.created_at.toISOString(),
  revokedAt: row.revoked_at?.toISOString() ?? null,
});

/** Creates a key with a fresh random secret and stores only the secret's hash. */
export async function createApiKey(
  db: Queryable,
  key: { name: string; scopes: readonly ApiScope[] },
): Promise<CreatedApiKey> {
  const id = `key_${randomBytes(8).toString('hex')}`;
  const secret = `${API_KEY_SECRET_PREFIX}${randomBytes(32).toString('base64url')}`;
  const { rows } = await db.query<ApiKeyRow>(
    `INSERT INTO api_keys (id, name, scopes, secret_hash) VALUES ($1, $2, $3, $4) RETURNING *`,
    [id, key.name, [...new Set(key.scopes)], Buffer.from(hashApiKeySecret(secret), 'hex')],
  );
  return { ...toInfo(rows[0]!), secret };
}

/** Every key, revoked ones included, oldest first. */
export async function listApiKeys(db: Queryable): Promise<ApiKeyInfo[]> {
  const { rows } = await db.query<ApiKeyRow>('SELECT * FROM api_keys ORDER BY created_at, id');
  return rows.map(toInfo);
}

/** The keys that may be used now, with their secrets' hashes, for a serving process's key table. */
export async function listActiveApiKeys(db: Queryable): Promise<ActiveApiKey[]> {
  const { rows } = await db.query<ApiKeyRow>('SELECT * FROM api_keys WHERE revoked_at IS NULL ORDER BY id');
  return rows.map((row) => ({
    id: row.id,
    name: row.name,
    scopes: row.scopes,
    secretHash: row.secret_hash.toString('hex'),
  }));
}

export type RevokeOutcome = 'revoked' | 'already-revoked' | 'not-found';

/** Marks a key revoked; serving processes drop it at their next key-table refresh. */
export async function revokeApiKey(db: Queryable, id: string): Promise<RevokeOutcome> {
  const { rows } = await db.query<{ newly: boolean }>(
    `UPDATE api_keys SET revoked_at = coalesce(revoked_at, now()) WHERE id = $1
     RETURNING revoked_at = now() AS newly`,
    [id],
  );
  if (rows.length === 0) return 'not-found';
  return rows[0]!.newly ? 'revoked' : 'already-revoked';
}

/** What a serving process needs to verify keys: the active keys, and the hash their secrets are stored under. */
export const apiKeySource = (db: Queryable) => ({
  listActive: () => listActiveApiKeys(db),
  hashSecret: hashApiKeySecret,
});
