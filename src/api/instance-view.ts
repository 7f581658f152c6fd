/**
 * What callers see of an instance (HTTP responses and library results).
 * Enums are strings.
 */
import type { SnapshotView } from '../actors/request-settlement.js';
import type { Failure, HistoryEntry, InstanceStatus } from '../machines/instance-types.js';
import type { InstanceRecord } from '../store/instance-store.js';

export interface InstanceView {
  id: string;
  name: string;
  description: string;
  platformType: string;
  status: InstanceStatus;
  desiredState: string;
  observedState: string;
  generation: number;
  observedGeneration: number | null;
  serverConfiguration: InstanceRecord['serverConfiguration'];
  /** The platform's options as given at create (empty when none). */
  platformOptions: Record<string, unknown>;
  /** Where the workload runs, while it runs. */
  runtime: { workloadId: string; port: number; url: string; startedAt: string; generation: number } | null;
  /** The worker the instance is placed on: every command for it goes there (it keeps its working directory and logs). */
  workerId: string | null;
  /** What is abnormal beyond the status, e.g. `WorkerLost` (its worker is gone; its workload may still run there). */
  conditions: InstanceCondition[];
  failure: Failure | null;
  /** When the next automatic restart is due (ISO 8601), while Failed with desired Running. */
  nextRetryAt: string | null;
  restartCount: number;
  /** The newest entry of the status history (a list shows it without fetching the whole history); null before any. */
  lastTransition: HistoryEntry | null;
  createdAt: string;
  updatedAt: string;
}

export interface InstanceCondition {
  type: 'WorkerLost';
  workerId: string;
  /** ISO 8601. */
  since: string;
  message: string;
}

export interface InstanceStatusView {
  instanceId: string;
  status: InstanceStatus;
  desiredState: string;
  observedState: string;
  generation: number;
  observedGeneration: number | null;
  conditions: InstanceCondition[];
  failure: Failure | null;
  history: HistoryEntry[];
}

function conditionsOf(context: SnapshotView['context']): InstanceCondition[] {
  const lost = context.workerLost;
  if (!lost) return [];
  return [
    {
      type: 'WorkerLost',
      workerId: lost.workerId,
      since: lost.since,
      message: `worker ${lost.workerId} is lost since ${lost.since}; the instance's workload may still run there, and is not started elsewhere until it returns (or the worker-lost timeout passes)`,
    },
  ];
}

export function instanceView(record: InstanceRecord, view: SnapshotView): InstanceView {
  const { context } = view;
  const workload = context.workload;
  const probeHost = record.serverConfiguration.host === '0.0.0.0' ? '127.0.0.1' : record.serverConfiguration.host;
  return {
    id: record.id,
    name: record.id,
    description: record.description,
    platformType: record.platformType,
    status: view.status,
    desiredState: context.desired,
    observedState: context.observed,
    generation: context.generation,
    observedGeneration: context.observedGeneration,
    serverConfiguration: record.serverConfiguration,
    platformOptions: record.platformOptions ?? {},
    runtime: workload
      ? {
          workloadId: workload.workloadId,
          port: workload.port,
          url: `http://${probeHost}:${workload.port}`,
          startedAt: workload.startedAt,
          generation: workload.generation,
        }
      : null,
    workerId: record.placement?.workerId ?? context.lastWorkerId,
    conditions: conditionsOf(context),
    failure: context.failure,
    nextRetryAt: context.retryAt === null ? null : new Date(context.retryAt).toISOString(),
    restartCount: context.consecutiveFailures,
    lastTransition: context.history.at(-1) ?? null,
    createdAt: record.createdAt,
    updatedAt: record.updatedAt,
  };
}

export function instanceStatusView(view: SnapshotView): InstanceStatusView {
  const { context } = view;
  return {
    instanceId: context.instanceId,
    status: view.status,
    desiredState: context.desired,
    observedState: context.observed,
    generation: context.generation,
    observedGeneration: context.observedGeneration,
    conditions: conditionsOf(context),
    failure: context.failure,
    history: context.history,
  };
}
