/** Records, changes and snapshots for the store tests. */
import { createActor, fromPromise } from 'xstate';
import {
  createInstanceMachine,
  instanceMachineVersion,
  type StartWorkloadInput,
  type StopWorkloadInput,
} from '../../src/machines/instance.js';
import type { WorkloadRef } from '../../src/platforms/driver.js';
import type { StopWorkloadOutput } from '../../src/machines/instance-types.js';
import type { InstanceRecord, PersistedInstanceSnapshot, StatusChange } from '../../src/store/instance-store.js';

export function makeRecord(id: string, overrides: Partial<InstanceRecord> = {}): InstanceRecord {
  return {
    id,
    description: `instance ${id}`,
    platformType: 'process',
    serverConfiguration: { host: '127.0.0.1', port: 8080, logLevel: 'info' },
    environment: { DRASI_TOKEN: 'secret' },
    configuration: { sources: [{ kind: 'mock', id: 'src' }], queries: [], reactions: [] },
    generation: 1,
    createdAt: '2025-01-01T00:00:00.000Z',
    updatedAt: '2025-01-01T00:00:00.000Z',
    ...overrides,
  };
}

export function makeChange(instanceId: string, n: number): Omit<StatusChange, 'sequence'> {
  return {
    instanceId,
    from: n === 0 ? null : 'Pending',
    to: n % 2 === 0 ? 'Starting' : 'Running',
    cause: `event-${n}`,
    desired: 'Running',
    observed: 'Running',
    generation: 1,
    at: new Date(Date.UTC(2025, 0, 1, 0, 0, n)).toISOString(),
  };
}

export function makeSnapshot(n: number, machineVersion = instanceMachineVersion): PersistedInstanceSnapshot {
  return {
    machineVersion,
    savedAt: new Date(Date.UTC(2025, 0, 1, 0, 0, n)).toISOString(),
    snapshot: { status: 'active', value: 'Running', context: { n, history: [{ at: 'x', to: 'Running' }] }, children: {} },
  };
}

const workloadRef = (instanceId: string): WorkloadRef => ({
  instanceId,
  platform: 'process',
  workloadId: 'pid-42',
  port: 9000,
  generation: 1,
  startedAt: new Date(0).toISOString(),
});

/** The instance machine with side effects that succeed at once. */
export function stubbedInstanceMachine() {
  return createInstanceMachine({ now: () => Date.UTC(2025, 0, 1) }).provide({
    actors: {
      startWorkload: fromPromise<WorkloadRef, StartWorkloadInput>(async ({ input }) => workloadRef(input.instanceId)),
      stopWorkload: fromPromise<StopWorkloadOutput, StopWorkloadInput>(async () => ({})),
      removeWorkload: fromPromise<StopWorkloadOutput, StopWorkloadInput>(async () => ({})),
    },
  });
}

export const machineInput = (instanceId: string) => ({
  instanceId,
  platform: 'process' as const,
  startTimeoutMs: 5_000,
  restartPolicy: { initialBackoffMs: 1_000, maxBackoffMs: 8_000 },
});

export async function waitForValue(actor: { getSnapshot(): { value: unknown } }, value: string): Promise<void> {
  const end = Date.now() + 5_000;
  while (actor.getSnapshot().value !== value) {
    if (Date.now() > end) throw new Error(`actor never reached ${value}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** A real persisted snapshot of a Running instance, as the control plane will store it. */
export async function runningInstanceSnapshot(instanceId: string): Promise<PersistedInstanceSnapshot> {
  const actor = createActor(stubbedInstanceMachine(), { input: machineInput(instanceId) });
  actor.start();
  actor.send({ type: 'instance.start' });
  await waitForValue(actor, 'Running');
  const snapshot = actor.getPersistedSnapshot();
  actor.stop();
  return { machineVersion: instanceMachineVersion, savedAt: new Date().toISOString(), snapshot };
}
