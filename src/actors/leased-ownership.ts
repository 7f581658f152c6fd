/**
 * Ownership by leases in Redis, for several control-plane replicas on one
 * Redis. Every `livenessMs / 3` a replica refreshes its heartbeat, which
 * lapses after `livenessMs` (3 s by default, well under the lease): so the
 * others know within seconds that an owner died, while its leases still
 * stand, and answer its instances' requests at once instead of forwarding
 * them into a queue nobody reads (replica-router.ts). A dead owner's leases
 * are not taken early: a replica that is only paused or cut off still trusts
 * its lease until it runs out, and two replicas must never act for one
 * instance. Every `renewEveryMs` a replica:
 *
 * 1. registers itself as alive (the replica count decides each one's share);
 * 2. renews the shard leases it holds; a lease it could not renew (taken,
 *    expired) is lost at once, and one it cannot reach Redis to renew is lost
 *    when its local validity runs out;
 * 3. hands back shards above its fair share (a replica joined), or acquires
 *    free ones up to its share (a replica died and its leases expired).
 *
 * Safety does not rest on clocks agreeing: a replica trusts a lease only
 * until `sent + leaseMs - margin` on its own monotonic clock (`sent` being
 * when it asked for the renewal, so before Redis extended it), and every
 * store write carries the lease's fencing token, which Redis checks in the
 * same step as the write. A paused or partitioned replica that still thinks
 * it owns a shard cannot write over its successor.
 */
import { performance } from 'node:perf_hooks';
import { errorMessage } from '../errors.js';
import { failureOf, within } from '../time-bounds.js';
import type { WriteFence } from '../store/instance-store.js';
import type { RedisLeases } from '../store/redis-leases.js';
import {
  ownershipView,
  planLeases,
  shardLease,
  shardOf,
  type OwnerLocation,
  type Ownership,
  type OwnershipListener,
  type OwnershipView,
} from './ownership.js';
import { type LogOption, type Logger, toLogger } from '../observability/logger.js';

export interface LeasedOwnershipOptions {
  leases: RedisLeases;
  replicaId: string;
  /** Shards the instances are spread over (default 16). Every replica of a cluster must use the same count. */
  shardCount?: number;
  /** How long a lease lasts without renewal (default 10 000 ms): the bound on a takeover after a replica dies. */
  leaseMs?: number;
  /** Renewal interval (default leaseMs / 4). */
  renewEveryMs?: number;
  /**
   * How long a replica counts as alive after its last heartbeat (default
   * min(3 000, leaseMs / 2)); heartbeats come three times as often. The bound
   * on how long requests for a dead owner's instances wait before they are
   * answered 503 `not-owner`.
   */
  livenessMs?: number;
  log?: LogOption;
  /** How long close() waits for Redis to release the leases (default 1 s); unreleased ones expire by themselves. */
  closeTimeoutMs?: number;
}

interface HeldLease {
  token: number;
  /** performance.now() after which this replica no longer trusts the lease. */
  validUntil: number;
}

export class LeasedOwnership implements Ownership {
  readonly replicaId: string;
  readonly shardCount: number;
  readonly shared = true;
  readonly leaseMs: number;
  private readonly renewEveryMs: number;
  private readonly livenessMs: number;
  /** Slack for the time a renewal takes to reach Redis and for clock rate drift. */
  private readonly marginMs: number;
  private readonly leases: RedisLeases;
  private readonly log: Logger;
  private readonly closeTimeoutMs: number;
  private readonly held = new Map<number, HeldLease>();
  /** Every shard's lease name, by shard. */
  private readonly leaseNames: readonly string[];
  private listener: OwnershipListener | undefined;
  private timer: NodeJS.Timeout | undefined;
  private heartbeats: NodeJS.Timeout | undefined;
  private beating = false;
  private round: Promise<void> | undefined;
  private closed = false;
  private closing: Promise<void> | undefined;
  private redisDown = false;

  constructor(options: LeasedOwnershipOptions) {
    this.leases = options.leases;
    this.replicaId = options.replicaId;
    this.shardCount = options.shardCount ?? 16;
    this.leaseMs = options.leaseMs ?? 10_000;
    this.renewEveryMs = options.renewEveryMs ?? Math.max(50, Math.floor(this.leaseMs / 4));
    this.livenessMs = options.livenessMs ?? Math.min(3_000, Math.floor(this.leaseMs / 2));
    this.marginMs = Math.max(20, Math.floor(this.leaseMs / 10));
    this.log = toLogger(options.log);
    this.closeTimeoutMs = options.closeTimeoutMs ?? 1_000;
    if (!Number.isInteger(this.shardCount) || this.shardCount < 1) throw new RangeError('shardCount must be a positive integer');
    this.leaseNames = Array.from({ length: this.shardCount }, (_, shard) => shardLease(shard));
    if (this.renewEveryMs * 2 >= this.leaseMs) throw new RangeError('renewals must come at least twice per lease');
    if (!(this.livenessMs >= 30 && this.livenessMs <= this.leaseMs)) throw new RangeError('livenessMs must be between 30 ms and the lease');
  }

  shardOf(instanceId: string): number {
    return shardOf(instanceId, this.shardCount);
  }

  owns(instanceId: string): boolean {
    const lease = this.held.get(this.shardOf(instanceId));
    return lease !== undefined && performance.now() < lease.validUntil;
  }

  fence(instanceId: string): WriteFence | undefined {
    const shard = this.shardOf(instanceId);
    const lease = this.held.get(shard);
    // A shard this replica does not hold gets a token no lease ever has: the write is refused.
    return { lease: shardLease(shard), token: lease?.token ?? 0 };
  }

  async locate(instanceId: string): Promise<OwnerLocation> {
    const holder = await this.leases.holder(shardLease(this.shardOf(instanceId)));
    // Free: the next round takes it. A dead owner's lease must run out first, then a round takes it.
    if (!holder) return { alive: false, retryAfterMs: this.renewEveryMs };
    return { owner: holder.owner, alive: holder.alive, retryAfterMs: holder.alive ? 0 : holder.expiresInMs + this.renewEveryMs };
  }

  liveReplicas(): Promise<string[]> {
    return this.leases.liveReplicas();
  }

  async describe(): Promise<OwnershipView> {
    const [owners, live] = await Promise.all([this.leases.owners(this.leaseNames), this.leases.liveReplicas()]);
    return ownershipView(this.replicaId, owners, live);
  }

  /** The shards held now, ascending. */
  heldShards(): number[] {
    return [...this.held.keys()].sort((a, b) => a - b);
  }

  async start(listener: OwnershipListener): Promise<void> {
    this.listener = listener;
    this.heartbeats = setInterval(() => void this.beat(), Math.max(10, Math.floor(this.livenessMs / 3)));
    this.heartbeats.unref();
    await this.runRound();
  }

  /** The heartbeat between rounds: a round may take long (loading a gained shard), and must not make this replica look dead. */
  private async beat(): Promise<void> {
    if (this.beating || this.closed) return;
    this.beating = true;
    try {
      await this.leases.heartbeat(this.replicaId, this.livenessMs);
    } catch {
      // Reported by the rounds, whose renewals fail the same way.
    } finally {
      this.beating = false;
    }
  }

  private schedule(): void {
    if (this.closed) return;
    this.timer = setTimeout(() => void this.runRound(), this.renewEveryMs);
    this.timer.unref();
  }

  private runRound(): Promise<void> {
    this.round = this.tick()
      .catch((error: unknown) => this.log.error(`ownership: ${errorMessage(error)}`))
      .finally(() => this.schedule());
    return this.round;
  }

  private async tick(): Promise<void> {
    const listener = this.listener;
    if (this.closed || !listener) return;
    const sent = performance.now();
    let live: number;
    try {
      live = await this.leases.heartbeat(this.replicaId, this.livenessMs);
      // A round that close() stopped waiting for: it must not renew or take leases nobody will hold.
      if (this.closed) return;
      if (this.redisDown) this.log.info('ownership: Redis reachable again');
      this.redisDown = false;
    } catch (error) {
      if (this.closed) return;
      if (!this.redisDown) this.log.warn(`ownership: cannot renew leases: ${errorMessage(error)}`);
      this.redisDown = true;
      await this.dropExpired(listener, performance.now());
      return;
    }

    const lost: number[] = [];
    await Promise.all(
      [...this.held].map(async ([shard, lease]) => {
        try {
          if (await this.leases.renew(shardLease(shard), this.replicaId, lease.token, this.leaseMs)) {
            lease.validUntil = sent + this.leaseMs - this.marginMs;
          } else {
            lost.push(shard);
          }
        } catch {
          if (performance.now() >= lease.validUntil) lost.push(shard);
        }
      }),
    );
    if (lost.length > 0) {
      this.log.warn(`ownership: lost shard(s) ${lost.sort((a, b) => a - b).join(', ')}`, { shards: lost });
      for (const shard of lost) this.held.delete(shard);
      await listener.lost(lost);
    }

    const plan = planLeases(this.heldShards(), this.shardCount, live);
    if (plan.release.length > 0) await this.handBack(listener, plan.release);
    if (plan.acquire > 0) await this.acquire(listener, plan.acquire, sent);
  }

  private async dropExpired(listener: OwnershipListener, now: number): Promise<void> {
    const expired = [...this.held].filter(([, lease]) => now >= lease.validUntil).map(([shard]) => shard);
    if (expired.length === 0) return;
    this.log.warn(`ownership: lease(s) of shard(s) ${expired.join(', ')} expired while Redis was unreachable`, { shards: expired });
    for (const shard of expired) this.held.delete(shard);
    await listener.lost(expired);
  }

  /** Stops acting for the shards first, then releases them so another replica can take them at once. */
  private async handBack(listener: OwnershipListener, shards: number[]): Promise<void> {
    const leases = shards.map((shard) => [shard, this.held.get(shard)] as const);
    for (const shard of shards) this.held.delete(shard);
    await listener.lost(shards);
    await Promise.all(
      leases.map(([shard, lease]) => (lease ? this.leases.release(shardLease(shard), this.replicaId, lease.token) : undefined)),
    );
    this.log.info(`ownership: handed back shard(s) ${shards.join(', ')}`, { shards });
  }

  private async acquire(listener: OwnershipListener, wanted: number, sent: number): Promise<void> {
    const owners = await this.leases.owners(this.leaseNames);
    // Free shards, and this replica's own from before a restart; in random order so that replicas starting together spread out.
    const candidates = owners
      .map((owner, shard) => ({ owner, shard }))
      .filter(({ owner, shard }) => !this.held.has(shard) && (owner === undefined || owner === this.replicaId))
      .map(({ shard }) => shard)
      .sort(() => Math.random() - 0.5);
    const acquired = new Map<number, HeldLease>();
    let failure: unknown;
    try {
      for (const shard of candidates) {
        if (acquired.size >= wanted) break;
        const token = await this.leases.acquire(shardLease(shard), this.replicaId, this.leaseMs);
        if (token !== undefined) acquired.set(shard, { token, validUntil: sent + this.leaseMs - this.marginMs });
      }
    } catch (error) {
      failure = error; // what was acquired before is still loaded (else it would sit held and empty until it is lost)
    }
    const gained = [...acquired.keys()].sort((a, b) => a - b);
    if (gained.length > 0) {
      // Held from here on, in the same step as `gained` starts loading them: a request routed here in
      // between would find the shard owned but its instances not loaded yet (a 404 instead of a wait).
      for (const [shard, lease] of acquired) this.held.set(shard, lease);
      this.log.info(`ownership: acquired shard(s) ${gained.join(', ')}`, { shards: gained });
      try {
        await listener.gained(gained);
      } catch (error) {
        // Holding a shard whose instances could not be loaded would answer 404 for them: give it back, try again later.
        this.log.error(`ownership: could not load shard(s) ${gained.join(', ')}: ${errorMessage(error)}; handing them back`, { shards: gained });
        await this.handBack(listener, gained);
      }
    }
    if (failure !== undefined) throw failure;
  }

  /**
   * Stops renewing, releases every lease and withdraws this replica, waiting
   * for Redis at most `closeTimeoutMs`: leases it does not release are logged
   * and left to expire (another replica takes them over then). Idempotent: a
   * second call waits for the first.
   */
  close(): Promise<void> {
    this.closing ??= this.releaseAll();
    return this.closing;
  }

  private async releaseAll(): Promise<void> {
    this.closed = true;
    clearTimeout(this.timer);
    clearInterval(this.heartbeats);
    const began = performance.now();
    const left = () => Math.max(0, this.closeTimeoutMs - (performance.now() - began));
    await within(this.round ?? Promise.resolve(), left());
    const leases = [...this.held];
    this.held.clear();
    const releases = leases.map(([shard, lease]) =>
      within(this.leases.release(shardLease(shard), this.replicaId, lease.token), left()).then((outcome) => ({ shard, why: failureOf(outcome, this.closeTimeoutMs) })),
    );
    const [released] = await Promise.all([Promise.all(releases), within(this.leases.withdraw(this.replicaId), left())]);
    const kept = released.filter(({ why }) => why !== undefined).sort((a, b) => a.shard - b.shard);
    if (kept.length > 0) {
      this.log.warn(
        `ownership: lease(s) of shard(s) ${kept.map(({ shard }) => shard).join(', ')} not released (${kept[0]!.why}); ` +
          `they expire within ${this.leaseMs} ms, then another replica takes them over`,
      );
    }
  }
}
