/**
 * Cluster mode's tokens, in the Redis every replica shares (keys: RedisAuthKeys
 * in src/redis/keys.ts). Every verification looks the token up (one script,
 * one round trip), so a revocation takes effect on every replica at once;
 * no cache can hold a revoked token. Adds and revocations are scripts too:
 * the record and its hash index change together or not at all.
 */
import type { Redis } from 'ioredis';
import { commandConnection, connectWithin, quitConnection, toTransportError, type ConnectionSettings } from '../redis/connection.js';
import { DEFAULT_PREFIX, RedisAuthKeys } from '../redis/keys.js';
import type { Role } from '../http/operations.js';
import { checkRole, checkTokenName, hashToken, looksLikeToken, newToken, parseTokenRecord, sameHash, tokenInfo, TokenStoreError, type TokenIdentity, type TokenInfo, type TokenRecord, type TokenStore } from './tokens.js';
import { evalScript } from '../redis/scripts.js';

/** KEYS: tokens, hashes. ARGV: name, hash, record JSON. 0 when the name is taken. */
const ADD = `
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
redis.call('HSET', KEYS[2], ARGV[2], ARGV[1])
return 1`;

/** KEYS: tokens, hashes. ARGV: name. 0 when there is no such token. */
const REVOKE = `
local value = redis.call('HGET', KEYS[1], ARGV[1])
if not value then return 0 end
local hash = cjson.decode(value)['hash']
if hash then redis.call('HDEL', KEYS[2], hash) end
redis.call('HDEL', KEYS[1], ARGV[1])
return 1`;

/** KEYS: tokens, hashes. ARGV: hash. The record JSON, or nil. */
const LOOKUP = `
local name = redis.call('HGET', KEYS[2], ARGV[1])
if not name then return false end
return redis.call('HGET', KEYS[1], name)`;

export interface RedisTokenStoreOptions {
  /** `redis://[user:password@]host:port[/db]` or `rediss://…` */
  url: string;
  prefix?: string;
  connectTimeoutMs?: number;
  now?: () => number;
}

export class RedisTokenStore implements TokenStore {
  private readonly keys: RedisAuthKeys;

  private constructor(
    private readonly redis: Redis,
    private readonly url: string,
    prefix: string,
    private readonly now: () => number,
  ) {
    this.keys = new RedisAuthKeys(prefix);
  }

  /** Connects (within connectTimeoutMs, default 5 s; wrong credentials fail at once). */
  static async open(options: RedisTokenStoreOptions): Promise<RedisTokenStore> {
    const prefix = options.prefix ?? DEFAULT_PREFIX;
    const settings: ConnectionSettings = { url: options.url, connectTimeoutMs: options.connectTimeoutMs ?? 5_000, reconnect: { initialMs: 200, maxMs: 5_000 } };
    const redis = commandConnection(settings, `${prefix}auth:${process.pid}`, 'auth');
    await connectWithin(redis, options.url, settings.connectTimeoutMs);
    return new RedisTokenStore(redis, options.url, prefix, options.now ?? Date.now);
  }

  async add(name: string, role: Role): Promise<{ token: string; info: TokenInfo }> {
    checkTokenName(name);
    checkRole(role);
    const token = newToken();
    const record: TokenRecord = { name, role, hash: hashToken(token), createdAt: new Date(this.now()).toISOString() };
    const added = await this.run('add a token', () => evalScript(this.redis, ADD, 2, this.keys.tokens(), this.keys.tokenHashes(), name, record.hash, JSON.stringify(record)));
    if (added !== 1) throw new TokenStoreError(`a token named "${name}" exists; revoke it first or choose another name`);
    return { token, info: tokenInfo(record) };
  }

  async list(): Promise<TokenInfo[]> {
    const all = await this.run('list tokens', () => this.redis.hgetall(this.keys.tokens()));
    return Object.values(all)
      .map((value) => parseTokenRecord(parseJson(value)))
      .filter((record): record is TokenRecord => record !== undefined)
      .map(tokenInfo)
      .sort((a, b) => a.name.localeCompare(b.name));
  }

  async revoke(name: string): Promise<void> {
    const revoked = await this.run('revoke a token', () => evalScript(this.redis, REVOKE, 2, this.keys.tokens(), this.keys.tokenHashes(), name));
    if (revoked !== 1) throw new TokenStoreError(`no token named ${JSON.stringify(name)}`);
  }

  async verify(token: string): Promise<TokenIdentity | undefined> {
    if (!looksLikeToken(token)) return undefined;
    const hash = hashToken(token);
    const value = await this.run('verify a token', () => evalScript(this.redis, LOOKUP, 2, this.keys.tokens(), this.keys.tokenHashes(), hash));
    const record = typeof value === 'string' ? parseTokenRecord(parseJson(value)) : undefined;
    // The index led here; the record's own hash must match too (constant-time).
    return record !== undefined && sameHash(record.hash, hash) ? { name: record.name, role: record.role } : undefined;
  }

  async close(): Promise<void> {
    await quitConnection(this.redis);
  }

  private async run<T>(what: string, send: () => Promise<T>): Promise<T> {
    try {
      return await send();
    } catch (error) {
      throw toTransportError(error, this.url, what);
    }
  }
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
