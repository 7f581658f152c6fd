/**
 * The control plane's room for the instances it acts for: one actor per
 * owned instance, the records (read from the store, or from an exact
 * in-memory copy when `cacheRecords`), and the one way to change a record
 * (read-modify-write, serialized per instance, fenced).
 */
import { parseInstanceId } from '../api/instance-requests.js';
import { instanceView, type InstanceView } from '../api/instance-view.js';
import { NotFoundError, errorMessage } from '../errors.js';
import { instanceMachineVersion, type InstanceMachine } from '../machines/instance.js';
import type { RestorableSnapshot } from '../machines/instance-snapshot.js';
import type { InstanceInput } from '../machines/instance-types.js';
import type { InstanceRecord, InstanceStore, WriteOptions } from '../store/instance-store.js';
import type { HeldSnapshots } from './held-snapshots.js';
import { InstanceActor, type StatusTransition } from './instance-actor.js';
import { KeyedSerializer } from './keyed-serializer.js';
import type { Ownership } from './ownership.js';
import type { SnapshotWriter } from './snapshot-writer.js';
import type { WorkerPlacements } from './worker-placements.js';
import { type Logger } from '../observability/logger.js';

export interface InstanceRegistryOptions {
  store: InstanceStore;
  ownership: Ownership;
  /** The instance machine with its side effects (bound late: its effects read records from this registry). */
  machine: () => InstanceMachine;
  actorInput: (record: InstanceRecord) => InstanceInput;
  snapshots: SnapshotWriter;
  heldSnapshots: HeldSnapshots;
  placements: () => WorkerPlacements;
  cacheRecords: boolean;
  onTransition: (transition: StatusTransition) => void;
  now: () => number;
  log: Logger;
}

export class InstanceRegistry {
  private readonly actors = new Map<string, InstanceActor>();
  /** Read-modify-write of one instance's record (create, config patch, placement) runs one at a time. */
  private readonly records = new KeyedSerializer();
  /** Records of the owned instances, when `cacheRecords`. */
  private readonly recordCache: Map<string, InstanceRecord> | undefined;

  constructor(private readonly options: InstanceRegistryOptions) {
    this.recordCache = options.cacheRecords ? new Map() : undefined;
  }

  // Shared by every actor (one function each per registry, not per instance: memory of an idle fleet).
  private readonly onSnapshot = (actor: InstanceActor): void =>
    this.options.snapshots.save(actor.id, () => ({
      machineVersion: instanceMachineVersion,
      savedAt: new Date(this.options.now()).toISOString(),
      snapshot: actor.persistedSnapshot(),
    }));

  private readonly onActorError = (error: unknown, actor: InstanceActor): void =>
    this.options.log.error(`instance ${actor.id}: actor error: ${errorMessage(error)}`, { instanceId: actor.id });

  actor(id: string): InstanceActor | undefined {
    return this.actors.get(id);
  }

  has(id: string): boolean {
    return this.actors.has(id);
  }

  all(): IterableIterator<InstanceActor> {
    return this.actors.values();
  }

  entries(): IterableIterator<[string, InstanceActor]> {
    return this.actors.entries();
  }

  /** Starts the actor of an owned instance (restored from `snapshot`, or Pending). */
  spawn(record: InstanceRecord, snapshot?: RestorableSnapshot): InstanceActor {
    const { options } = this;
    const actor = new InstanceActor({
      machine: options.machine(),
      ...(snapshot ? { snapshot } : {}),
      onSnapshot: this.onSnapshot,
      input: options.actorInput(record),
      onTransition: options.onTransition,
      onError: this.onActorError,
    });
    this.actors.set(record.id, actor);
    options.heldSnapshots.acting(record.id, options.ownership.fence(record.id));
    this.recordCache?.set(record.id, record);
    options.placements().track(record);
    return actor;
  }

  /** Stops acting for an instance (deleted, or no longer owned); its workload is not touched. */
  forget(id: string): void {
    this.actors.get(id)?.stop();
    this.actors.delete(id);
    this.recordCache?.delete(id);
    this.options.placements().forget(id);
    this.options.snapshots.drop(id);
  }

  /** Stops every actor (close). */
  stopAll(): void {
    for (const actor of this.actors.values()) actor.stop();
    this.actors.clear();
  }

  /** Runs `task` alone for this instance's record (no other read-modify-write of it meanwhile). */
  serialized<T>(id: string, task: () => Promise<T>): Promise<T> {
    return this.records.run(id, task);
  }

  /** Read-modify-write of an owned instance's record: serialized per instance, durable (and cached) when it resolves. */
  updateRecord(id: string, change: (record: InstanceRecord) => InstanceRecord): Promise<InstanceRecord> {
    return this.records.run(id, async () => {
      const updated = change(await this.requireRecord(id));
      await this.saveRecord(updated);
      return updated;
    });
  }

  /** Stores a changed record (call it inside `serialized(id, …)`) and keeps the cached copy exact. */
  async saveRecord(updated: InstanceRecord): Promise<void> {
    await this.options.store.update(updated, this.writeOptions(updated.id));
    this.recordCache?.set(updated.id, updated);
  }

  /** Adds a new record; false when the id is taken (call it inside `serialized(id, …)`). */
  async insertRecord(record: InstanceRecord): Promise<boolean> {
    return !this.actors.has(record.id) && (await this.options.store.insert(record, this.writeOptions(record.id)));
  }

  async requireRecord(id: string): Promise<InstanceRecord> {
    const record = this.recordCache?.get(id) ?? (await this.options.store.get(id));
    if (!record) throw new NotFoundError(`instance "${id}" not found`, { instanceId: id });
    return record;
  }

  requireActor(id: string): InstanceActor {
    const actor = this.actors.get(parseInstanceId(id));
    if (!actor) throw new NotFoundError(`instance "${id}" not found`, { instanceId: id });
    return actor;
  }

  async view(id: string): Promise<InstanceView> {
    const actor = this.requireActor(id);
    const record = await this.requireRecord(id);
    return instanceView(record, actor.view);
  }

  /** The fence every write about the instance carries (its lease token, when replicas share the fleet). */
  writeOptions(instanceId: string): WriteOptions {
    const fence = this.options.ownership.fence(instanceId);
    return fence ? { fence } : {};
  }
}
