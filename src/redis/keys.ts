/**
 * Every Redis key name DRaaS uses — the transport's (`RedisKeys`) and the
 * store's (`RedisStoreKeys`) — built in this one module from a configurable
 * prefix (default `draas:`).

 * The transport's keys: every Redis key and consumer-group name the Redis transport uses, built in
 * one place from a configurable prefix (default `draas:`). Each family has its
 * own segment, so a queue, topic, node or platform name can never collide with
 * a key of another family.
 *
 * | key | type | holds |
 * |---|---|---|
 * | `<p>queue:<queue>` | stream + group `workers` | pending commands of one queue |
 * | `<p>queue-errors:<queue>` | hash entryId → JSON | last handler crash of each pending command |
 * | `<p>dead-letter:<queue>` | stream | commands that exhausted their deliveries |
 * | `<p>replies:<nodeId>` | stream, expires | replies for the requests of one transport |
 * | `<p>events:<topic>` | capped stream | events of one topic |
 * | `<p>workers:<platform>:<workerId>` | string JSON, PX ttl | one worker's presence |
 * | `<p>worker-index:<platform>` | set of workerIds | which presence keys to read |
 * | `<p>worker-platforms` | set of platforms | which indexes exist |
 */
export const DEFAULT_PREFIX = 'draas:';

/** The single consumer group of every command stream. */
export const COMMAND_GROUP = 'workers';

export class RedisKeys {
  constructor(readonly prefix: string = DEFAULT_PREFIX) {}

  commandStream(queue: string): string {
    return `${this.prefix}queue:${queue}`;
  }

  commandErrors(queue: string): string {
    return `${this.prefix}queue-errors:${queue}`;
  }

  deadLetter(queue: string): string {
    return `${this.prefix}dead-letter:${queue}`;
  }

  replies(nodeId: string): string {
    return `${this.prefix}replies:${nodeId}`;
  }

  events(topic: string): string {
    return `${this.prefix}events:${topic}`;
  }

  worker(platform: string, workerId: string): string {
    return `${this.prefix}workers:${platform}:${workerId}`;
  }

  workerIndex(platform: string): string {
    return `${this.prefix}worker-index:${platform}`;
  }

  workerPlatforms(): string {
    return `${this.prefix}worker-platforms`;
  }
}

/**
 * The Redis keys of `RedisInstanceStore` (redis-store.ts), built from the same
 * configurable prefix as the transport's keys (default `draas:`). Every key
 * lives under its own `store:` segment, so it can never collide with a key of
 * the transport (`queue:`, `events:`, `workers:`, … above).
 *
 * | key | type | holds |
 * |---|---|---|
 * | `<p>store:records` | hash id → JSON | one InstanceRecord per instance |
 * | `<p>store:snapshots` | hash id → JSON | one PersistedInstanceSnapshot per instance (only ids with a record) |
 * | `<p>store:changes` | stream, `MAXLEN ~ limit` | the recent-changes log: fields `seq`, `change` (JSON without `sequence`) |
 * | `<p>store:change-seq` | string counter (INCR) | the last sequence number handed out |
 * | `<p>store:lease:<name>` | hash, with a TTL | a lease: `owner` (replica id) and `token` (its fencing token) |
 * | `<p>store:lease-token:<name>` | string counter (INCR) | the last fencing token handed out for the lease; never reset |
 * | `<p>store:replicas` | sorted set replica id → expiry (epoch ms) | the control-plane replicas alive |
 * | `<p>store:idempotency:<hash>` | string JSON, PX ttl | a request's Idempotency-Key: in flight, or its answer |
 */
export const DEFAULT_STORE_PREFIX = DEFAULT_PREFIX;

export class RedisStoreKeys {
  constructor(readonly prefix: string = DEFAULT_STORE_PREFIX) {}

  records(): string {
    return `${this.prefix}store:records`;
  }

  snapshots(): string {
    return `${this.prefix}store:snapshots`;
  }

  changes(): string {
    return `${this.prefix}store:changes`;
  }

  changeSequence(): string {
    return `${this.prefix}store:change-seq`;
  }

  lease(name: string): string {
    return `${this.prefix}store:lease:${name}`;
  }

  leaseToken(name: string): string {
    return `${this.prefix}store:lease-token:${name}`;
  }

  replicas(): string {
    return `${this.prefix}store:replicas`;
  }

  /** `key` is the HTTP layer's scoped key, hashed: callers choose its text. */
  idempotency(key: string): string {
    return `${this.prefix}store:idempotency:${key}`;
  }
}

/**
 * The Redis keys of authentication (src/auth/), under their own `auth:`
 * segment of the same prefix.
 *
 * | key | type | holds |
 * |---|---|---|
 * | `<p>auth:tokens` | hash name → JSON | one token record (name, role, SHA-256 of the token, createdAt) |
 * | `<p>auth:token-hashes` | hash SHA-256 → name | the index a verification looks a token up by |
 * | `<p>auth:audit` | capped stream | the audit log: one JSON entry per request to a mutation |
 */
export class RedisAuthKeys {
  constructor(readonly prefix: string = DEFAULT_PREFIX) {}

  tokens(): string {
    return `${this.prefix}auth:tokens`;
  }

  tokenHashes(): string {
    return `${this.prefix}auth:token-hashes`;
  }

  audit(): string {
    return `${this.prefix}auth:audit`;
  }
}
