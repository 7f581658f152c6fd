import { constants as osConstants } from 'node:os';
import Docker from 'dockerode';
import { renderServerConfigYaml } from '../drasi/render-config.js';
import { WorkloadFailedError, errorMessage } from '../errors.js';
import type { CircuitState } from '../resilience/circuit-breaker.js';
import { guardDockerClient } from './docker-guard.js';
import { EngineGuard, EngineUnavailableError, type EngineResilience } from './engine-guard.js';
import { tarArchive } from './docker-archive.js';
import { describeConnection, dockerConnectionOptions, type DockerConnectionSettings } from './docker-connection.js';
import {
  containerConfigDir,
  containerCreateOptions,
  containerName,
  containerServerConfig,
  containerWorkingDir,
  dockerLabels,
  labelFacts,
  managedByValue,
  resolveDockerOptions,
  type ResolvedDockerOptions,
} from './docker-container-spec.js';
import { DockerEventStream, dockerEventFilters, type DockerContainerEvent } from './docker-events.js';
import { ensureImage, statusCodeOf } from './docker-image.js';
import { linesAfter, logLines, sinceSeconds, timestampedLines, type TimestampedLine } from './docker-logs.js';
import { decodeLogCursor, encodeLogCursor, positionLostMarker, skippedMarker, workloadStartedMarker, type DockerLogCursor } from './log-cursor.js';
import { dockerPlatformOptionsSchema, type DockerNetworkMode } from './docker-options.js';
import { parsePlatformOptions } from './platform-options.js';
import type {
  LogOptions,
  LogRead,
  LogReadOptions,
  PlatformAvailability,
  PlatformDriver,
  RecoveryReport,
  StopOptions,
  StopOutcome,
  WorkloadEvent,
  WorkloadExit,
  WorkloadRef,
  WorkloadSpec,
  WorkloadState,
} from './driver.js';
import { probeHost, waitForHealthy } from './health-probe.js';
import type { ServerHttp } from './timed-fetch.js';
import { HostPorts } from './port-assignment.js';
import type { PortRange } from './port-allocator.js';
import { startWorkload, throwIfAborted, type StartFailureExit, type WorkloadLauncher } from './workload-start.js';
import { graceMsOf, lastErrorLine, noExit, settleWithin } from './workload-support.js';
import { exitLatch, WorkloadTable, type TrackedWorkload, type WorkloadPhase } from './workload-table.js';

export interface DockerDriverOptions {
  /** DOCKER_HOST or a socket path; default the local socket. */
  connection: DockerConnectionSettings;
  /** The image of instances that do not name one (`--docker-image`). */
  defaultImage: string;
  /** The network of instances that do not name one. Default `bridge` (port published on 127.0.0.1). */
  defaultNetwork?: DockerNetworkMode;
  /** Host ports handed to servers that did not ask for one. */
  ports: PortRange;
  /** Default grace period between SIGINT and SIGKILL. Default 10 s. */
  graceMs?: number;
  /** Pause between two health probes while starting. Default 100 ms. */
  healthIntervalMs?: number;
  /** Where the health probe reaches published ports. Default 127.0.0.1 (the Engine runs on this host). */
  probeHost?: string;
  clock?: () => number;
  log?: (message: string) => void;
  /** The Engine's circuit breaker and the retries of its calls (see `engine-guard.ts`); defaults when left out. */
  resilience?: EngineResilience;
}

/** Lines of log attached to an exit. */
const EXIT_LOG_LINES = 20;
/** How long an exit may take to be recorded after the container stopped. */
const SETTLE_WAIT_MS = 5_000;
/** How long one call to the Engine's ping may take before the Engine counts as unreachable. */
const PING_TIMEOUT_MS = 3_000;

interface Workload extends TrackedWorkload {
  readonly containerId: string;
  /** An `oom` event was seen for this container. */
  oom: boolean;
  recordExit: (exit: WorkloadExit) => void;
  settling?: Promise<WorkloadExit>;
}

/** What a start found out before it took a port: the container's options, the worker's defaults filled in. */
type Prepared = ResolvedDockerOptions;

/**
 * Runs each Drasi Server as a Docker container `draas-<instanceId>`.
 *
 * Config: rendered with the port (and, on a bridge network, `host: 0.0.0.0`)
 * and copied into the created container before it starts, as a tar archive
 * (`PUT /containers/{id}/archive`) at `/app/config/server.yaml`; the server
 * runs `--config /app/config/server.yaml --port <port>`. Copying instead of
 * bind-mounting works the same with a remote DOCKER_HOST, where a path of
 * this machine means nothing to the Engine.
 *
 * Every start creates a fresh container (the previous, exited one is removed
 * first), so a start after a stop or a config change runs the current
 * generation; its labels say which (`io.draas.generation`). An exited
 * container stays until the next start or a remove, for `logs` and `inspect`.
 *
 * Status comes from the Engine's event stream (die, oom, health_status), not
 * from polling: an exit nobody asked for reaches `watch` listeners with the
 * exit code and the OOM flag. Stop is `docker stop` (StopSignal SIGINT, then
 * SIGKILL after the grace period); the container's restart policy is "no":
 * DRaaS owns restarts.
 *
 * Re-adoption: `recover` finds running containers by the `managed-by=draas`
 * label and tracks them without touching them; exited ones are reported as
 * lost. Containers are never deleted except by `remove` for their instance.
 */
export class DockerDriver implements PlatformDriver {
  readonly platform = 'docker' as const;
  readonly docker: Docker;
  private readonly connection: string;
  private readonly defaultImage: string;
  private readonly defaultNetwork: DockerNetworkMode;
  private readonly graceMs: number;
  private readonly healthIntervalMs: number;
  private readonly probeHost: string;
  private readonly clock: () => number;
  private readonly log: (message: string) => void;
  private readonly table: WorkloadTable<Workload>;
  private readonly guard: EngineGuard;
  private events: Promise<DockerEventStream> | undefined;
  private closed = false;

  constructor(options: DockerDriverOptions) {
    const connection = dockerConnectionOptions(options.connection);
    this.docker = new Docker(connection);
    this.connection = describeConnection(connection);
    const resilience = options.resilience ?? {};
    this.guard = new EngineGuard({
      name: 'docker-engine',
      description: `Docker Engine at ${this.connection}`,
      ...(resilience.circuit ? { circuit: resilience.circuit } : {}),
      ...(resilience.retry ? { retry: resilience.retry } : {}),
      ...(options.clock ? { clock: options.clock } : {}),
      onChange: (state) => this.log(`docker: Engine circuit ${state.status}${state.status === 'open' ? ` (last failure: ${state.lastError ?? '?'}; next probe at ${state.nextProbeAt ?? '?'})` : ''}`),
    });
    guardDockerClient(this.docker, this.guard, resilience.readTimeoutMs ?? 10_000);
    this.defaultImage = options.defaultImage;
    this.defaultNetwork = options.defaultNetwork ?? 'bridge';
    this.graceMs = options.graceMs ?? 10_000;
    this.healthIntervalMs = options.healthIntervalMs ?? 100;
    this.probeHost = options.probeHost ?? '127.0.0.1';
    this.clock = options.clock ?? Date.now;
    this.log = options.log ?? (() => undefined);
    this.table = new WorkloadTable({ ports: new HostPorts(options.ports), clock: this.clock });
  }

  /** The Engine's ping, through its circuit: while the circuit is open nothing is sent until the next probe is due (then the ping is the probe). */
  async availability(): Promise<PlatformAvailability> {
    try {
      await settleOrThrow(this.docker.ping(), PING_TIMEOUT_MS, `no answer within ${PING_TIMEOUT_MS} ms`);
      return { available: true };
    } catch (error) {
      if (error instanceof EngineUnavailableError) return { available: false, reason: error.message };
      return { available: false, reason: `Docker Engine at ${this.connection} is unreachable: ${errorMessage(error)}` };
    }
  }

  /** The Engine's circuit breaker. */
  circuits(): CircuitState[] {
    return [this.guard.state()];
  }

  start(spec: WorkloadSpec, options: { signal?: AbortSignal } = {}): Promise<WorkloadRef> {
    return startWorkload(this.table, spec, options.signal, this.launcher);
  }

  async stop(instanceId: string, options: StopOptions): Promise<StopOutcome> {
    const workload = this.table.get(instanceId);
    if (!workload || workload.phase === 'exited') return { wasRunning: false };
    workload.stopRequested = true;
    const graceMs = graceMsOf(options, this.graceMs);
    try {
      // `docker stop` sends the StopSignal (SIGINT) and SIGKILL after `t` seconds.
      await this.docker.getContainer(workload.containerId).stop({ t: Math.ceil(graceMs / 1000) });
    } catch (error) {
      // 304: already stopped; 404: already gone. Both mean it is not running.
      const status = statusCodeOf(error);
      if (error instanceof EngineUnavailableError) throw error;
      if (status !== 304 && status !== 404) throw new WorkloadFailedError(`could not stop container ${containerName(instanceId)}: ${errorMessage(error)}`, noExit());
    }
    const exit = await this.settle(workload);
    return { wasRunning: true, exit };
  }

  async remove(instanceId: string, options: StopOptions): Promise<void> {
    await this.stop(instanceId, options);
    try {
      await this.docker.getContainer(containerName(instanceId)).remove({ force: true, v: true });
    } catch (error) {
      if (error instanceof EngineUnavailableError) throw error;
      if (statusCodeOf(error) !== 404) throw new WorkloadFailedError(`could not remove container ${containerName(instanceId)}: ${errorMessage(error)}`, noExit());
    }
    this.table.forget(instanceId);
  }

  async inspect(instanceId: string): Promise<WorkloadState> {
    const workload = this.table.get(instanceId);
    if (workload && workload.phase !== 'exited') {
      // The event stream may have been down: confirm with the Engine before saying "running".
      const state = await this.containerState(workload.containerId);
      if (state?.Running) return workload.phase === 'running' ? { state: 'running', ref: workload.ref } : { state: 'absent' };
      await this.settle(workload);
    }
    const last = this.table.lastExit(instanceId);
    return last ? { state: 'exited', ref: last.ref, exit: last.exit } : { state: 'absent' };
  }

  async list(): Promise<WorkloadRef[]> {
    return this.table.list();
  }

  serverApi(instanceId: string): ServerHttp | undefined {
    // An adopted workload's host was not seen by this driver: where published ports are reached.
    return this.table.serverApi(instanceId, this.probeHost);
  }

  async logs(instanceId: string, options: LogOptions): Promise<string[]> {
    return this.containerLogs(containerName(instanceId), options.tail);
  }

  /**
   * Cursor: the container and the timestamp of the last line read with the
   * number of lines read at exactly that time (the Engine's `since` has whole
   * seconds; the rest is deduplicated here). Every start makes a new
   * container, so a new container id is a new workload; the old container's
   * rest is read while it still exists (it is removed by the next start).
   */
  async readLogs(instanceId: string, options: LogReadOptions): Promise<LogRead> {
    const current = await this.currentContainer(instanceId);
    const cursor = options.after === undefined ? undefined : decodeLogCursor(options.after, 'docker');
    if (options.after === undefined || !cursor) {
      const lines = options.after === undefined ? [] : [positionLostMarker];
      if (!current) return { lines, cursor: encodeLogCursor({ kind: 'docker', container: null, timestamp: null, count: 0 }) };
      const tail = options.after === undefined ? options.tail : 0;
      const newest = await this.timestampedLogs(current.id, { tail: Math.max(tail, 1) });
      const last = newest.at(-1);
      // The tail may cut a group of lines stamped alike: count the whole group for the cursor.
      const sameTime = last ? (await this.timestampedLogs(current.id, { since: sinceSeconds(last.timestamp) })).filter((entry) => entry.timestamp === last.timestamp) : [];
      if (tail > 0) lines.push(...newest.map((entry) => entry.line));
      const position = { timestamp: last?.timestamp ?? null, count: sameTime.length };
      return { lines, cursor: encodeLogCursor({ kind: 'docker', container: current.id, ...position }) };
    }
    if (!current) return { lines: [], cursor: options.after };
    if (cursor.container === current.id) return this.readAfter(current.id, cursor, []);
    const lines: string[] = [];
    if (cursor.container !== null) {
      // Not `readAfter`: a gone container there means "nothing new", here it means lines that cannot be had.
      const rest = await this.timestampedLogs(cursor.container, cursor.timestamp === null ? {} : { since: sinceSeconds(cursor.timestamp) }, true).then(
        (entries) => linesAfter(entries, cursor).lines,
        () => undefined,
      );
      lines.push(...(rest ?? [skippedMarker("the previous workload's container is gone")]));
    }
    lines.push(workloadStartedMarker({ workloadId: current.id.slice(0, 12), generation: current.generation }));
    return this.readAfter(current.id, { kind: 'docker', container: current.id, timestamp: null, count: 0 }, lines);
  }

  private async readAfter(containerId: string, cursor: DockerLogCursor, before: string[]): Promise<LogRead> {
    let entries;
    try {
      entries = await this.timestampedLogs(containerId, cursor.timestamp === null ? {} : { since: sinceSeconds(cursor.timestamp) }, true);
    } catch (error) {
      // Being removed (409) or gone (404) in the middle of a delete: nothing new to read; the reader learns of the delete next.
      const status = statusCodeOf(error);
      if (status === 409 || status === 404) return { lines: before, cursor: encodeLogCursor(cursor) };
      throw error;
    }
    const read = linesAfter(entries, cursor);
    const next: DockerLogCursor = { kind: 'docker', container: containerId, timestamp: read.timestamp, count: read.count };
    return { lines: [...before, ...read.lines], cursor: encodeLogCursor(next) };
  }

  /** The instance's container now (its id and generation label), or undefined when there is none. */
  private async currentContainer(instanceId: string): Promise<{ id: string; generation: number } | undefined> {
    try {
      const info = await this.docker.getContainer(containerName(instanceId)).inspect();
      return { id: info.Id, generation: labelFacts(info.Config.Labels)?.generation ?? 0 };
    } catch (error) {
      if (statusCodeOf(error) === 404) return undefined;
      throw error;
    }
  }

  /** The container's log with timestamps; a missing container has none unless `strict`. */
  private async timestampedLogs(container: string, range: { tail?: number; since?: number }, strict = false): Promise<TimestampedLine[]> {
    try {
      const buffer = await this.docker.getContainer(container).logs({ stdout: true, stderr: true, timestamps: true, follow: false, ...range });
      return timestampedLines(Buffer.isBuffer(buffer) ? buffer : Buffer.from(String(buffer)));
    } catch (error) {
      if (!strict && statusCodeOf(error) === 404) return [];
      throw error;
    }
  }

  watch(listener: (event: WorkloadEvent) => void): () => void {
    return this.table.watch(listener);
  }

  async recover(): Promise<RecoveryReport> {
    await this.watchEngine();
    const report: RecoveryReport = { adopted: [], lost: [] };
    const containers = await this.docker.listContainers({ all: true, filters: { label: [`${dockerLabels.managedBy}=${managedByValue}`] } });
    for (const summary of containers) {
      const facts = labelFacts(summary.Labels);
      if (!facts || this.table.has(facts.instanceId) || this.table.lastExit(facts.instanceId)) continue;
      const details = await this.docker.getContainer(summary.Id).inspect().catch(() => undefined);
      if (!details) continue;
      const ref: WorkloadRef = {
        instanceId: facts.instanceId,
        platform: 'docker',
        workloadId: summary.Id,
        port: facts.port,
        generation: facts.generation,
        startedAt: details.State.StartedAt,
      };
      if (details.State.Running) {
        this.adopt(ref);
        report.adopted.push(ref);
      } else {
        const exit = await this.exitOf(summary.Id, details.State, false, false);
        this.table.rememberExit(ref, exit);
        report.lost.push({ instanceId: facts.instanceId, ref, exit });
      }
    }
    return report;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const events = this.events;
    this.events = undefined;
    if (events) (await events.catch(() => undefined))?.close();
    for (const workload of this.table.workloadsNow()) workload.exitSignal.abort();
  }

  // ---------------------------------------------------------------- events

  /** Opens the Engine's event stream once (again after a failed attempt). */
  private watchEngine(): Promise<DockerEventStream> {
    if (this.closed) return Promise.reject(new Error('the Docker driver is closed'));
    if (!this.events) {
      const stream = new DockerEventStream({
        open: (since) =>
          this.docker.getEvents({ filters: dockerEventFilters, ...(since !== undefined ? { since } : {}) }),
        onEvent: (event) => this.onEngineEvent(event),
        onResumed: () => void this.reconcile(),
        onConnection: (connected, reason) => {
          if (!connected) this.log(`docker: event stream from ${this.connection} lost (${reason ?? 'unknown'}); reconnecting`);
        },
      });
      const opening = stream.start().then(() => stream);
      opening.catch(() => {
        if (this.events === opening) this.events = undefined;
      });
      this.events = opening;
    }
    return this.events;
  }

  private onEngineEvent(event: DockerContainerEvent): void {
    const workload = this.table.get(event.instanceId);
    if (!workload || workload.containerId !== event.containerId) return;
    if (event.action === 'oom') workload.oom = true;
    else if (event.action === 'die') void this.settle(workload);
    else if (event.action === 'health' && workload.phase === 'running') {
      this.table.emit({ type: 'health', instanceId: event.instanceId, ref: workload.ref, healthy: event.healthy, at: this.now() });
    }
  }

  /** After the event stream was down: any tracked container that stopped meanwhile is settled now. */
  private async reconcile(): Promise<void> {
    for (const workload of this.table.workloadsNow()) {
      if (workload.phase === 'exited') continue;
      const state = await this.containerState(workload.containerId).catch(() => undefined);
      if (state && !state.Running) await this.settle(workload);
    }
  }

  // ---------------------------------------------------------------- start

  /** What the start sequence (`startWorkload`) needs of this platform. */
  private readonly launcher: WorkloadLauncher<Workload, Prepared> = {
    prepare: (spec, signal) => this.prepare(spec, signal),
    create: (spec, options, port, signal) => this.create(spec, options, port, signal),
    createFailed: (error, spec, options) =>
      error instanceof EngineUnavailableError ? error : new WorkloadFailedError(`could not launch container ${containerName(spec.instanceId)}: ${errorMessage(error)}`, { ...noExit(), image: options.image }),
    ready: (workload, spec, options, signal) => {
      // Bridge: the port is published on the Engine host's 127.0.0.1; host networking: where the server binds.
      const host = options.network === 'bridge' ? this.probeHost : probeHost(spec.config['host']);
      this.table.serveApiAt(spec.instanceId, host);
      return waitForHealthy({ url: `http://${host}:${workload.ref.port}/health`, timeoutMs: spec.startTimeoutMs, intervalMs: this.healthIntervalMs, signal, clock: this.clock });
    },
    kill: async (workload) => {
      await this.docker.getContainer(workload.containerId).kill().catch(() => undefined);
    },
    settle: (workload) => this.settle(workload),
    describeEarlyExit,
  };

  private async prepare(spec: WorkloadSpec, signal: AbortSignal | undefined): Promise<Prepared> {
    const instanceId = spec.instanceId;
    if (this.closed) throw new WorkloadFailedError('the Docker driver is closed', noExit());
    const parsed = parsePlatformOptions('docker', dockerPlatformOptionsSchema, spec.platformOptions);
    const options = resolveDockerOptions(parsed, { image: this.defaultImage, network: this.defaultNetwork });
    try {
      await this.watchEngine();
    } catch (error) {
      if (error instanceof EngineUnavailableError) throw error;
      throw new WorkloadFailedError(`Docker Engine at ${this.connection} is unreachable: ${errorMessage(error)}`, noExit());
    }
    await ensureImage(this.docker, options.image, (message) => this.table.emit({ type: 'progress', instanceId, message, at: this.now() }));
    throwIfAborted(signal, instanceId);
    return options;
  }

  private async create(spec: WorkloadSpec, options: Prepared, port: number, signal: AbortSignal | undefined): Promise<Workload> {
    const instanceId = spec.instanceId;
    // The previous run's container (kept for its logs) makes way for this generation's.
    await this.removeContainer(containerName(instanceId));
    this.table.forgetExit(instanceId);
    const container = await this.docker.createContainer(containerCreateOptions(spec, options, port));
    const config = renderServerConfigYaml(containerServerConfig(spec, options.network, port));
    await container.putArchive(
      tarArchive([
        { type: 'directory', path: `${containerWorkingDir.slice(1)}/${containerConfigDir}` },
        { type: 'file', path: `${containerWorkingDir.slice(1)}/${containerConfigDir}/server.yaml`, content: config },
      ], Math.floor(this.clock() / 1000)),
      { path: '/' },
    );
    throwIfAborted(signal, instanceId);
    // Tracked before it starts, so that its `die` event finds it however early it comes.
    const workload = this.track({ instanceId, platform: 'docker', workloadId: container.id, port, generation: spec.generation, startedAt: this.now() }, 'starting');
    await container.start();
    const started = await container.inspect();
    workload.ref.startedAt = started.State.StartedAt;
    if (!started.State.Running) void this.settle(workload);
    return workload;
  }

  // ---------------------------------------------------------------- tracking

  private track(ref: WorkloadRef, phase: WorkloadPhase): Workload {
    const workload = this.record(ref, phase);
    this.table.track(workload);
    return workload;
  }

  private adopt(ref: WorkloadRef): void {
    this.table.adopt(this.record(ref, 'running'));
  }

  private record(ref: WorkloadRef, phase: WorkloadPhase): Workload {
    const { exited, recordExit } = exitLatch();
    return { ref, containerId: ref.workloadId, phase, stopRequested: false, oom: false, exitSignal: new AbortController(), exited, recordExit };
  }

  /**
   * Records the container's exit once (from the `die` event, a stop, a failed
   * start or a reconcile, whichever comes first): exit code and OOM flag from
   * the Engine, the last log lines, the port released, listeners told when
   * nobody asked for it.
   */
  private settle(workload: Workload): Promise<WorkloadExit> {
    workload.settling ??= (async () => {
      const state = await waitUntilStopped(this.docker, workload.containerId);
      const wasRunning = this.table.markExited(workload);
      const exit = await this.exitOf(workload.containerId, state, workload.stopRequested, workload.oom);
      workload.recordExit(exit);
      this.table.recordExit(workload, exit, wasRunning);
      return exit;
    })();
    return workload.settling;
  }

  private async exitOf(containerId: string, state: ContainerState | undefined, requested: boolean, oomEvent: boolean): Promise<WorkloadExit> {
    const exitCode = typeof state?.ExitCode === 'number' ? state.ExitCode : null;
    // A container's main process killed by a signal exits with 128 + the signal's number.
    const signal = exitCode !== null && exitCode > 128 ? signalName(exitCode - 128) : null;
    const lastLogLines = await this.containerLogs(containerId, EXIT_LOG_LINES).catch(() => []);
    return {
      exitCode,
      signal,
      lastLogLines,
      requested,
      details: { containerId, oomKilled: oomEvent || state?.OOMKilled === true, ...(state?.Error ? { error: state.Error } : {}) },
    };
  }

  private async containerLogs(container: string, tail: number): Promise<string[]> {
    if (tail <= 0) return [];
    try {
      const buffer = await this.docker.getContainer(container).logs({ stdout: true, stderr: true, tail, follow: false });
      return logLines(Buffer.isBuffer(buffer) ? buffer : Buffer.from(String(buffer)), tail);
    } catch (error) {
      if (statusCodeOf(error) === 404) return [];
      throw error;
    }
  }

  private async containerState(containerId: string): Promise<ContainerState | undefined> {
    try {
      return (await this.docker.getContainer(containerId).inspect()).State;
    } catch (error) {
      if (statusCodeOf(error) === 404) return undefined;
      throw error;
    }
  }

  private async removeContainer(name: string): Promise<void> {
    try {
      await this.docker.getContainer(name).remove({ force: true, v: true });
    } catch (error) {
      if (statusCodeOf(error) !== 404) throw error;
    }
  }

  private now(): string {
    return new Date(this.clock()).toISOString();
  }
}

// ---------------------------------------------------------------- helpers

type ContainerState = Docker.ContainerInspectInfo['State'];

/** The container's state once it no longer runs (bounded wait); undefined when it is gone. */
async function waitUntilStopped(docker: Docker, containerId: string): Promise<ContainerState | undefined> {
  const container = docker.getContainer(containerId);
  // `wait` returns when the container is not running (at once when it already stopped).
  await settleWithin(container.wait({ condition: 'not-running' }).catch(() => undefined), SETTLE_WAIT_MS);
  try {
    return (await container.inspect()).State;
  } catch {
    return undefined;
  }
}

function signalName(number: number): string | null {
  for (const [name, value] of Object.entries(osConstants.signals)) if (value === number) return name;
  return null;
}

async function settleOrThrow<T>(promise: Promise<T>, ms: number, message: string): Promise<T> {
  const result = await settleWithin(promise.then((value) => ({ value })), ms);
  if (!result) throw new Error(message);
  return result.value;
}

function describeEarlyExit(exit: StartFailureExit): string {
  const how = exit.signal ? `was killed by ${exit.signal}` : exit.exitCode === null ? 'exited' : `exited with code ${exit.exitCode}`;
  const oom = exit.details?.['oomKilled'] === true ? ' (out of memory)' : '';
  const line = lastErrorLine(exit.lastLogLines);
  return `the container ${how}${oom} before becoming healthy${line ? `: ${line}` : ''}`;
}
