/**
 * The control plane's own cost: create → start → stop → delete for N
 * instances through the library API, on a driver whose starts and stops
 * complete at once in memory (so the figure is DRaaS alone). Baseline: the
 * same operations called directly on that driver, with records in a Map.
 *
 * - embedded: memory transport and store, the worker in the same process;
 * - cluster: the cluster control plane as deployed (Redis transport, records
 *   and snapshots in Redis, shard leases), the worker in another process
 *   (bench/memory-worker.ts), as on another host.
 */
import { execa } from 'execa';
import { createActor, fromPromise, waitFor, type Actor } from 'xstate';
import { createInstanceMachine, type StartWorkloadInput, type StopWorkloadInput, type StopWorkloadOutput } from '../src/machines/instance.js';
import type { WorkloadRef } from '../src/platforms/driver.js';
import { Redis } from 'ioredis';
import { readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { ControlPlane } from '../src/actors/control-plane.js';
import { startClusterControlPlane } from '../src/cluster.js';
import { PlatformWorker } from '../src/actors/platform-worker.js';
import { MemoryTransport } from '../src/transport/memory.js';
import { MemoryDriver } from '../test/fixtures/memory-driver.js';
import { startRedisServer } from '../test/helpers/redis-server.js';
import { row, type Row } from './lib/results.js';
import { summarize, type LatencySummary } from './lib/stats.js';

const spec = (instanceId: string) => ({ instanceId, generation: 1, config: {}, env: {}, startTimeoutMs: 1_000 });

interface LifecycleRun {
  all: LatencySummary;
  perOperation: Record<string, LatencySummary>;
  /** CPU time (user + system) of this process per operation, in microseconds. */
  cpuMicrosPerOperation: number;
}

/**
 * Runs the four operations per instance, `lanes` instances at a time, timing
 * each operation. Each operation starts in a macrotask of its own, as a
 * request arriving from a socket does: without that, an in-memory run is one
 * chain of microtasks that starves every timer (heartbeats, deadlines).
 */
async function lifecycle(count: number, lanes: number, ops: Record<'create' | 'start' | 'stop' | 'delete', (id: string) => Promise<unknown>>, name = 'bench'): Promise<LifecycleRun> {
  const samples: Record<string, number[]> = { create: [], start: [], stop: [], delete: [] };
  let next = 0;
  const cpuBefore = process.cpuUsage();
  const began = performance.now();
  await Promise.all(
    Array.from({ length: lanes }, async () => {
      while (next < count) {
        const id = `${name}-${next++}`;
        for (const name of ['create', 'start', 'stop', 'delete'] as const) {
          await new Promise<void>((resolve) => setImmediate(resolve));
          const start = performance.now();
          await ops[name](id);
          samples[name]!.push(performance.now() - start);
        }
      }
    }),
  );
  const elapsed = performance.now() - began;
  const cpu = process.cpuUsage(cpuBefore);
  const all = Object.values(samples).flat();
  return {
    cpuMicrosPerOperation: (cpu.user + cpu.system) / all.length,
    all: summarize(all, elapsed),
    perOperation: Object.fromEntries(Object.entries(samples).map(([name, list]) => [name, summarize(list, elapsed)])),
  };
}

/** Lifecycles run untimed before a measured run (and before the baseline's). */
const WARM_UP = 200;

async function directBaseline(count: number, lanes: number): Promise<LifecycleRun> {
  const driver = new MemoryDriver();
  const records = new Map<string, { id: string }>();
  const ops: LifecycleOps = {
    create: async (id) => records.set(id, { id }),
    start: (id) => driver.start(spec(id)),
    stop: (id) => driver.stop(id, { graceMs: 0 }),
    delete: async (id) => {
      await driver.remove(id, { graceMs: 0 });
      records.delete(id);
    },
  };
  await lifecycle(WARM_UP, lanes, ops, 'warm-up');
  return lifecycle(count, lanes, ops);
}

/**
 * The bound the design sets: the instance machine alone, one XState actor per
 * instance as the control plane keeps, taking the same transitions with side
 * effects that answer at once — no store, transport, worker or API around it.
 */
async function machineAlone(count: number, lanes: number): Promise<LifecycleRun> {
  const machine = createInstanceMachine({ now: Date.now }).provide({
    actors: {
      startWorkload: fromPromise<WorkloadRef, StartWorkloadInput>(async ({ input }) => ({
        instanceId: input.instanceId,
        platform: 'process',
        workloadId: `w-${input.instanceId}`,
        port: 1,
        generation: input.generation,
        startedAt: new Date().toISOString(),
      })),
      stopWorkload: fromPromise<StopWorkloadOutput, StopWorkloadInput>(async () => ({})),
      removeWorkload: fromPromise<StopWorkloadOutput, StopWorkloadInput>(async () => ({})),
    },
  });
  const actors = new Map<string, Actor<typeof machine>>();
  const settle = async (id: string, type: 'instance.start' | 'instance.stop' | 'instance.delete', until: string) => {
    const actor = actors.get(id)!;
    actor.send({ type });
    await waitFor(actor, (snapshot) => snapshot.value === until);
  };
  const ops: LifecycleOps = {
    create: async (id) => {
      const actor = createActor(machine, { input: { instanceId: id, platform: 'process', startTimeoutMs: 1_000, restartPolicy: { initialBackoffMs: 1_000, maxBackoffMs: 60_000 }, historyLimit: 8 } });
      // Persisted at every transition, as the control plane does.
      actor.subscribe(() => JSON.stringify(actor.getPersistedSnapshot()));
      actors.set(id, actor.start());
    },
    start: (id) => settle(id, 'instance.start', 'Running'),
    stop: (id) => settle(id, 'instance.stop', 'Stopped'),
    delete: async (id) => {
      await settle(id, 'instance.delete', 'Deleted');
      actors.delete(id);
    },
  };
  await lifecycle(WARM_UP, lanes, ops, 'warm-up');
  return lifecycle(count, lanes, ops);
}

type LifecycleOps = Record<'create' | 'start' | 'stop' | 'delete', (id: string) => Promise<unknown>>;

function opsOf(controlPlane: ControlPlane): LifecycleOps {
  return {
    create: (id) => controlPlane.create({ name: id }),
    start: (id) => controlPlane.start(id),
    stop: (id) => controlPlane.stop(id),
    delete: (id) => controlPlane.delete(id),
  };
}

async function embeddedRun(count: number, lanes: number): Promise<LifecycleRun> {
  const transport = new MemoryTransport();
  const worker = new PlatformWorker({ transport, driver: new MemoryDriver() });
  await worker.start();
  const controlPlane = new ControlPlane({ transport, historyLimit: 8 });
  await controlPlane.open();
  try {
    // A warm-up round first, untimed: the figure is the steady state, not the JIT compiling the hot path.
    await lifecycle(WARM_UP, lanes, opsOf(controlPlane), 'warm-up');
    return await lifecycle(count, lanes, opsOf(controlPlane));
  } finally {
    await controlPlane.close();
    await worker.close();
    await transport.close();
  }
}

const workerScript = fileURLToPath(new URL('./memory-worker.ts', import.meta.url));

/**
 * What Redis has done so far: the commands it executed (INFO commandstats;
 * commands inside scripts included — a count that does not depend on the
 * machine's speed) and its CPU time in microseconds (INFO cpu).
 */
async function redisTotals(redisUrl: string): Promise<{ commands: number; cpuMicros: number }> {
  const client = new Redis(redisUrl);
  try {
    const [commandstats, cpu] = [await client.info('commandstats'), await client.info('cpu')];
    const seconds = (name: string) => Number(new RegExp(`^${name}:([\\d.]+)`, 'm').exec(cpu)?.[1] ?? Number.NaN);
    return {
      commands: [...commandstats.matchAll(/calls=(\d+)/g)].reduce((sum, match) => sum + Number(match[1]), 0),
      cpuMicros: (seconds('used_cpu_user') + seconds('used_cpu_sys')) * 1e6,
    };
  } finally {
    client.disconnect();
  }
}

/** CPU time (user + system) of another process so far, in microseconds (/proc; clock-tick resolution). */
function processCpuMicros(pid: number): number {
  // Fields after the command's closing parenthesis: state is the 3rd field of the line, utime the 14th, stime the 15th.
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ').at(-1)!.split(' ');
  const ticksPerSecond = 100;
  return ((Number(fields[11]) + Number(fields[12])) / ticksPerSecond) * 1e6;
}

/**
 * Runs `task` while Redis MONITOR watches, and counts the commands clients
 * sent (a script counts once; the commands it runs inside are reported by
 * MONITOR as coming from "lua" and not counted). Read from a plain socket:
 * ioredis's monitor mode can take a MONITOR line for a reply and throw.
 */
async function commandsSent(redisUrl: string, task: () => Promise<void>): Promise<number> {
  const { hostname, port } = new URL(redisUrl);
  const socket = connect({ host: hostname, port: Number(port) });
  let sent = 0;
  let pending = '';
  let monitoring!: () => void;
  const started = new Promise<void>((resolve) => (monitoring = resolve));
  socket.setEncoding('utf8');
  socket.on('data', (chunk: string) => {
    const lines = (pending + chunk).split('\r\n');
    pending = lines.pop() ?? '';
    for (const line of lines) {
      if (line === '+OK') monitoring();
      else if (line.startsWith('+') && !/^\+[\d.]+ \[\d+ lua\]/.test(line)) sent += 1;
    }
  });
  socket.write('MONITOR\r\n');
  try {
    await started;
    await task();
    // MONITOR lines trail the replies a little: let the last ones arrive.
    await new Promise((resolve) => setTimeout(resolve, 200));
  } finally {
    socket.destroy();
  }
  return sent;
}

interface ClusterRun extends LifecycleRun {
  /** CPU per operation of the worker process and of Redis (the control plane's own is `cpuMicrosPerOperation`), in microseconds. */
  workerCpuMicrosPerOperation: number;
  redisCpuMicrosPerOperation: number;
  /** Commands Redis executed per operation, those inside scripts included (INFO commandstats, during the timed run). */
  executedPerOperation: number;
  /** Commands clients sent per operation, a script counting once (MONITOR, during a separate untimed run). */
  sentPerOperation: number;
}

async function clusterRun(redisUrl: string, count: number, lanes: number): Promise<ClusterRun> {
  const prefix = `bench-${Date.now()}:`;
  const worker = execa('node', ['--import=tsx', workerScript, redisUrl, prefix], { stdin: 'ignore', stderr: 'inherit', buffer: false, reject: false });
  try {
    await new Promise<void>((resolve, reject) => {
      worker.stdout?.on('data', (chunk: Buffer) => {
        if (chunk.toString().includes('ready')) resolve();
      });
      void worker.then(() => reject(new Error('the bench worker exited before it was ready')));
    });
    const controlPlane = await startClusterControlPlane({ redis: { url: redisUrl, prefix }, replicaId: 'bench', historyLimit: 8 });
    try {
      await lifecycle(WARM_UP, lanes, opsOf(controlPlane), 'warm-up');
      const before = await redisTotals(redisUrl);
      const workerBefore = processCpuMicros(worker.pid!);
      const run = await lifecycle(count, lanes, opsOf(controlPlane));
      const workerCpuMicrosPerOperation = (processCpuMicros(worker.pid!) - workerBefore) / (4 * count);
      const after = await redisTotals(redisUrl);
      const executedPerOperation = (after.commands - before.commands) / (4 * count);
      const redisCpuMicrosPerOperation = (after.cpuMicros - before.cpuMicros) / (4 * count);
      // Counted apart from the timed run: MONITOR slows Redis down. The idle heartbeats and renewals of the
      // counting run's own duration are in the count too (a few per second; at most a few tenths per operation).
      const counted = Math.min(count, 300);
      const sent = await commandsSent(redisUrl, async () => {
        await lifecycle(counted, lanes, opsOf(controlPlane), 'counted');
      });
      return { ...run, executedPerOperation, sentPerOperation: sent / (4 * counted), workerCpuMicrosPerOperation, redisCpuMicrosPerOperation };
    } finally {
      await controlPlane.close();
    }
  } finally {
    worker.kill('SIGTERM');
    await worker;
  }
}

function rows(mode: string, run: LifecycleRun, baseline: LifecycleRun, targets: { opsPerSecond: string; p99: string }): Row[] {
  return [
    row(`${mode}: lifecycle operations/s`, run.all.perSecond, 'ops/s', { baseline: baseline.all.perSecond }),
    row(`${mode}: lifecycle ops/s (target)`, run.all.perSecond, 'ops/s', { target: targets.opsPerSecond }),
    row(`${mode}: p99 per operation`, run.all.p99Ms, 'ms', { baseline: baseline.all.p99Ms, target: targets.p99 }),
    ...(['create', 'start', 'stop', 'delete'] as const).map((name) =>
      row(`${mode}: ${name} p50 / p99`, run.perOperation[name]!.p50Ms, 'ms p50', {
        note: `p99 ${run.perOperation[name]!.p99Ms.toFixed(3)} ms`,
      }),
    ),
  ];
}

/**
 * Where the cluster's CPU goes per operation, by process, and the rate the
 * machine's cores allow at that cost: the bound a cluster run on one host
 * (control plane, worker and Redis sharing its cores) cannot pass.
 */
function clusterCpuRows(cluster: ClusterRun): Row[] {
  const total = cluster.cpuMicrosPerOperation + cluster.workerCpuMicrosPerOperation + cluster.redisCpuMicrosPerOperation;
  const cores = availableParallelism();
  return [
    row('cluster (redis): CPU per operation, control plane / worker / Redis', total, 'µs', {
      note: `${cluster.cpuMicrosPerOperation.toFixed(0)} / ${cluster.workerCpuMicrosPerOperation.toFixed(0)} / ${cluster.redisCpuMicrosPerOperation.toFixed(0)} µs`,
    }),
    row(`cluster (redis): ops/s beside the bound of ${cores} cores at that CPU per operation`, cluster.all.perSecond, 'ops/s', { baseline: (cores * 1e6) / total }),
  ];
}

export async function benchControlPlane(options: { quick: boolean }): Promise<Row[]> {
  const count = options.quick ? 300 : 2_000;
  const lanes = 16;
  const baseline = await directBaseline(count, lanes);
  const alone = await machineAlone(count, lanes);
  const embedded = await embeddedRun(count, lanes);
  const redis = await startRedisServer();
  try {
    const cluster = await clusterRun(redis.url, options.quick ? 200 : 1_000, lanes);
    return [
      ...rows('embedded', embedded, baseline, { opsPerSecond: '>= 10000', p99: '<= 5' }),
      row('embedded: ops/s beside the instance machine alone (XState, the same transitions, side effects answered at once)', embedded.all.perSecond, 'ops/s', { baseline: alone.all.perSecond }),
      row('embedded: CPU per operation beside the instance machine alone', embedded.cpuMicrosPerOperation, 'µs', { baseline: alone.cpuMicrosPerOperation }),
      ...rows('cluster (redis)', cluster, baseline, { opsPerSecond: '>= 5000', p99: '<= 10' }),
      row('cluster (redis): Redis commands sent per operation (control plane and worker; a script counts once)', cluster.sentPerOperation, 'commands', { target: '<= 8' }),
      row('cluster (redis): Redis commands executed per operation (those inside scripts included)', cluster.executedPerOperation, 'commands'),
      ...clusterCpuRows(cluster),
    ];
  } finally {
    await redis.stop();
  }
}
