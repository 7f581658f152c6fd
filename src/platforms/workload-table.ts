/**
 * A driver's bookkeeping of its workloads, the same on every platform: which
 * workload each instance runs (or starts), the start in flight per instance,
 * the last exit (kept for `inspect` until the next start or a remove), the
 * port each instance had last, and the `watch` listeners. No I/O: the
 * platform's own code creates, probes, signals and reads workloads.
 */
import { errorMessage, WorkloadFailedError } from '../errors.js';
import type { WorkloadEvent, WorkloadExit, WorkloadRef, WorkloadSpec } from './driver.js';
import type { PortAssignment } from './port-assignment.js';
import { coalescedStart, noExit, WorkloadListeners } from './workload-support.js';
import { directServerHttp, type ServerHttp } from './timed-fetch.js';

export type WorkloadPhase = 'starting' | 'running' | 'exited';

/** What the table needs of a platform's workload record (which adds its own fields: a pid, a container id, ...). */
export interface TrackedWorkload {
  readonly ref: WorkloadRef;
  /** `starting` until the start saw it ready, `running` after, `exited` once its exit is being recorded. */
  phase: WorkloadPhase;
  /** A stop (or a failed start) asked it to go: its exit is `requested`. */
  stopRequested: boolean;
  /** Aborted when the workload exits, so that a readiness wait stops at once. */
  readonly exitSignal: AbortController;
  /** Resolves once the exit has been recorded (never rejects). */
  readonly exited: Promise<WorkloadExit>;
}

/** The `exited` promise of a new workload record and the function that resolves it. */
export function exitLatch(): { exited: Promise<WorkloadExit>; recordExit: (exit: WorkloadExit) => void } {
  let recordExit: (exit: WorkloadExit) => void = () => undefined;
  const exited = new Promise<WorkloadExit>((resolve) => {
    recordExit = resolve;
  });
  return { exited, recordExit };
}

export class WorkloadTable<W extends TrackedWorkload> {
  private readonly workloads = new Map<string, W>();
  private readonly starts = new Map<string, Promise<WorkloadRef>>();
  private readonly lastExits = new Map<string, { ref: WorkloadRef; exit: WorkloadExit }>();
  private readonly lastPorts = new Map<string, number>();
  /** Where each instance's server API was reached at its last start (see `serverApi`). */
  private readonly apiHosts = new Map<string, string>();
  private readonly listeners = new WorkloadListeners();
  private readonly ports: PortAssignment;
  private readonly clock: () => number;

  constructor(options: { ports: PortAssignment; clock: () => number }) {
    this.ports = options.ports;
    this.clock = options.clock;
  }

  /** The instance's current workload (starting, running, or exited while its exit is recorded). */
  get(instanceId: string): W | undefined {
    return this.workloads.get(instanceId);
  }

  has(instanceId: string): boolean {
    return this.workloads.has(instanceId);
  }

  workloadsNow(): W[] {
    return [...this.workloads.values()];
  }

  /** Refs of the workloads that run (a starting one is not listed until it is ready). */
  list(): WorkloadRef[] {
    return this.workloadsNow()
      .filter((workload) => workload.phase === 'running')
      .map((workload) => workload.ref);
  }

  /**
   * `PlatformDriver.start`'s outer shape: a running workload's ref, else the
   * start in flight for the instance, else `launch()` (one at a time).
   */
  start(instanceId: string, launch: () => Promise<WorkloadRef>): Promise<WorkloadRef> {
    const running = this.workloads.get(instanceId);
    if (running?.phase === 'running') return Promise.resolve(running.ref);
    return coalescedStart(this.starts, instanceId, launch);
  }

  /** A start of the instance is in flight. */
  starting(instanceId: string): boolean {
    return this.starts.has(instanceId);
  }

  /** Records the instance's new workload, before it is ready, so that an early exit finds it. */
  track(workload: W): void {
    this.workloads.set(workload.ref.instanceId, workload);
  }

  /**
   * Records a workload found running (re-adoption): its port is held again
   * (when another instance of this process holds it, the workload holds it
   * anyway, so no assignment can hand it out) and any older exit is dropped.
   */
  adopt(workload: W): void {
    try {
      this.ports.hold(workload.ref.instanceId, workload.ref.port);
    } catch {
      // Held elsewhere in this process: the workload holds the port anyway.
    }
    this.lastExits.delete(workload.ref.instanceId);
    this.track(workload);
  }

  /** The port for the instance's next workload: the one the user asked for, else preferably its last one. */
  async assignPort(spec: WorkloadSpec): Promise<number> {
    const previous = this.lastPorts.get(spec.instanceId);
    try {
      return await this.ports.assign(spec.instanceId, {
        ...(spec.preferredPort !== undefined ? { required: spec.preferredPort } : {}),
        ...(previous !== undefined ? { preferred: previous } : {}),
      });
    } catch (error) {
      throw new WorkloadFailedError(`no port for the server: ${errorMessage(error)}`, noExit());
    }
  }

  releasePort(instanceId: string): void {
    this.ports.release(instanceId);
  }

  /**
   * The first half of recording an exit, as soon as it is known: the
   * workload is `exited`, its readiness wait stops, its port is free. Returns
   * whether it was running (so its exit is news for `watch` listeners).
   */
  markExited(workload: W): boolean {
    const instanceId = workload.ref.instanceId;
    const wasRunning = workload.phase === 'running';
    workload.phase = 'exited';
    workload.exitSignal.abort();
    if (this.workloads.get(instanceId) === workload) this.ports.release(instanceId, workload.ref.port);
    this.lastPorts.set(instanceId, workload.ref.port);
    return wasRunning;
  }

  /**
   * The second half, once the exit's facts are gathered: the exit replaces the
   * workload in the table (unless a newer workload took its place) and
   * listeners hear of it when it was running.
   */
  recordExit(workload: W, exit: WorkloadExit, wasRunning: boolean): void {
    const instanceId = workload.ref.instanceId;
    if (this.workloads.get(instanceId) === workload) {
      this.workloads.delete(instanceId);
      this.lastExits.set(instanceId, { ref: workload.ref, exit });
    }
    if (wasRunning) this.emit({ type: 'exited', instanceId, ref: workload.ref, exit, at: this.now() });
  }

  /** The last recorded exit of the instance, kept until its next start or a remove. */
  lastExit(instanceId: string): { ref: WorkloadRef; exit: WorkloadExit } | undefined {
    return this.lastExits.get(instanceId);
  }

  /** Records the exit of a workload no driver of this table ran (found gone at recovery). */
  rememberExit(ref: WorkloadRef, exit: WorkloadExit): void {
    this.lastExits.set(ref.instanceId, { ref, exit });
    this.lastPorts.set(ref.instanceId, ref.port);
  }

  /** A new workload is about to be made: the previous one's exit no longer describes the instance. */
  forgetExit(instanceId: string): void {
    this.lastExits.delete(instanceId);
  }

  /** After a remove: nothing of the instance is kept, and its port is free. */
  forget(instanceId: string): void {
    this.workloads.delete(instanceId);
    this.apiHosts.delete(instanceId);
    this.lastExits.delete(instanceId);
    this.lastPorts.delete(instanceId);
    this.ports.release(instanceId);
  }

  /** Records the host at which this driver reaches the instance's server (its health probe's host). */
  serveApiAt(instanceId: string, host: string): void {
    this.apiHosts.set(instanceId, host);
  }

  /**
   * The running workload's own HTTP API, reached directly on its port; a
   * workload adopted from an earlier driver, whose host this one never saw,
   * at `defaultHost`. Undefined when none runs.
   */
  serverApi(instanceId: string, defaultHost: string): ServerHttp | undefined {
    const workload = this.workloads.get(instanceId);
    if (workload?.phase !== 'running') return undefined;
    return directServerHttp(`http://${this.apiHosts.get(instanceId) ?? defaultHost}:${workload.ref.port}`);
  }

  watch(listener: (event: WorkloadEvent) => void): () => void {
    return this.listeners.add(listener);
  }

  emit(event: WorkloadEvent): void {
    this.listeners.emit(event);
  }

  clearListeners(): void {
    this.listeners.clear();
  }

  now(): string {
    return new Date(this.clock()).toISOString();
  }
}
