/**
 * Worker presence on Redis. Each worker's heartbeat is a key
 * `<p>workers:<platform>:<workerId>` holding its JSON, written with
 * `SET … PX ttl`, so Redis itself forgets a worker that stops beating (no
 * clock of any node is compared). A set per platform indexes the keys, so
 * `live()` reads a handful of keys instead of SCANning the keyspace; index
 * members whose key expired are pruned atomically as they are found.
 */
import type { Redis } from 'ioredis';
import { toTransportError } from '../redis/connection.js';
import { execChecked } from '../redis/exec.js';
import { retryRedis } from '../redis/transient.js';
import type { RedisKeys } from '../redis/keys.js';
import { pruneExpiredMembers } from './redis-scripts.js';
import type { PresenceRegistry, WorkerPresence } from './transport.js';

function isWorkerPresence(value: unknown): value is WorkerPresence {
  if (typeof value !== 'object' || value === null) return false;
  const v = value as Record<string, unknown>;
  return (
    typeof v.workerId === 'string' &&
    typeof v.platform === 'string' &&
    typeof v.available === 'boolean' &&
    typeof v.lastSeen === 'string' &&
    typeof v.details === 'object' &&
    v.details !== null
  );
}

function parsePresence(text: string | null): WorkerPresence | undefined {
  if (text === null) return undefined;
  try {
    const value: unknown = JSON.parse(text);
    return isWorkerPresence(value) ? value : undefined;
  } catch {
    return undefined;
  }
}

export class RedisPresence implements PresenceRegistry {
  constructor(
    private readonly redis: Redis,
    private readonly keys: RedisKeys,
    private readonly url: string,
  ) {}

  async announce(presence: Omit<WorkerPresence, 'lastSeen'>, ttlMs: number): Promise<void> {
    const record: WorkerPresence = { ...presence, lastSeen: new Date().toISOString() };
    const ttl = Math.max(1, Math.round(ttlMs));
    try {
      const tx = this.redis.multi();
      tx.set(this.keys.worker(presence.platform, presence.workerId), JSON.stringify(record), 'PX', ttl);
      tx.sadd(this.keys.workerIndex(presence.platform), presence.workerId);
      tx.sadd(this.keys.workerPlatforms(), presence.platform);
      await execChecked(tx);
    } catch (error) {
      throw toTransportError(error, this.url, 'presence announce');
    }
  }

  async withdraw(platform: string, workerId: string): Promise<void> {
    try {
      const tx = this.redis.multi();
      tx.del(this.keys.worker(platform, workerId));
      tx.srem(this.keys.workerIndex(platform), workerId);
      await execChecked(tx);
    } catch (error) {
      throw toTransportError(error, this.url, 'presence withdraw');
    }
  }

  async live(platform?: string): Promise<WorkerPresence[]> {
    try {
      // A read (its pruning of expired members is idempotent): repeated through a short outage.
      return await retryRedis(async () => {
        const platforms = platform === undefined ? (await this.redis.smembers(this.keys.workerPlatforms())).sort() : [platform];
        const result: WorkerPresence[] = [];
        for (const name of platforms) result.push(...(await this.liveOf(name)));
        return result;
      });
    } catch (error) {
      throw toTransportError(error, this.url, 'presence live');
    }
  }

  private async liveOf(platform: string): Promise<WorkerPresence[]> {
    const index = this.keys.workerIndex(platform);
    const workerIds = (await this.redis.smembers(index)).sort();
    if (workerIds.length === 0) return [];
    const members = workerIds.map((member) => ({ member, key: this.keys.worker(platform, member) }));
    const values = await this.redis.mget(members.map((m) => m.key));
    const live: WorkerPresence[] = [];
    const gone: typeof members = [];
    values.forEach((value, i) => {
      const presence = parsePresence(value);
      if (presence) live.push(presence);
      else if (value === null) gone.push(members[i]!);
    });
    if (gone.length > 0) await pruneExpiredMembers(this.redis, index, gone);
    return live;
  }
}
