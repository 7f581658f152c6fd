/**
 * Persistence of instance records, their persisted actor snapshots and the
 * recent-changes log. One interface, several implementations: in memory
 * (tests, throwaway embedded use), files under the data dir
 * (`file-store.ts`, the embedded default), Redis in a cluster
 * (`redis-store.ts`).
 *
 * Every implementation keeps these promises (the shared contract suite in
 * `test/store/contract.ts` checks them):
 * - writes to one id land in call order, the last one wins; a read issued
 *   after a write sees that write;
 * - a snapshot belongs to a record: `delete` removes both, `insert` starts
 *   without a snapshot, and `saveSnapshot` of an id with no record does
 *   nothing (an actor's last save after its delete must not resurrect it);
 * - the recent-changes log keeps the newest `changeLogLimit` entries with
 *   increasing sequence numbers.
 *
 * Fencing: the write methods take an optional `{ fence }`, the lease that
 * makes the caller the instance's owner and the token it got with it. A
 * store that several control-plane replicas share (Redis) refuses a write
 * whose token is no longer the lease's current one with `StaleOwnerError`,
 * in the same atomic step as the write, so a replica that lost its lease
 * (paused, partitioned) can never overwrite its successor's state. Stores
 * that only one process can open (memory; files, behind a lock) have one
 * writer by construction and ignore fences.
 *
 * Deliberately left out: locking across callers (the control plane
 * serializes read-modify-write per instance).
 */
import type { PlatformType } from '../platforms/driver.js';
import { updateStrategies, type InstanceStatus, type UpdateStrategy } from '../machines/instance-types.js';
import type { LogLevel } from '../api/instance-requests.js';

export interface InstanceRecord {
  id: string;
  description: string;
  platformType: PlatformType;
  /** `logLevel`, when set, overrides the configuration document's own. */
  serverConfiguration: { host: string; port?: number; logLevel?: LogLevel };
  environment: Record<string, string>;
  /** The platform's own options (validated by its schema in `platforms/platform-options.ts`); opaque here. */
  platformOptions?: Record<string, unknown>;
  /** The Drasi Server config document as the user gave it (validated). */
  configuration: Record<string, unknown>;
  generation: number;
  createdAt: string;
  updatedAt: string;
  /**
   * The worker the instance belongs to: chosen by the control plane before
   * the instance's first start (and written here before that start is sent),
   * so every later command goes to that worker and no other can start it twice.
   */
  placement?: Placement;
  /** How configuration changes reach the instance while it runs; `auto` when absent. */
  updateStrategy?: UpdateStrategy;
  /**
   * Configurations of older generations a server may run: the one it runs,
   * and the one an apply in flight brings it to, kept when a newer generation
   * is recorded (so that a change is applied as a difference, and drift
   * judged against what runs). Empty or absent while the server runs the
   * record's own generation.
   */
  runningConfigurations?: RunningConfiguration[];
}

export interface RunningConfiguration {
  generation: number;
  serverConfiguration: InstanceRecord['serverConfiguration'];
  configuration: Record<string, unknown>;
}

export interface Placement {
  workerId: string;
  /** ISO 8601. */
  placedAt: string;
}

/** One entry of the recent-changes log. */
export interface StatusChange {
  /** Monotonic sequence number within this store. */
  sequence: number;
  instanceId: string;
  from: InstanceStatus | null;
  to: InstanceStatus;
  cause: string;
  reason?: string;
  desired: string;
  observed: string;
  generation: number;
  /** The generation the workload ran at the change (absent in entries written before it was recorded). */
  observedGeneration?: number | null;
  at: string;
}

/**
 * A read of the change log by position (`readChanges`): the entries after a
 * sequence, oldest first, and the log's bounds, so that a reader can tell
 * whether it missed entries the log no longer keeps.
 */
export interface ChangeLogRead {
  /** Oldest first; each has a sequence above the one asked for. */
  changes: StatusChange[];
  /** The sequence of the oldest entry the log still keeps; undefined while it keeps none. */
  oldest: number | undefined;
  /** The last sequence handed out (0 before the first append). */
  newest: number;
}

/**
 * An instance actor's persisted state: XState's `actor.getPersistedSnapshot()`
 * (plain JSON) tagged with the version of the machine that produced it. Check
 * the version with `checkSnapshotVersion` (snapshot-version.ts) before
 * restoring an actor from it.
 */
export interface PersistedInstanceSnapshot {
  /** `instanceMachineVersion` of the machine that wrote `snapshot`. */
  machineVersion: number;
  /** ISO 8601. */
  savedAt: string;
  /** The XState persisted snapshot; must survive `JSON.stringify`. */
  snapshot: unknown;
}

/** What `loadAll` returns per instance: the record and, when one was saved, its snapshot. */
export interface StoredInstance {
  record: InstanceRecord;
  snapshot?: PersistedInstanceSnapshot;
}

/** One page of `loadPage`: the instances in id order, and whether more follow. */
export interface StoredPage {
  items: StoredInstance[];
  more: boolean;
}

/**
 * The ids of one page: those after `after` (code-point order), at most
 * `limit`, and whether more follow. `ids` need not be sorted. Pure.
 */
export function pageOfIds(ids: Iterable<string>, after: string | undefined, limit: number): { ids: string[]; more: boolean } {
  const following = [...ids].filter((id) => after === undefined || id > after).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  return { ids: following.slice(0, limit), more: following.length > limit };
}

export interface RecentChangesQuery {
  limit: number;
  afterSequence?: number;
  instanceId?: string;
}

/** The lease that makes a writer the owner of an instance, and the fencing token it got when it acquired it. */
export interface WriteFence {
  lease: string;
  token: number;
}

export interface WriteOptions {
  fence?: WriteFence;
}

export interface InstanceStore {
  /** The stored record. Treat it as read-only: write changes back with `update`. */
  get(id: string): Promise<InstanceRecord | undefined>;
  list(): Promise<InstanceRecord[]>;
  /** Inserts only when absent; returns false when the id is taken. */
  insert(record: InstanceRecord, options?: WriteOptions): Promise<boolean>;
  update(record: InstanceRecord, options?: WriteOptions): Promise<void>;
  /** Removes the record and its snapshot. Deleting an absent id does nothing. */
  delete(id: string, options?: WriteOptions): Promise<void>;
  /**
   * Replaces the instance's snapshot. Does nothing when no record has this id
   * (see the module comment). Rejects a malformed value (`TypeError`).
   */
  saveSnapshot(id: string, snapshot: PersistedInstanceSnapshot, options?: WriteOptions): Promise<void>;
  /** The newest saved snapshot; undefined when none was saved or the record is gone. Treat it as read-only. */
  loadSnapshot(id: string): Promise<PersistedInstanceSnapshot | undefined>;
  /** Every record with its snapshot, sorted by id: what a restarted control plane rehydrates. */
  loadAll(): Promise<StoredInstance[]>;
  /**
   * The records (with snapshots) of ids after `after` in code-point order, at
   * most `limit`: one page of a list, without reading every record.
   */
  loadPage(after: string | undefined, limit: number): Promise<StoredPage>;
  /**
   * Numbers the change (the next sequence of this store) and appends it;
   * resolves once it is stored. A rejected append left no entry behind, so it
   * can be retried without recording the change twice. With `snapshot`, it
   * is also saved as the instance's snapshot (as `saveSnapshot` does, in the
   * same write where the store can: one round trip per transition).
   */
  appendChange(change: Omit<StatusChange, 'sequence'>, options?: WriteOptions, snapshot?: PersistedInstanceSnapshot): Promise<StatusChange>;
  /** Newest last; at most `limit`, optionally only those after `afterSequence`. */
  recentChanges(options: RecentChangesQuery): Promise<StatusChange[]>;
  /**
   * The oldest `limit` entries after `afterSequence` (of the newest
   * `changeLogLimit` kept), with the log's bounds: what a reader that follows
   * the log by sequence reads next. Only stored entries are returned.
   */
  readChanges(afterSequence: number, limit: number): Promise<ChangeLogRead>;
  /**
   * Calls `listener` after each append made through this object has been
   * stored (a hint to read, not the entries themselves). A store that several
   * processes share (Redis) also signals their appends, shortly after they
   * are stored. Returns the unsubscribe.
   */
  watchChanges(listener: () => void): () => void;
  /** Waits for pending writes and releases files and handles. Idempotent; no writes afterwards. */
  close(): Promise<void>;
}

/** Throws a `TypeError` unless `value` has the shape of a `PersistedInstanceSnapshot`. */
export function assertPersistedSnapshot(value: unknown, what = 'snapshot'): asserts value is PersistedInstanceSnapshot {
  const problem = persistedSnapshotProblem(value);
  if (problem !== undefined) throw new TypeError(`${what} is not a persisted instance snapshot: ${problem}`);
}

/** Why `value` is not a `PersistedInstanceSnapshot`, or undefined when it is one. */
export function persistedSnapshotProblem(value: unknown): string | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return 'not an object';
  const candidate = value as Record<string, unknown>;
  if (!Number.isInteger(candidate.machineVersion)) return '"machineVersion" is not an integer';
  if (typeof candidate.savedAt !== 'string') return '"savedAt" is not a string';
  if (candidate.snapshot === undefined) return '"snapshot" is missing';
  return undefined;
}

export function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Why `value` is not the record stored under `id`, or undefined when it is. */
export function instanceRecordProblem(value: unknown, id: string): string | undefined {
  if (!isPlainObject(value)) return 'not an object';
  if (value.id !== id) return `its id ${JSON.stringify(value.id)} does not match ${JSON.stringify(id)}, where it is stored`;
  for (const key of ['description', 'platformType', 'createdAt', 'updatedAt'] as const) {
    if (typeof value[key] !== 'string') return `"${key}" is not a string`;
  }
  if (!Number.isInteger(value.generation)) return '"generation" is not an integer';
  if (!isPlainObject(value.serverConfiguration) || typeof value.serverConfiguration.host !== 'string') {
    return '"serverConfiguration.host" is not a string';
  }
  if (!isPlainObject(value.environment)) return '"environment" is not an object';
  if (!isPlainObject(value.configuration)) return '"configuration" is not an object';
  if (value.platformOptions !== undefined && !isPlainObject(value.platformOptions)) return '"platformOptions" is not an object';
  if (value.placement !== undefined && (!isPlainObject(value.placement) || typeof value.placement.workerId !== 'string' || typeof value.placement.placedAt !== 'string')) {
    return '"placement" is not {workerId, placedAt}';
  }
  if (value.updateStrategy !== undefined && !(updateStrategies as readonly unknown[]).includes(value.updateStrategy)) {
    return `"updateStrategy" is not one of ${updateStrategies.join(', ')}`;
  }
  const running = value.runningConfigurations;
  const isRunningConfiguration = (entry: unknown) =>
    isPlainObject(entry) && Number.isInteger(entry.generation) && isPlainObject(entry.configuration) && isPlainObject(entry.serverConfiguration);
  if (running !== undefined && (!Array.isArray(running) || !running.every(isRunningConfiguration))) {
    return '"runningConfigurations" is not a list of {generation, serverConfiguration, configuration}';
  }
  return undefined;
}

/**
 * A stored JSON value, parsed and shape-checked: one that is not JSON, or not
 * `what` by `problemOf`, is reported through `warn` (naming `where`) and
 * skipped — never fatal, so one damaged entry cannot keep a store from opening.
 */
export function parseStoredValue<T>(
  text: string,
  where: string,
  what: string,
  problemOf: (value: unknown) => string | undefined,
  warn: (message: string) => void,
): T | undefined {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    warn(`${where}: skipped, not JSON: ${error instanceof Error ? error.message : String(error)}`);
    return undefined;
  }
  const problem = problemOf(value);
  if (problem !== undefined) {
    warn(`${where}: skipped, not ${what}: ${problem}`);
    return undefined;
  }
  return value as T;
}

/**
 * A persisted snapshot as a durable store writes it: only the three fields,
 * and a snapshot that `JSON.stringify` cannot represent fails here.
 */
export function snapshotJson(snapshot: PersistedInstanceSnapshot): string {
  assertPersistedSnapshot(snapshot);
  const { machineVersion, savedAt } = snapshot;
  return JSON.stringify({ machineVersion, savedAt, snapshot: snapshot.snapshot });
}

/**
 * The recent-changes query over a log held oldest first: only the newest
 * `window` entries count, then the filters, then the newest `limit` of those.
 */
export function selectRecentChanges(log: readonly StatusChange[], window: number, options: RecentChangesQuery): StatusChange[] {
  const after = options.afterSequence ?? 0;
  const matching = log
    .slice(-window)
    .filter((change) => change.sequence > after && (options.instanceId === undefined || change.instanceId === options.instanceId));
  return options.limit > 0 ? matching.slice(-options.limit) : [];
}

/**
 * `readChanges` over a log held oldest first in sequence order: only the
 * newest `window` entries count; the oldest `limit` of those after `after`.
 */
export function readChangesAfter(log: readonly StatusChange[], window: number, after: number, limit: number, newest: number): ChangeLogRead {
  const start = Math.max(0, log.length - window);
  // Binary search for the first entry above `after`: a follower reads near the end of a long log.
  let low = start;
  let high = log.length;
  while (low < high) {
    const middle = (low + high) >>> 1;
    if ((log[middle]?.sequence ?? 0) <= after) low = middle + 1;
    else high = middle;
  }
  return { changes: log.slice(low, low + Math.max(0, limit)), oldest: log[start]?.sequence, newest };
}

/** The listeners of a store's `watchChanges`. */
export class ChangeSignal {
  private readonly listeners = new Set<() => void>();

  watch(listener: () => void): () => void {
    const entry = () => listener();
    this.listeners.add(entry);
    return () => this.listeners.delete(entry);
  }

  notify(): void {
    for (const listener of this.listeners) {
      try {
        listener();
      } catch {
        // A hint; a listener's failure is its own.
      }
    }
  }
}

export class MemoryInstanceStore implements InstanceStore {
  private readonly records = new Map<string, InstanceRecord>();
  /** As JSON, parsed when read: what reads back is what a durable store would return, and most are overwritten unread. */
  private readonly snapshots = new Map<string, string>();
  private readonly changes: StatusChange[] = [];
  private sequence = 0;
  private readonly appended = new ChangeSignal();

  constructor(private readonly changeLogLimit = 1_000) {}

  // Records are copied on the way in and never mutated in place, so readers can share them.
  async get(id: string): Promise<InstanceRecord | undefined> {
    return this.records.get(id);
  }

  async list(): Promise<InstanceRecord[]> {
    return [...this.records.values()];
  }

  async insert(record: InstanceRecord) {
    if (this.records.has(record.id)) return false;
    this.records.set(record.id, structuredClone(record));
    this.snapshots.delete(record.id);
    return true;
  }

  async update(record: InstanceRecord) {
    this.records.set(record.id, structuredClone(record));
  }

  async delete(id: string) {
    this.records.delete(id);
    this.snapshots.delete(id);
  }

  async saveSnapshot(id: string, snapshot: PersistedInstanceSnapshot) {
    const json = snapshotJson(snapshot);
    if (this.records.has(id)) this.snapshots.set(id, json);
  }

  async loadSnapshot(id: string) {
    return this.records.has(id) ? this.parsedSnapshot(id) : undefined;
  }

  private parsedSnapshot(id: string): PersistedInstanceSnapshot | undefined {
    const json = this.snapshots.get(id);
    return json === undefined ? undefined : (JSON.parse(json) as PersistedInstanceSnapshot);
  }

  async loadAll(): Promise<StoredInstance[]> {
    return [...this.records.keys()].sort().map((id) => this.stored(id));
  }

  async loadPage(after: string | undefined, limit: number): Promise<StoredPage> {
    const page = pageOfIds(this.records.keys(), after, limit);
    return { items: page.ids.map((id) => this.stored(id)), more: page.more };
  }

  private stored(id: string): StoredInstance {
    const record = this.records.get(id) as InstanceRecord;
    const snapshot = this.parsedSnapshot(id);
    return snapshot ? { record, snapshot } : { record };
  }

  async appendChange(change: Omit<StatusChange, 'sequence'>, _options?: WriteOptions, snapshot?: PersistedInstanceSnapshot): Promise<StatusChange> {
    if (snapshot) await this.saveSnapshot(change.instanceId, snapshot);
    const entry = { ...change, sequence: ++this.sequence };
    this.changes.push(entry);
    // Trim in batches: amortized O(1) per append instead of shifting the array every time.
    if (this.changes.length >= 2 * this.changeLogLimit) this.changes.splice(0, this.changes.length - this.changeLogLimit);
    this.appended.notify();
    return entry;
  }

  async readChanges(afterSequence: number, limit: number): Promise<ChangeLogRead> {
    return readChangesAfter(this.changes, this.changeLogLimit, afterSequence, limit, this.sequence);
  }

  watchChanges(listener: () => void): () => void {
    return this.appended.watch(listener);
  }

  async recentChanges(options: RecentChangesQuery) {
    return selectRecentChanges(this.changes, this.changeLogLimit, options);
  }

  async close() {}
}
