/**
 * The state of instances whose lease this replica lost before their latest
 * snapshot was written. Rehydrating such an instance from the store on
 * re-gain would roll back what happened since its last written snapshot —
 * changes that may have been answered 2xx. So the unwritten snapshot is
 * held, and when the replica re-gains the lease with the fence rules of
 * held-writes.ts (no other replica held it in between), the instance is
 * restored from it instead of the store's older one. When another replica
 * held it meanwhile, that replica's stored state wins and the held one is
 * dropped.
 */
import type { PersistedInstanceSnapshot, WriteFence } from '../store/instance-store.js';
import { fenceForHeldWrite, type OwnTokens } from './held-writes.js';

interface Held {
  snapshot: PersistedInstanceSnapshot;
  madeUnder: WriteFence | undefined;
}

export class HeldSnapshots {
  /** The fence each instance this replica acts for is acted on under (a lease's token does not change while held). */
  private readonly fences = new Map<string, WriteFence | undefined>();
  private readonly held = new Map<string, Held>();

  constructor(private readonly own: OwnTokens) {}

  /** The replica acts for the instance now, under `fence`. */
  acting(instanceId: string, fence: WriteFence | undefined): void {
    this.own.note(fence);
    this.fences.set(instanceId, fence);
  }

  /** The replica stops acting for the instance; `unwritten` is its newest snapshot not known to be stored. */
  hold(instanceId: string, unwritten: PersistedInstanceSnapshot | undefined): void {
    const madeUnder = this.fences.get(instanceId);
    this.fences.delete(instanceId);
    if (unwritten) this.held.set(instanceId, { snapshot: unwritten, madeUnder });
  }

  /**
   * On re-gain, under the fence `now`: the held snapshot when it is newer
   * than anything stored for the instance (undefined when none is held, or
   * another replica held the lease since). Forgets it either way.
   */
  take(instanceId: string, now: WriteFence | undefined): PersistedInstanceSnapshot | undefined {
    const held = this.held.get(instanceId);
    this.held.delete(instanceId);
    if (!held) return undefined;
    return 'superseded' in fenceForHeldWrite(held.madeUnder, now, this.own) ? undefined : held.snapshot;
  }

  /** Forgets the instance (deleted, or its shard re-gained without it in the store). */
  forget(instanceId: string): void {
    this.fences.delete(instanceId);
    this.held.delete(instanceId);
  }

  /** The ids held, for clean-up after a gain. */
  ids(): string[] {
    return [...this.held.keys()];
  }
}
