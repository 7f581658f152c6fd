/**
 * Which control-plane replica acts for which instance. Instances are hashed
 * into shards; a replica acts for an instance only while it owns the
 * instance's shard. Embedded mode and a lone cluster control plane own
 * everything (`SoleOwnership`); replicas sharing one Redis hold renewed
 * leases per shard (`LeasedOwnership`, leased-ownership.ts).
 *
 * Shards rather than a lease per instance: renewing a handful of leases costs
 * the same whatever the fleet's size, and a takeover moves whole shards.
 */
import type { WriteFence } from '../store/instance-store.js';
import type { Closeable } from '../transport/transport.js';

export interface OwnershipListener {
  /** The replica now owns these shards: load and act for their instances. Awaited before requests for them are served. */
  gained(shards: readonly number[]): Promise<void>;
  /** The replica no longer owns these shards (or is about to release them): stop acting for their instances. */
  lost(shards: readonly number[]): Promise<void>;
}

export interface Ownership extends Closeable {
  /** This replica's id. */
  readonly replicaId: string;
  readonly shardCount: number;
  /** Whether other replicas share the fleet (requests may have to be forwarded to them). */
  readonly shared: boolean;
  shardOf(instanceId: string): number;
  /** Whether this replica may act for the instance now (its lease is held and not expired locally). */
  owns(instanceId: string): boolean;
  /** The fence this replica's store writes for the instance carry (undefined: unfenced). */
  fence(instanceId: string): WriteFence | undefined;
  /** Who owns the instance now (by the lease table), whether that replica is alive, and when a retry may succeed. */
  locate(instanceId: string): Promise<OwnerLocation>;
  /** The replicas alive now (a fresh heartbeat). */
  liveReplicas(): Promise<string[]>;
  /** Who owns which shard now, and which replicas are alive (from the lease table). */
  describe(): Promise<OwnershipView>;
  /** Starts taking ownership; resolves after the first round (the shards gained then are loaded). */
  start(listener: OwnershipListener): Promise<void>;
}

/** Where an instance's owner stands, as a replica routing a request to it sees it. */
export interface OwnerLocation {
  /** The replica holding the lease of the instance's shard; undefined while nobody does (a takeover is under way). */
  owner?: string;
  /** Whether the owner's heartbeat is fresh. A dead owner's lease still stands until it expires, but nothing answers for it. */
  alive: boolean;
  /**
   * When a retry may find a live owner, in ms: for a dead owner, until its
   * lease expires plus a takeover round; while nobody owns the shard, a round.
   */
  retryAfterMs: number;
}

export interface OwnershipView {
  /** The replica answering. */
  replicaId: string;
  shardCount: number;
  /**
   * Replicas with a fresh heartbeat, and replicas that still hold leases
   * after their heartbeat stopped (`alive: false`: died, leases not expired
   * yet), each with the shards whose lease it holds.
   */
  replicas: { replicaId: string; alive: boolean; shards: number[] }[];
  /** Shards no replica holds right now (a takeover is under way). */
  unowned: number[];
}

/** Groups per-shard owners into the view. Pure. */
export function ownershipView(replicaId: string, owners: readonly (string | undefined)[], live: readonly string[]): OwnershipView {
  const shards = new Map<string, number[]>(live.map((id) => [id, []]));
  const unowned: number[] = [];
  owners.forEach((owner, shard) => {
    if (owner === undefined) unowned.push(shard);
    else shards.set(owner, [...(shards.get(owner) ?? []), shard]);
  });
  return {
    replicaId,
    shardCount: owners.length,
    replicas: [...shards]
      .map(([id, held]) => ({ replicaId: id, alive: live.includes(id), shards: held }))
      .sort((a, b) => a.replicaId.localeCompare(b.replicaId)),
    unowned,
  };
}

/** FNV-1a (32 bit) of the id, modulo the shard count: stable across processes and versions. */
export function shardOf(instanceId: string, shardCount: number): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < instanceId.length; i++) {
    hash ^= instanceId.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash % shardCount;
}

/** The name of a shard's lease in the store. */
export function shardLease(shard: number): string {
  return `shard-${shard}`;
}

/** One replica, alone: owns every instance, writes unfenced. */
export class SoleOwnership implements Ownership {
  readonly shardCount = 1;
  readonly shared = false;

  constructor(readonly replicaId = 'embedded') {}

  shardOf(): number {
    return 0;
  }

  owns(): boolean {
    return true;
  }

  fence(): undefined {
    return undefined;
  }

  async locate(): Promise<OwnerLocation> {
    return { owner: this.replicaId, alive: true, retryAfterMs: 0 };
  }

  async liveReplicas(): Promise<string[]> {
    return [this.replicaId];
  }

  async describe(): Promise<OwnershipView> {
    return ownershipView(this.replicaId, [this.replicaId], [this.replicaId]);
  }

  async start(listener: OwnershipListener): Promise<void> {
    await listener.gained([0]);
  }

  async close(): Promise<void> {}
}

export interface LeasePlan {
  /** How many more shards to try to acquire. */
  acquire: number;
  /** Held shards to hand back, so that a replica that joined gets its share. */
  release: number[];
}

/**
 * Each of `liveReplicas` replicas aims at its fair share, rounded up, so the
 * shards are always covered; a replica above its share hands back the
 * surplus (its highest shards, a stable choice) for the newcomer to take.
 */
export function planLeases(held: readonly number[], shardCount: number, liveReplicas: number): LeasePlan {
  const share = Math.ceil(shardCount / Math.max(1, liveReplicas));
  if (held.length > share) {
    return { acquire: 0, release: [...held].sort((a, b) => b - a).slice(0, held.length - share) };
  }
  return { acquire: share - held.length, release: [] };
}
