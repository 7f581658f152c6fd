/**
 * When is a user's request answered? A request is sent to the instance actor
 * and then every following snapshot is offered to its settlement until one
 * returns an outcome. Pure: decides from snapshots (and from which request
 * the actor accepted last) only.
 *
 * A lifecycle request is answered when the machine gets where it asked for,
 * or fails getting there, or at once when a later request changes the
 * desired state (409 "superseded by <the later request>"): the machine
 * accepts a stop while Starting, so a DELETE overtaken by a stop would
 * otherwise wait for a Deleted that never comes.
 */
import { ConflictError, DraasError, errorTable, isErrorCode, WorkloadFailedError } from '../errors.js';
import type { Failure, InstanceContext, InstanceRequestEvent, InstanceStatus } from '../machines/instance-types.js';

export interface SnapshotView {
  status: InstanceStatus;
  context: InstanceContext;
}

export type Outcome = { ok: true } | { ok: false; error: Error } | undefined;

/** The type of the last request event the actor accepted (the one that superseded an earlier request). */
export type LatestRequest = InstanceRequestEvent['type'] | undefined;

/** Offered every snapshot after the request was sent, until it returns an outcome. */
export type Settlement = (view: SnapshotView, latest: LatestRequest) => Outcome;

/** Turns a recorded failure into the error a caller should see (503/504 for transport faults). */
export function errorFromFailure(failure: Failure | null, status: InstanceStatus): DraasError {
  if (!failure) return new WorkloadFailedError(`instance is ${status}`, { state: status });
  const { code, ...facts } = failure.details ?? {};
  const details: Record<string, unknown> = { ...facts, state: status };
  if (failure.exitCode !== undefined) details.exitCode = failure.exitCode;
  if (failure.signal !== undefined) details.signal = failure.signal;
  if (failure.lastLogLines) details.lastLogLines = failure.lastLogLines;
  // Retryable faults (no worker, no answer, a replica that lost the instance) keep their code (503/504): the workload itself did not fail.
  if (isErrorCode(code) && errorTable[code].retryable) return new DraasError(code, failure.reason, details);
  return new WorkloadFailedError(failure.reason, details);
}

function opOf(type: InstanceRequestEvent['type']): string {
  return type.replace('instance.', '');
}

/** A later request changed what this one asked for: answered at once, naming that request. */
function superseded(event: InstanceRequestEvent, view: SnapshotView, latest: LatestRequest): Outcome {
  const by = latest === undefined ? 'a later request' : opOf(latest);
  const { instanceId, desired } = view.context;
  return {
    ok: false,
    error: new ConflictError(
      `${opOf(event.type)} of instance "${instanceId}" superseded by ${by}: it is now ${view.status}, desired ${desired}`,
      { state: view.status, desired, supersededBy: by },
    ),
  };
}

/** Returns a settlement function; it may keep state across snapshots (restart must see a new start). */
export function settlementFor(event: InstanceRequestEvent): Settlement {
  switch (event.type) {
    case 'instance.start':
      return (view, latest) => {
        if (view.status === 'Running') return { ok: true };
        if (view.status === 'Failed') return { ok: false, error: errorFromFailure(view.context.failure, view.status) };
        if (view.context.desired !== 'Running') return superseded(event, view, latest);
        return undefined;
      };
    case 'instance.restart': {
      let started = false;
      return (view, latest) => {
        if (view.status === 'Starting') started = true;
        if (view.status === 'Running' && started) return { ok: true };
        if (view.status === 'Failed') return { ok: false, error: errorFromFailure(view.context.failure, view.status) };
        if (view.context.desired !== 'Running') return superseded(event, view, latest);
        return undefined;
      };
    }
    case 'instance.stop':
      return (view, latest) => {
        if (view.status === 'Stopped') return { ok: true };
        if (view.status === 'Failed') return { ok: false, error: errorFromFailure(view.context.failure, view.status) };
        if (view.context.desired !== 'Stopped') return superseded(event, view, latest);
        return undefined;
      };
    case 'instance.delete':
      return (view, latest) => {
        if (view.status === 'Deleted') return { ok: true };
        if (view.status === 'Failed') return { ok: false, error: errorFromFailure(view.context.failure, view.status) };
        if (view.context.desired !== 'Deleted') return superseded(event, view, latest);
        return undefined;
      };
    case 'instance.configure':
      return () => ({ ok: true });
  }
}
