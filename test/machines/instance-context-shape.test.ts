import test from 'ava';
import { execFileSync } from 'node:child_process';
import { createActor, fromPromise } from 'xstate';
import { createInstanceMachine, instanceMachineVersion } from '../../src/machines/instance.js';
import { instanceSnapshotMigrations, toRestorable } from '../../src/machines/instance-snapshot.js';
import { checkSnapshotVersion } from '../../src/store/snapshot-version.js';
import type { WorkloadRef } from '../../src/platforms/driver.js';
import type { StartWorkloadInput } from '../../src/machines/instance-types.js';

const machine = createInstanceMachine({ now: () => Date.parse('2026-12-07T00:00:00Z') });
const input = { instanceId: 'shape', platform: 'process' as const, startTimeoutMs: 5_000, restartPolicy: { initialBackoffMs: 100, maxBackoffMs: 1_000 }, historyLimit: 8 };

/** Whether V8 keeps `Object.assign({}, context, change)` — what XState's `assign` does — in fast mode, asked of a plain node. */
function assignStaysFast(keys: string[]): boolean {
  const script = `
    const keys = ${JSON.stringify(keys)};
    const literal = Function('return {' + keys.map((key, i) => JSON.stringify(key) + ':' + i).join(',') + '}')();
    let context = Object.assign({}, literal, { [keys[1]]: 'changed' });
    context = Object.assign({}, context, { [keys[2]]: 'changed again' });
    process.stdout.write(String(%HasFastProperties(context)));`;
  return execFileSync(process.execPath, ['--allow-natives-syntax', '-e', script], { encoding: 'utf8' }) === 'true';
}

test('the context is small enough that every assign copies it in V8 fast mode', (t) => {
  const keys = Object.keys(createActor(machine, { input }).getSnapshot().context);
  // The check itself can fail: a context of a few more fields becomes a dictionary.
  t.false(assignStaysFast([...keys, 'extra1', 'extra2', 'extra3', 'extra4']), 'a wider context goes to dictionary mode');
  t.true(assignStaysFast(keys), `the context has ${keys.length} fields; V8 keeps an assigned copy fast only up to 19 (gather fields in a sub-object)`);
});

test('a version 3 snapshot migrates to settings gathered in one field and runs on', async (t) => {
  const version3Context = {
    instanceId: 'old',
    platform: 'docker',
    status: 'Stopped',
    desired: 'Stopped',
    observed: 'Stopped',
    generation: 2,
    observedGeneration: 2,
    workload: null,
    lastWorkerId: 'w1',
    failure: null,
    workerLost: null,
    consecutiveFailures: 0,
    restartPending: false,
    startTimeoutMs: 7_000,
    restartPolicy: { initialBackoffMs: 10, maxBackoffMs: 20 },
    startDeadline: null,
    retryAt: null,
    history: [{ at: '2026-12-01T00:00:00.000Z', from: 'Stopping', to: 'Stopped', cause: 'stopWorkload.done' }],
    historyLimit: 4,
    reconfigure: null,
    drift: null,
    note: null,
  };
  const persisted = {
    machineVersion: 3,
    savedAt: '2026-12-01T00:00:00.000Z',
    snapshot: { status: 'active', value: 'Stopped', historyValue: {}, context: version3Context, children: {} },
  };
  const migrated = checkSnapshotVersion(persisted, instanceMachineVersion, { instanceId: 'old', migrations: instanceSnapshotMigrations });
  t.is(migrated.machineVersion, instanceMachineVersion);
  const restorable = toRestorable(migrated.snapshot, 'old');
  t.deepEqual(restorable.context.settings, { platform: 'docker', startTimeoutMs: 7_000, restartPolicy: { initialBackoffMs: 10, maxBackoffMs: 20 }, historyLimit: 4 });
  t.false('startTimeoutMs' in restorable.context, 'moved, not copied');
  t.is(persisted.snapshot.context.startTimeoutMs, 7_000, 'the stored snapshot is not mutated');

  const started: StartWorkloadInput[] = [];
  const ref: WorkloadRef = { instanceId: 'old', platform: 'docker', workloadId: 'w-2', port: 9000, generation: 2, startedAt: '2026-12-07T00:00:00.000Z' };
  const actor = createActor(
    machine.provide({
      actors: {
        startWorkload: fromPromise<WorkloadRef, StartWorkloadInput>(async ({ input: startInput }) => {
          started.push(startInput);
          return ref;
        }),
      },
    }),
    { snapshot: restorable, input: { ...input, instanceId: 'old' } },
  );
  actor.start();
  actor.send({ type: 'instance.start' });
  await new Promise((resolve) => setImmediate(resolve));
  t.is(actor.getSnapshot().value, 'Running');
  t.is(started[0]?.deadline, Date.parse('2026-12-07T00:00:00Z') + 7_000, "the migrated start timeout is the instance's own");
  t.true(actor.getSnapshot().context.history.length <= 4, 'the migrated history limit holds');
});
