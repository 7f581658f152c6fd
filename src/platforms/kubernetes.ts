import { randomBytes } from 'node:crypto';
import {
  AppsV1Api,
  CoreV1Api,
  VersionApi,
  type KubeConfig,
  type V1ConfigMap,
  type V1Deployment,
  type V1PersistentVolumeClaim,
  type V1Pod,
  type V1Service,
} from '@kubernetes/client-node';
import { WorkloadFailedError, errorMessage } from '../errors.js';
import type { CircuitState } from '../resilience/circuit-breaker.js';
import { EngineGuard, EngineUnavailableError, type EngineResilience } from './engine-guard.js';
import { guardedApiClient } from './kubernetes-guard.js';
import { defaultDockerImage } from './docker-options.js';
import { linesAfter, type TimestampedLine } from './docker-logs.js';
import type {
  LogOptions,
  LogRead,
  LogReadOptions,
  PlatformAvailability,
  PlatformDriver,
  RecoveryOrphan,
  RecoveryReport,
  StopOptions,
  StopOutcome,
  WorkloadEvent,
  WorkloadExit,
  WorkloadRef,
  WorkloadSpec,
  WorkloadState,
} from './driver.js';
import type { KubeconfigEnvironment, KubeconfigSettings } from './kubeconfig-source.js';
import { loadKubeconfig } from './kubernetes-config.js';
import { PodLogReader, sinceTimeOf } from './kubernetes-logs.js';
import { podProxyHttp } from './kubernetes-proxy.js';
import type { ServerHttp } from './timed-fetch.js';
import {
  defaultContainerPort,
  deploymentName,
  keepsStopSignal,
  labelledInstance,
  managedBySelector,
  objectFacts,
  renderInstanceObjects,
  resolveKubernetesOptions,
  supportsStopSignal,
  type ResolvedKubernetesOptions,
  type StopSignalMode,
} from './kubernetes-objects.js';
import { defaultKubernetesNamespace, kubernetesPlatformOptionsSchema } from './kubernetes-options.js';
import { parsePlatformOptions } from './platform-options.js';
import {
  assessRunning,
  assessStart,
  currentPods,
  describeFailure,
  mountFailure,
  observedExit,
  podGeneration,
  podStart,
  serverStatus,
  type DeploymentFailure,
  type PodFailure,
} from './kubernetes-status.js';
import { NamespaceWatch, describeApiError, statusOf } from './kubernetes-watch.js';
import { InstanceWrites } from './kubernetes-writes.js';
import { decodeLogCursor, encodeLogCursor, positionLostMarker, skippedMarker, workloadStartedMarker, type KubernetesLogCursor } from './log-cursor.js';
import { FixedPort } from './port-assignment.js';
import { startWorkload, type Readiness, type StartFailureExit, type WorkloadLauncher } from './workload-start.js';
import { graceMsOf, lastErrorLine, settleWithin } from './workload-support.js';
import { exitLatch, WorkloadTable, type TrackedWorkload } from './workload-table.js';

export interface KubernetesDriverOptions {
  /** Which kubeconfig and context (`--kubeconfig`, `--kube-context`); default `KUBECONFIG`, the in-cluster service account, `~/.kube/config`. */
  kubeconfig?: KubeconfigSettings;
  /** The namespace of instances that do not name one (`--kube-namespace`). Default `draas`. It must exist. */
  namespace?: string;
  /** The image of instances that do not name one (`--kube-image`). Default the pinned Drasi Server release. */
  defaultImage?: string;
  /** Grace period between the stop signal (SIGINT) and SIGKILL: the pods' `terminationGracePeriodSeconds`. Default 10 s. */
  graceMs?: number;
  log?: (message: string) => void;
  clock?: () => number;
  /** Where kubeconfig defaults are looked for; injectable for tests. */
  environment?: KubeconfigEnvironment;
  /** Backoff before a failed watch is started again; injectable for tests. */
  watchBackoffMs?: (attempt: number) => number;
  /** Longest one request of `availability()` may take before the API counts as unreachable. Default 3 s. */
  availabilityTimeoutMs?: number;
  /** The API server's circuit breaker and the retries of its calls (see `engine-guard.ts`); defaults when left out. */
  resilience?: EngineResilience;
}

/** Lines of log attached to an exit. */
const EXIT_LOG_LINES = 20;
/** Lines kept of an exited workload for `logs` until the instance is removed. */
const KEPT_LOG_LINES = 500;
/** How long past the grace period a stop waits for the pod before deleting it at once. */
const STOP_MARGIN_MS = 15_000;
/** How long a remove waits for the objects to be gone. */
const REMOVE_WAIT_MS = 60_000;
/** How often a start whose pod is being created looks for FailedMount events. */
const MOUNT_CHECK_MS = 1_000;

interface KubernetesWorkload extends TrackedWorkload {
  readonly namespace: string;
  readonly name: string;
  /** The start that made the Deployment's template: its pods are this workload's. */
  readonly startId: string;
  readonly recordExit: (exit: WorkloadExit) => void;
  settling?: Promise<WorkloadExit>;
  /** Why the workload failed (a crash, an image pull, a deleted Deployment), as the status showed it. */
  failure?: PodFailure | DeploymentFailure;
  /** The ready pod of a start, once there is one. */
  readyPod?: string;
  /** The uid of the pod the running workload is. */
  runningPod?: string;
  /** What a start waits for, for progress and the timeout message. */
  waiting?: string;
  /** Whether a pod is ready now (health events on change). */
  ready: boolean;
  /** The newest pod of the workload seen, and its container's restarts. */
  pod?: { name: string; restarts: number; uid?: string };
  /** The server's exit as last seen on a pod (a stop's exit code). */
  observedExit?: { exitCode: number | null; signal: string | null; reason?: string };
  /** The log followed from the stop (or a failed start) to the container's end. */
  finalLogs?: Promise<TimestampedLine[]>;
}

interface PreparedStart {
  options: ResolvedKubernetesOptions;
  stopSignal: StopSignalMode;
}

/**
 * Runs each Drasi Server as a Kubernetes Deployment `draas-<instanceId>`
 * (one replica, Recreate: never two servers of one instance), with a
 * ConfigMap holding its `server.yaml`, a ClusterIP Service for its API port
 * and, when `platformOptions.storage` asks, a PersistentVolumeClaim for its
 * data directory (else an `emptyDir`). Every object carries the labels
 * `app.kubernetes.io/managed-by=draas`, `app.kubernetes.io/name=drasi-server`
 * and `io.draas/instance-id=<name>`, and the config generation as an
 * annotation; the pod template carries it too, so a new generation rolls a
 * new pod.
 *
 * Readiness is the kubelet's: the pod's startup and readiness probes on
 * `GET /health`. The control plane never reaches the pod network; it reads
 * Deployments and pods through informers (one pair per namespace in use),
 * never by polling, and judges every change from the informers' caches, so
 * a watch that closed or expired loses no state. A crash nobody asked for
 * (a terminated container, OOMKilled, CrashLoopBackOff, an eviction) is
 * reported to `watch` listeners with the exit code, the reason and the last
 * log lines; then the Deployment is scaled to 0, so that restarts stay the
 * control plane's decision. Stop scales to 0 and waits until the pod is
 * gone; the server gets SIGINT (`lifecycle.stopSignal` from Kubernetes 1.33,
 * else a preStop hook).
 *
 * Re-adoption: `recover` finds Deployments by label and tracks the running
 * ones without touching them; labelled objects it cannot attribute to a
 * workload are reported as orphans and left alone.
 *
 * The kubeconfig is loaded by the constructor (a `KubeconfigError` when
 * there is none or the context is unknown); nothing is contacted until the
 * first call.
 */
export class KubernetesDriver implements PlatformDriver {
  readonly platform = 'kubernetes' as const;
  private readonly config: KubeConfig;
  private readonly server: string;
  private readonly apps: AppsV1Api;
  private readonly core: CoreV1Api;
  private readonly version: VersionApi;
  private readonly logReader: PodLogReader;
  private readonly writes: InstanceWrites;
  private readonly namespace: string;
  private readonly defaultImage: string;
  private readonly graceMs: number;
  private readonly log: (message: string) => void;
  private readonly watchBackoffMs: ((attempt: number) => number) | undefined;
  private readonly availabilityTimeoutMs: number;
  private readonly table: WorkloadTable<KubernetesWorkload>;
  private readonly watches = new Map<string, NamespaceWatch>();
  /** The namespace each known instance's objects are in. */
  private readonly namespaces = new Map<string, string>();
  /** The last lines of exited workloads (and the uid of their pod), for `logs` and a follow's rest until remove. */
  private readonly keptLogs = new Map<string, { pod: string | undefined; lines: TimestampedLine[] }>();
  private readonly waiters = new Set<() => void>();
  private readonly reportedOrphans = new Set<string>();
  private stopSignalMode: Promise<StopSignalMode> | undefined;
  /** Whether a Deployment showed that the API server keeps `lifecycle.stopSignal` (see `verifiedStopSignal`). */
  private stopSignalVerified = false;
  private closed = false;
  private readonly guard: EngineGuard;
  private readonly watchApis: { apps: AppsV1Api; core: CoreV1Api };
  readonly description: string;

  constructor(options: KubernetesDriverOptions = {}) {
    const loaded = loadKubeconfig(options.kubeconfig ?? {}, options.environment);
    this.config = loaded.config;
    this.server = loaded.server;
    this.description = loaded.description;
    this.log = options.log ?? (() => undefined);
    const resilience = options.resilience ?? {};
    this.guard = new EngineGuard({
      name: 'kubernetes-api',
      description: `Kubernetes API at ${this.server}`,
      ...(resilience.circuit ? { circuit: resilience.circuit } : {}),
      ...(resilience.retry ? { retry: resilience.retry } : {}),
      ...(options.clock ? { clock: options.clock } : {}),
      describe: describeApiError,
      onChange: (state) => this.log(`kubernetes: API server circuit ${state.status}${state.status === 'open' ? ` (last failure: ${state.lastError ?? '?'}; next probe at ${state.nextProbeAt ?? '?'})` : ''}`),
    });
    const guarded = { timeoutMs: resilience.readTimeoutMs ?? 10_000 };
    this.apps = guardedApiClient(this.config, this.server, this.guard, AppsV1Api, guarded);
    this.core = guardedApiClient(this.config, this.server, this.guard, CoreV1Api, guarded);
    this.version = guardedApiClient(this.config, this.server, this.guard, VersionApi, guarded);
    // The informers start over on their own: their lists are not retried again here.
    this.watchApis = {
      apps: guardedApiClient(this.config, this.server, this.guard, AppsV1Api, { ...guarded, retries: false }),
      core: guardedApiClient(this.config, this.server, this.guard, CoreV1Api, { ...guarded, retries: false }),
    };
    this.logReader = new PodLogReader(this.config);
    this.writes = new InstanceWrites(this.apps, this.core);
    this.namespace = options.namespace ?? defaultKubernetesNamespace;
    this.defaultImage = options.defaultImage ?? defaultDockerImage;
    this.graceMs = options.graceMs ?? 10_000;
    this.watchBackoffMs = options.watchBackoffMs;
    this.availabilityTimeoutMs = options.availabilityTimeoutMs ?? 3_000;
    this.table = new WorkloadTable<KubernetesWorkload>({ ports: new FixedPort(defaultContainerPort), clock: options.clock ?? Date.now });
  }

  // ---------------------------------------------------------------- availability

  async availability(): Promise<PlatformAvailability> {
    const unavailable = (reason: string): PlatformAvailability => ({ available: false, reason: `Kubernetes API at ${this.server}: ${reason}` });
    try {
      // Through the API server's circuit: while it is open nothing is sent until a probe is due (then this is the probe).
      await bounded(this.version.getCode(), this.availabilityTimeoutMs);
    } catch (error) {
      if (error instanceof EngineUnavailableError) return { available: false, reason: error.message };
      return unavailable(`unreachable (${describeApiError(error)})`);
    }
    try {
      await bounded(this.core.readNamespace({ name: this.namespace }), this.availabilityTimeoutMs);
    } catch (error) {
      const status = statusOf(error);
      if (status === 404) return unavailable(`namespace ${this.namespace} does not exist`);
      if (status !== 403) return unavailable(`cannot read namespace ${this.namespace} (${describeApiError(error)})`);
      // Reading namespaces may be denied to a namespaced service account: what it needs is Deployments there.
      try {
        await bounded(this.apps.listNamespacedDeployment({ namespace: this.namespace, labelSelector: managedBySelector, limit: 1 }), this.availabilityTimeoutMs);
      } catch (inner) {
        return unavailable(`cannot list Deployments in namespace ${this.namespace} (${describeApiError(inner)})`);
      }
    }
    for (const watch of this.watches.values()) {
      const failure = watch.failure;
      if (failure !== undefined) return unavailable(failure);
    }
    return { available: true };
  }

  /** The API server's circuit breaker. */
  circuits(): CircuitState[] {
    return [this.guard.state()];
  }

  // ---------------------------------------------------------------- start

  start(spec: WorkloadSpec, options: { signal?: AbortSignal } = {}): Promise<WorkloadRef> {
    return startWorkload(this.table, spec, options.signal, this.launcher);
  }

  private readonly launcher: WorkloadLauncher<KubernetesWorkload, PreparedStart> = {
    prepare: async (spec) => {
      if (this.closed) throw new WorkloadFailedError('the Kubernetes driver is closed', noExitFacts());
      const given = parsePlatformOptions('kubernetes', kubernetesPlatformOptionsSchema, spec.platformOptions);
      const options = resolveKubernetesOptions(given, { namespace: this.namespace, image: this.defaultImage });
      try {
        await this.watchNamespace(options.namespace);
      } catch (error) {
        if (error instanceof EngineUnavailableError) throw error;
        throw new WorkloadFailedError(`Kubernetes API at ${this.server} is unavailable: ${errorMessage(error)}`, noExitFacts());
      }
      return { options, stopSignal: await this.stopSignal() };
    },
    create: async (spec, prepared, port) => {
      const { options } = prepared;
      this.namespaces.set(spec.instanceId, options.namespace);
      const startId = `${spec.generation}-${randomBytes(4).toString('hex')}`;
      const stopSignal = await this.verifiedStopSignal(spec, options, port, prepared.stopSignal, startId);
      const objects = renderInstanceObjects({ spec, options, port, graceMs: this.graceMs, stopSignal, startId });
      if (objects.claim) await this.writes.ensureClaim(objects.claim);
      await this.writes.applyConfigMap(objects.configMap);
      await this.writes.applyService(objects.service);
      const applied = await this.writes.applyDeployment(objects.deployment);
      this.table.forgetExit(spec.instanceId);
      const name = deploymentName(spec.instanceId);
      const workload: KubernetesWorkload = {
        ref: {
          instanceId: spec.instanceId,
          platform: 'kubernetes',
          workloadId: workloadIdOf(options.namespace, name, startId),
          port,
          generation: spec.generation,
          startedAt: this.table.now(),
          ...(applied.metadata?.uid ? { identity: applied.metadata.uid } : {}),
        },
        namespace: options.namespace,
        name,
        startId,
        phase: 'starting',
        stopRequested: false,
        exitSignal: new AbortController(),
        ready: false,
        ...exitLatch(),
      };
      this.table.track(workload);
      this.evaluate(spec.instanceId);
      return workload;
    },
    createFailed: (error, spec) =>
      error instanceof EngineUnavailableError ? error : new WorkloadFailedError(`could not apply the objects of "${spec.instanceId}": ${describeApiError(error)}`, noExitFacts()),
    ready: async (workload, spec, _prepared, signal): Promise<Readiness> => {
      let lastProgress: string | undefined;
      // A missing volume source shows only in the kubelet's events, which no informer watches: look while the pod is being created.
      const mounts = setInterval(() => void this.checkMounts(workload), MOUNT_CHECK_MS);
      mounts.unref();
      const ready = await this.waitUntil(
        () => {
          if (workload.waiting !== undefined && workload.waiting !== lastProgress) {
            lastProgress = workload.waiting;
            this.table.emit({ type: 'progress', instanceId: spec.instanceId, message: workload.waiting, at: this.table.now() });
          }
          return workload.readyPod;
        },
        spec.startTimeoutMs,
        signal,
      ).finally(() => clearInterval(mounts));
      return ready !== undefined ? { healthy: true } : { healthy: false, lastError: workload.waiting };
    },
    onReady: async (workload) => {
      workload.ready = true;
      // The pod this workload is: when it goes without a stop, the workload ended (see `judgeRunning`).
      const pod = this.watches.get(workload.namespace)?.podsOf(workload.ref.instanceId).find((candidate) => candidate.metadata?.name === workload.readyPod);
      if (pod?.metadata?.uid) workload.runningPod = pod.metadata.uid;
      // The container's start time, as a recovery reads it back.
      workload.ref.startedAt = startedAt(pod) ?? workload.ref.startedAt;
    },
    kill: async (workload) => {
      // Not ready in time or aborted: what it printed says why, and the pod is about to go.
      workload.finalLogs ??= this.podLogTail(workload.namespace, workload.pod, KEPT_LOG_LINES).then((lines) => lines ?? []);
      await this.writes.scale(workload.namespace, workload.name, 0).catch((error: unknown) => this.log(`kubernetes: could not scale ${workload.ref.workloadId} to 0: ${describeApiError(error)}`));
    },
    settle: (workload) => this.settle(workload),
    describeEarlyExit: (exit: StartFailureExit) => {
      const reason = typeof exit.details?.['reason'] === 'string' ? exit.details['reason'] : 'unknown';
      const line = lastErrorLine(exit.lastLogLines);
      const how = exit.signal ? `the server was killed by ${exit.signal}` : exit.exitCode !== null ? `the server exited with code ${exit.exitCode}` : 'the pod failed';
      return `${how} before becoming healthy (Kubernetes: ${reason})${line ? `: ${line}` : ''}`;
    },
  };

  /**
   * `lifecycle.stopSignal` needs the ContainerStopSignals feature gate
   * (alpha in 1.33): a server without it drops the field silently. The first
   * start of this driver that would use it applies its Deployment with no
   * replicas first (so no pod runs without a graceful stop) and looks whether
   * the field stayed; if not, this and every later start use a preStop hook.
   */
  private async verifiedStopSignal(spec: WorkloadSpec, options: ResolvedKubernetesOptions, port: number, mode: StopSignalMode, startId: string): Promise<StopSignalMode> {
    if (mode !== 'stop-signal' || this.stopSignalVerified) return mode;
    const probe = renderInstanceObjects({ spec, options, port, graceMs: this.graceMs, stopSignal: mode, startId }).deployment;
    const applied = await this.writes.applyDeployment({ ...probe, spec: { ...probe.spec!, replicas: 0 } });
    this.stopSignalVerified = true;
    if (keepsStopSignal(applied)) return mode;
    this.log(`kubernetes: ${this.server} does not keep lifecycle.stopSignal (feature gate ContainerStopSignals off); using a preStop hook for SIGINT`);
    this.stopSignalMode = Promise.resolve('pre-stop');
    return 'pre-stop';
  }

  // ---------------------------------------------------------------- stop, remove

  async stop(instanceId: string, options: StopOptions): Promise<StopOutcome> {
    const workload = this.table.get(instanceId);
    if (!workload || workload.phase === 'exited') return { wasRunning: false };
    workload.stopRequested = true;
    const graceMs = graceMsOf(options, this.graceMs);
    // Its log is followed to the end (the shutdown lines), since the pod, and with it the log, goes right after.
    const followMs = Math.max(graceMs, this.graceMs) + STOP_MARGIN_MS;
    const pod = workload.pod;
    workload.finalLogs = pod
      ? this.logReader.followToEnd({ namespace: workload.namespace, pod: pod.name, tailLines: KEPT_LOG_LINES }, followMs).catch(async () => (await this.podLogTail(workload.namespace, pod, KEPT_LOG_LINES)) ?? [])
      : Promise.resolve([]);
    try {
      await this.writes.scale(workload.namespace, workload.name, 0);
      await this.deletePods(workload.namespace, instanceId, graceMs);
    } catch (error) {
      if (error instanceof EngineUnavailableError) throw error;
      throw new WorkloadFailedError(`could not stop ${workload.ref.workloadId}: ${describeApiError(error)}`, noExitFacts());
    }
    await this.waitForNoPods(workload.namespace, instanceId, Math.max(graceMs, this.graceMs) + STOP_MARGIN_MS);
    const exit = await this.settle(workload);
    return { wasRunning: true, exit };
  }

  async remove(instanceId: string, options: StopOptions): Promise<void> {
    await this.stop(instanceId, options);
    const namespace = this.namespaces.get(instanceId) ?? this.table.lastExit(instanceId)?.ref.workloadId.split('/')[0] ?? this.namespace;
    try {
      await this.writes.deleteInstanceObjects(namespace, instanceId, REMOVE_WAIT_MS);
    } catch (error) {
      if (error instanceof EngineUnavailableError) throw error;
      throw new WorkloadFailedError(`could not remove "${instanceId}": ${errorMessage(error)}`, noExitFacts());
    }
    this.table.forget(instanceId);
    this.keptLogs.delete(instanceId);
    this.namespaces.delete(instanceId);
  }

  // ---------------------------------------------------------------- inspect, list

  async inspect(instanceId: string): Promise<WorkloadState> {
    const workload = this.table.get(instanceId);
    if (workload && workload.phase !== 'exited') {
      if (workload.phase === 'starting') return { state: 'absent' };
      // While the watch is down the cache may be stale: ask the API server.
      if (this.watches.get(workload.namespace)?.failure !== undefined) {
        const pods = await this.core.listNamespacedPod({ namespace: workload.namespace, labelSelector: instanceSelector(instanceId) });
        const running = assessRunning(pods.items, workload.startId);
        if (running.failure) {
          workload.failure = running.failure;
          await this.settle(workload);
        }
      }
      if (workload.phase === 'running') return { state: 'running', ref: workload.ref };
    }
    // Exited but its facts (log lines, the pod's exit code) still being gathered: answer with them, never "absent".
    if (workload?.phase === 'exited') await (workload.settling ?? workload.exited);
    const last = this.table.lastExit(instanceId);
    return last ? { state: 'exited', ref: last.ref, exit: last.exit } : { state: 'absent' };
  }

  serverApi(instanceId: string): ServerHttp | undefined {
    const workload = this.table.get(instanceId);
    const pod = workload?.phase === 'running' ? workload.pod?.name : undefined;
    if (!workload || pod === undefined) return undefined;
    return podProxyHttp(this.config, this.server, { namespace: workload.namespace, pod, port: workload.ref.port });
  }

  async list(): Promise<WorkloadRef[]> {
    return this.table.list();
  }

  watch(listener: (event: WorkloadEvent) => void): () => void {
    return this.table.watch(listener);
  }

  // ---------------------------------------------------------------- logs

  async logs(instanceId: string, options: LogOptions): Promise<string[]> {
    if (options.tail <= 0) return [];
    const pod = this.newestPod(instanceId);
    if (pod) {
      const lines = await this.podLogTail(this.namespaceOf(instanceId), { name: pod.name, restarts: pod.restarts }, options.tail);
      if (lines !== undefined) return lines.map((entry) => entry.line);
    }
    const kept = this.keptLogs.get(instanceId)?.lines.map((entry) => entry.line) ?? this.table.lastExit(instanceId)?.exit.lastLogLines ?? [];
    return kept.slice(-options.tail);
  }

  /**
   * Cursor: the pod (uid and name) and its container's restart count, and the
   * timestamp of the last line read with the number of lines read at exactly
   * that time (the API's `sinceTime` has whole seconds; the rest is
   * deduplicated here). A new pod, or a restart of the container, is a new
   * workload's log: the rest of the old one is read first where the API still
   * has it (`previous=true` for a restarted container).
   */
  async readLogs(instanceId: string, options: LogReadOptions): Promise<LogRead> {
    const namespace = this.namespaceOf(instanceId);
    const current = this.newestPod(instanceId);
    const cursor = options.after === undefined ? undefined : decodeLogCursor(options.after, 'kubernetes');
    if (options.after === undefined || !cursor) {
      const lines = options.after === undefined ? [] : [positionLostMarker];
      if (!current) {
        if (options.after === undefined) lines.push(...(this.keptLogs.get(instanceId)?.lines ?? []).slice(-Math.max(0, options.tail)).map((entry) => entry.line));
        return { lines, cursor: encodeLogCursor({ kind: 'kubernetes', pod: null, podName: null, restarts: 0, timestamp: null, count: 0 }) };
      }
      const tail = options.after === undefined ? options.tail : 0;
      const newest = await this.logReader.stampedLines({ namespace, pod: current.name, tailLines: Math.max(tail, 1) }).catch(() => []);
      const last = newest.at(-1);
      // The tail may cut a group of lines stamped alike: count the whole group for the cursor.
      const sameTime = last
        ? (await this.logReader.stampedLines({ namespace, pod: current.name, sinceTime: sinceTimeOf(last.timestamp) }).catch(() => [last])).filter((entry) => entry.timestamp === last.timestamp)
        : [];
      if (tail > 0) lines.push(...newest.map((entry) => entry.line));
      return { lines, cursor: encodeLogCursor({ kind: 'kubernetes', pod: current.uid, podName: current.name, restarts: current.restarts, timestamp: last?.timestamp ?? null, count: sameTime.length }) };
    }
    if (!current) return { lines: [], cursor: options.after };
    if (cursor.pod === current.uid && cursor.restarts === current.restarts) return this.readAfter(namespace, current, cursor, [], false);
    const lines: string[] = [];
    if (cursor.podName !== null) {
      // The rest of what the cursor's container printed: the previous container's log when it is the same pod restarted.
      const samePod = cursor.pod === current.uid;
      const rest = await this.readAfter(namespace, { uid: cursor.pod ?? '', name: cursor.podName, restarts: cursor.restarts }, cursor, [], samePod, true).catch(() => undefined);
      // A pod that is gone: what was kept of it when it ended.
      const kept = this.keptLogs.get(instanceId);
      const keptRest = !rest && kept && kept.pod === cursor.pod && kept.lines.length > 0 ? linesAfter(kept.lines, cursor).lines : undefined;
      lines.push(...(rest?.lines ?? keptRest ?? [skippedMarker(samePod ? "the previous container's log is gone" : "the previous workload's pod is gone")]));
    }
    lines.push(workloadStartedMarker({ workloadId: current.restarts > 0 ? `${current.name} (restart ${current.restarts})` : current.name, generation: current.generation }));
    return this.readAfter(namespace, current, { kind: 'kubernetes', pod: current.uid, podName: current.name, restarts: current.restarts, timestamp: null, count: 0 }, lines, false);
  }

  private async readAfter(
    namespace: string,
    pod: { uid: string; name: string; restarts: number },
    cursor: KubernetesLogCursor,
    before: string[],
    previous: boolean,
    /** A pod or container that cannot be read is an error (the caller says why), not "nothing new yet". */
    strict = false,
  ): Promise<LogRead> {
    let entries;
    try {
      entries = await this.logReader.stampedLines({
        namespace,
        pod: pod.name,
        ...(previous ? { previous: true } : {}),
        ...(cursor.timestamp !== null ? { sinceTime: sinceTimeOf(cursor.timestamp) } : {}),
      });
    } catch (error) {
      // The container is not running yet (400) or the pod is gone (404): nothing new to read now.
      const status = statusOf(error);
      if (!strict && !previous && (status === 400 || status === 404)) return { lines: before, cursor: encodeLogCursor({ ...cursor, pod: pod.uid, podName: pod.name, restarts: pod.restarts }) };
      throw error;
    }
    const read = linesAfter(entries, cursor);
    const next: KubernetesLogCursor = { kind: 'kubernetes', pod: pod.uid, podName: pod.name, restarts: pod.restarts, timestamp: read.timestamp, count: read.count };
    return { lines: [...before, ...read.lines], cursor: encodeLogCursor(next) };
  }

  /** The instance's newest pod not being deleted (any generation), from the cache. */
  private newestPod(instanceId: string): { uid: string; name: string; restarts: number; generation: number } | undefined {
    const watch = this.watches.get(this.namespaceOf(instanceId));
    const pods = (watch?.podsOf(instanceId) ?? []).filter((pod) => !pod.metadata?.deletionTimestamp);
    pods.sort((a, b) => createdAt(b) - createdAt(a));
    const pod = pods[0];
    if (!pod?.metadata?.name) return undefined;
    return { uid: pod.metadata.uid ?? pod.metadata.name, name: pod.metadata.name, restarts: serverStatus(pod)?.restartCount ?? 0, generation: podGeneration(pod) ?? 0 };
  }

  /**
   * The last lines of a pod's server (with their timestamps), or undefined
   * when the API has none (the pod is gone): `current` or `previous`
   * container; `both` puts the previous container's lines before the current
   * one's when it restarted.
   */
  private async podLogTail(
    namespace: string,
    pod: { name: string; restarts: number } | undefined,
    tail: number,
    which: 'current' | 'previous' | 'both' = 'both',
  ): Promise<TimestampedLine[] | undefined> {
    if (!pod) return undefined;
    const read = (previous: boolean) => this.logReader.stampedLines({ namespace, pod: pod.name, tailLines: tail, ...(previous ? { previous: true } : {}) }).catch(() => undefined);
    if (which === 'previous') return read(true);
    const current = await read(false);
    if (which === 'current' || pod.restarts === 0 || (current !== undefined && current.length >= tail)) return current;
    const older = await read(true);
    if (older === undefined) return current;
    return [...older, ...(current ?? [])].slice(-tail);
  }

  private namespaceOf(instanceId: string): string {
    return this.table.get(instanceId)?.namespace ?? this.namespaces.get(instanceId) ?? this.namespace;
  }

  // ---------------------------------------------------------------- recovery

  async recover(): Promise<RecoveryReport> {
    const report: RecoveryReport = { adopted: [], lost: [], orphans: [] };
    const namespaces = new Set<string>([this.namespace]);
    try {
      const all = await this.apps.listDeploymentForAllNamespaces({ labelSelector: managedBySelector });
      for (const deployment of all.items) if (deployment.metadata?.namespace) namespaces.add(deployment.metadata.namespace);
    } catch (error) {
      // A namespaced service account may not list across namespaces: the default namespace is what it can see.
      if (statusOf(error) !== 403) throw error;
    }
    for (const namespace of namespaces) {
      const watch = await this.watchNamespace(namespace);
      const instancesWithDeployment = new Set<string>();
      for (const deployment of watch.allDeployments()) {
        const name = deployment.metadata?.name ?? '';
        const facts = objectFacts(deployment.metadata);
        const labelled = labelledInstance(deployment.metadata);
        if (labelled !== undefined) instancesWithDeployment.add(labelled);
        if (!facts || name !== deploymentName(facts.instanceId)) {
          this.reportOrphan(report, { kind: 'Deployment', name: `${namespace}/${name}`, ...(labelled ? { instanceId: labelled } : {}), reason: 'its name or annotations are not those DRaaS writes' });
          continue;
        }
        const instanceId = facts.instanceId;
        const startId = facts.startId;
        if (startId === undefined) {
          this.reportOrphan(report, { kind: 'Deployment', name: `${namespace}/${name}`, instanceId, reason: 'it has no start annotation (io.draas/start-id)' });
          continue;
        }
        if (this.table.has(instanceId) || this.table.lastExit(instanceId)) continue;
        this.namespaces.set(instanceId, namespace);
        if ((deployment.spec?.replicas ?? 1) === 0) continue; // stopped: nothing runs, nothing was lost
        const pods = watch.podsOf(instanceId);
        const state = assessRunning(pods, startId);
        const pod = currentPods(pods, startId)[0];
        const ref: WorkloadRef = {
          instanceId,
          platform: 'kubernetes',
          workloadId: workloadIdOf(namespace, name, startId),
          port: facts.port,
          generation: facts.generation,
          startedAt: startedAt(pod) ?? isoTime(deployment.metadata?.creationTimestamp) ?? this.table.now(),
          ...(deployment.metadata?.uid ? { identity: deployment.metadata.uid } : {}),
        };
        const runningContainer = pod !== undefined && serverStatus(pod)?.state?.running !== undefined;
        if (!state.failure && runningContainer) {
          const workload: KubernetesWorkload = {
            ref,
            namespace,
            name,
            startId,
            phase: 'running',
            stopRequested: false,
            exitSignal: new AbortController(),
            ready: state.ready,
            ...(pod?.metadata?.uid ? { runningPod: pod.metadata.uid } : {}),
            ...(pod?.metadata?.name ? { pod: { name: pod.metadata.name, restarts: serverStatus(pod)?.restartCount ?? 0 } } : {}),
            ...exitLatch(),
          };
          this.table.adopt(workload);
          report.adopted.push(ref);
          continue;
        }
        // Died (or never came up) while no driver watched: report it, touch nothing.
        const failure: PodFailure | DeploymentFailure = state.failure ?? { reason: 'NotRunning', message: 'no running pod of the recorded generation', exitCode: null, signal: null, restarted: false, oomKilled: false };
        const lines = pod?.metadata?.name
          ? ((await this.podLogTail(namespace, { name: pod.metadata.name, restarts: serverStatus(pod)?.restartCount ?? 0 }, KEPT_LOG_LINES, failure.logOf)) ?? [])
          : [];
        const exitLines = lines.map((entry) => entry.line);
        const exit = exitOf(failure, undefined, exitLines, false, namespace, name);
        this.keptLogs.set(instanceId, { pod: pod?.metadata?.uid, lines });
        this.table.rememberExit(ref, exit);
        report.lost.push({ instanceId, ref, exit });
      }
      await this.reportOrphanObjects(report, namespace, instancesWithDeployment);
    }
    return report;
  }

  /** ConfigMaps, Services and claims with our label whose instance has no Deployment. */
  private async reportOrphanObjects(report: RecoveryReport, namespace: string, instances: Set<string>): Promise<void> {
    const lists: [string, () => Promise<{ items: (V1ConfigMap | V1Service | V1PersistentVolumeClaim)[] }>][] = [
      ['ConfigMap', () => this.core.listNamespacedConfigMap({ namespace, labelSelector: managedBySelector })],
      ['Service', () => this.core.listNamespacedService({ namespace, labelSelector: managedBySelector })],
      ['PersistentVolumeClaim', () => this.core.listNamespacedPersistentVolumeClaim({ namespace, labelSelector: managedBySelector })],
    ];
    for (const [kind, list] of lists) {
      let items;
      try {
        items = (await list()).items;
      } catch (error) {
        this.log(`kubernetes: could not list ${kind}s in namespace ${namespace} for orphans: ${describeApiError(error)}`);
        continue;
      }
      for (const item of items) {
        const instanceId = labelledInstance(item.metadata);
        if (instanceId !== undefined && instances.has(instanceId)) continue;
        this.reportOrphan(report, { kind, name: `${namespace}/${item.metadata?.name ?? ''}`, ...(instanceId ? { instanceId } : {}), reason: 'no Deployment of its instance exists' });
      }
    }
  }

  private reportOrphan(report: RecoveryReport, orphan: RecoveryOrphan): void {
    const key = `${orphan.kind}/${orphan.name}`;
    if (this.reportedOrphans.has(key)) return;
    this.reportedOrphans.add(key);
    report.orphans?.push(orphan);
    this.log(`kubernetes: ${orphan.kind} ${orphan.name} carries DRaaS's labels but ${orphan.reason}; left alone`);
  }

  /**
   * Stops the workload a lost worker ran, when it is still the same
   * Deployment (by uid): scaled to 0, then its pod waited for.
   */
  async reap(ref: WorkloadRef, options: Partial<StopOptions> = {}): Promise<{ reaped: boolean; reason: string }> {
    const [namespace, name, startId] = ref.workloadId.split('/');
    if (!namespace || !name) return { reaped: false, reason: `not a Kubernetes workload id: ${ref.workloadId}` };
    let deployment: V1Deployment;
    try {
      deployment = await this.apps.readNamespacedDeployment({ name, namespace });
    } catch (error) {
      if (statusOf(error) === 404) return { reaped: false, reason: `Deployment ${ref.workloadId} is gone` };
      return { reaped: false, reason: `cannot read Deployment ${ref.workloadId}: ${describeApiError(error)}` };
    }
    if (!ref.identity || deployment.metadata?.uid !== ref.identity) return { reaped: false, reason: `Deployment ${ref.workloadId} is not the recorded one (uid differs)` };
    // The same Deployment may run a later start by now (a replace keeps the uid): only the recorded start is reaped.
    if (objectFacts(deployment.metadata)?.startId !== startId) return { reaped: false, reason: `Deployment ${namespace}/${name} runs another start than ${ref.workloadId}` };
    if ((deployment.spec?.replicas ?? 1) === 0) return { reaped: false, reason: `Deployment ${ref.workloadId} is scaled to 0 already` };
    await this.watchNamespace(namespace);
    await this.writes.scale(namespace, name, 0);
    const graceMs = graceMsOf(options, this.graceMs);
    await this.deletePods(namespace, ref.instanceId, graceMs);
    await this.waitForNoPods(namespace, ref.instanceId, graceMs + STOP_MARGIN_MS);
    return { reaped: true, reason: `Deployment ${ref.workloadId} scaled to 0` };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const watches = [...this.watches.values()];
    this.watches.clear();
    await Promise.all(watches.map((watch) => watch.stop()));
    for (const workload of this.table.workloadsNow()) workload.exitSignal.abort();
    this.wakeWaiters();
  }

  // ---------------------------------------------------------------- status

  /** The namespace's informers, started once and synced. */
  private async watchNamespace(namespace: string): Promise<NamespaceWatch> {
    if (this.closed) throw new Error('the Kubernetes driver is closed');
    let watch = this.watches.get(namespace);
    if (!watch) {
      watch = new NamespaceWatch({
        config: this.config,
        apps: this.watchApis.apps,
        core: this.watchApis.core,
        namespace,
        onChange: (instanceId) => this.evaluate(instanceId),
        onResync: () => {
          for (const workload of this.table.workloadsNow()) if (workload.namespace === namespace) this.evaluate(workload.ref.instanceId);
          this.wakeWaiters();
        },
        onWatching: (watching, reason) => this.log(watching ? `kubernetes: watching namespace ${namespace} again` : `kubernetes: ${reason ?? 'watch lost'}; retrying`),
        ...(this.watchBackoffMs ? { backoffMs: this.watchBackoffMs } : {}),
      });
      this.watches.set(namespace, watch);
    }
    await watch.whenSynced();
    return watch;
  }

  /**
   * Judges the instance's workload from the caches after any change of its
   * Deployment or pods: a start's readiness or failure, a crash of a running
   * workload, readiness changes (health events), the exit a stop observes.
   */
  private evaluate(instanceId: string): void {
    const workload = this.table.get(instanceId);
    const watch = workload ? this.watches.get(workload.namespace) : undefined;
    if (workload && watch && workload.phase !== 'exited') {
      const deployment = watch.deployment(workload.name);
      const pods = watch.podsOf(instanceId);
      this.observePods(workload, pods);
      if (workload.phase === 'starting' && !workload.stopRequested) {
        const assessment = assessStart(deployment, pods, workload.startId);
        if (assessment.state === 'failed') {
          workload.failure = assessment.failure;
          void this.settle(workload);
        } else if (assessment.state === 'ready') {
          workload.readyPod = assessment.pod;
        } else if (assessment.waiting !== undefined) {
          workload.waiting = assessment.waiting;
        }
      } else if (workload.phase === 'running' && !workload.stopRequested) {
        this.judgeRunning(workload, deployment, pods);
      }
    }
    this.wakeWaiters();
  }

  private judgeRunning(workload: KubernetesWorkload, deployment: V1Deployment | undefined, pods: V1Pod[]): void {
    const gone: DeploymentFailure | undefined = !deployment
      ? { reason: 'DeploymentDeleted', message: `Deployment ${workload.ref.workloadId} was deleted outside DRaaS`, exitCode: null, signal: null, restarted: false, oomKilled: false }
      : deployment.spec?.replicas === 0
        ? { reason: 'ScaledToZero', message: `Deployment ${workload.ref.workloadId} was scaled to 0 outside DRaaS`, exitCode: null, signal: null, restarted: false, oomKilled: false }
        : (deployment.metadata?.uid && workload.ref.identity && deployment.metadata.uid !== workload.ref.identity) || objectFacts(deployment.metadata)?.startId !== workload.startId
          ? { reason: 'DeploymentReplaced', message: `Deployment ${workload.ref.workloadId} was replaced or restarted outside this driver`, exitCode: null, signal: null, restarted: false, oomKilled: false }
          : undefined;
    const state = assessRunning(pods, workload.startId);
    const own = workload.runningPod === undefined ? undefined : pods.find((pod) => pod.metadata?.uid === workload.runningPod);
    const podGone: DeploymentFailure | undefined =
      workload.runningPod !== undefined && (!own || own.metadata?.deletionTimestamp)
        ? { reason: 'PodDeleted', message: `the pod of ${workload.ref.workloadId} was deleted outside DRaaS`, exitCode: null, signal: null, restarted: false, oomKilled: false }
        : undefined;
    const failure = state.failure ?? gone ?? podGone;
    if (failure) {
      workload.failure = failure;
      void this.settle(workload);
      return;
    }
    const ready = state.failure === undefined && state.ready;
    if (ready !== workload.ready) {
      workload.ready = ready;
      this.table.emit({ type: 'health', instanceId: workload.ref.instanceId, ref: workload.ref, healthy: ready, at: this.table.now() });
    }
  }

  /** Remembers the newest pod, and the server's exit as a pod shows it. */
  private observePods(workload: KubernetesWorkload, pods: V1Pod[]): void {
    const current = currentPods(pods, workload.startId);
    const newest = current[0];
    if (newest?.metadata?.name) workload.pod = { name: newest.metadata.name, restarts: serverStatus(newest)?.restartCount ?? 0, ...(newest.metadata.uid ? { uid: newest.metadata.uid } : {}) };
    for (const pod of pods) {
      if (podStart(pod) !== workload.startId) continue;
      const exit = observedExit(pod);
      if (!exit) continue;
      workload.observedExit = exit;
    }
  }

  /**
   * The log of the container that failed: the previous one when the failure
   * was read from its last state, or when the kubelet restarted it since
   * (the first restart comes at once).
   */
  private async failureLog(workload: KubernetesWorkload, failure: PodFailure | DeploymentFailure): Promise<TimestampedLine[] | undefined> {
    if (!failure.pod) return this.podLogTail(workload.namespace, workload.pod, KEPT_LOG_LINES);
    const now = this.watches.get(workload.namespace)?.podsOf(workload.ref.instanceId).find((pod) => pod.metadata?.name === failure.pod);
    const restartsNow = now ? (serverStatus(now)?.restartCount ?? 0) : failure.restartCount;
    const pod = { name: failure.pod, restarts: restartsNow };
    if (failure.logOf === 'previous' || restartsNow > failure.restartCount) return this.podLogTail(workload.namespace, pod, KEPT_LOG_LINES, 'previous');
    const current = await this.podLogTail(workload.namespace, pod, KEPT_LOG_LINES, 'current');
    // The kubelet may have restarted it meanwhile (the cache lags): then the failed container's log is the previous one.
    const after = await this.core.readNamespacedPod({ name: failure.pod, namespace: workload.namespace }).catch(() => undefined);
    const restarted = (after ? (serverStatus(after)?.restartCount ?? 0) : failure.restartCount) > failure.restartCount;
    if (current !== undefined && !restarted) return current;
    return (await this.podLogTail(workload.namespace, pod, KEPT_LOG_LINES, 'previous')) ?? current;
  }

  /**
   * Records the workload's exit once (a crash, a failed start, a stop):
   * marks it exited at once (a start waiting for it stops waiting), scales a
   * failed workload to 0 so that the kubelet does not restart it behind the
   * control plane's back, gathers its last log lines, and tells listeners
   * when it was running and nobody asked for the exit.
   */
  private settle(workload: KubernetesWorkload): Promise<WorkloadExit> {
    workload.settling ??= (async () => {
      const wasRunning = this.table.markExited(workload);
      const failure = workload.failure;
      let lines: TimestampedLine[] = [];
      if (failure) {
        lines = (await this.failureLog(workload, failure)) ?? [];
        if (!workload.stopRequested) {
          await this.writes.scale(workload.namespace, workload.name, 0).catch((error: unknown) =>
            this.log(`kubernetes: could not scale ${workload.ref.workloadId} to 0 after its failure: ${describeApiError(error)}`),
          );
        }
      } else {
        lines = (await settleWithin(workload.finalLogs ?? Promise.resolve([]), 5_000).catch(() => undefined)) ?? [];
      }
      const exit = exitOf(failure, workload.observedExit, lines.map((entry) => entry.line), workload.stopRequested, workload.namespace, workload.name);
      this.keptLogs.set(workload.ref.instanceId, { pod: workload.runningPod ?? workload.pod?.uid, lines: lines.slice(-KEPT_LOG_LINES) });
      this.table.recordExit(workload, exit, wasRunning);
      workload.recordExit(exit);
      return exit;
    })();
    return workload.settling;
  }

  /** Fails a start whose pod waits for a volume whose ConfigMap, Secret or claim does not exist (a `FailedMount` event). */
  private async checkMounts(workload: KubernetesWorkload): Promise<void> {
    if (workload.phase !== 'starting' || workload.stopRequested || !workload.waiting?.startsWith('ContainerCreating')) return;
    const pod = this.watches.get(workload.namespace) ? currentPods(this.watches.get(workload.namespace)!.podsOf(workload.ref.instanceId), workload.startId)[0] : undefined;
    const name = pod?.metadata?.name;
    if (!name) return;
    let events;
    try {
      events = (await this.core.listNamespacedEvent({ namespace: workload.namespace, fieldSelector: `involvedObject.name=${name}` })).items;
    } catch (error) {
      // A server that does not index events by their object (400): all of the namespace's, filtered here.
      if (statusOf(error) !== 400) return; // Events explain, they are not the status: without them the start times out with the waiting reason.
      events = (await this.core.listNamespacedEvent({ namespace: workload.namespace }).catch(() => undefined))?.items;
      if (!events) return;
    }
    const failure = mountFailure(events.map((event) => ({ ...(event.type ? { type: event.type } : {}), ...(event.reason ? { reason: event.reason } : {}), ...(event.message ? { message: event.message } : {}), involvedObject: { ...(event.involvedObject.name ? { name: event.involvedObject.name } : {}), ...(event.involvedObject.uid ? { uid: event.involvedObject.uid } : {}) } })), { name, uid: pod?.metadata?.uid });
    if (failure && workload.phase === 'starting' && !workload.stopRequested) {
      workload.failure = { ...failure, pod: undefined };
      void this.settle(workload);
    }
  }

  // ---------------------------------------------------------------- waiting

  /** Resolves with `check()`'s first defined value (re-checked after every change), or undefined at the timeout or abort. */
  private waitUntil<T>(check: () => T | undefined, timeoutMs: number, signal?: AbortSignal): Promise<T | undefined> {
    return new Promise((resolve) => {
      let timer: NodeJS.Timeout | undefined;
      const finish = (value: T | undefined) => {
        this.waiters.delete(waiter);
        signal?.removeEventListener('abort', onAbort);
        clearTimeout(timer);
        resolve(value);
      };
      const waiter = () => {
        if (this.closed) return finish(undefined);
        const value = check();
        if (value !== undefined) finish(value);
      };
      const onAbort = () => finish(undefined);
      if (signal?.aborted) return finish(undefined);
      signal?.addEventListener('abort', onAbort, { once: true });
      timer = setTimeout(() => finish(undefined), timeoutMs);
      this.waiters.add(waiter);
      waiter();
    });
  }

  private wakeWaiters(): void {
    for (const waiter of [...this.waiters]) waiter();
  }

  /**
   * Deletes the instance's pods with the stop's grace period: scaling to 0
   * deletes them with the template's (the driver's grace at the start), and
   * a delete with a shorter grace period shortens it.
   */
  private async deletePods(namespace: string, instanceId: string, graceMs: number): Promise<void> {
    const pods = this.watches.get(namespace)?.podsOf(instanceId) ?? [];
    for (const pod of pods) {
      if (!pod.metadata?.name) continue;
      await this.core.deleteNamespacedPod({ name: pod.metadata.name, namespace, gracePeriodSeconds: Math.ceil(graceMs / 1000) }).catch((error: unknown) => {
        if (statusOf(error) !== 404) throw error;
      });
    }
  }

  /** Waits until the instance has no pod; past `timeoutMs` its pods are deleted at once and the API server asked directly. */
  private async waitForNoPods(namespace: string, instanceId: string, timeoutMs: number): Promise<void> {
    const watch = this.watches.get(namespace);
    if (watch) {
      const gone = await this.waitUntil(() => (watch.podsOf(instanceId).length === 0 ? true : undefined), timeoutMs);
      if (gone) return;
    }
    const selector = instanceSelector(instanceId);
    const left = (await this.core.listNamespacedPod({ namespace, labelSelector: selector })).items;
    if (left.length === 0) return;
    this.log(`kubernetes: ${left.length} pod(s) of "${instanceId}" still there after ${timeoutMs} ms; deleting them at once`);
    for (const pod of left) {
      if (!pod.metadata?.name) continue;
      await this.core.deleteNamespacedPod({ name: pod.metadata.name, namespace, gracePeriodSeconds: 0 }).catch((error: unknown) => {
        if (statusOf(error) !== 404) throw error;
      });
    }
    const deadline = Date.now() + STOP_MARGIN_MS;
    while ((await this.core.listNamespacedPod({ namespace, labelSelector: selector })).items.length > 0) {
      if (Date.now() > deadline) throw new WorkloadFailedError(`the pod of "${instanceId}" is still there after it was deleted`, noExitFacts());
      await delay(200);
    }
  }

  // ---------------------------------------------------------------- API writes

  /** Whether the API server keeps `lifecycle.stopSignal` (asked once; `/version` >= 1.33). */
  private stopSignal(): Promise<StopSignalMode> {
    this.stopSignalMode ??= this.version.getCode().then(
      (version) => (supportsStopSignal(version) ? 'stop-signal' : 'pre-stop'),
      (error: unknown) => {
        this.stopSignalMode = undefined;
        if (error instanceof EngineUnavailableError) throw error;
        throw new WorkloadFailedError(`Kubernetes API at ${this.server}: cannot read /version (${describeApiError(error)})`, noExitFacts());
      },
    );
    return this.stopSignalMode;
  }
}

// ---------------------------------------------------------------- helpers

/** A workload is one start's pod template of the instance's Deployment: `<namespace>/<deployment>/<start id>`. */
function workloadIdOf(namespace: string, deployment: string, startId: string): string {
  return `${namespace}/${deployment}/${startId}`;
}

function noExitFacts(): Record<string, unknown> {
  return { exitCode: null, signal: null, lastLogLines: [] };
}

function instanceSelector(instanceId: string): string {
  return `${managedBySelector},io.draas/instance-id=${instanceId}`;
}

function exitOf(
  failure: PodFailure | DeploymentFailure | undefined,
  observed: { exitCode: number | null; signal: string | null; reason?: string } | undefined,
  lines: string[],
  requested: boolean,
  namespace: string,
  deployment: string,
): WorkloadExit {
  const reason = failure ? describeFailure(failure) : observed?.reason;
  return {
    exitCode: failure?.exitCode ?? observed?.exitCode ?? null,
    signal: failure?.signal ?? observed?.signal ?? null,
    lastLogLines: lines.slice(-EXIT_LOG_LINES),
    requested,
    details: {
      namespace,
      deployment,
      ...(reason !== undefined ? { reason } : {}),
      ...(failure?.pod ? { pod: failure.pod } : {}),
      oomKilled: failure?.oomKilled === true || observed?.reason === 'OOMKilled',
    },
  };
}

function createdAt(pod: V1Pod): number {
  const created = pod.metadata?.creationTimestamp;
  return created === undefined ? 0 : new Date(created).getTime();
}

function startedAt(pod: V1Pod | undefined): string | undefined {
  return isoTime(pod ? serverStatus(pod)?.state?.running?.startedAt : undefined);
}

function isoTime(value: Date | string | undefined): string | undefined {
  if (value === undefined) return undefined;
  const time = new Date(value);
  return Number.isNaN(time.getTime()) ? undefined : time.toISOString();
}

async function bounded<T>(promise: Promise<T>, ms: number): Promise<T> {
  const result = await settleWithin(promise.then((value) => ({ value })), ms);
  if (!result) throw new Error(`no answer within ${ms} ms`);
  return result.value;
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
