/**
 * `PlatformDriver.start`, the same on every platform: prepare (the
 * platform's checks), take a port, create the workload, wait until the
 * platform judges it ready; and when anything fails, say why and leave
 * nothing running and no port held. A driver supplies what is its own as a
 * `WorkloadLauncher`; the sequence, the coalescing of concurrent starts and
 * the failure report are here, once.
 */
import { WorkloadFailedError, type DraasError } from '../errors.js';
import type { WorkloadExit, WorkloadRef, WorkloadSpec } from './driver.js';
import type { TrackedWorkload, WorkloadTable } from './workload-table.js';
import { noExit } from './workload-support.js';

/**
 * Whether a workload became ready, and if not, the last thing that was wrong
 * (e.g. the last probe's error). `HealthProbeOutcome` is one.
 */
export type Readiness = { healthy: true } | { healthy: false; lastError: string | undefined };

/** The exit facts a failed start reports (`requested` is implied: the start gave up). */
export type StartFailureExit = Omit<WorkloadExit, 'requested'>;

/** What a platform supplies to `startWorkload`. `P` is whatever `prepare` found out (options, an executable, an image). */
export interface WorkloadLauncher<W extends TrackedWorkload, P> {
  /**
   * Everything that can fail before a port is taken: the driver is open, the
   * platform options parse (a `BadRequestError`), the executable or image is
   * there, the platform is reachable. Throws `WorkloadFailedError` or
   * `BadRequestError`; creates nothing.
   */
  prepare(spec: WorkloadSpec, signal: AbortSignal | undefined): Promise<P>;
  /**
   * Creates and launches the workload listening on `port`, and `track`s it in
   * the table as soon as it exists (so that an exit, however early, finds
   * it). Calls `table.forgetExit` once the previous workload is gone for good.
   * On a throw the port is released; a `WorkloadFailedError` is passed on,
   * anything else goes through `createFailed`.
   */
  create(spec: WorkloadSpec, prepared: P, port: number, signal: AbortSignal | undefined): Promise<W>;
  /** The error a failed create ends the start with (an engine that was not reached may say so: a 503, not a failed workload). */
  createFailed(error: unknown, spec: WorkloadSpec, prepared: P): DraasError;
  /**
   * Resolves when the platform judges the workload ready — its `/health`
   * answered 200 (process, Docker) or its Deployment reports a ready replica
   * (Kubernetes) — or when `spec.startTimeoutMs` passed or `signal` aborted
   * (the start was aborted, or the workload exited). Never rejects.
   */
  ready(workload: W, spec: WorkloadSpec, prepared: P, signal: AbortSignal): Promise<Readiness>;
  /** After `ready`, before the start resolves (e.g. record the workload as running). Optional. */
  onReady?(workload: W): Promise<void>;
  /** Hard-kills a workload whose start failed while it still runs (`stopRequested` is set already). */
  kill(workload: W): Promise<void>;
  /**
   * Waits (bounded) until the workload of a failed start has exited and
   * returns its exit facts; what it could not learn is null and empty.
   */
  settle(workload: W): Promise<StartFailureExit>;
  /** Why a workload that exited by itself during its start failed (`the server exited with code 1 …: Error: …`). */
  describeEarlyExit(exit: StartFailureExit): string;
}

/** Starts the instance's workload (see `PlatformDriver.start`). */
export function startWorkload<W extends TrackedWorkload, P>(
  table: WorkloadTable<W>,
  spec: WorkloadSpec,
  signal: AbortSignal | undefined,
  launcher: WorkloadLauncher<W, P>,
): Promise<WorkloadRef> {
  return table.start(spec.instanceId, () => launch(table, spec, signal, launcher));
}

async function launch<W extends TrackedWorkload, P>(table: WorkloadTable<W>, spec: WorkloadSpec, signal: AbortSignal | undefined, launcher: WorkloadLauncher<W, P>): Promise<WorkloadRef> {
  const prepared = await launcher.prepare(spec, signal);
  throwIfAborted(signal, spec.instanceId);
  const port = await table.assignPort(spec);
  let workload: W;
  try {
    throwIfAborted(signal, spec.instanceId);
    workload = await launcher.create(spec, prepared, port, signal);
  } catch (error) {
    table.releasePort(spec.instanceId);
    throw error instanceof WorkloadFailedError ? error : launcher.createFailed(error, spec, prepared);
  }
  return awaitReady(table, workload, spec, prepared, signal, launcher);
}

async function awaitReady<W extends TrackedWorkload, P>(
  table: WorkloadTable<W>,
  workload: W,
  spec: WorkloadSpec,
  prepared: P,
  signal: AbortSignal | undefined,
  launcher: WorkloadLauncher<W, P>,
): Promise<WorkloadRef> {
  const waitStop = new AbortController();
  const stopWaiting = (): void => waitStop.abort();
  signal?.addEventListener('abort', stopWaiting, { once: true });
  workload.exitSignal.signal.addEventListener('abort', stopWaiting, { once: true });
  // Either may have happened already (listeners added to an aborted signal never fire).
  if (signal?.aborted || workload.phase === 'exited') stopWaiting();
  let outcome: Readiness;
  try {
    outcome = await launcher.ready(workload, spec, prepared, waitStop.signal);
  } finally {
    signal?.removeEventListener('abort', stopWaiting);
    workload.exitSignal.signal.removeEventListener('abort', stopWaiting);
  }

  if (outcome.healthy && workload.phase === 'starting') {
    workload.phase = 'running';
    await launcher.onReady?.(workload);
    return workload.ref;
  }

  // The start failed: say why, and leave nothing running.
  let reason = workload.phase === 'exited' ? '' : notReadyReason(spec, signal?.aborted === true, outcome);
  if (workload.phase !== 'exited') {
    workload.stopRequested = true;
    await launcher.kill(workload);
  }
  const exit = await launcher.settle(workload);
  table.releasePort(spec.instanceId);
  if (reason === '') reason = launcher.describeEarlyExit(exit);
  throw new WorkloadFailedError(reason, { exitCode: exit.exitCode, signal: exit.signal, lastLogLines: exit.lastLogLines, ...(exit.details ?? {}) });
}

/** Why a start that did not see its workload exit failed: aborted, or not ready in time (with the last error seen). */
export function notReadyReason(spec: WorkloadSpec, aborted: boolean, outcome: Readiness): string {
  if (aborted) return `the start of "${spec.instanceId}" was aborted`;
  const last = !outcome.healthy && outcome.lastError ? ` (last probe: ${outcome.lastError})` : '';
  return `the server did not become healthy within ${spec.startTimeoutMs} ms${last}`;
}

export function throwIfAborted(signal: AbortSignal | undefined, instanceId: string): void {
  if (signal?.aborted) throw new WorkloadFailedError(`the start of "${instanceId}" was aborted`, noExit());
}
