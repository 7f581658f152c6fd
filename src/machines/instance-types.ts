/**
 * Types of the instance lifecycle machine: its states, context, events and the
 * inputs of the side-effect actors it invokes. Plain data only, so a snapshot
 * can be persisted and an event can travel through the transport.
 */
import type { PlatformType, WorkloadRef } from '../platforms/driver.js';

export const instanceStatuses = [
  'Pending',
  'Starting',
  'Running',
  'Reconfiguring',
  'Stopping',
  'Stopped',
  'Failed',
  'Deleting',
  'Deleted',
] as const;
export type InstanceStatus = (typeof instanceStatuses)[number];

/** What the user asked for. */
export type DesiredState = 'Running' | 'Stopped' | 'Deleted';

/** What the platform last reported about the workload. */
export const observedStates = ['None', 'Starting', 'Running', 'Stopped', 'Exited', 'Failed', 'Unknown'] as const;
export type ObservedState = (typeof observedStates)[number];

/** Who reported a failure through `POST /api/status/updates`: its own `source`, and the address it sent from (HTTP only). */
export interface ReportedBy {
  source: string;
  remoteAddress?: string;
}

export interface Failure {
  reason: string;
  /** ISO 8601. */
  at: string;
  /** Set when the failure is an outside report rather than something the platform saw. */
  reportedBy?: ReportedBy;
  exitCode?: number | null;
  signal?: string | null;
  lastLogLines?: string[];
  details?: Record<string, unknown>;
}

/**
 * The worker an instance was placed on is gone (its presence expired, or it
 * withdrew) while a workload of the instance may still run there. Kept until
 * the worker returns or a replacement runs elsewhere.
 */
export interface WorkerLost {
  workerId: string;
  /** ISO 8601: when the control plane first found it gone. */
  since: string;
}

/** One transition: what caused it and when. */
export interface HistoryEntry {
  /** ISO 8601. */
  at: string;
  from: InstanceStatus | null;
  to: InstanceStatus;
  /** The event type that caused the transition. */
  cause: string;
  reason?: string;
}

/**
 * How a configuration change reaches a Running instance: `auto` applies it
 * to the running server through its own API where only components changed,
 * else restarts; `restart` always restarts; `manual` only records the new
 * generation (it runs at the next start).
 */
export const updateStrategies = ['auto', 'restart', 'manual'] as const;
export type UpdateStrategy = (typeof updateStrategies)[number];

/** Why the instance is Reconfiguring: a new generation to apply, or drift to repair towards the generation that runs. */
export type ReconfigureCause = 'configuration' | 'drift';

/** The last drift found on the running server: what differed from what DRaaS says runs. */
export interface DriftNote {
  /** ISO 8601. */
  at: string;
  differences: string[];
}

export interface RestartPolicy {
  /** First delay after a failure while the desired state is Running. */
  initialBackoffMs: number;
  maxBackoffMs: number;
  /** A crash after the server ran this long counts as the first failure again (default 60 s). */
  resetAfterMs?: number;
}

/**
 * What an instance was created with and keeps for its whole life, in one
 * field of the context (see `InstanceContext`).
 */
export interface InstanceSettings {
  platform: PlatformType;
  startTimeoutMs: number;
  restartPolicy: RestartPolicy;
  historyLimit: number;
}

/**
 * The machine's context. At most 19 fields: XState's `assign` copies the
 * context into an empty object, and V8 keeps such an object in fast mode only
 * up to 19 properties — beyond, every context is a dictionary and each assign
 * costs ~20x more (test/machines/instance-context-shape.test.ts checks it).
 */
export interface InstanceContext {
  instanceId: string;
  settings: InstanceSettings;
  /** The state the machine is in (kept in context so each transition knows where it came from). */
  status: InstanceStatus | null;
  desired: DesiredState;
  observed: ObservedState;
  /** Bumped on every accepted configuration change. */
  generation: number;
  /** The generation the workload actually runs (null before the first start). */
  observedGeneration: number | null;
  /**
   * The workload that runs, or may still run: set by a start, cleared by a
   * confirmed stop or exit. Kept when a stop could only be queued for a lost
   * worker, and when a lost worker's instance is started elsewhere (the
   * replacement is told to reap it, see `WorkloadSpec.replaces`).
   */
  workload: WorkloadRef | null;
  /**
   * The worker that ran the latest workload. Kept after a stop: that worker
   * holds its working directory and logs, so stop, remove and logs go there.
   */
  lastWorkerId: string | null;
  failure: Failure | null;
  /** Set while the worker that may run this instance's workload is lost (see `WorkerLost`). */
  workerLost: WorkerLost | null;
  /** Consecutive failed starts or crashes since the last healthy start. */
  consecutiveFailures: number;
  /** Set by restart: after Stopping, start again. */
  restartPending: boolean;
  /**
   * Absolute deadlines (epoch ms). XState `after` delays are not restored from
   * a persisted snapshot, so the delays are derived from these on re-entry.
   */
  startDeadline: number | null;
  retryAt: number | null;
  history: HistoryEntry[];
  /** Set while Reconfiguring: what the apply is for. */
  reconfigure: ReconfigureCause | null;
  /** The last drift found (kept after its repair, for the Drifted condition's message). */
  drift: DriftNote | null;
  /** Why the next transition happens, recorded as its history entry's reason (then cleared). */
  note: string | null;
}

export interface InstanceInput {
  instanceId: string;
  platform: PlatformType;
  generation?: number;
  startTimeoutMs: number;
  restartPolicy: RestartPolicy;
  historyLimit?: number;
}

/** Requests a user makes (through HTTP or the library API). */
export type InstanceRequestEvent =
  | { type: 'instance.start' }
  | { type: 'instance.stop' }
  | { type: 'instance.restart' }
  | { type: 'instance.delete' }
  /** `update`: how a Running instance takes it (the instance's `updateStrategy`, or the request's); `manual` when absent. */
  | { type: 'instance.configure'; generation: number; update?: UpdateStrategy };

/**
 * Sent once by the control plane to an actor restored from a persisted
 * snapshot: re-enters a state whose side effect or deadline was in flight
 * (XState restores neither `after` timers nor promise actors), so that the
 * command is sent again (workers handle it idempotently) and the timers are
 * re-armed from the absolute deadlines in context. Recorded in the history.
 */
export interface InstanceRecoverEvent {
  type: 'instance.recover';
}

/** Facts the platform reports. */
export type InstanceObservationEvent =
  | {
      type: 'workload.exited';
      workloadId: string;
      exitCode: number | null;
      signal: string | null;
      lastLogLines: string[];
      details?: Record<string, unknown>;
    }
  | { type: 'observed.report'; status: 'Running' | 'Stopped' | 'Failed'; source: string; remoteAddress?: string; message?: string }
  /**
   * The instance's worker is gone. `expired`: gone for longer than the
   * control plane's `workerLostTimeout`, so a Running instance is started
   * elsewhere.
   */
  | { type: 'worker.lost'; workerId: string; since: string; expired?: boolean }
  | { type: 'worker.returned'; workerId: string }
  /** The reconciler found the running server's components differ from the generation it runs. */
  | { type: 'instance.drifted'; workloadId: string; differences: string[] };

export type InstanceEvent = InstanceRequestEvent | InstanceObservationEvent | InstanceRecoverEvent;

export interface StartWorkloadInput {
  instanceId: string;
  generation: number;
  /** Absolute deadline (epoch ms) for the workload to become healthy. */
  deadline: number;
  /** The workload that may still run (on a lost worker): a replacement elsewhere reaps it first. */
  previous: WorkloadRef | null;
  workerLost: WorkerLost | null;
}

export interface StopWorkloadInput {
  instanceId: string;
  /** The workload that runs or may run (null: nothing of the instance can run anywhere). */
  workload: WorkloadRef | null;
}

export interface ApplyConfigurationInput {
  instanceId: string;
  /** The workload the change is applied to (the running server). */
  workload: WorkloadRef | null;
  /** `configuration`: the record's generation is applied; `drift`: the server is brought back to the one it runs. */
  cause: ReconfigureCause;
  /** The generation the server runs now. */
  observedGeneration: number | null;
}

/** How an apply ended: applied without a restart (`generation` now runs), or a restart is needed, and why. */
export type ApplyConfigurationOutput =
  | { outcome: 'applied'; generation: number; summary: string[] }
  | { outcome: 'restart'; reasons: string[] };

/** How a stop or remove ended: done, or queued for a lost worker (it runs when that worker returns). */
export interface StopWorkloadOutput {
  deferredTo?: string;
}
