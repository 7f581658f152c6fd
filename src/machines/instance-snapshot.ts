/**
 * Persisting and restoring instance actors. XState's persisted snapshot holds
 * the state, the context and the invoked children; children are dropped on
 * restore, because a restored actor is sent `instance.recover`, which
 * re-enters the state and invokes its side effect afresh (workers handle
 * start, stop and remove idempotently).
 */
import type { InstanceContext, InstanceStatus } from './instance-types.js';
import { instanceStatuses } from './instance-types.js';

/** What a restored snapshot must look like (checked before XState sees it). */
export interface RestorableSnapshot {
  status: 'active';
  output: undefined;
  error: undefined;
  value: InstanceStatus;
  context: InstanceContext;
  children: Record<string, never>;
  [key: string]: unknown;
}

export class SnapshotShapeError extends Error {
  override name = 'SnapshotShapeError';
}

export function toRestorable(snapshot: unknown, instanceId: string): RestorableSnapshot {
  if (typeof snapshot !== 'object' || snapshot === null) throw new SnapshotShapeError(`snapshot of "${instanceId}" is not an object`);
  const candidate = snapshot as Record<string, unknown>;
  const value = candidate.value;
  if (value === 'Deleted') throw new SnapshotShapeError(`snapshot of "${instanceId}" is of a deleted instance`);
  if (typeof value !== 'string' || !(instanceStatuses as readonly string[]).includes(value)) {
    throw new SnapshotShapeError(`snapshot of "${instanceId}" has an unknown state ${JSON.stringify(value)}`);
  }
  const context = candidate.context;
  if (typeof context !== 'object' || context === null || (context as { instanceId?: unknown }).instanceId !== instanceId) {
    throw new SnapshotShapeError(`snapshot of "${instanceId}" has no context for this instance`);
  }
  return {
    ...candidate,
    status: 'active',
    output: undefined,
    error: undefined,
    value: value as InstanceStatus,
    context: context as InstanceContext,
    children: {},
  };
}

const noChildren: Record<string, never> = Object.freeze({});

/**
 * The persisted form of a state with nothing in flight, as an idle instance
 * actor keeps it instead of an XState actor (see `InstanceActor`): what
 * XState's `getPersistedSnapshot` gives — the context holds no actor
 * references, so it needs no conversion — its context compacted
 * (`compactContext`), no children. From a persisted or a live snapshot.
 */
export function restingStateOf(persisted: { value: unknown; historyValue?: unknown; context: InstanceContext }): RestorableSnapshot {
  const historyValue = persisted.historyValue;
  const emptyHistory = typeof historyValue !== 'object' || historyValue === null || Object.keys(historyValue).length === 0;
  // XState's own key order, so that the saved JSON reads the same as an XState actor's.
  return {
    status: 'active',
    output: undefined,
    error: undefined,
    value: persisted.value as InstanceStatus,
    historyValue: emptyHistory ? noChildren : historyValue,
    context: compactContext(persisted.context),
    children: noChildren,
  };
}

/**
 * The context as one object literal. XState's `assign` builds each new
 * context by copying into an empty object, which V8 turns into a dictionary
 * once it holds this many fields (about 1.4 KiB instead of under 0.2 KiB per
 * context); a literal has them all in the object itself. Every field is
 * listed, so a field added to `InstanceContext` fails to compile here.
 */
export function compactContext(context: InstanceContext): InstanceContext {
  return {
    instanceId: context.instanceId,
    settings: context.settings,
    status: context.status,
    desired: context.desired,
    observed: context.observed,
    generation: context.generation,
    observedGeneration: context.observedGeneration,
    workload: context.workload,
    lastWorkerId: context.lastWorkerId,
    failure: context.failure,
    workerLost: context.workerLost,
    consecutiveFailures: context.consecutiveFailures,
    restartPending: context.restartPending,
    startDeadline: context.startDeadline,
    retryAt: context.retryAt,
    history: context.history,
    reconfigure: context.reconfigure,
    drift: context.drift,
    note: context.note,
  };
}

/**
 * Migrations of persisted snapshots, keyed by the machine version they
 * migrate from (see `checkSnapshotVersion`). Pure: each returns a new object.
 */
export const instanceSnapshotMigrations: Readonly<Record<number, (snapshot: unknown) => unknown>> = {
  // Version 2 added `workerLost` to the context (a lost worker's instances): none was known before.
  1: (snapshot) => withContextFields(snapshot, { workerLost: null }),
  // Version 3 added the Reconfiguring state and `reconfigure`, `drift` and `note` to the context: none was known before.
  2: (snapshot) => withContextFields(snapshot, { reconfigure: null, drift: null, note: null }),
  // Version 4 moved the fields an instance keeps for life into `settings` (a context of at most 19 fields stays fast).
  3: (snapshot) => withSettingsGathered(snapshot),
};

const settingsFields = ['platform', 'startTimeoutMs', 'restartPolicy', 'historyLimit'] as const;

/** The snapshot with its context's life-long fields gathered into `settings` (a context without them is left for the shape check). */
function withSettingsGathered(snapshot: unknown): unknown {
  if (typeof snapshot !== 'object' || snapshot === null) return snapshot;
  const candidate = snapshot as { context?: unknown };
  if (typeof candidate.context !== 'object' || candidate.context === null) return snapshot;
  const context: Record<string, unknown> = { ...candidate.context };
  const settings: Record<string, unknown> = {};
  for (const field of settingsFields) {
    settings[field] = context[field];
    delete context[field];
  }
  return { ...candidate, context: { ...context, settings } };
}

/** The snapshot with `fields` added to its context (anything else is left for the shape check to refuse). */
function withContextFields(snapshot: unknown, fields: Record<string, unknown>): unknown {
  if (typeof snapshot !== 'object' || snapshot === null) return snapshot;
  const candidate = snapshot as { context?: unknown };
  if (typeof candidate.context !== 'object' || candidate.context === null) return snapshot;
  return { ...candidate, context: { ...candidate.context, ...fields } };
}
