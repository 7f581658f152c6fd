import { randomUUID } from 'node:crypto';
import { mkdirSync, rmSync } from 'node:fs';
import { readdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import { renderServerConfigYaml } from '../drasi/render-config.js';
import { BadRequestError, WorkloadFailedError, errorMessage } from '../errors.js';
import { BoundedLog, closeQuietly } from './bounded-log.js';
import { cleanEnvironment } from './clean-env.js';
import type {
  LogOptions,
  LogRead,
  LogReadOptions,
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
import { ExecutableError, resolveExecutable } from './executable.js';
import { probeHost, waitForHealthy } from './health-probe.js';
import type { ServerHttp } from './timed-fetch.js';
import { listenerOwnedBy } from './listener-owner.js';
import { decodeLogCursor, encodeLogCursor, positionLostMarker, skippedMarker, workloadStartedMarker } from './log-cursor.js';
import type { LogChunk } from './bounded-log.js';
import { parsePlatformOptions, platformOptionSchemas } from './platform-options.js';
import { HostPorts } from './port-assignment.js';
import type { PortRange } from './port-allocator.js';
import { startWorkload, throwIfAborted, type StartFailureExit, type WorkloadLauncher } from './workload-start.js';
import { graceMsOf, lastErrorLine, noExit, settleWithin, withPort } from './workload-support.js';
import { exitLatch, WorkloadTable, type TrackedWorkload } from './workload-table.js';
import {
  decodeProcessIdentity,
  encodeProcessIdentity,
  hostBootId,
  liveProcessStartTime,
  processCommandLine,
  processStartTime,
  readWorkloadState,
  removeWorkloadState,
  serversUnder,
  writeFileAtomically,
  writeWorkloadState,
  type WorkloadStateFile,
} from './workload-state.js';

export interface ProcessDriverOptions {
  /** Instance working directories live in `<dataDir>/instances/<instanceId>/`. */
  dataDir: string;
  /** The Drasi Server executable: a path (relative to the control plane's cwd) or a name looked up on `searchPath`. */
  executable: string;
  /**
   * Where a bare executable name is looked up. Default: this process's own
   * PATH. Never an instance's: its environment must not choose which program runs.
   */
  searchPath?: string;
  /** Ports handed to servers that did not ask for one. */
  ports: PortRange;
  /** Default time between SIGINT and SIGKILL when a stop does not say. Default 10 s. */
  graceMs?: number;
  /** Pause between two health probes while starting. Default 100 ms. */
  healthIntervalMs?: number;
  /** Bound of `server.log` before it is rotated to `server.log.1`. Default 4 MiB. */
  logMaxBytes?: number;
  /** How often the log size is checked while a server runs. Default 250 ms (plus change notifications). */
  logCheckIntervalMs?: number;
  /** Milliseconds since the epoch; for timestamps and the start deadline. Default `Date.now`. */
  clock?: () => number;
  /** How often an adopted server (not a child of this driver) is checked for its exit. Default 250 ms. */
  adoptedPollMs?: number;
}

/** Lines of log attached to an exit. */
const EXIT_LOG_LINES = 20;
/** How long to wait for a process to disappear after SIGKILL before giving up on it. */
const KILL_WAIT_MS = 5_000;

interface ExitFacts {
  exitCode: number | null;
  signal: string | null;
  /** Why the process could not be spawned at all (ENOENT, EACCES, ...). */
  spawnError?: { code: string | undefined; message: string };
}

/**
 * execa's types list only the descriptors 3–9 for `stdout`/`stderr`, but at
 * run time it hands any descriptor number straight to `child_process.spawn`
 * (no piping through this process), which is what the log file needs.
 */
type DescriptorOption = 3;

function spawnServer(executable: string, args: string[], cwd: string, env: Record<string, string>, logFd: number) {
  const output = logFd as DescriptorOption;
  return execa(executable, args, {
    cwd,
    env,
    extendEnv: false,
    // Its own process group (and session): the whole tree can be signalled, and it survives the control plane.
    detached: true,
    stdin: 'ignore',
    // Straight into the log file: nothing passes through this process, so nothing can block the server.
    stdout: output,
    stderr: output,
    buffer: false,
    reject: false,
    cleanup: false,
    forceKillAfterDelay: false,
    windowsHide: true,
  });
}

type ServerSubprocess = ReturnType<typeof spawnServer>;

/** An instance's log as `readLogs` sees it: the log of the workload writing it now (or last). */
interface LogSource {
  readonly log: BoundedLog;
  /** `<pid>@<startedAt>` of that workload; `none` when no workload is known (never started, or before a restart of the driver). */
  readonly writer: string;
  readonly ref?: WorkloadRef;
  /** The writer before it and its rotations, whose rest `log.readInherited` may still hold. */
  readonly previous?: { writer: string; rotations: number };
}

const noWriter = 'none';

interface Workload extends TrackedWorkload {
  readonly pid: number;
  readonly dir: string;
  readonly log: BoundedLog;
  /** Undefined for an adopted workload (started by an earlier driver; not a child of this process). */
  readonly subprocess: ServerSubprocess | undefined;
  /** For an adopted workload: the verified kernel start time of `pid`, and the timer that polls for its exit. */
  readonly adopted?: { startTime: number; poll?: NodeJS.Timeout };
}

/** What a start found out before it took a port. */
interface Prepared {
  dir: string;
  env: Record<string, string>;
  executable: string;
}

/**
 * Runs each Drasi Server as a local OS process.
 *
 * Files: every instance gets `<dataDir>/instances/<instanceId>/` as its
 * working directory (the server keeps its `./data` there) holding
 * - `config.yaml`: the rendered config with `port` set, written before the
 *   launch (a missing file would make the server start with defaults);
 * - `server.log` (+ `server.log.1`): the server's stdout and stderr, see
 *   `BoundedLog`. The child writes the file itself through an `O_APPEND`
 *   descriptor, so its output never passes through (or depends on) the
 *   control plane; the previous run's log becomes `server.log.1` at each start;
 * - `workload.json`: pid, process start time, port and generation of the
 *   running server (see `workload-state.ts`), for re-adoption.
 *
 * Launch: `<executable> --config <abs path> --port <port>` with a clean
 * environment (PATH, HOME, LANG, LC_ALL, TZ when set, plus `spec.env`, which
 * cannot replace this process's PATH), in
 * its own process group (`detached`), so that a stop can kill the whole tree
 * and the server can outlive the control plane.
 *
 * Ports: a port is held while the workload runs (or starts) and released
 * when it exits for any reason: stop, remove, a failed start, a crash. A new
 * start allocates again and prefers the port the instance had before when it
 * is still free, so restarts usually keep their port without ever exhausting
 * the range with stopped instances. `spec.preferredPort` (a port the user
 * asked for) is required exactly: when it is taken the start fails instead
 * of silently moving the server elsewhere.
 *
 * Stop: SIGINT (the server's only graceful signal), then SIGKILL to the
 * process group after the grace period; anything left in the group is killed
 * after the server exits.
 *
 * Exits nobody asked for are reported to `watch` listeners as soon as the
 * child exits; the last exit is kept for `inspect` and `logs` until the next
 * start or a remove.
 */
export class ProcessDriver implements PlatformDriver {
  readonly platform = 'process' as const;
  readonly dataDir: string;
  readonly executable: string;
  private readonly searchPath: string | undefined;
  private readonly graceMs: number;
  private readonly healthIntervalMs: number;
  private readonly logMaxBytes: number;
  private readonly logCheckIntervalMs: number;
  private readonly clock: () => number;
  private readonly adoptedPollMs: number;
  private readonly table: WorkloadTable<Workload>;
  private readonly logSources = new Map<string, LogSource>();
  /** Cursors carry it: positions are in terms of this driver's rotation counts. */
  private readonly driverId = randomUUID();
  /** Pids and start times mean something only within one boot of one host. */
  private readonly boot = hostBootId();
  private closed = false;

  constructor(options: ProcessDriverOptions) {
    this.dataDir = path.resolve(options.dataDir);
    this.executable = options.executable;
    this.searchPath = options.searchPath;
    this.graceMs = options.graceMs ?? 10_000;
    this.healthIntervalMs = options.healthIntervalMs ?? 100;
    this.logMaxBytes = options.logMaxBytes ?? 4 * 1024 * 1024;
    this.logCheckIntervalMs = options.logCheckIntervalMs ?? 250;
    this.clock = options.clock ?? Date.now;
    this.adoptedPollMs = options.adoptedPollMs ?? 250;
    this.table = new WorkloadTable({ ports: new HostPorts(options.ports), clock: this.clock });
  }

  /** `<dataDir>/instances/<instanceId>`. */
  instanceDir(instanceId: string): string {
    if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(instanceId) || instanceId.includes('..')) {
      throw new BadRequestError(`instance id ${JSON.stringify(instanceId)} cannot name a directory`);
    }
    return path.join(this.dataDir, 'instances', instanceId);
  }

  start(spec: WorkloadSpec, options: { signal?: AbortSignal } = {}): Promise<WorkloadRef> {
    return startWorkload(this.table, spec, options.signal, this.launcher);
  }

  async stop(instanceId: string, options: StopOptions): Promise<StopOutcome> {
    const workload = this.table.get(instanceId);
    if (!workload) return { wasRunning: false };
    if (workload.phase === 'exited') {
      await workload.exited;
      return { wasRunning: false };
    }
    workload.stopRequested = true;
    this.signalWorkload(workload, 'SIGINT', false);
    const graceMs = graceMsOf(options, this.graceMs);
    let exit = await settleWithin(workload.exited, graceMs);
    if (!exit) {
      this.signalWorkload(workload, 'SIGKILL', true);
      exit = await settleWithin(workload.exited, KILL_WAIT_MS);
    }
    if (!exit) {
      throw new WorkloadFailedError(`the server of "${instanceId}" (pid ${workload.pid}) did not exit after SIGKILL`, {
        exitCode: null,
        signal: null,
        lastLogLines: await workload.log.tail(EXIT_LOG_LINES).catch(() => []),
      });
    }
    // Whatever the server left in its process group goes with it. (Not for an adopted server: once it is
    // gone its pid can no longer be verified, and an unverified pid is never signalled.)
    if (!workload.adopted) signalProcess(-workload.pid, 'SIGKILL');
    return { wasRunning: true, exit };
  }

  async remove(instanceId: string, options: StopOptions): Promise<void> {
    const dir = this.instanceDir(instanceId);
    await this.stop(instanceId, options);
    this.table.forget(instanceId);
    this.logSources.delete(instanceId);
    try {
      // A few small files, removed at once (a delete waits on it); anything in the way is retried below.
      rmSync(dir, { recursive: true, force: true });
    } catch {
      await rm(dir, { recursive: true, force: true, maxRetries: 3 });
    }
  }

  async inspect(instanceId: string): Promise<WorkloadState> {
    const workload = this.table.get(instanceId);
    if (workload?.phase === 'running') return { state: 'running', ref: workload.ref };
    if (workload?.phase === 'exited') await workload.exited;
    const last = this.table.lastExit(instanceId);
    if (last && !this.table.starting(instanceId)) return { state: 'exited', ref: last.ref, exit: last.exit };
    return { state: 'absent' };
  }

  async list(): Promise<WorkloadRef[]> {
    return this.table.list();
  }

  serverApi(instanceId: string): ServerHttp | undefined {
    // An adopted workload's host was not seen by this driver: the safe default host, where servers bind unless told otherwise.
    return this.table.serverApi(instanceId, '127.0.0.1');
  }

  async logs(instanceId: string, options: LogOptions): Promise<string[]> {
    const log = this.logSource(instanceId).log;
    await log.enforce().catch(() => undefined);
    return log.tail(options.tail);
  }

  /**
   * Cursor: this driver's id, the writing workload, and a position in its
   * bounded log (rotations + offset), so a read is exact across rotations
   * (see `BoundedLog.readAfter`) and restarts (the previous run's rest comes
   * from `server.log.1`). Lines lost in copy-truncate's window are not seen.
   */
  async readLogs(instanceId: string, options: LogReadOptions): Promise<LogRead> {
    const source = this.logSource(instanceId);
    const workload = this.table.get(instanceId);
    // The writer is gone: its last line counts even without a newline.
    const final = workload === undefined || workload.phase === 'exited';
    await source.log.enforce().catch(() => undefined);
    const cursor = options.after === undefined ? undefined : decodeLogCursor(options.after, 'process');
    let chunk: LogChunk;
    const lines: string[] = [];
    if (options.after === undefined || !cursor || cursor.driver !== this.driverId) {
      chunk = await source.log.tailWithPosition(options.after === undefined ? options.tail : 0, final);
      if (options.after !== undefined) lines.push(positionLostMarker);
    } else if (cursor.writer === source.writer) {
      chunk = await source.log.readAfter(cursor, final);
    } else if (source.writer === noWriter) {
      // The log is gone (removed) or was never written: nothing new.
      return { lines: [], cursor: options.after };
    } else {
      const previous = source.previous;
      const rest = previous?.writer === cursor.writer && previous.rotations === cursor.rotations ? await source.log.readInherited(cursor.offset) : undefined;
      lines.push(...(rest ?? [skippedMarker("the previous workload's log was rotated")]), workloadStartedMarker(source.ref));
      chunk = await source.log.readAfter({ rotations: 0, offset: 0 }, final);
    }
    // Reads do not wait for starts: one that began during a start may have read the new writer's file
    // under the old writer's position. Read again against the new source.
    if (this.logSources.get(instanceId) !== source) return this.readLogs(instanceId, options);
    lines.push(...chunk.lines);
    const next = { kind: 'process' as const, driver: this.driverId, writer: source.writer, ...chunk.position };
    return { lines, cursor: encodeLogCursor(next) };
  }

  /** The instance's log source; one without a known writer is made (and kept) on first use. */
  private logSource(instanceId: string): LogSource {
    let source = this.logSources.get(instanceId);
    if (!source) {
      source = { log: this.logOf(this.instanceDir(instanceId)), writer: noWriter };
      this.logSources.set(instanceId, source);
    }
    return source;
  }

  watch(listener: (event: WorkloadEvent) => void): () => void {
    return this.table.watch(listener);
  }

  /**
   * Stops the log timers and forgets the listeners; the servers keep running
   * (and keep writing their log files, unbounded until a driver watches them
   * again). Idempotent.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.table.clearListeners();
    for (const workload of this.table.workloadsNow()) {
      workload.log.stopWatching();
      if (workload.adopted?.poll) clearInterval(workload.adopted.poll);
      // Let the control plane exit while its servers run on.
      workload.subprocess?.unref();
      // The next driver (e.g. after a restart) reserves the port again when it adopts the server.
      this.table.releasePort(workload.ref.instanceId);
    }
  }

  // ---------------------------------------------------------------- recovery

  /**
   * Scans `<dataDir>/instances/*\/workload.json` and adopts each server that
   * is verifiably the one recorded: its pid is alive, its kernel start time
   * (`/proc/<pid>/stat`) equals the recorded one and its command line names
   * the instance's `config.yaml`. An adopted server is tracked like one this
   * driver started (port reserved, log bounded, `stop`/`remove` work); since
   * it is not a child of this process, its exit is found by polling
   * `/proc/<pid>` every `adoptedPollMs` (a recycled pid counts as an exit) and
   * reported with unknown exit code and signal
   * (`details: { adopted: true, exitStatusUnknown: true }`).
   *
   * A state file whose process is gone (`reason: 'process gone'`) or whose pid
   * now belongs to another process (`reason: 'pid reused'`) is reported in
   * `lost` and deleted; nothing is signalled. Idempotent.
   */
  async recover(): Promise<RecoveryReport> {
    const report: RecoveryReport = { adopted: [], lost: [] };
    if (this.closed) return report;
    let names: string[];
    try {
      names = await readdir(path.join(this.dataDir, 'instances'));
    } catch (error) {
      if (typeof error === 'object' && error !== null && 'code' in error && error.code === 'ENOENT') return report;
      throw error;
    }
    for (const instanceId of names.sort()) {
      let dir: string;
      try {
        dir = this.instanceDir(instanceId);
      } catch {
        continue;
      }
      // Already tracked (adopted by an earlier call, or started by this driver).
      if (this.table.has(instanceId) || this.table.starting(instanceId)) continue;
      const state = await readWorkloadState(dir);
      if (!state || state.instanceId !== instanceId) continue;
      const ref: WorkloadRef = {
        instanceId,
        platform: 'process',
        workloadId: String(state.pid),
        port: state.port,
        generation: state.generation,
        startedAt: state.startedAt,
        ...(state.processStartTime !== null ? { identity: encodeProcessIdentity({ boot: this.boot, pid: state.pid, startTime: state.processStartTime }) } : {}),
      };
      const verdict = verifyRecorded(state, path.join(dir, 'config.yaml'));
      if (verdict.ok && state.phase === 'running') {
        this.adopt(ref, state.pid, verdict.startTime, dir);
        report.adopted.push(ref);
        continue;
      }
      let reason: string = verdict.ok ? 'start interrupted' : verdict.reason;
      if (verdict.ok) {
        // Launched by a worker that died before the server was healthy: nobody waits for that start any more
        // (its command is not run again), so the server goes rather than run untracked.
        reason = (await killVerified(state.pid, verdict.startTime, 0)) ? 'start interrupted: killed' : 'start interrupted: did not exit after SIGKILL';
      }
      const log = this.logOf(dir);
      const lastLogLines = await log.tail(EXIT_LOG_LINES).catch(() => []);
      const exit: WorkloadExit = { exitCode: null, signal: null, lastLogLines, requested: false, details: { reason } };
      forgetWorkloadState(dir, state.pid);
      this.table.rememberExit(ref, exit);
      report.lost.push({ instanceId, ref, exit });
    }
    await this.killUntracked(report);
    return report;
  }

  /**
   * Servers of this data dir that no state file recorded: a worker killed in
   * the instant between launching a server and recording it leaves one. Nobody
   * tracks it and nobody waits for its start, so it goes (no process of ours
   * may outlive its worker's view of it), and is reported lost.
   */
  private async killUntracked(report: RecoveryReport): Promise<void> {
    const tracked = new Set(this.table.workloadsNow().map((workload) => workload.pid));
    for (const { pid, instanceId } of serversUnder(path.join(this.dataDir, 'instances'))) {
      if (tracked.has(pid) || this.table.starting(instanceId)) continue;
      const startTime = liveProcessStartTime(pid);
      if (startTime === null) continue;
      const gone = await killVerified(pid, startTime, 0);
      const ref: WorkloadRef = {
        instanceId,
        platform: 'process',
        workloadId: String(pid),
        port: 0,
        generation: 0,
        startedAt: new Date(this.clock()).toISOString(),
      };
      const exit: WorkloadExit = {
        exitCode: null,
        signal: gone ? 'SIGKILL' : null,
        lastLogLines: [],
        requested: false,
        details: { reason: gone ? 'untracked server (launched, never recorded): killed' : 'untracked server: did not exit after SIGKILL' },
      };
      report.lost.push({ instanceId, ref, exit });
    }
  }

  private adopt(ref: WorkloadRef, pid: number, startTime: number, dir: string): void {
    const instanceId = ref.instanceId;
    const { exited, recordExit: recorded } = exitLatch();
    const adopted: { startTime: number; poll?: NodeJS.Timeout } = { startTime };
    const workload: Workload = {
      ref,
      pid,
      dir,
      log: this.logOf(dir),
      subprocess: undefined,
      adopted,
      phase: 'running',
      stopRequested: false,
      exitSignal: new AbortController(),
      exited,
    };
    this.table.adopt(workload);
    this.logSources.set(instanceId, { log: workload.log, writer: writerOf(ref), ref });
    workload.log.startWatching();
    const poll = setInterval(() => {
      if (workload.phase === 'exited' || liveProcessStartTime(pid) === startTime) return;
      clearInterval(poll);
      this.onExit(workload, { exitCode: null, signal: null }).then(recorded, (error: unknown) =>
        recorded({ exitCode: null, signal: null, lastLogLines: [], requested: workload.stopRequested, details: { error: errorMessage(error) } }),
      );
    }, this.adoptedPollMs);
    poll.unref();
    adopted.poll = poll;
  }

  /**
   * Stops a server another process worker of this host ran (see
   * `PlatformDriver.reap`): only when the ref names this boot of this host and
   * its pid still has the recorded start time. SIGINT to its process group,
   * SIGKILL after the grace period.
   */
  async reap(ref: WorkloadRef, options: Partial<StopOptions> = {}): Promise<{ reaped: boolean; reason: string }> {
    const identity = decodeProcessIdentity(ref.identity);
    if (!identity) return { reaped: false, reason: 'the workload carries no process identity' };
    if (identity.boot !== this.boot) return { reaped: false, reason: 'it ran on another host (or before a reboot)' };
    if (this.table.get(ref.instanceId)?.pid === identity.pid) return { reaped: false, reason: 'it is this worker’s own workload' };
    if (liveProcessStartTime(identity.pid) !== identity.startTime) return { reaped: false, reason: 'it is no longer running' };
    const gone = await killVerified(identity.pid, identity.startTime, Math.max(0, options.graceMs ?? this.graceMs));
    return gone ? { reaped: true, reason: `stopped pid ${identity.pid}` } : { reaped: false, reason: `pid ${identity.pid} did not exit after SIGKILL` };
  }

  /**
   * Signals the server (`group`: its whole process group). An adopted server is
   * signalled only while its pid still has the verified start time.
   */
  private signalWorkload(workload: Workload, signal: NodeJS.Signals, group: boolean): void {
    if (workload.adopted && liveProcessStartTime(workload.pid) !== workload.adopted.startTime) return;
    signalProcess(group ? -workload.pid : workload.pid, signal);
  }

  // ---------------------------------------------------------------- start

  /** What the start sequence (`startWorkload`) needs of this platform. */
  private readonly launcher: WorkloadLauncher<Workload, Prepared> = {
    prepare: (spec, signal) => this.prepare(spec, signal),
    create: (spec, prepared, port, signal) => this.create(spec, prepared, port, signal),
    createFailed: (error) => new WorkloadFailedError(`could not launch the server: ${errorMessage(error)}`, noExit()),
    ready: (workload, spec, _prepared, signal) => {
      const host = probeHost(spec.config['host']);
      this.table.serveApiAt(spec.instanceId, host);
      return waitForHealthy({
        url: `http://${host}:${workload.ref.port}/health`,
        timeoutMs: spec.startTimeoutMs,
        intervalMs: this.healthIntervalMs,
        signal,
        clock: this.clock,
        // A 200 from another program on this port (a race with someone outside this driver) is not our server.
        verify: async () =>
          (await listenerOwnedBy(workload.pid, workload.ref.port)) === false ? `port ${workload.ref.port} is answered by another process` : undefined,
      });
    },
    onReady: async (workload) => this.recordWorkload(workload, 'running'),
    kill: async (workload) => signalProcess(-workload.pid, 'SIGKILL'),
    settle: async (workload) => {
      const exit = await settleWithin(workload.exited, KILL_WAIT_MS);
      signalProcess(-workload.pid, 'SIGKILL');
      return exit ?? { exitCode: null, signal: null, lastLogLines: await workload.log.tail(EXIT_LOG_LINES).catch(() => []) };
    },
    describeEarlyExit: (exit) => describeEarlyExit(this.executable, exit),
  };

  private async prepare(spec: WorkloadSpec, signal: AbortSignal | undefined): Promise<Prepared> {
    const instanceId = spec.instanceId;
    if (this.closed) throw new WorkloadFailedError('the process driver is closed', noExit());
    parsePlatformOptions('process', platformOptionSchemas.process, spec.platformOptions);
    const dir = this.instanceDir(instanceId);
    throwIfAborted(signal, instanceId);

    const env = cleanEnvironment(process.env, spec.env);
    try {
      // The worker's PATH, not the instance's: an instance cannot choose the program that runs.
      return { dir, env, executable: await resolveExecutable(this.executable, this.searchPath ?? process.env['PATH']) };
    } catch (error) {
      if (error instanceof ExecutableError) throw new WorkloadFailedError(error.message, { ...noExit(), executable: error.executable });
      throw error;
    }
  }

  private async create(spec: WorkloadSpec, { dir, env, executable }: Prepared, port: number, signal: AbortSignal | undefined): Promise<Workload> {
    this.table.forgetExit(spec.instanceId);
    // Synchronously, like the state file (see `writeWorkloadState`): small files the launch waits on.
    mkdirSync(dir, { recursive: true });
    removeWorkloadState(dir);
    const configPath = path.join(dir, 'config.yaml');
    writeFileAtomically(configPath, renderServerConfigYaml(withPort(spec.config, port)));
    throwIfAborted(signal, spec.instanceId);
    const workload = this.spawn(spec, executable, configPath, port, dir, env);
    // Recorded before it is healthy: should this worker die mid-start, its successor finds and kills the server.
    this.recordWorkload(workload, 'starting');
    return workload;
  }

  private spawn(spec: WorkloadSpec, executable: string, configPath: string, port: number, dir: string, env: Record<string, string>): Workload {
    const before = this.logSources.get(spec.instanceId);
    const log = this.logOf(dir);
    const fd = log.openForWriter();
    let subprocess: ServerSubprocess;
    try {
      subprocess = spawnServer(executable, ['--config', configPath, '--port', String(port)], dir, env, fd);
    } finally {
      // The child has its own copy of the descriptor.
      closeQuietly(fd);
    }
    const startTime = subprocess.pid !== undefined ? processStartTime(subprocess.pid) : null;
    const ref: WorkloadRef = {
      instanceId: spec.instanceId,
      platform: 'process',
      workloadId: String(subprocess.pid ?? 'none'),
      port,
      generation: spec.generation,
      startedAt: new Date(this.clock()).toISOString(),
      ...(subprocess.pid !== undefined && startTime !== null ? { identity: encodeProcessIdentity({ boot: this.boot, pid: subprocess.pid, startTime }) } : {}),
    };
    const { exited, recordExit: recorded } = exitLatch();
    const workload: Workload = {
      ref,
      pid: subprocess.pid ?? -1,
      dir,
      log,
      subprocess,
      phase: 'starting',
      stopRequested: false,
      exitSignal: new AbortController(),
      exited,
    };
    subprocess
      .then(
        (result) => this.onExit(workload, exitFactsOf(result)),
        (error: unknown) => this.onExit(workload, { exitCode: null, signal: null, spawnError: { code: undefined, message: errorMessage(error) } }),
      )
      .then(recorded, (error: unknown) =>
        recorded({ exitCode: null, signal: null, lastLogLines: [], requested: workload.stopRequested, details: { error: errorMessage(error) } }),
      );
    this.table.track(workload);
    this.logSources.set(spec.instanceId, {
      log,
      writer: writerOf(ref),
      ref,
      previous: { writer: before?.writer ?? noWriter, rotations: before?.log.rotations ?? 0 },
    });
    log.startWatching();
    return workload;
  }

  private recordWorkload(workload: Workload, phase: 'starting' | 'running'): void {
    try {
      writeWorkloadState(workload.dir, {
        instanceId: workload.ref.instanceId,
        pid: workload.pid,
        port: workload.ref.port,
        generation: workload.ref.generation,
        startedAt: workload.ref.startedAt,
        processStartTime: decodeProcessIdentity(workload.ref.identity)?.startTime ?? processStartTime(workload.pid),
        phase,
      });
      // It may have exited (and its exit been recorded) before the file was written.
      if (workload.phase === 'exited') removeWorkloadState(workload.dir, workload.pid);
    } catch {
      // The state file only serves re-adoption; a server that runs without it is still running.
    }
  }

  // ---------------------------------------------------------------- exit

  private async onExit(workload: Workload, facts: ExitFacts): Promise<WorkloadExit> {
    const wasRunning = this.table.markExited(workload);
    workload.log.stopWatching();
    if (workload.adopted?.poll) clearInterval(workload.adopted.poll);

    let lastLogLines: string[] = [];
    try {
      await workload.log.enforce();
      lastLogLines = await workload.log.tail(EXIT_LOG_LINES, { includeRotated: workload.log.rotations > 0 });
    } catch {
      // The directory may be gone (removed meanwhile).
    }
    const exit: WorkloadExit = { exitCode: facts.exitCode, signal: facts.signal, lastLogLines, requested: workload.stopRequested };
    if (facts.spawnError) exit.details = { spawnError: facts.spawnError.message, ...(facts.spawnError.code ? { errorCode: facts.spawnError.code } : {}) };
    // Not our child: nobody can tell how it ended.
    if (workload.adopted) exit.details = { adopted: true, exitStatusUnknown: true };
    forgetWorkloadState(workload.dir, workload.pid);
    this.table.recordExit(workload, exit, wasRunning);
    return exit;
  }

  private logOf(dir: string): BoundedLog {
    return new BoundedLog({ path: path.join(dir, 'server.log'), maxBytes: this.logMaxBytes, checkIntervalMs: this.logCheckIntervalMs });
  }
}

// ---------------------------------------------------------------- helpers

type Verdict = { ok: true; startTime: number } | { ok: false; reason: 'process gone' | 'pid reused' };

/** Whether the recorded process still runs and is the recorded server (same start time, same config on its command line). */
function verifyRecorded(state: WorkloadStateFile, configPath: string): Verdict {
  const startTime = liveProcessStartTime(state.pid);
  if (startTime === null) return { ok: false, reason: 'process gone' };
  if (state.processStartTime === null || startTime !== state.processStartTime) return { ok: false, reason: 'pid reused' };
  const args = processCommandLine(state.pid);
  if (!args?.some((arg) => arg.includes(configPath))) return { ok: false, reason: 'pid reused' };
  // Checked again after reading the command line: the pid could have been recycled in between.
  if (liveProcessStartTime(state.pid) !== startTime) return { ok: false, reason: 'pid reused' };
  return { ok: true, startTime };
}

/**
 * SIGINT to the process group of a verified pid, SIGKILL after `graceMs`;
 * resolves whether it is gone. Each signal is sent only while the pid still
 * has `startTime` (a recycled pid is never signalled).
 */
async function killVerified(pid: number, startTime: number, graceMs: number): Promise<boolean> {
  const alive = () => liveProcessStartTime(pid) === startTime;
  const goneWithin = async (ms: number) => {
    for (const until = Date.now() + ms; Date.now() < until; await new Promise((resolve) => setTimeout(resolve, 50))) {
      if (!alive()) return true;
    }
    return !alive();
  };
  if (graceMs > 0 && alive()) {
    signalProcess(-pid, 'SIGINT');
    if (await goneWithin(graceMs)) return true;
  }
  if (alive()) signalProcess(-pid, 'SIGKILL');
  return goneWithin(KILL_WAIT_MS);
}

function writerOf(ref: WorkloadRef): string {
  return `${ref.workloadId}@${ref.startedAt}`;
}

/** Sends a signal, ignoring a process (group) that is already gone. A negative pid names a process group. */
function signalProcess(pid: number, signal: NodeJS.Signals): void {
  if (pid === -1 || pid === 1 || pid === 0) return;
  try {
    process.kill(pid, signal);
  } catch {
    // ESRCH: already gone. EPERM: not ours any more (pid reused) — leave it alone.
  }
}

function exitFactsOf(result: Awaited<ServerSubprocess>): ExitFacts {
  const facts: ExitFacts = {
    exitCode: typeof result.exitCode === 'number' ? result.exitCode : null,
    signal: typeof result.signal === 'string' ? result.signal : null,
  };
  // Spawn failures (ENOENT, EACCES) have neither an exit code nor a signal.
  if (facts.exitCode === null && facts.signal === null && result.failed) {
    const code = typeof result.code === 'string' ? result.code : undefined;
    const message = typeof result.originalMessage === 'string' ? result.originalMessage : typeof result.shortMessage === 'string' ? result.shortMessage : 'spawn failed';
    facts.spawnError = { code, message };
  }
  return facts;
}

function describeEarlyExit(executable: string, exit: StartFailureExit): string {
  const spawnError = exit.details?.['spawnError'];
  const errorCode = exit.details?.['errorCode'];
  if (errorCode === 'ENOENT') return `executable not found: ${executable}`;
  if (errorCode === 'EACCES') return `executable is not runnable (permission denied): ${executable}`;
  if (typeof spawnError === 'string') return `could not launch ${executable}: ${spawnError}`;
  const how = exit.signal ? `was killed by ${exit.signal}` : exit.exitCode === null ? 'exited' : `exited with code ${exit.exitCode}`;
  const line = lastErrorLine(exit.lastLogLines);
  return `the server ${how} before becoming healthy${line ? `: ${line}` : ''}`;
}

/** Removes the state file of an exited server; one left behind (unwritable directory) is checked again at the next recovery. */
function forgetWorkloadState(dir: string, pid: number): void {
  try {
    removeWorkloadState(dir, pid);
  } catch {
    // The directory may be gone (removed meanwhile).
  }
}
