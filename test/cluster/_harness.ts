/**
 * Cluster-mode harness: a private `redis-server`, the control plane and the
 * platform workers as separate OS processes (`node --import=tsx src/cli.ts
 * control-plane|worker ...`), an HTTP client for the REST API, and facts
 * about the Drasi Server doubles the workers launched (read from /proc).
 *
 * Everything a helper starts is killed in `t.teardown` (ava runs teardowns
 * last-registered first): the node processes by pid, the doubles by their
 * data dir, and, should the test process die first, an `exit` hook kills
 * what is left.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ExecutionContext } from 'ava';
import { execa } from 'execa';
import { Redis } from 'ioredis';
import { shardLease } from '../../src/actors/ownership.js';
import { RedisStoreKeys } from '../../src/redis/keys.js';
import type { InstanceView } from '../../src/api/instance-view.js';
import { doubleExecutable } from '../helpers/embedded.js';
import { isAlive, pidsWithArgument } from '../helpers/processes.js';
import { takePorts } from '../helpers/port-window.js';
import { startRedisServer, type RedisServer, type RedisServerOptions } from '../helpers/redis-server.js';

export const cliPath = fileURLToPath(new URL('../../src/cli.ts', import.meta.url));
const projectDir = fileURLToPath(new URL('../../', import.meta.url));

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

// ---------------------------------------------------------------- cleanup of last resort

const liveDataDirs = new Set<string>();
const livePids = new Set<number>();
process.once('exit', () => {
  for (const pid of livePids) signal(pid, 'SIGKILL');
  for (const dir of liveDataDirs) killEverythingUnder(dir);
});

function signal(pid: number, name: NodeJS.Signals): boolean {
  try {
    process.kill(pid, name);
    return true;
  } catch {
    return false;
  }
}

/** SIGKILLs every process whose command line mentions `dir` (a worker and the doubles it launched), with their groups. */
export function killEverythingUnder(dir: string): number[] {
  const pids = pidsWithArgument(dir);
  for (const pid of pids) {
    signal(-pid, 'SIGKILL');
    signal(pid, 'SIGKILL');
  }
  return pids;
}

// ---------------------------------------------------------------- redis

export async function redisServer(t: ExecutionContext, options: RedisServerOptions = {}): Promise<RedisServer> {
  const redis = await startRedisServer(options);
  t.teardown(() => redis.stop());
  return redis;
}

/** A reader of the control-plane replicas' lease table (default prefix), one entry per shard: its owner and token, if held. */
export function leaseTable(t: ExecutionContext, redisUrl: string, shards: number): () => Promise<{ owner?: string; token?: string }[]> {
  const raw = new Redis(redisUrl);
  t.teardown(() => raw.disconnect());
  const keys = new RedisStoreKeys();
  return () => Promise.all(Array.from({ length: shards }, (_, shard) => raw.hgetall(keys.lease(shardLease(shard)))));
}

// ---------------------------------------------------------------- node processes

export interface NodeProcess {
  readonly name: string;
  readonly pid: number;
  /** The newest output (stdout and stderr interleaved), for failure messages. */
  output(): string;
  readonly running: boolean;
  readonly exitCode: number | null;
  kill(name: NodeJS.Signals): void;
  /** Resolves true once the process has exited, false after `timeoutMs`. */
  exited(timeoutMs: number): Promise<boolean>;
}

const OUTPUT_TAIL = 30_000;

function spawnNode(t: ExecutionContext, name: string, args: string[]): NodeProcess {
  const subprocess = execa('node', ['--import=tsx', cliPath, ...args], {
    cwd: projectDir,
    stdin: 'ignore',
    stdout: 'pipe',
    stderr: 'pipe',
    buffer: false,
    reject: false,
    cleanup: true,
  });
  const pid = subprocess.pid;
  if (pid === undefined) throw new Error(`${name}: node could not be spawned`);
  livePids.add(pid);
  let output = '';
  const append = (chunk: Buffer | string) => {
    output = (output + chunk.toString()).slice(-OUTPUT_TAIL);
  };
  subprocess.stdout?.on('data', append);
  subprocess.stderr?.on('data', append);
  let exitCode: number | null = null;
  let done = false;
  const finished = subprocess.then((result) => {
    done = true;
    exitCode = result.exitCode ?? null;
    livePids.delete(pid);
  });
  const handle: NodeProcess = {
    name,
    pid,
    output: () => output,
    get running() {
      return !done;
    },
    get exitCode() {
      return exitCode;
    },
    kill: (name) => {
      signal(pid, name);
    },
    exited: async (timeoutMs) => {
      if (done) return true;
      let timer: NodeJS.Timeout | undefined;
      const timedOut = new Promise<false>((resolve) => {
        timer = setTimeout(() => resolve(false), timeoutMs);
      });
      const result = await Promise.race([finished.then(() => true as const), timedOut]);
      clearTimeout(timer);
      return result;
    },
  };
  t.teardown(async () => {
    if (!done) {
      signal(pid, 'SIGKILL');
      await handle.exited(5_000);
    }
  });
  return handle;
}

/** Output of every process, for an assertion message or a thrown error. */
export function outputs(...processes: (NodeProcess | undefined)[]): string {
  return processes
    .filter((p): p is NodeProcess => p !== undefined)
    .map((p) => `----- ${p.name} (pid ${p.pid}${p.running ? '' : `, exited ${p.exitCode}`}) -----\n${p.output().slice(-6_000)}`)
    .join('\n');
}

/** Polls `check` until it holds; on timeout throws with the processes' output attached. */
export async function eventually(
  check: () => boolean | Promise<boolean>,
  timeoutMs: number,
  what: string,
  processes: (NodeProcess | undefined)[] = [],
  intervalMs = 50,
): Promise<void> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    let ok = false;
    try {
      ok = await check();
    } catch {
      ok = false;
    }
    if (ok) return;
    if (Date.now() > end) throw new Error(`${what}: not met within ${timeoutMs} ms\n${outputs(...processes)}`);
    await sleep(intervalMs);
  }
}

// ---------------------------------------------------------------- ports for Drasi Servers

/** Ports for the workers' Drasi Servers: this test file's own (see port-window.ts). */
export function ports(size: number): { min: number; max: number } {
  return takePorts(size);
}

// ---------------------------------------------------------------- the REST API

export interface ApiResponse {
  status: number;
  contentType: string;
  /** Parsed JSON (an instance view, a list, a problem document, ...). */
  body: Record<string, unknown> & InstanceView;
  /** Round-trip time. */
  ms: number;
}

export type Call = (method: string, route: string, body?: unknown, timeoutMs?: number) => Promise<ApiResponse>;

export function api(base: string): Call {
  return async (method, route, body, timeoutMs = 120_000) => {
    const init: RequestInit = { method, signal: AbortSignal.timeout(timeoutMs) };
    if (body !== undefined) {
      init.body = JSON.stringify(body);
      init.headers = { 'content-type': 'application/json' };
    }
    const began = Date.now();
    const response = await fetch(base + route, init);
    const text = await response.text();
    return {
      status: response.status,
      contentType: response.headers.get('content-type') ?? '',
      body: (text ? JSON.parse(text) : {}) as Record<string, unknown> & InstanceView,
      ms: Date.now() - began,
    };
  };
}

export interface PlatformsBody {
  platforms: { platform: string; available: boolean; workers: { workerId: string; platform: string; available: boolean; details: Record<string, unknown> }[] }[];
}

export async function platformOf(call: Call, platform = 'process'): Promise<PlatformsBody['platforms'][number] | undefined> {
  const response = await call('GET', '/api/platforms', undefined, 10_000);
  if (response.status !== 200) return undefined;
  return (response.body as unknown as PlatformsBody).platforms.find((entry) => entry.platform === platform);
}

/** Runs `task` over `items` with at most `limit` at a time; results in input order. */
export async function mapLimit<T, R>(items: readonly T[], limit: number, task: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array<R>(items.length);
  let next = 0;
  const runners = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const index = next++;
      results[index] = await task(items[index]!, index);
    }
  });
  await Promise.all(runners);
  return results;
}

export async function health(port: number): Promise<number> {
  const response = await fetch(`http://127.0.0.1:${port}/health`, { signal: AbortSignal.timeout(5_000) });
  await response.arrayBuffer();
  return response.status;
}

// ---------------------------------------------------------------- control plane and workers

export interface RedisFlags {
  claimIdleMs?: number;
  maxDeliveries?: number;
  prefix?: string;
}

function redisArgs(url: string, flags: RedisFlags): string[] {
  return [
    '--redis', url,
    ...(flags.prefix ? ['--redis-prefix', flags.prefix] : []),
    ...(flags.claimIdleMs !== undefined ? ['--claim-idle', String(flags.claimIdleMs)] : []),
    ...(flags.maxDeliveries !== undefined ? ['--max-deliveries', String(flags.maxDeliveries)] : []),
  ];
}

export interface ControlPlaneFlags extends RedisFlags {
  /** A stable replica id: a restarted replica takes its own leases back at once. */
  replicaId?: string;
  /** How long a replica's ownership of its instances lasts without renewal. */
  leaseMs?: number;
  startTimeoutMs?: number;
  replyTimeoutMs?: number;
  stopGraceMs?: number;
  /** Start a lost worker's Running instances elsewhere after this long (default: never). */
  workerLostTimeoutMs?: number;
  /** Serve POST /api/status/updates (--accept-status-reports; default: refused with 403). */
  acceptStatusReports?: boolean;
  /** --reconcile-interval (default: the control plane's own, 30 s). */
  reconcileIntervalMs?: number;
}

export interface ControlPlaneProcess {
  process: NodeProcess;
  base: string;
  call: Call;
}

/** Starts `draas control-plane` on a free port; resolves once it listens and `/readyz` answers 200. */
export async function startControlPlane(t: ExecutionContext, redisUrl: string, flags: ControlPlaneFlags = {}): Promise<ControlPlaneProcess> {
  const args = [
    'control-plane',
    '--port', '0',
    '--start-timeout', String(flags.startTimeoutMs ?? 15_000),
    '--reply-timeout', String(flags.replyTimeoutMs ?? 5_000),
    '--stop-grace', String(flags.stopGraceMs ?? 2_000),
    ...(flags.replicaId ? ['--replica-id', flags.replicaId] : []),
    ...(flags.leaseMs !== undefined ? ['--lease', String(flags.leaseMs)] : []),
    ...(flags.workerLostTimeoutMs !== undefined ? ['--worker-lost-timeout', String(flags.workerLostTimeoutMs)] : []),
    ...(flags.acceptStatusReports ? ['--accept-status-reports'] : []),
    ...(flags.reconcileIntervalMs !== undefined ? ['--reconcile-interval', String(flags.reconcileIntervalMs)] : []),
    ...redisArgs(redisUrl, flags),
  ];
  const node = spawnNode(t, `control-plane${flags.replicaId ? ` ${flags.replicaId}` : ''}`, args);
  let base = '';
  await eventually(
    () => {
      if (!node.running) throw new Error('exited');
      const match = /listening on (http:\/\/[\d.]+:\d+)/.exec(node.output());
      if (match) base = match[1]!;
      return base !== '';
    },
    60_000,
    'control plane listening',
    [node],
  );
  const call = api(base);
  await eventually(async () => (await call('GET', '/readyz', undefined, 5_000)).status === 200, 30_000, 'control plane /readyz 200', [node]);
  return { process: node, base, call };
}

export interface WorkerFlags extends RedisFlags {
  workerId: string;
  /** Reuse a data dir (a restarted worker); by default a new temp dir. */
  dataDir?: string;
  ports: { min: number; max: number };
  stopGraceMs?: number;
}

export interface WorkerProcess {
  process: NodeProcess;
  workerId: string;
  dataDir: string;
}

/**
 * Starts `draas worker --platform process` on its own temp data dir with the
 * Drasi Server double; resolves once it consumes commands. The teardown kills
 * it, every double under its data dir, and removes the dir.
 */
export async function startWorker(t: ExecutionContext, redisUrl: string, flags: WorkerFlags): Promise<WorkerProcess> {
  const dataDir = flags.dataDir ?? (await mkdtemp(path.join(os.tmpdir(), `draas-cluster-${flags.workerId}-`)));
  if (!flags.dataDir) {
    liveDataDirs.add(dataDir);
    t.teardown(async () => {
      killEverythingUnder(dataDir);
      liveDataDirs.delete(dataDir);
      await rm(dataDir, { recursive: true, force: true, maxRetries: 3 });
    });
  }
  const args = [
    'worker',
    '--platform', 'process',
    '--worker-id', flags.workerId,
    '--data-dir', dataDir,
    '--drasi-server', doubleExecutable,
    '--ports', `${flags.ports.min}-${flags.ports.max}`,
    '--stop-grace', String(flags.stopGraceMs ?? 2_000),
    ...redisArgs(redisUrl, flags),
  ];
  const node = spawnNode(t, `worker ${flags.workerId}`, args);
  await eventually(
    () => {
      if (!node.running) throw new Error('exited');
      return /consuming commands/.test(node.output());
    },
    60_000,
    `worker ${flags.workerId} consuming`,
    [node],
  );
  return { process: node, workerId: flags.workerId, dataDir };
}

export interface KubernetesWorkerFlags extends RedisFlags {
  workerId?: string;
  kubeconfig: string;
  namespace: string;
  stopGraceMs?: number;
}

/**
 * Starts `draas worker --platform kubernetes` on a kubeconfig (the API
 * server double's); resolves once it consumes commands. Its data dir is a
 * temp dir it does not use for workloads.
 */
export async function startKubernetesWorker(t: ExecutionContext, redisUrl: string, flags: KubernetesWorkerFlags): Promise<WorkerProcess> {
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'draas-cluster-kube-'));
  t.teardown(() => rm(dataDir, { recursive: true, force: true, maxRetries: 3 }));
  const args = [
    'worker',
    '--platform', 'kubernetes',
    ...(flags.workerId ? ['--worker-id', flags.workerId] : []),
    '--kubeconfig', flags.kubeconfig,
    '--kube-namespace', flags.namespace,
    '--data-dir', dataDir,
    '--stop-grace', String(flags.stopGraceMs ?? 3_000),
    ...redisArgs(redisUrl, flags),
  ];
  const node = spawnNode(t, `kubernetes worker${flags.workerId ? ` ${flags.workerId}` : ''}`, args);
  let workerId = flags.workerId ?? '';
  await eventually(
    () => {
      if (!node.running) throw new Error('exited');
      const match = /DRaaS kubernetes worker (\S+) consuming commands/.exec(node.output());
      if (match) workerId = match[1]!;
      return match !== null;
    },
    60_000,
    'kubernetes worker consuming',
    [node],
  );
  return { process: node, workerId, dataDir };
}

/** Waits until `GET /api/platforms` lists `workerId` as an available worker of its platform (process unless told). */
export async function waitForWorker(controlPlane: ControlPlaneProcess, worker: WorkerProcess, timeoutMs = 30_000, platform = 'process'): Promise<void> {
  await eventually(
    async () => (await platformOf(controlPlane.call, platform))?.workers.some((w) => w.workerId === worker.workerId && w.available) === true,
    timeoutMs,
    `worker ${worker.workerId} listed by GET /api/platforms`,
    [controlPlane.process, worker.process],
  );
}

// ---------------------------------------------------------------- the doubles, from /proc

/** One scan of /proc: live (non-zombie) processes and their arguments. */
export function processTable(): Map<number, string[]> {
  const table = new Map<number, string[]>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      if (stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) === 'Z') continue;
      table.set(Number(entry), readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0'));
    } catch {
      // gone meanwhile
    }
  }
  return table;
}

/** Live Drasi Server processes under `dataDir`, per instance id (from `--config <dataDir>/instances/<id>/config.yaml`). */
export function doublesUnder(dataDir: string, table: Map<number, string[]> = processTable()): Map<string, number[]> {
  const prefix = path.join(dataDir, 'instances') + path.sep;
  const byInstance = new Map<string, number[]>();
  for (const [pid, args] of table) {
    const config = args.find((arg) => arg.startsWith(prefix) && arg.endsWith(`${path.sep}config.yaml`));
    if (!config) continue;
    const id = config.slice(prefix.length).split(path.sep)[0]!;
    byInstance.set(id, [...(byInstance.get(id) ?? []), pid]);
  }
  return byInstance;
}

export function countDoubles(dataDir: string, table?: Map<number, string[]>): number {
  let count = 0;
  for (const pids of doublesUnder(dataDir, table).values()) count += pids.length;
  return count;
}

/** Resident memory of a process in MiB (0 when it is gone). */
export function rssMiB(pid: number): number {
  try {
    const match = /^VmRSS:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) / 1024 : 0;
  } catch {
    return 0;
  }
}

/** MemAvailable from /proc/meminfo, in MiB. */
export function memAvailableMiB(): number {
  const match = /^MemAvailable:\s+(\d+)\s+kB/m.exec(readFileSync('/proc/meminfo', 'utf8'));
  return match ? Math.round(Number(match[1]) / 1024) : 0;
}

export { isAlive, pidsWithArgument };
