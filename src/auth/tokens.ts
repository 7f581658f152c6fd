/**
 * API tokens: what they look like, how they are hashed and named, and the
 * store interface both implementations (a file in the data dir, Redis) keep.
 * Pure: no I/O.
 *
 * A token is `draas_` + 32 random bytes in base64url (256 bits), shown once
 * when it is made. Stores keep only its SHA-256: with that much entropy a
 * fast hash is enough (nothing to brute-force), and a leaked store gives no
 * working token. Comparison is constant-time.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { z } from 'zod';
import { roles, type Role } from '../http/operations.js';

export const TOKEN_PREFIX = 'draas_';

/** What a store keeps of a token: never the token itself. */
export interface TokenRecord {
  name: string;
  role: Role;
  /** base64url SHA-256 of the token. */
  hash: string;
  createdAt: string;
}

/** What `list` shows: no hash either. */
export type TokenInfo = Omit<TokenRecord, 'hash'>;

/** Who a verified token belongs to. */
export interface TokenIdentity {
  name: string;
  role: Role;
}

export interface TokenStore {
  /** Makes a token, stores its hash, returns it (the only time it is seen). Throws TokenStoreError on a taken name. */
  add(name: string, role: Role): Promise<{ token: string; info: TokenInfo }>;
  list(): Promise<TokenInfo[]>;
  /** Throws TokenStoreError when no token has that name. */
  revoke(name: string): Promise<void>;
  /** The token's owner, or undefined for an unknown (or revoked) token. Sees a revocation at once or within its documented bound. */
  verify(token: string): Promise<TokenIdentity | undefined>;
  close(): Promise<void>;
}

/** A refused token operation (a taken or unknown name, a bad role): a readable message for the CLI. */
export class TokenStoreError extends Error {
  override name = 'TokenStoreError';
}

const namePattern = /^[A-Za-z0-9][A-Za-z0-9_.@-]{0,62}$/;

/** Throws TokenStoreError unless `name` is 1–63 letters, digits, `_ . @ -`, starting with a letter or digit. */
export function checkTokenName(name: string): string {
  if (!namePattern.test(name)) {
    throw new TokenStoreError(`a token name is 1-63 letters, digits, "_", ".", "@" or "-", starting with a letter or digit; got ${JSON.stringify(name)}`);
  }
  return name;
}

export function checkRole(role: string): Role {
  if (!(roles as readonly string[]).includes(role)) throw new TokenStoreError(`unknown role ${JSON.stringify(role)}; the roles are ${roles.join(', ')}`);
  return role as Role;
}

export function newToken(): string {
  return TOKEN_PREFIX + randomBytes(32).toString('base64url');
}

export function hashToken(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('base64url');
}

/** Whether `token` could be one of ours: cheap to refuse garbage before hashing or a store lookup. */
export function looksLikeToken(token: string): boolean {
  return token.startsWith(TOKEN_PREFIX) && token.length === TOKEN_PREFIX.length + 43 && /^[A-Za-z0-9_-]+$/.test(token.slice(TOKEN_PREFIX.length));
}

/** Constant-time equality of two hashes (base64url of 32 bytes). */
export function sameHash(a: string, b: string): boolean {
  const left = Buffer.from(a, 'base64url');
  const right = Buffer.from(b, 'base64url');
  return left.length === right.length && timingSafeEqual(left, right);
}

/** Finds the record of `token` among `records`, comparing every hash in constant time. */
export function findToken(records: Iterable<TokenRecord>, token: string): TokenRecord | undefined {
  if (!looksLikeToken(token)) return undefined;
  const hash = hashToken(token);
  let found: TokenRecord | undefined;
  for (const record of records) if (sameHash(record.hash, hash) && found === undefined) found = record;
  return found;
}

export function tokenInfo(record: TokenRecord): TokenInfo {
  return { name: record.name, role: record.role, createdAt: record.createdAt };
}

const tokenRecordSchema = z.object({
  name: z.string().regex(namePattern),
  role: z.enum(roles),
  hash: z.string().refine((hash) => Buffer.from(hash, 'base64url').length === 32, 'a base64url SHA-256'),
  createdAt: z.string(),
});

/** A stored record read back; undefined when it is not one (skipped, never fatal). */
export function parseTokenRecord(value: unknown): TokenRecord | undefined {
  const parsed = tokenRecordSchema.safeParse(value);
  return parsed.success ? parsed.data : undefined;
}
