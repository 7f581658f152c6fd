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
import { compareWithServer, planConfigChange } from '../drasi/component-plan.js';
import { buildServerConfig, parseDrasiConfig } from '../drasi/index.js';
import { DraasError, WorkerLostError, errorMessage, errorTable } from '../errors.js';
import { createInstanceMachine, type InstanceMachine } from '../machines/instance.js';
import type { ApplyConfigurationInput, ApplyConfigurationOutput, StartWorkloadInput, StopWorkloadInput, StopWorkloadOutput } from '../machines/instance-types.js';
import type { WorkloadRef, WorkloadSpec } from '../platforms/driver.js';
import type { InstanceRecord, RunningConfiguration } from '../store/instance-store.js';
import { sleep } from '../time-bounds.js';
import type { WorkloadClient } from './workload-client.js';
import { type Logger } from '../observability/logger.js';

/** How often, and how far apart, an apply that lost its server asks whether the server exited. */
const EXIT_CHECKS = 5;
const EXIT_CHECK_MS = 200;

/** The longest one apply (or one read of the server's components) may take at the worker. */
const APPLY_TIMEOUT_MS = 30_000;

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
  log: Logger;
}

/** The config document a server of this configuration runs (without its port, which the platform assigns). Pure. */
export function serverDocument(id: string, running: Pick<RunningConfiguration, 'serverConfiguration' | 'configuration'>): Record<string, unknown> {
  const server = running.serverConfiguration;
  return buildServerConfig(parseDrasiConfig(running.configuration), {
    id,
    host: server.host,
    ...(server.logLevel !== undefined ? { logLevel: server.logLevel } : {}),
  });
}

/**
 * The config document of a generation a server runs, when the record can
 * tell: its own generation's, or a copy kept when a newer one was recorded
 * while it ran. Undefined when it holds neither. Pure.
 */
export function runningDocument(record: InstanceRecord, generation: number | null): Record<string, unknown> | undefined {
  if (generation === null) return undefined;
  if (generation === record.generation) return serverDocument(record.id, record);
  const kept = record.runningConfigurations?.find((entry) => entry.generation === generation);
  return kept ? serverDocument(record.id, kept) : undefined;
}

/**
 * The copies to keep when a newer generation is recorded: of the generation
 * the server runs, and, while an apply is in flight, of the record's
 * generation until now (the apply may bring the server to it). Pure.
 */
export function keptConfigurations(record: InstanceRecord, running: { observedGeneration: number | null; hasWorkload: boolean; applying: boolean }): RunningConfiguration[] {
  const own: RunningConfiguration = { generation: record.generation, serverConfiguration: record.serverConfiguration, configuration: record.configuration };
  const candidates = [...(record.runningConfigurations ?? []), own];
  const wanted = new Set<number>();
  if (running.hasWorkload && running.observedGeneration !== null) wanted.add(running.observedGeneration);
  if (running.applying) wanted.add(record.generation);
  return candidates.filter((entry) => wanted.has(entry.generation));
}

/** What a worker needs to run the record's current generation. Pure. */
export function workloadSpec(record: InstanceRecord, startTimeoutMs: number): WorkloadSpec {
  const server = record.serverConfiguration;
  const spec: WorkloadSpec = {
    instanceId: record.id,
    generation: record.generation,
    config: serverDocument(record.id, record),
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
        .catch((error: unknown) => deps.log.error(`instance ${record.id}: could not queue a remove for worker ${placed}: ${errorMessage(error)}`, { instanceId: record.id, workerId: placed }));
      deps.log.warn(`instance ${record.id}: placed on worker ${workerId} (worker ${placed} is gone${replaces ? `; it may still run ${replaces.workloadId}, which the new worker reaps where it can` : ''})`, { instanceId: record.id, workerId });
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

  /**
   * Brings the running server to the generation to apply (a configuration
   * change) or back to the one it runs (drift), through the server's own
   * component API. Level-triggered: whatever the planned difference between
   * the two generations, the calls made are those that turn what the server
   * reports now into the target (so an apply cut short, or repeated after a
   * control-plane restart, ends in the same place). Answers `restart`, with
   * why, when only a restart can do it: server-level fields changed, a call
   * failed, the server or its API cannot be reached. Throws only when no
   * answer came (the worker lost, the transport down): the server then runs
   * what it ran, and nothing is restarted.
   */
  async function applyConfiguration(input: ApplyConfigurationInput, signal: AbortSignal): Promise<ApplyConfigurationOutput> {
    const record = await deps.record(input.instanceId);
    const workerId = deps.placementOf(record);
    if (!input.workload || workerId === undefined) return { outcome: 'restart', reasons: ['no running workload is known to apply it to'] };
    const running = runningDocument(record, input.observedGeneration);
    if (!running) return { outcome: 'restart', reasons: [`the configuration of generation ${input.observedGeneration ?? '?'}, which runs, is not recorded`] };
    let target = running;
    let generation = input.observedGeneration ?? record.generation;
    let summary: string[] | undefined;
    if (input.cause === 'configuration' && record.generation !== generation) {
      target = serverDocument(record.id, record);
      generation = record.generation;
      const plan = planConfigChange(running, target);
      if (plan.kind === 'restart') return { outcome: 'restart', reasons: plan.reasons };
      summary = plan.kind === 'hot' ? plan.summary : [];
    }
    const options = { workerId, timeoutMs: APPLY_TIMEOUT_MS + deps.replySlackMs };
    /**
     * A server that did not answer may have died: then its exit (with its
     * facts) is what the instance reports, not a failed apply. That report
     * moves the instance on, which ends this apply; a server that still runs
     * is restarted.
     */
    const restartUnlessGone = async (reason: string): Promise<ApplyConfigurationOutput> => {
      // A broken connection is often seen before the platform has seen the exit: ask a few times.
      for (let attempt = 0; attempt < EXIT_CHECKS && !signal.aborted; attempt++) {
        const state = await deps.workloads.send(record.platformType, 'workload.inspect', record.id, {}, options).catch(() => undefined);
        if (state !== undefined && state.state !== 'running') {
          await sleep(deps.replySlackMs, signal);
          break;
        }
        await sleep(EXIT_CHECK_MS, signal);
      }
      return { outcome: 'restart', reasons: [reason] };
    };
    try {
      const observed = await deps.workloads.send(record.platformType, 'workload.components', record.id, { full: true }, options);
      const drift = compareWithServer(target, observed);
      if (drift.repair.length > 0) {
        const result = await deps.workloads.send(record.platformType, 'workload.apply', record.id, { calls: drift.repair }, options);
        if (!result.ok) {
          const after = result.applied.length > 0 ? ` (after ${result.applied.length} call(s) succeeded)` : '';
          const reason = `${result.failed.message}${after}`;
          return result.failed.retryable ? restartUnlessGone(reason) : { outcome: 'restart', reasons: [reason] };
        }
      }
      return { outcome: 'applied', generation, summary: summary ?? drift.differences.map((difference) => difference.message) };
    } catch (error) {
      // No answer through the transport (Redis down, the worker lost or slow): nothing is known of the server, so
      // nothing is restarted; the machine records the change as not applied.
      if (error instanceof WorkerLostError || (error instanceof DraasError && errorTable[error.code].retryable)) throw error;
      return restartUnlessGone(errorMessage(error));
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
      applyConfiguration: fromPromise<ApplyConfigurationOutput, ApplyConfigurationInput>(({ input, signal }) => applyConfiguration(input, signal)),
    },
  });
}
