/**
 * The lifecycle machine's side effects, wired to the workers: what starting,
 * stopping and removing a workload means in terms of worker commands.
 */
import { fromPromise } from 'xstate';
import { buildServerConfig, parseDrasiConfig } from '../drasi/index.js';
import { createInstanceMachine, type InstanceMachine } from '../machines/instance.js';
import type { StopOutcome, WorkloadRef, WorkloadSpec } from '../platforms/driver.js';
import type { InstanceRecord } from '../store/instance-store.js';
import type { WorkloadClient } from './workload-client.js';

export interface WorkloadEffectsDeps {
  now: () => number;
  workloads: WorkloadClient;
  startTimeoutMs: number;
  stopGraceMs: number;
  /** Extra time a worker gets for a reply beyond the operation's own deadline. */
  replySlackMs: number;
  /** The instance's record, asked for right before each command (throws NotFoundError when gone, StaleOwnerError when no longer ours). */
  record: (instanceId: string) => Promise<InstanceRecord>;
  /** The worker that holds the instance's workload, when known. */
  workerOf: (instanceId: string) => { workerId?: string };
}

/** What a worker needs to run the record's current generation. Pure. */
export function workloadSpec(record: InstanceRecord, startTimeoutMs: number): WorkloadSpec {
  const server = record.serverConfiguration;
  const spec: WorkloadSpec = {
    instanceId: record.id,
    generation: record.generation,
    config: buildServerConfig(parseDrasiConfig(record.configuration), {
      id: record.id,
      host: server.host,
      ...(server.logLevel !== undefined ? { logLevel: server.logLevel } : {}),
    }),
    env: record.environment,
    startTimeoutMs,
  };
  if (server.port !== undefined) spec.preferredPort = server.port;
  if (record.platformOptions !== undefined) spec.platformOptions = record.platformOptions;
  return spec;
}

export function instanceMachineWithWorkloads(deps: WorkloadEffectsDeps): InstanceMachine {
  const stopTimeoutMs = deps.stopGraceMs + deps.replySlackMs;
  return createInstanceMachine({ now: deps.now }).provide({
    actors: {
      startWorkload: fromPromise<WorkloadRef, { instanceId: string; generation: number; deadline: number }>(async ({ input, signal }) => {
        const record = await deps.record(input.instanceId);
        const spec = workloadSpec(record, deps.startTimeoutMs);
        return deps.workloads.send(record.platformType, 'workload.start', record.id, spec, {
          timeoutMs: spec.startTimeoutMs + deps.replySlackMs,
          signal,
        });
      }),
      stopWorkload: fromPromise<StopOutcome, { instanceId: string }>(async ({ input }) => {
        const record = await deps.record(input.instanceId);
        return deps.workloads.send(record.platformType, 'workload.stop', record.id, { graceMs: deps.stopGraceMs }, {
          timeoutMs: stopTimeoutMs,
          ...deps.workerOf(record.id),
        });
      }),
      removeWorkload: fromPromise<void, { instanceId: string }>(async ({ input }) => {
        const record = await deps.record(input.instanceId);
        await deps.workloads.send(record.platformType, 'workload.remove', record.id, { graceMs: deps.stopGraceMs }, {
          timeoutMs: stopTimeoutMs,
          ...deps.workerOf(record.id),
        });
      }),
    },
  });
}
