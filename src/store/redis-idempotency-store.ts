/**
 * The answers of idempotent requests in Redis, shared by every control-plane
 * replica (a client's retry may reach another replica). One string key per
 * Idempotency-Key: `SET NX PX` of an in-flight marker claims it; the answer
 * replaces the marker (only while the claim's token holds it); releasing
 * deletes it (same condition). Both conditions are Lua scripts, so a claim
 * that lapsed and was taken by another request is never overwritten.
 */
import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import { z } from 'zod';
import { commandConnection, connectWithin, quitConnection, toTransportError, type ConnectionSettings } from '../redis/connection.js';
import { DEFAULT_STORE_PREFIX, RedisStoreKeys } from '../redis/keys.js';
import type { ClaimResult, IdempotencyStore, StoredResponse } from './idempotency-store.js';
import { evalScript } from '../redis/scripts.js';

export interface RedisIdempotencyStoreOptions {
  url: string;
  prefix?: string;
  connectTimeoutMs?: number;
}

/** KEYS: key. ARGV: token, value, ttl ms. Replaces the value while the claim `token` holds the key. */
const completeScript = `
local value = redis.call('GET', KEYS[1])
if not value or cjson.decode(value)['token'] ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
return 1`;

/** KEYS: key. ARGV: token. Deletes the key while the claim `token` holds it (and it is not answered). */
const releaseScript = `
local value = redis.call('GET', KEYS[1])
if not value then return 0 end
local entry = cjson.decode(value)
if entry['token'] ~= ARGV[1] or entry['response'] then return 0 end
return redis.call('DEL', KEYS[1])`;

const entrySchema = z.object({
  token: z.string(),
  fingerprint: z.string(),
  response: z.object({ status: z.number().int(), headers: z.record(z.string(), z.string()), body: z.unknown() }).optional(),
});

export class RedisIdempotencyStore implements IdempotencyStore {
  private readonly keys: RedisStoreKeys;
  private closing: Promise<void> | undefined;

  private constructor(
    private readonly redis: Redis,
    private readonly url: string,
    prefix: string,
  ) {
    this.keys = new RedisStoreKeys(prefix);
  }

  static async open(options: RedisIdempotencyStoreOptions): Promise<RedisIdempotencyStore> {
    const prefix = options.prefix ?? DEFAULT_STORE_PREFIX;
    const settings: ConnectionSettings = {
      url: options.url,
      connectTimeoutMs: options.connectTimeoutMs ?? 5_000,
      reconnect: { initialMs: 200, maxMs: 2_000 },
    };
    const redis = commandConnection(settings, `${prefix}idempotency:${process.pid}`, 'idempotency');
    // A request that cannot reach Redis is answered 503 (see run); without a listener ioredis prints every retry.
    redis.on('error', () => undefined);
    await connectWithin(redis, options.url, settings.connectTimeoutMs);
    return new RedisIdempotencyStore(redis, options.url, prefix);
  }

  private async run<T>(what: string, send: () => Promise<T>): Promise<T> {
    try {
      return await send();
    } catch (error) {
      throw toTransportError(error, this.url, what);
    }
  }

  async claim(key: string, fingerprint: string, inFlightTtlMs: number): Promise<ClaimResult> {
    const redisKey = this.keys.idempotency(key);
    for (;;) {
      const token = randomUUID();
      const set = await this.run('idempotency claim', () => this.redis.set(redisKey, JSON.stringify({ token, fingerprint }), 'PX', inFlightTtlMs, 'NX'));
      if (set === 'OK') return { state: 'claimed', token };
      const value = await this.run('idempotency read', () => this.redis.get(redisKey));
      if (value === null) continue; // expired or released between the two commands: claim again
      const entry = entrySchema.parse(JSON.parse(value));
      return entry.response ? { state: 'done', fingerprint: entry.fingerprint, response: entry.response as StoredResponse } : { state: 'in-flight', fingerprint: entry.fingerprint };
    }
  }

  async complete(key: string, token: string, fingerprint: string, response: StoredResponse, ttlMs: number): Promise<void> {
    const value = JSON.stringify({ token, fingerprint, response });
    await this.run('idempotency complete', () => evalScript(this.redis, completeScript, 1, this.keys.idempotency(key), token, value, String(ttlMs)));
  }

  async release(key: string, token: string): Promise<void> {
    await this.run('idempotency release', () => evalScript(this.redis, releaseScript, 1, this.keys.idempotency(key), token));
  }

  close(): Promise<void> {
    this.closing ??= quitConnection(this.redis);
    return this.closing;
  }
}
