/**
 * Saves instance snapshots without falling behind: at most one write per
 * instance in flight; while it runs, newer snapshots replace each other and
 * only the newest is written next (the store keeps the last one anyway).
 * Snapshots are produced lazily, when written: a burst of transitions in one
 * tick costs one serialization, not one per transition.
 */
import type { InstanceStore, PersistedInstanceSnapshot } from '../store/instance-store.js';

export class SnapshotWriter {
  private readonly waiting = new Map<string, () => PersistedInstanceSnapshot>();
  private readonly writing = new Map<string, Promise<void>>();

  constructor(
    private readonly store: InstanceStore,
    private readonly onError: (instanceId: string, error: unknown) => void,
  ) {}

  save(instanceId: string, produce: () => PersistedInstanceSnapshot): void {
    this.waiting.set(instanceId, produce);
    if (!this.writing.has(instanceId)) this.writing.set(instanceId, this.drain(instanceId));
  }

  private async drain(instanceId: string): Promise<void> {
    await null; // let the rest of this tick's transitions land first
    for (let next = this.waiting.get(instanceId); next; next = this.waiting.get(instanceId)) {
      this.waiting.delete(instanceId);
      try {
        await this.store.saveSnapshot(instanceId, next());
      } catch (error) {
        this.onError(instanceId, error);
      }
    }
    this.writing.delete(instanceId);
  }

  /** Resolves when every scheduled snapshot has been written. */
  async flush(): Promise<void> {
    while (this.writing.size > 0) await Promise.all(this.writing.values());
  }
}
