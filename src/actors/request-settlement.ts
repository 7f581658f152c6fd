/**
 * When is a user's request answered? A request is sent to the instance actor
 * and then every following snapshot is offered to its settlement until one
 * returns an outcome. Pure: decides from snapshots only.
 */
import { ConflictError, DraasError, WorkloadFailedError } from '../errors.js';
import type { Failure, InstanceContext, InstanceRequestEvent, InstanceStatus } from '../machines/instance-types.js';

export interface SnapshotView {
  status: InstanceStatus;
  context: InstanceContext;
}

export type Outcome = { ok: true } | { ok: false; error: Error } | undefined;

/** Turns a recorded failure into the error a caller should see (503/504 for transport faults). */
export function errorFromFailure(failure: Failure | null, status: InstanceStatus): DraasError {
  if (!failure) return new WorkloadFailedError(`instance is ${status}`, { state: status });
  const { code, ...facts } = failure.details ?? {};
  const details: Record<string, unknown> = { ...facts, state: status };
  if (failure.exitCode !== undefined) details.exitCode = failure.exitCode;
  if (failure.signal !== undefined) details.signal = failure.signal;
  if (failure.lastLogLines) details.lastLogLines = failure.lastLogLines;
  // Transport faults keep their retryable code (503/504): the workload itself did not fail.
  if (code === 'no-live-worker' || code === 'worker-timeout' || code === 'unavailable') return new DraasError(code, failure.reason, details);
  return new WorkloadFailedError(failure.reason, details);
}

function superseded(view: SnapshotView): Outcome {
  return {
    ok: false,
    error: new ConflictError(`request superseded: the instance is now ${view.status} (desired ${view.context.desired})`, {
      state: view.status,
    }),
  };
}

/** Returns a settlement function; it may keep state across snapshots (restart must see a new start). */
export function settlementFor(event: InstanceRequestEvent): (view: SnapshotView) => Outcome {
  switch (event.type) {
    case 'instance.start':
      return (view) => {
        if (view.status === 'Running') return { ok: true };
        if (view.status === 'Failed') return { ok: false, error: errorFromFailure(view.context.failure, view.status) };
        if (view.context.desired !== 'Running') return superseded(view);
        return undefined;
      };
    case 'instance.restart': {
      let started = false;
      return (view) => {
        if (view.status === 'Starting') started = true;
        if (view.status === 'Running' && started) return { ok: true };
        if (view.status === 'Failed') return { ok: false, error: errorFromFailure(view.context.failure, view.status) };
        if (view.context.desired !== 'Running') return superseded(view);
        return undefined;
      };
    }
    case 'instance.stop':
      return (view) => {
        if (view.status === 'Stopped') return { ok: true };
        if (view.status === 'Failed') return { ok: false, error: errorFromFailure(view.context.failure, view.status) };
        if (view.context.desired !== 'Stopped') return superseded(view);
        return undefined;
      };
    case 'instance.delete':
      return (view) => {
        if (view.status === 'Deleted') return { ok: true };
        if (view.status === 'Failed') return { ok: false, error: errorFromFailure(view.context.failure, view.status) };
        return undefined;
      };
    case 'instance.configure':
      return () => ({ ok: true });
  }
}
