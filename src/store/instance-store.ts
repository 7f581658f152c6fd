/**
 * Persistence of instance records and of the recent-changes log. One
 * interface; the in-memory implementation serves embedded mode until the
 * durable stores land (files under the data dir; Redis in a cluster).
 *
 * Deliberately left out: actor snapshots (their own interface) and any
 * locking — callers serialize per instance.
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

export interface InstanceStore {
  /** The stored record. Treat it as read-only: write changes back with `update`. */
  get(id: string): Promise<InstanceRecord | undefined>;
  list(): Promise<InstanceRecord[]>;
  /** Inserts only when absent; returns false when the id is taken. */
  insert(record: InstanceRecord): Promise<boolean>;
  update(record: InstanceRecord): Promise<void>;
  delete(id: string): Promise<void>;
  appendChange(change: Omit<StatusChange, 'sequence'>): Promise<StatusChange>;
  /** Newest last; at most `limit`, optionally only those after `afterSequence`. */
  recentChanges(options: { limit: number; afterSequence?: number; instanceId?: string }): Promise<StatusChange[]>;
}

export class MemoryInstanceStore implements InstanceStore {
  private readonly records = new Map<string, InstanceRecord>();
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
    return true;
  }

  async update(record: InstanceRecord) {
    this.records.set(record.id, structuredClone(record));
  }

  async delete(id: string) {
    this.records.delete(id);
  }

  async appendChange(change: Omit<StatusChange, 'sequence'>) {
    const entry = { ...change, sequence: ++this.sequence };
    this.changes.push(entry);
    // Trim in batches: amortized O(1) per append instead of shifting the array every time.
    if (this.changes.length >= 2 * this.changeLogLimit) this.changes.splice(0, this.changes.length - this.changeLogLimit);
    return entry;
  }

  async recentChanges(options: { limit: number; afterSequence?: number; instanceId?: string }) {
    const after = options.afterSequence ?? 0;
    const window = this.changes.slice(-this.changeLogLimit);
    const matching = window.filter(
      (change) => change.sequence > after && (options.instanceId === undefined || change.instanceId === options.instanceId),
    );
    return matching.slice(-options.limit);
  }
}
