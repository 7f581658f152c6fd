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
import type { InstanceStatus } from '../machines/instance-types.js';
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
  at: string;
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
  appendChange(change: Omit<StatusChange, 'sequence'>, options?: WriteOptions): Promise<StatusChange>;
  /** Newest last; at most `limit`, optionally only those after `afterSequence`. */
  recentChanges(options: RecentChangesQuery): Promise<StatusChange[]>;
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
 * A copy of a persisted snapshot exactly as it reads back from JSON: only the
 * three fields, and a snapshot that `JSON.stringify` cannot represent fails here.
 */
export function jsonCopyOfSnapshot(snapshot: PersistedInstanceSnapshot): PersistedInstanceSnapshot {
  assertPersistedSnapshot(snapshot);
  const { machineVersion, savedAt } = snapshot;
  return JSON.parse(JSON.stringify({ machineVersion, savedAt, snapshot: snapshot.snapshot })) as PersistedInstanceSnapshot;
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

export class MemoryInstanceStore implements InstanceStore {
  private readonly records = new Map<string, InstanceRecord>();
  private readonly snapshots = new Map<string, PersistedInstanceSnapshot>();
  private readonly changes: StatusChange[] = [];
  private sequence = 0;

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
    // Copied through JSON so that what reads back is what a durable store would return.
    const copy = jsonCopyOfSnapshot(snapshot);
    if (this.records.has(id)) this.snapshots.set(id, copy);
  }

  async loadSnapshot(id: string) {
    return this.records.has(id) ? this.snapshots.get(id) : undefined;
  }

  async loadAll(): Promise<StoredInstance[]> {
    const ids = [...this.records.keys()].sort();
    return ids.map((id) => {
      const record = this.records.get(id) as InstanceRecord;
      const snapshot = this.snapshots.get(id);
      return snapshot ? { record, snapshot } : { record };
    });
  }

  async appendChange(change: Omit<StatusChange, 'sequence'>) {
    const entry = { ...change, sequence: ++this.sequence };
    this.changes.push(entry);
    // Trim in batches: amortized O(1) per append instead of shifting the array every time.
    if (this.changes.length >= 2 * this.changeLogLimit) this.changes.splice(0, this.changes.length - this.changeLogLimit);
    return entry;
  }

  async recentChanges(options: RecentChangesQuery) {
    return selectRecentChanges(this.changes, this.changeLogLimit, options);
  }

  async close() {}
}
