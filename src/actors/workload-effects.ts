/**
 * The lifecycle machine's side effects, wired to the workers: what starting,
 * stopping and removing a workload means in terms of worker commands, and
 * where they go (the worker the instance is placed on).
 *
 * Placement rules (see `docs/architecture.md`, "Placement and lost workers"):
 * - an unplaced instance is placed before its first start, and the placement
 *   is stored before the start is sent, so a restarted control plane sends
 *   every later command to the same worker;
 * - a start whose worker is lost fails with `WorkerLostError` while a
 *   workload of the instance may still run there (the machine says so with
 *   `workerLost`), until `workerLostTimeoutMs` has passed since the loss (never,
 *   when it is null); then the instance is placed on another worker, told to
 *   reap the old workload where it can reach it (the same host), and the old
 *   worker is sent a remove to run when it returns;
 * - an instance with nothing that may still run on its lost worker is placed
 *   elsewhere at once;
 * - a stop or remove for a lost worker is queued for it (it runs when the
 *   worker returns) and the machine records the workload as unknown.
 */
import { fromPromise } from 'xstate';
import { buildServerConfig, parseDrasiConfig } from '../drasi/index.js';
import { WorkerLostError, errorMessage } from '../errors.js';
import { createInstanceMachine, type InstanceMachine } from '../machines/instance.js';
import type { StartWorkloadInput, StopWorkloadInput, StopWorkloadOutput } from '../machines/instance-types.js';
import type { WorkloadRef, WorkloadSpec } from '../platforms/driver.js';
import type { InstanceRecord } from '../store/instance-store.js';
import type { WorkloadClient } from './workload-client.js';

export interface WorkloadEffectsDeps {
  now: () => number;
  workloads: WorkloadClient;
  startTimeoutMs: number;
  stopGraceMs: number;
  /** Extra time a worker gets for a reply beyond the operation's own deadline. */
  replySlackMs: number;
  /** How long after its worker was lost a Running instance is started elsewhere; null: never (it waits for the worker). */
  workerLostTimeoutMs: number | null;
  /** The instance's record, asked for right before each command (throws NotFoundError when gone, StaleOwnerError when no longer ours). */
  record: (instanceId: string) => Promise<InstanceRecord>;
  /** Throws when the operator's policy refuses to run the record (nothing is placed or sent then). */
  admit?: (record: InstanceRecord) => void;
  /** The worker the instance is placed on (its record's placement), if any. */
  placementOf: (record: InstanceRecord) => string | undefined;
  /** Stores the instance's placement; resolves once it is durable. */
  place: (instanceId: string, workerId: string) => Promise<void>;
  log: (message: string) => void;
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

  /** The worker a start goes to, placing (or re-placing) the instance when needed; and what it replaces. */
  async function target(record: InstanceRecord, input: StartWorkloadInput): Promise<{ workerId: string; replaces?: WorkloadRef }> {
    const platform = record.platformType;
    const placed = deps.placementOf(record);
    if (placed !== undefined && (await deps.workloads.isAlive(platform, placed))) return { workerId: placed };
    let replaces: WorkloadRef | undefined;
    const lost = input.workerLost;
    if (placed !== undefined && lost?.workerId === placed) {
      // A workload of the instance may still run on the lost worker: wait for it, up to the timeout.
      const waited = deps.now() - Date.parse(lost.since);
      if (deps.workerLostTimeoutMs === null || waited < deps.workerLostTimeoutMs) throw new WorkerLostError(record.id, lost, 'the start');
      if (input.previous) replaces = input.previous;
    }
    const workerId = await deps.workloads.place(platform);
    await deps.place(record.id, workerId);
    if (placed !== undefined && placed !== workerId) {
      // Whatever the old worker still holds of this instance goes when it returns.
      await deps.workloads
        .defer(platform, 'workload.remove', record.id, { graceMs: deps.stopGraceMs }, placed)
        .catch((error: unknown) => deps.log(`instance ${record.id}: could not queue a remove for worker ${placed}: ${errorMessage(error)}`));
      deps.log(`instance ${record.id}: placed on worker ${workerId} (worker ${placed} is gone${replaces ? `; it may still run ${replaces.workloadId}, which the new worker reaps where it can` : ''})`);
    }
    return replaces ? { workerId, replaces } : { workerId };
  }

  /** A stop or remove: sent to the instance's worker, or queued for it while it is lost. */
  async function stopOrRemove(type: 'workload.stop' | 'workload.remove', input: StopWorkloadInput): Promise<StopWorkloadOutput> {
    const record = await deps.record(input.instanceId);
    let workerId = deps.placementOf(record);
    if (workerId === undefined) {
      if (input.workload === null) return {}; // never placed, nothing started: nothing runs anywhere
      // Started before placements were recorded: its platform's live worker (the one that re-adopted it) is its place now.
      workerId = await deps.workloads.place(record.platformType);
      await deps.place(record.id, workerId);
    }
    const payload = { graceMs: deps.stopGraceMs };
    try {
      await deps.workloads.send(record.platformType, type, record.id, payload, { workerId, timeoutMs: stopTimeoutMs });
      return {};
    } catch (error) {
      if (!(error instanceof WorkerLostError)) throw error;
      await deps.workloads.defer(record.platformType, type, record.id, payload, workerId);
      return { deferredTo: workerId };
    }
  }

  return createInstanceMachine({ now: deps.now }).provide({
    actors: {
      startWorkload: fromPromise<WorkloadRef, StartWorkloadInput>(async ({ input, signal }) => {
        const record = await deps.record(input.instanceId);
        deps.admit?.(record);
        // The machine's deadline holds two reply slacks beyond the driver's own timeout; after a recovery, less is left.
        const driverTimeoutMs = Math.max(1, Math.min(deps.startTimeoutMs, input.deadline - deps.now() - 2 * deps.replySlackMs));
        const { workerId, replaces } = await target(record, input);
        const spec = workloadSpec(record, driverTimeoutMs);
        if (replaces) spec.replaces = replaces;
        return deps.workloads.send(record.platformType, 'workload.start', record.id, spec, {
          workerId,
          timeoutMs: driverTimeoutMs + deps.replySlackMs,
          signal,
        });
      }),
      stopWorkload: fromPromise<StopWorkloadOutput, StopWorkloadInput>(({ input }) => stopOrRemove('workload.stop', input)),
      removeWorkload: fromPromise<StopWorkloadOutput, StopWorkloadInput>(({ input }) => stopOrRemove('workload.remove', input)),
    },
  });
}
