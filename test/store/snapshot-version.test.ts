import test from 'ava';
import { instanceMachineVersion } from '../../src/machines/instance.js';
import { checkSnapshotVersion, SnapshotVersionError, type SnapshotMigration } from '../../src/store/snapshot-version.js';
import type { PersistedInstanceSnapshot } from '../../src/store/instance-store.js';

const persisted = (machineVersion: number, snapshot: unknown = { steps: [] as number[] }): PersistedInstanceSnapshot => ({
  machineVersion,
  savedAt: '2025-01-01T00:00:00.000Z',
  snapshot,
});

test('a snapshot of the current version is returned as it is', (t) => {
  const current = persisted(instanceMachineVersion);
  t.is(checkSnapshotVersion(current, instanceMachineVersion), current);
  t.is(checkSnapshotVersion(current, instanceMachineVersion, { migrations: { [instanceMachineVersion]: () => 'unused' } }), current);
});

test('a mismatch without a migration is a clear error', (t) => {
  const error = t.throws(() => checkSnapshotVersion(persisted(0), 1, { instanceId: 'x' }), { instanceOf: SnapshotVersionError });
  t.is(
    error?.message,
    'snapshot of instance x was written by machine version 0, this is version 1; no migration from version 0 to 1 is registered: ' +
      'add one, or discard the snapshot to restart the instance from its record, or run a DRaaS that matches it',
  );
  t.is(error?.instanceId, 'x');
  t.is(error?.snapshotVersion, 0);
  t.is(error?.currentVersion, 1);
});

test('a snapshot from a newer machine is refused', (t) => {
  const error = t.throws(() => checkSnapshotVersion(persisted(3), 2, { instanceId: 'future', migrations: { 2: (s) => s } }), {
    instanceOf: SnapshotVersionError,
  });
  t.regex(error?.message ?? '', /^snapshot of instance future was written by machine version 3, this is version 2; a snapshot from a newer/);
});

test('migrations apply one version at a time, in order', (t) => {
  const step =
    (version: number): SnapshotMigration =>
    (snapshot) => ({ steps: [...(snapshot as { steps: number[] }).steps, version] });
  const original = persisted(1);
  const viaRecord = checkSnapshotVersion(original, 4, { instanceId: 'old', migrations: { 1: step(1), 2: step(2), 3: step(3) } });
  t.deepEqual(viaRecord, { machineVersion: 4, savedAt: original.savedAt, snapshot: { steps: [1, 2, 3] } });
  t.deepEqual(original.snapshot, { steps: [] }, 'the input is not mutated');

  const viaMap = checkSnapshotVersion(persisted(2), 4, { migrations: new Map([[2, step(2)], [3, step(3)], [1, step(1)]]) });
  t.deepEqual(viaMap.snapshot, { steps: [2, 3] });
});

test('a gap in the migration chain names the missing step', (t) => {
  t.throws(() => checkSnapshotVersion(persisted(1), 4, { instanceId: 'gap', migrations: { 1: (s) => s, 3: (s) => s } }), {
    instanceOf: SnapshotVersionError,
    message: /written by machine version 1, this is version 4; no migration from version 2 to 3 is registered/,
  });
});

test('a failing migration is reported with its cause', (t) => {
  const boom = new Error('context.workload is missing');
  const error = t.throws(
    () =>
      checkSnapshotVersion(persisted(1), 2, {
        instanceId: 'broken',
        migrations: {
          1: () => {
            throw boom;
          },
        },
      }),
    { instanceOf: SnapshotVersionError },
  );
  t.is(
    error?.message,
    'snapshot of instance broken was written by machine version 1, this is version 2; the migration from version 1 to 2 failed: context.workload is missing',
  );
  t.is(error?.cause, boom);
});

test('inherited object keys are not migrations', (t) => {
  // "constructor", "toString"… of a plain object must not be mistaken for steps.
  t.throws(() => checkSnapshotVersion(persisted(0), 1, { migrations: {} }), { instanceOf: SnapshotVersionError });
});
