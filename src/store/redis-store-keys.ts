/**
 * The Redis keys of `RedisInstanceStore` (redis-store.ts), built from the same
 * configurable prefix as the transport's keys (default `draas:`). Every key
 * lives under its own `store:` segment, so it can never collide with a key of
 * the transport (`queue:`, `events:`, `workers:`, … in transport/redis-keys.ts).
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
 */
import { DEFAULT_PREFIX } from '../transport/redis-keys.js';

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
}
