/**
 * The platform driver: the only thing that knows how a workload runs on one
 * platform (an OS process, a container, a Deployment). Implemented once per
 * platform in this folder; nothing outside `src/platforms/` imports execa,
 * dockerode or @kubernetes/client-node, and no vendor type crosses this
 * interface.
 *
 * Deliberately left out: lifecycle decisions (restarts, backoff, desired
 * state) belong to the instance machine; idempotency on command ids and
 * per-instance serialization belong to the platform worker. A driver may
 * assume that calls for one instance never overlap, except `logs` and
 * `readLogs` (read-only), which may run alongside any other call.
 */
import type { CircuitState } from '../resilience/circuit-breaker.js';
import type { ServerHttp } from './timed-fetch.js';

export type PlatformType = 'process' | 'docker' | 'kubernetes';
export const platformTypes: readonly PlatformType[] = ['process', 'docker', 'kubernetes'];

/** Everything a driver needs to run one Drasi Server. Plain data: it travels through the transport. */
export interface WorkloadSpec {
  instanceId: string;
  /** The configuration generation this workload runs. */
  generation: number;
  /**
   * The Drasi Server config document (camelCase keys, already validated, with
   * `id`, `host`, `logLevel` and `persistConfig: false` set by the control
   * plane). The driver sets `port` and renders it with `renderServerConfigYaml`.
   */
  config: Record<string, unknown>;
  /** A port the user asked for; otherwise the driver allocates one from its range. */
  preferredPort?: number;
  /** Environment for the server on top of a minimal clean base (PATH, HOME, LANG). */
  env: Record<string, string>;
  /** How long the server may take to answer GET /health with 200 before the start fails. */
  startTimeoutMs: number;
  /**
   * The instance's platform options (e.g. Docker's image and limits), as the
   * user gave them; validated at the API by the platform's schema in
   * `platform-options.ts` and parsed again by the driver. Opaque elsewhere.
   */
  platformOptions?: Record<string, unknown>;
  /**
   * The workload the instance ran on a worker that was lost (see
   * `workerLostTimeout`). The worker reaps it first when its driver can reach
   * it (`PlatformDriver.reap`: the same host, the same engine), so that the
   * replacement never runs beside it there.
   */
  replaces?: WorkloadRef;
}

/** Where a running workload is. */
export interface WorkloadRef {
  instanceId: string;
  platform: PlatformType;
  /** Platform id: a pid, a container id, a Deployment name. */
  workloadId: string;
  port: number;
  generation: number;
  /** ISO 8601 time the workload was started. */
  startedAt: string;
  /** The worker that started it (set by the worker on `workload.start` replies, not by drivers). */
  workerId?: string;
  /**
   * What identifies the workload beyond `workloadId` on its platform (a
   * process: the host's boot id, the pid and its kernel start time). Opaque
   * to everything but the drivers of that platform.
   */
  identity?: string;
}

export interface WorkloadExit {
  exitCode: number | null;
  signal: string | null;
  /** The last lines the server printed, newest last. */
  lastLogLines: string[];
  /** True when the exit was asked for (stop/remove), false when the workload died by itself. */
  requested: boolean;
  /** Extra platform facts (e.g. `oomKilled`). */
  details?: Record<string, unknown>;
}

export type WorkloadState =
  | { state: 'running'; ref: WorkloadRef }
  | { state: 'exited'; ref: WorkloadRef; exit: WorkloadExit }
  | { state: 'absent' };

/** What a driver reports without being asked. */
export type WorkloadEvent =
  | { type: 'exited'; instanceId: string; ref: WorkloadRef; exit: WorkloadExit; at: string }
  | { type: 'health'; instanceId: string; ref: WorkloadRef; healthy: boolean; at: string }
  /** What a start is busy with when it takes a while (e.g. an image pull), for people watching. */
  | { type: 'progress'; instanceId: string; message: string; at: string };

/** Whether the driver can reach its platform (its engine, its cluster) right now. */
export type PlatformAvailability = { available: true } | { available: false; reason: string };

export interface StopOptions {
  /** Time between the graceful signal and the hard kill. */
  graceMs: number;
}

export interface StopOutcome {
  /** False when there was nothing running (stopping what is stopped is success). */
  wasRunning: boolean;
  exit?: WorkloadExit;
}

export interface LogOptions {
  /** At most this many of the newest lines. */
  tail: number;
}

export interface LogReadOptions {
  /** Without `after`: at most this many of the newest lines. Ignored with `after`. */
  tail: number;
  /** A cursor from an earlier `readLogs` of the same instance: read what came after it. */
  after?: string;
}

/** What `readLogs` found, and where the next read continues. */
export interface LogRead {
  /**
   * Every line after the cursor once, in order (a line still being written is
   * left for the next read). Where the driver cannot deliver lines (the log
   * was rotated or truncated past the cursor) or where a new workload starts,
   * it says so in a line starting with `…` or `—`.
   */
  lines: string[];
  /** Opaque to everything but the driver that made it. */
  cursor: string;
}

/** What `PlatformDriver.recover` found: workloads taken over, and workloads that died while no driver watched them. */
export interface RecoveryReport {
  /** Workloads found running and now tracked like ones this driver started. */
  adopted: WorkloadRef[];
  /** Workloads recorded as running that are gone (or whose identity could not be verified); nothing was signalled. */
  lost: { instanceId: string; ref: WorkloadRef; exit: WorkloadExit }[];
  /**
   * Objects of this platform that carry DRaaS's labels but are no workload the
   * driver can run or adopt (e.g. a Kubernetes ConfigMap or Service whose
   * Deployment is gone, or a Deployment without readable annotations). Left
   * alone; reported so that an operator can clean up. Optional: only drivers
   * that can tell report them.
   */
  orphans?: RecoveryOrphan[];
}

/** A labelled object nothing runs (see `RecoveryReport.orphans`). */
export interface RecoveryOrphan {
  /** The platform's kind of object, e.g. `ConfigMap`. */
  kind: string;
  /** Where it is, e.g. `<namespace>/<name>`. */
  name: string;
  /** The instance its labels name, when they name one. */
  instanceId?: string;
  reason: string;
}

export interface PlatformDriver {
  readonly platform: PlatformType;
  /**
   * Starts the workload and resolves once its `/health` answered 200. Rejects
   * with `WorkloadFailedError` (reason, exit code, last log lines) when the
   * server exits or does not become healthy within `spec.startTimeoutMs`; a
   * failed start leaves nothing running and releases its port. Starting an
   * instance that already runs resolves with the existing ref.
   */
  start(spec: WorkloadSpec, options?: { signal?: AbortSignal }): Promise<WorkloadRef>;
  /** Graceful stop (SIGINT or the platform's equivalent), then a hard kill after `graceMs`. Idempotent. */
  stop(instanceId: string, options: StopOptions): Promise<StopOutcome>;
  /** Stops the workload if needed and removes everything the driver made for it (files, port, container). Idempotent. */
  remove(instanceId: string, options: StopOptions): Promise<void>;
  inspect(instanceId: string): Promise<WorkloadState>;
  /** Workloads this driver currently knows to be running (for re-adoption). */
  list(): Promise<WorkloadRef[]>;
  /** The newest log lines of the instance's workload (also after it exited, until removed). */
  logs(instanceId: string, options: LogOptions): Promise<string[]>;
  /**
   * Cursor-based read, for following a log: the newest `tail` lines (no
   * `after`) or the lines after `after`, with the cursor of what was read. The
   * cursor spans workloads: a read across a restart returns what the old
   * workload printed after the cursor (where still available), a marker line,
   * then the new workload's lines. A cursor this driver cannot interpret (e.g.
   * made before the worker restarted) yields a marker and continues at the end.
   */
  readLogs(instanceId: string, options: LogReadOptions): Promise<LogRead>;
  /** Exits and health changes, as they happen. Returns an unsubscribe function. */
  watch(listener: (event: WorkloadEvent) => void): () => void;
  /**
   * Re-adopts the workloads a previous driver (e.g. before a restart of the
   * control plane) left running on this platform, after verifying that each is
   * still the workload that was recorded. Adopted workloads appear in `list`
   * and `inspect`, can be stopped and removed, and their exits reach `watch`
   * listeners; `start` for them resolves with the existing ref. Recorded
   * workloads that are gone are reported in `lost` and forgotten; they are
   * never signalled. Call it before the first `start`. Idempotent: a second
   * call adopts nothing new and reports nothing twice. Optional: drivers
   * without durable workloads need not implement it.
   */
  recover?(): Promise<RecoveryReport>;
  /**
   * Stops a workload that another, lost worker of this platform ran, when this
   * driver can reach and verify it (by `ref.identity`): a process on the same
   * host boot with the same start time. Resolves `{ reaped: false }` with the
   * reason when it cannot (another host, already gone); never signals anything
   * it could not verify. The grace period defaults to the driver's own. Optional.
   */
  reap?(ref: WorkloadRef, options?: Partial<StopOptions>): Promise<{ reaped: boolean; reason: string }>;
  /**
   * Whether the platform is reachable now. A worker whose driver says no
   * stops taking commands and announces itself unavailable until it says yes.
   * Optional: a driver without a remote engine is always available.
   */
  availability?(): Promise<PlatformAvailability>;
  /**
   * The circuit breakers in front of the driver's engine (see
   * `engine-guard.ts`), as plain data: the worker shows them in its presence.
   * While one is open, calls that need the engine fail at once with a
   * retryable `unavailable` error and `availability` says no. Optional: a
   * driver without a remote engine has none.
   */
  circuits?(): CircuitState[];
  /**
   * How this driver reaches the running workload's own HTTP API (the Drasi
   * Server component API): directly on its host and port, or through what
   * stands between (Kubernetes: the API server's pod proxy). Undefined when
   * none runs. Optional: where a platform's servers cannot be reached, it
   * lacks it, and configuration changes there are applied by a restart.
   */
  serverApi?(instanceId: string): ServerHttp | undefined;
  /** Releases the driver's own resources. Leaves workloads running. Idempotent. */
  close(): Promise<void>;
}
