/**
 * Whether a persisted actor snapshot may be restored by the running machine.
 * A snapshot records the `instanceMachineVersion` that wrote it; restoring one
 * written by another version would hand XState a context or state names the
 * machine does not know. Pure: no I/O, nothing mutated.
 */
import type { PersistedInstanceSnapshot } from './instance-store.js';

/** Turns a snapshot written by machine version `v` into one for version `v + 1`. Must not mutate its argument. */
export type SnapshotMigration = (snapshot: unknown) => unknown;

/** Migrations keyed by the version they migrate *from*: `{ 1: v1ToV2, 2: v2ToV3 }`. */
export type SnapshotMigrations = ReadonlyMap<number, SnapshotMigration> | Readonly<Record<number, SnapshotMigration>>;

export interface CheckSnapshotVersionOptions {
  /** Named in the error message. */
  instanceId?: string;
  migrations?: SnapshotMigrations;
}

export class SnapshotVersionError extends Error {
  readonly instanceId: string | undefined;
  readonly snapshotVersion: number;
  readonly currentVersion: number;

  constructor(
    message: string,
    details: { instanceId: string | undefined; snapshotVersion: number; currentVersion: number },
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = 'SnapshotVersionError';
    this.instanceId = details.instanceId;
    this.snapshotVersion = details.snapshotVersion;
    this.currentVersion = details.currentVersion;
  }
}

function migrationFrom(migrations: SnapshotMigrations | undefined, version: number): SnapshotMigration | undefined {
  if (migrations === undefined) return undefined;
  if (migrations instanceof Map) return migrations.get(version);
  const record = migrations as Readonly<Record<number, SnapshotMigration>>;
  return Object.hasOwn(record, version) ? record[version] : undefined;
}

/**
 * Returns the snapshot ready for machine version `currentVersion`: unchanged
 * when the versions match, otherwise migrated one version at a time (the
 * result carries `machineVersion: currentVersion` and the original
 * `savedAt`). Throws `SnapshotVersionError` when the snapshot is newer than
 * the machine, a migration step is missing, or a step throws.
 */
export function checkSnapshotVersion(
  persisted: PersistedInstanceSnapshot,
  currentVersion: number,
  options: CheckSnapshotVersionOptions = {},
): PersistedInstanceSnapshot {
  const written = persisted.machineVersion;
  if (written === currentVersion) return persisted;
  const details = { instanceId: options.instanceId, snapshotVersion: written, currentVersion };
  const subject = `snapshot of instance ${options.instanceId ?? '(unnamed)'} was written by machine version ${written}, this is version ${currentVersion}`;
  const remedy = 'discard the snapshot to restart the instance from its record, or run a DRaaS that matches it';
  if (!Number.isInteger(written) || written > currentVersion) {
    throw new SnapshotVersionError(`${subject}; a snapshot from a newer (or unknown) machine cannot be restored: ${remedy}`, details);
  }
  let snapshot = persisted.snapshot;
  for (let version = written; version < currentVersion; version++) {
    const migrate = migrationFrom(options.migrations, version);
    if (!migrate) {
      throw new SnapshotVersionError(
        `${subject}; no migration from version ${version} to ${version + 1} is registered: add one, or ${remedy}`,
        details,
      );
    }
    try {
      snapshot = migrate(snapshot);
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      throw new SnapshotVersionError(`${subject}; the migration from version ${version} to ${version + 1} failed: ${message}`, details, {
        cause: error,
      });
    }
  }
  return { machineVersion: currentVersion, savedAt: persisted.savedAt, snapshot };
}
