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
 * The registry is a sorted set of replica ids scored by when their heartbeat
 * expires: a replica that stops (or is killed) drops out of it after its
 * short heartbeat TTL, long before its leases expire, and a clean shutdown
 * withdraws it at once. That is how other replicas know an owner is dead
 * while its leases still stand (see actors/replica-router.ts).
 *
 * Every operation is one script, atomic on the server; keys as in
 * src/redis/keys.ts.
 */
import type { Redis } from 'ioredis';
import {
  commandConnection,
  connectWithin,
  quitConnection,
  toTransportError,
  type ConnectionSettings,
} from '../redis/connection.js';
import { DEFAULT_STORE_PREFIX, RedisStoreKeys } from '../redis/keys.js';
import { evalScript } from '../redis/scripts.js';

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

/**
 * Liveness is judged on Redis's clock, not the replicas': with a heartbeat of
 * a few seconds, hosts whose clocks disagree by that much would otherwise
 * see each other dead (or a dead one alive).
 */
const redisNow = `
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)`;

/** KEYS: replicas. ARGV: replica id, ttl ms. Registers the replica until now+ttl; returns the live count. */
const heartbeatScript = `${redisNow}
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
return redis.call('ZCARD', KEYS[1])`;

/** KEYS: replicas. The replicas whose heartbeat has not expired. */
const liveScript = `${redisNow}
return redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. now, '+inf')`;

/**
 * KEYS: lease, replicas. The lease's owner, whether its heartbeat is fresh
 * (1/0) and the lease's remaining ms; an empty reply when nobody holds it.
 */
const locateScript = `
local owner = redis.call('HGET', KEYS[1], 'owner')
if not owner then return {} end${redisNow}
local expires = redis.call('ZSCORE', KEYS[2], owner)
local alive = 0
if expires and tonumber(expires) > now then alive = 1 end
return {owner, alive, redis.call('PTTL', KEYS[1])}`;

/** Where a lease stands: who holds it, whether that replica is alive, and when the lease expires if not renewed. */
export interface LeaseHolder {
  owner: string;
  /** The owner's heartbeat is fresh (see `heartbeat`). */
  alive: boolean;
  /** Milliseconds until the lease expires unless its owner renews it. */
  expiresInMs: number;
}

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
    const redis = commandConnection(settings, `${prefix}leases:${process.pid}`, 'leases');
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
      evalScript(this.redis, acquireScript, 2, this.keys.lease(name), this.keys.leaseToken(name), owner, String(ttlMs)),
    );
    return typeof token === 'number' && token > 0 ? token : undefined;
  }

  /** Whether the lease is still this holder's; extends it by `ttlMs` when it is. */
  async renew(name: string, owner: string, token: number, ttlMs: number): Promise<boolean> {
    const renewed = await this.run('lease renew', () =>
      evalScript(this.redis, renewScript, 1, this.keys.lease(name), owner, String(token), String(ttlMs)),
    );
    return renewed === 1;
  }

  async release(name: string, owner: string, token: number): Promise<void> {
    await this.run('lease release', () => evalScript(this.redis, releaseScript, 1, this.keys.lease(name), owner, String(token)));
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

  /** The lease's holder and whether it is alive, in one step; undefined when the lease is free. */
  async holder(name: string): Promise<LeaseHolder | undefined> {
    const reply = await this.run('lease holder', () => evalScript(this.redis, locateScript, 2, this.keys.lease(name), this.keys.replicas()));
    if (!Array.isArray(reply) || reply.length !== 3) return undefined;
    const [owner, alive, pttl] = reply as unknown[];
    if (typeof owner !== 'string' || typeof alive !== 'number' || typeof pttl !== 'number') return undefined;
    // PTTL is negative only for a lease without expiry, which this module never writes; treat it as expired.
    return { owner, alive: alive === 1, expiresInMs: Math.max(0, pttl) };
  }

  /** Registers `replicaId` as alive for `ttlMs` (on Redis's clock); returns how many replicas are alive. */
  async heartbeat(replicaId: string, ttlMs: number): Promise<number> {
    const live = await this.run('replica heartbeat', () =>
      evalScript(this.redis, heartbeatScript, 1, this.keys.replicas(), replicaId, String(ttlMs)),
    );
    return typeof live === 'number' ? live : 1;
  }

  /** The replicas whose heartbeat has not expired. */
  async liveReplicas(): Promise<string[]> {
    const live = await this.run('replicas', () => evalScript(this.redis, liveScript, 1, this.keys.replicas()));
    return Array.isArray(live) ? live.filter((id): id is string => typeof id === 'string') : [];
  }

  async withdraw(replicaId: string): Promise<void> {
    await this.run('replica withdraw', () => this.redis.zrem(this.keys.replicas(), replicaId));
  }

  close(): Promise<void> {
    return quitConnection(this.redis);
  }
}
