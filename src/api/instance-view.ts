/**
 * What callers see of an instance (HTTP responses and library results).
 * Enums are strings.
 */
import type { SnapshotView } from '../actors/request-settlement.js';
import type { Failure, HistoryEntry, InstanceStatus, UpdateStrategy } from '../machines/instance-types.js';
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
  /** How configuration changes reach it while it runs (`auto`, `restart`, `manual`). */
  updateStrategy: UpdateStrategy;
  /** Where the workload runs, while it runs. */
  runtime: { workloadId: string; port: number; url: string; startedAt: string; generation: number } | null;
  /** The worker the instance is placed on: every command for it goes there (it keeps its working directory and logs). */
  workerId: string | null;
  /** Conditions in the Kubernetes style: Ready, ConfigApplied, Drifted, CrashLooping, WorkerLost (see `InstanceCondition`). */
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

export type ConditionType = 'Ready' | 'ConfigApplied' | 'Drifted' | 'CrashLooping' | 'WorkerLost';

/**
 * One aspect of an instance, as Kubernetes reports conditions: `status`
 * True, False or Unknown, a CamelCase `reason` and a sentence. Ready and
 * ConfigApplied are good when True; Drifted, CrashLooping and WorkerLost
 * when False.
 */
export interface InstanceCondition {
  type: ConditionType;
  status: 'True' | 'False' | 'Unknown';
  reason: string;
  message: string;
  /** ISO 8601: when what the condition tells began, where known. */
  since?: string;
  /** ConfigApplied: the generation configured and the one the server runs. */
  generation?: number;
  observedGeneration?: number | null;
  /** Drifted: the differences found last. */
  differences?: string[];
  /** CrashLooping: failed starts or crashes in a row, and when the next try is due. */
  failures?: number;
  nextRetryAt?: string | null;
  /** WorkerLost: the lost worker. */
  workerId?: string;
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

/** The instance's conditions, from its machine's context alone. Pure. */
export function conditionsOf(status: InstanceStatus, context: SnapshotView['context']): InstanceCondition[] {
  const last = context.history.at(-1);
  const ready = status === 'Running' && context.observed === 'Running';
  const conditions: InstanceCondition[] = [
    {
      type: 'Ready',
      status: ready ? 'True' : status === 'Running' ? 'Unknown' : 'False',
      reason: ready ? 'Running' : status === 'Running' ? `Observed${context.observed}` : status,
      message: ready ? 'the server runs and answers' : status === 'Running' ? `Running, but its workload is ${context.observed}` : `the instance is ${status}`,
      ...(last ? { since: last.at } : {}),
    },
    configApplied(status, context),
    drifted(status, context),
    crashLooping(status, context),
  ];
  const lost = context.workerLost;
  conditions.push(
    lost
      ? {
          type: 'WorkerLost',
          status: 'True',
          reason: 'WorkerGone',
          workerId: lost.workerId,
          since: lost.since,
          message: `worker ${lost.workerId} is lost since ${lost.since}; the instance's workload may still run there, and is not started elsewhere until it returns (or the worker-lost timeout passes)`,
        }
      : { type: 'WorkerLost', status: 'False', reason: 'WorkerPresent', message: 'its worker is present (or none was needed yet)' },
  );
  return conditions;
}

function configApplied(status: InstanceStatus, context: SnapshotView['context']): InstanceCondition {
  const { generation, observedGeneration } = context;
  const base = { type: 'ConfigApplied' as const, generation, observedGeneration };
  if (context.workload === null || observedGeneration === null) {
    return { ...base, status: 'Unknown', reason: 'NotRunning', message: `no server runs; the next start runs generation ${generation}` };
  }
  if (observedGeneration === generation) return { ...base, status: 'True', reason: 'Applied', message: `the server runs generation ${generation}` };
  if (status === 'Reconfiguring' && context.reconfigure === 'configuration') {
    return { ...base, status: 'False', reason: 'Applying', message: `generation ${generation} is being applied to the server, which runs ${observedGeneration}` };
  }
  return { ...base, status: 'False', reason: 'NotApplied', message: `the server runs generation ${observedGeneration}; generation ${generation} runs from its next start (or restart)` };
}

function drifted(status: InstanceStatus, context: SnapshotView['context']): InstanceCondition {
  const drift = context.drift;
  if (status === 'Reconfiguring' && context.reconfigure === 'drift' && drift) {
    return { type: 'Drifted', status: 'True', reason: 'Repairing', since: drift.at, differences: drift.differences, message: `the server differs from what it should run, being repaired: ${drift.differences.join('; ')}` };
  }
  if (drift) {
    return { type: 'Drifted', status: 'False', reason: 'Repaired', since: drift.at, differences: drift.differences, message: `no drift since the last repair (drift found at ${drift.at}: ${drift.differences.join('; ')})` };
  }
  return { type: 'Drifted', status: 'False', reason: 'NoDrift', message: 'no drift found' };
}

function crashLooping(status: InstanceStatus, context: SnapshotView['context']): InstanceCondition {
  const failures = context.consecutiveFailures;
  const nextRetryAt = context.retryAt === null ? null : new Date(context.retryAt).toISOString();
  if (failures >= 2 && context.desired === 'Running' && (status === 'Failed' || status === 'Starting')) {
    const next = nextRetryAt !== null ? `; next try at ${nextRetryAt}` : '';
    return { type: 'CrashLooping', status: 'True', reason: 'BackOff', failures, nextRetryAt, message: `${failures} failed starts or crashes in a row, retried with a growing delay${next} (a start request retries at once)` };
  }
  return { type: 'CrashLooping', status: 'False', reason: failures > 0 ? 'Recovering' : 'Healthy', failures, nextRetryAt, message: failures > 0 ? `${failures} failure(s) in a row` : 'no failure in a row' };
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
    updateStrategy: record.updateStrategy ?? 'auto',
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
    conditions: conditionsOf(view.status, context),
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
    conditions: conditionsOf(view.status, context),
    failure: context.failure,
    history: context.history,
  };
}
