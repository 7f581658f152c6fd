/**
 * The control plane's room for shard ownership changes: when this replica
 * gains shards it loads their instances from the store and restores their
 * actors (requests for a shard being loaded wait for it); when it loses
 * shards it stops acting for their instances and holds what it had not
 * written yet (held-snapshots.ts). With one replica, that is the whole fleet,
 * once, at open.
 */
import { errorMessage } from '../errors.js';
import { instanceMachineVersion } from '../machines/instance.js';
import { instanceSnapshotMigrations, toRestorable, type RestorableSnapshot } from '../machines/instance-snapshot.js';
import type { InstanceStore, PersistedInstanceSnapshot, StoredInstance } from '../store/instance-store.js';
import { checkSnapshotVersion } from '../store/snapshot-version.js';
import type { HeldSnapshots } from './held-snapshots.js';
import type { OwnTokens } from './held-writes.js';
import type { InstanceActor } from './instance-actor.js';
import type { InstanceRegistry } from './instance-registry.js';
import type { Ownership } from './ownership.js';
import type { SnapshotWriter } from './snapshot-writer.js';
import type { StatusChanges } from './status-changes.js';
import type { WorkerPlacements } from './worker-placements.js';
import { type Logger } from '../observability/logger.js';

/** A persisted snapshot checked (machine version, shape) for restoring; throws with the reason when it cannot be. */
export function restoreSnapshot(persisted: PersistedInstanceSnapshot, instanceId: string): RestorableSnapshot {
  return toRestorable(
    checkSnapshotVersion(persisted, instanceMachineVersion, { instanceId, migrations: instanceSnapshotMigrations }).snapshot,
    instanceId,
  );
}

export interface ShardLoadingOptions {
  store: InstanceStore;
  ownership: Ownership;
  registry: InstanceRegistry;
  snapshots: SnapshotWriter;
  heldSnapshots: HeldSnapshots;
  ownTokens: OwnTokens;
  statusChanges: StatusChanges;
  placements: WorkerPlacements;
  log: Logger;
}

export class ShardLoading {
  /** Shards whose instances are being loaded after a gain; requests for them wait. */
  private readonly loading = new Map<number, Promise<void>>();

  constructor(private readonly options: ShardLoadingOptions) {}

  /** Resolves once the instance's shard is loaded (at once, without a tick, when nothing is loading). */
  loaded(instanceId: string): Promise<void> | undefined {
    return this.loading.size === 0 ? undefined : this.loading.get(this.options.ownership.shardOf(instanceId));
  }

  /** Whether an instance id without an actor is one this replica would own, its shard loaded (its workload is an orphan). */
  isOrphan(instanceId: string): boolean {
    const { ownership, registry } = this.options;
    return ownership.owns(instanceId) && !this.loading.has(ownership.shardOf(instanceId)) && !registry.has(instanceId);
  }

  /**
   * Loads and restores the instances of shards this replica now owns. The
   * loading promise is registered before the first await, so a request for
   * one of these shards never finds it owned but empty.
   */
  async gain(shards: readonly number[]): Promise<void> {
    const { ownership, heldSnapshots, statusChanges, ownTokens, store } = this.options;
    const wanted = new Set(shards);
    // Every token this replica takes counts as its own, even one whose load fails and is handed back.
    for (const id of [...heldSnapshots.ids(), ...statusChanges.pendingIds()]) {
      if (wanted.has(ownership.shardOf(id))) ownTokens.note(ownership.fence(id));
    }
    const loaded = (async () => {
      const stored = await store.loadAll();
      const mine = stored.filter(({ record }) => wanted.has(ownership.shardOf(record.id)));
      await this.rehydrate(mine.map((entry) => this.withHeldSnapshot(entry)));
      // Held state of instances gone from the store (deleted by another replica meanwhile) is moot.
      for (const id of heldSnapshots.ids()) if (wanted.has(ownership.shardOf(id))) heldSnapshots.forget(id);
      // Changes made before the lease lapsed may land now (held-writes.ts).
      statusChanges.retryNow();
    })();
    for (const shard of shards) this.loading.set(shard, loaded);
    try {
      await loaded;
    } finally {
      for (const shard of shards) if (this.loading.get(shard) === loaded) this.loading.delete(shard);
    }
  }

  /** Stops acting for the instances of shards this replica no longer owns (their workloads keep running). */
  lose(shards: readonly number[]): void {
    const { ownership, registry, heldSnapshots, snapshots } = this.options;
    const gone = new Set(shards);
    for (const [id] of [...registry.entries()]) {
      if (!gone.has(ownership.shardOf(id))) continue;
      // Kept, not thrown away: restored from on re-gain unless another replica acted meanwhile (held-snapshots.ts).
      heldSnapshots.hold(id, snapshots.unwritten(id));
      registry.forget(id);
    }
  }

  /** The stored instance, or its held state when that is newer than the stored snapshot (see HeldSnapshots). */
  private withHeldSnapshot(entry: StoredInstance): StoredInstance {
    const held = this.options.heldSnapshots.take(entry.record.id, this.options.ownership.fence(entry.record.id));
    if (!held) return entry;
    this.options.log.info(`instance ${entry.record.id}: restored from its state when its lease lapsed (newer than the stored snapshot)`, { instanceId: entry.record.id });
    return { record: entry.record, snapshot: held };
  }

  /**
   * Restores an actor per stored instance. Actors restored in a state whose
   * command or deadline was in flight re-enter it (`instance.recover`); those
   * restored Running are checked with their worker, and an instance whose
   * workload is gone is reported Failed (and restarted if desired Running).
   */
  private async rehydrate(stored: StoredInstance[]): Promise<void> {
    const { registry, placements, log } = this.options;
    const restored: InstanceActor[] = [];
    for (const { record, snapshot } of stored) {
      if (registry.has(record.id)) continue;
      const restorable = snapshot ? this.restorable(record.id, snapshot) : undefined;
      const actor = registry.spawn(record, restorable);
      if (restorable) restored.push(actor);
    }
    for (const actor of restored) actor.recover();
    await placements.verifyRunning(restored.filter((actor) => actor.view.status === 'Running'));
    if (stored.length > 0) log.info(`rehydrated ${stored.length} instance(s), ${restored.length} from snapshots`);
  }

  private restorable(instanceId: string, persisted: PersistedInstanceSnapshot): RestorableSnapshot | undefined {
    try {
      return restoreSnapshot(persisted, instanceId);
    } catch (error) {
      // Refused clearly, and the instance stays manageable: it restarts from its record as Pending.
      this.options.log.warn(`instance ${instanceId}: ${errorMessage(error)}; it is Pending again (its desired state was not kept)`, { instanceId });
      return undefined;
    }
  }
}
