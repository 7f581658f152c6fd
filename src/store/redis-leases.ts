/**
 * Leases and the replica registry in Redis, for several control-plane
 * replicas on one Redis (see actors/leased-ownership.ts for how they are used).
 *
 * A lease is a hash `store:lease:<name>` {owner, token} with a TTL. Acquiring
 * takes a new fencing token from `store:lease-token:<name>` (INCR, never
 * reset), so every holder of a lease, ever, has a larger token than the one
 * before; the store's fenced writes compare against the hash's token. Expiry
 * is Redis's own key TTL: a replica that stops renewing loses the lease
 * without anybody having to notice it died.
 *
 * Every operation is one script, atomic on the server; keys as in
 * redis-store-keys.ts.
 */
import type { Redis } from 'ioredis';
import {
  commandConnection,
  connectWithin,
  quitConnection,
  toTransportError,
  type ConnectionSettings,
} from '../transport/redis-connection.js';
import { DEFAULT_STORE_PREFIX, RedisStoreKeys } from './redis-store-keys.js';

export interface RedisLeasesOptions {
  url: string;
  prefix?: string;
  connectTimeoutMs?: number;
}

/**
 * KEYS: lease, token counter. ARGV: owner, ttl ms. Free, or already this
 * owner's (a restarted replica with a stable id): a new token. Otherwise 0.
 */
const acquireScript = `
local owner = redis.call('HGET', KEYS[1], 'owner')
if owner and owner ~= ARGV[1] then return 0 end
local token = redis.call('INCR', KEYS[2])
redis.call('HSET', KEYS[1], 'owner', ARGV[1], 'token', token)
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return token`;

/** KEYS: lease. ARGV: owner, token, ttl ms. 1 when still held and extended, else 0. */
const renewScript = `
if redis.call('HGET', KEYS[1], 'owner') == ARGV[1] and redis.call('HGET', KEYS[1], 'token') == ARGV[2] then
  redis.call('PEXPIRE', KEYS[1], ARGV[3])
  return 1
end
return 0`;

/** KEYS: lease. ARGV: owner, token. Deletes the lease only while this holder has it. */
const releaseScript = `
if redis.call('HGET', KEYS[1], 'owner') == ARGV[1] and redis.call('HGET', KEYS[1], 'token') == ARGV[2] then
  return redis.call('DEL', KEYS[1])
end
return 0`;

/** KEYS: replicas. ARGV: replica id, now ms, ttl ms. Registers the replica until now+ttl; returns the live count. */
const heartbeatScript = `
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[2])
redis.call('ZADD', KEYS[1], tonumber(ARGV[2]) + tonumber(ARGV[3]), ARGV[1])
return redis.call('ZCARD', KEYS[1])`;

export class RedisLeases {
  readonly keys: RedisStoreKeys;

  private constructor(
    private readonly redis: Redis,
    private readonly url: string,
    prefix: string,
  ) {
    this.keys = new RedisStoreKeys(prefix);
  }

  static async open(options: RedisLeasesOptions): Promise<RedisLeases> {
    const prefix = options.prefix ?? DEFAULT_STORE_PREFIX;
    const settings: ConnectionSettings = {
      url: options.url,
      connectTimeoutMs: options.connectTimeoutMs ?? 5_000,
      reconnect: { initialMs: 200, maxMs: 2_000 },
    };
    const redis = commandConnection(settings, `${prefix}leases:${process.pid}`);
    // Outages are reported by the ownership loop (its renewals fail); without a listener ioredis prints every retry.
    redis.on('error', () => undefined);
    await connectWithin(redis, options.url, settings.connectTimeoutMs);
    return new RedisLeases(redis, options.url, prefix);
  }

  private async run<T>(what: string, send: () => Promise<T>): Promise<T> {
    try {
      return await send();
    } catch (error) {
      throw toTransportError(error, this.url, what);
    }
  }

  /** The new fencing token, or undefined when another owner holds the lease. */
  async acquire(name: string, owner: string, ttlMs: number): Promise<number | undefined> {
    const token = await this.run('lease acquire', () =>
      this.redis.eval(acquireScript, 2, this.keys.lease(name), this.keys.leaseToken(name), owner, String(ttlMs)),
    );
    return typeof token === 'number' && token > 0 ? token : undefined;
  }

  /** Whether the lease is still this holder's; extends it by `ttlMs` when it is. */
  async renew(name: string, owner: string, token: number, ttlMs: number): Promise<boolean> {
    const renewed = await this.run('lease renew', () =>
      this.redis.eval(renewScript, 1, this.keys.lease(name), owner, String(token), String(ttlMs)),
    );
    return renewed === 1;
  }

  async release(name: string, owner: string, token: number): Promise<void> {
    await this.run('lease release', () => this.redis.eval(releaseScript, 1, this.keys.lease(name), owner, String(token)));
  }

  /** The current owner of each lease (undefined: free), in the order asked. */
  async owners(names: readonly string[]): Promise<(string | undefined)[]> {
    if (names.length === 0) return [];
    const pipeline = this.redis.pipeline();
    for (const name of names) pipeline.hget(this.keys.lease(name), 'owner');
    const results = await this.run('lease owners', () => pipeline.exec());
    return (results ?? []).map(([error, owner]) => {
      if (error) throw toTransportError(error, this.url, 'lease owners');
      return typeof owner === 'string' ? owner : undefined;
    });
  }

  /** Registers `replicaId` as alive for `ttlMs`; returns how many replicas are alive. */
  async heartbeat(replicaId: string, nowMs: number, ttlMs: number): Promise<number> {
    const live = await this.run('replica heartbeat', () =>
      this.redis.eval(heartbeatScript, 1, this.keys.replicas(), replicaId, String(nowMs), String(ttlMs)),
    );
    return typeof live === 'number' ? live : 1;
  }

  /** The replicas whose heartbeat has not expired at `nowMs`. */
  async liveReplicas(nowMs: number): Promise<string[]> {
    return this.run('replicas', () => this.redis.zrangebyscore(this.keys.replicas(), `(${nowMs}`, '+inf'));
  }

  async withdraw(replicaId: string): Promise<void> {
    await this.run('replica withdraw', () => this.redis.zrem(this.keys.replicas(), replicaId));
  }

  close(): Promise<void> {
    return quitConnection(this.redis);
  }
}
