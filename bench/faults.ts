/**
 * How fast the cluster is safe again after a fault, beside the bound its
 * configuration implies or what a plain client sees of the same fault.
 *
 * (a) Worker SIGKILL. A cluster control plane (in this process, on a private
 * redis-server, `workerLostTimeoutMs` set) and a process-platform worker in
 * its own process (`draas worker`, the Drasi Server double) running N
 * instances; a second worker (in this process) joins, then the first is
 * SIGKILLed. Its servers live on in their own process groups. Measured per
 * instance from the kill: until the control plane reports it lost (the
 * WorkerLost condition), and until it runs again, once, on the second worker
 * (which first stops the old server: same host). Baselines: the detection
 * bound the configuration implies — the presence TTL (3 heartbeats of 2 s)
 * plus one worker check (1 s) — and that plus the worker-lost timeout plus
 * the time N servers take to start at once directly (measured in the run).
 *
 * (b) Redis restart (SIGKILL, started again on the same port and append-only
 * file, at once or after 3 s down). Measured from the moment it answers
 * again: until the first create through the control plane's REST API
 * succeeds, and until the first start of an existing instance does (needs
 * the worker back too). Baseline: until a plain ioredis client (its default
 * reconnect) answers PING again, polled during the same restart (for the
 * start, plus the same start timed once everything is back).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import { startClusterControlPlane, startClusterWorker, type ClusterWorker } from '../src/cluster.js';
import type { HostedControlPlane } from '../src/hosted-control-plane.js';
import { doubleExecutable } from '../test/helpers/embedded.js';
import { pidsWithArgument } from '../test/helpers/processes.js';
import { startRedisServer, type RedisServer } from '../test/helpers/redis-server.js';
import { row, type Row } from './lib/results.js';
import { percentile } from './lib/stats.js';

const cliPath = fileURLToPath(new URL('../src/cli.ts', import.meta.url));
/** The worker's heartbeat (PlatformWorker's default); its presence expires after three missed beats. */
const HEARTBEAT_MS = 2_000;
/** The control plane's worker check (its default). */
const WORKER_CHECK_MS = 1_000;
const WORKER_LOST_TIMEOUT_MS = 2_000;
const DETECTION_BOUND_MS = 3 * HEARTBEAT_MS + WORKER_CHECK_MS;
const POLL_MS = 50;

interface View {
  id: string;
  status?: string;
  workerId?: string;
  conditions?: { type?: string; status?: string }[];
}

interface Answer {
  status: number;
  body: unknown;
}

async function call(base: string, method: string, route: string, body?: unknown, timeoutMs = 30_000): Promise<Answer> {
  const init: RequestInit = { method, signal: AbortSignal.timeout(timeoutMs) };
  if (body !== undefined) {
    init.body = JSON.stringify(body);
    init.headers = { 'content-type': 'application/json' };
  }
  const response = await fetch(`${base}${route}`, init);
  const text = await response.text();
  return { status: response.status, body: text === '' ? undefined : (JSON.parse(text) as unknown) };
}

async function succeed(base: string, method: string, route: string, body?: unknown): Promise<unknown> {
  const answer = await call(base, method, route, body);
  if (answer.status >= 300) throw new Error(`${method} ${route}: ${answer.status} ${JSON.stringify(answer.body)}`);
  return answer.body;
}

async function until(check: () => Promise<boolean> | boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`faults bench: ${what} not within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
}

async function forEachLimit<T>(items: readonly T[], limit: number, task: (item: T) => Promise<unknown>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) await task(items[next++]!);
  }));
}

/** `draas worker --platform process` in its own process; resolves once it consumes commands. */
async function workerProcess(redisUrl: string, workerId: string, dataDir: string, ports: { min: number; max: number }): Promise<ChildProcess> {
  const args = ['--import=tsx', cliPath, 'worker', '--platform', 'process', '--worker-id', workerId, '--data-dir', dataDir, '--drasi-server', doubleExecutable];
  args.push('--ports', `${ports.min}-${ports.max}`, '--stop-grace', '2000', '--redis', redisUrl);
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const ready = new Promise<void>((resolve, reject) => {
    const onData = (chunk: Buffer) => {
      output += chunk.toString();
      if (/consuming commands/.test(output)) resolve();
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.once('exit', (code) => reject(new Error(`worker ${workerId} exited (${code}): ${output}`)));
  });
  await ready;
  return child;
}

function killUnder(dir: string): void {
  for (const pid of pidsWithArgument(dir)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
}

function lostReported(view: View): boolean {
  return (view.conditions ?? []).some((condition) => condition.type === 'WorkerLost' && condition.status === 'True');
}

async function views(base: string): Promise<View[]> {
  return (await succeed(base, 'GET', '/api/server/instances')) as View[];
}

/** (a): milliseconds from the SIGKILL to each instance reported lost, and to each Running on the survivor. */
async function workerKill(dir: string, count: number): Promise<{ lost: number[]; running: number[] }> {
  const redis = await startRedisServer();
  let controlPlane: HostedControlPlane | undefined;
  let doomed: ChildProcess | undefined;
  let survivor: ClusterWorker | undefined;
  const doomedDir = path.join(dir, 'doomed');
  const survivorDir = path.join(dir, 'survivor');
  try {
    controlPlane = await startClusterControlPlane({
      redis: { url: redis.url },
      workerLostTimeoutMs: WORKER_LOST_TIMEOUT_MS,
      stopGraceMs: 2_000,
      log: () => undefined,
    });
    const { url: base } = await controlPlane.listen({ port: 0 });
    doomed = await workerProcess(redis.url, 'doomed', doomedDir, { min: 26000, max: 26000 + count + 10 });
    await until(
      async () => {
        const platforms = await call(base, 'GET', '/api/platforms');
        return platforms.status === 200 && JSON.stringify(platforms.body).includes('"available":true');
      },
      30_000,
      'the doomed worker available',
    );
    const ids = Array.from({ length: count }, (_, i) => `f-${String(i).padStart(3, '0')}`);
    await forEachLimit(ids, 10, (id) => succeed(base, 'POST', '/api/server/instances', { name: id, environment: { DRASI_DOUBLE_LOG_INTERVAL_MS: '0' } }));
    await forEachLimit(ids, 10, (id) => succeed(base, 'POST', `/api/server/instances/${id}/start`));
    if (!(await views(base)).every((view) => view.workerId === 'doomed' && view.status === 'Running')) throw new Error('faults bench: not every instance runs on the doomed worker');

    survivor = await startClusterWorker({
      platform: 'process',
      workerId: 'survivor',
      dataDir: survivorDir,
      drasiServer: doubleExecutable,
      ports: { min: 27000, max: 27000 + count + 10 },
      stopGraceMs: 2_000,
      redis: { url: redis.url },
      log: () => undefined,
    });
    // The control plane reads presence at most every 200 ms: let it see the survivor.
    await new Promise((resolve) => setTimeout(resolve, 500));

    const lost = new Map<string, number>();
    const running = new Map<string, number>();
    doomed.kill('SIGKILL');
    const killedAt = performance.now();
    await until(
      async () => {
        const now = performance.now() - killedAt;
        for (const view of await views(base)) {
          if (!lost.has(view.id) && lostReported(view)) lost.set(view.id, now);
          if (!running.has(view.id) && view.status === 'Running' && view.workerId === 'survivor') running.set(view.id, now);
        }
        return running.size === count;
      },
      // Generous: a loaded machine starts a hundred servers slowly.
      180_000,
      'every instance Running on the survivor',
    );
    // An instance moved before a poll saw its condition was reported lost no later than it ran again.
    for (const id of ids) if (!lost.has(id)) lost.set(id, running.get(id)!);
    return { lost: [...lost.values()], running: [...running.values()] };
  } finally {
    doomed?.kill('SIGKILL');
    await survivor?.close();
    await controlPlane?.close();
    killUnder(doomedDir);
    killUnder(survivorDir);
    await redis.stop();
  }
}

/** Milliseconds from `since` until `attempt` first succeeds, trying every `POLL_MS`. */
async function firstSuccess(since: number, attempt: () => Promise<boolean>, timeoutMs: number): Promise<number> {
  for (;;) {
    const ok = await attempt().catch(() => false);
    if (ok) return performance.now() - since;
    if (performance.now() - since > timeoutMs) throw new Error('faults bench: nothing succeeded after the Redis restart');
    await new Promise((resolve) => setTimeout(resolve, POLL_MS));
  }
}

/** One restart's figures: milliseconds from Redis answering again to the first create, the first start, and a plain client's PING. */
interface Recovery {
  create: number;
  start: number;
  ping: number;
  /** The same start again once everything is back: what a start costs without an outage. */
  steadyStart: number;
}

/**
 * (b): Redis killed, down for `outageMs`, started again; timed from the
 * moment it answers PING again (so the outage itself is not counted).
 */
async function redisRestarts(dir: string, outages: readonly number[]): Promise<Recovery[]> {
  const redis: RedisServer = await startRedisServer({ appendonly: true });
  const plain = new Redis(redis.url, { lazyConnect: true });
  // Errors while Redis is down are expected; the PING loop sees them.
  plain.on('error', () => undefined);
  let controlPlane: HostedControlPlane | undefined;
  let worker: ClusterWorker | undefined;
  const workerDir = path.join(dir, 'restart-worker');
  const result: Recovery[] = [];
  try {
    await plain.connect();
    controlPlane = await startClusterControlPlane({ redis: { url: redis.url }, stopGraceMs: 2_000, log: () => undefined });
    worker = await startClusterWorker({
      platform: 'process',
      workerId: 'steady',
      dataDir: workerDir,
      drasiServer: doubleExecutable,
      ports: { min: 28000, max: 28100 },
      stopGraceMs: 2_000,
      redis: { url: redis.url },
      log: () => undefined,
    });
    const { url: base } = await controlPlane.listen({ port: 0 });
    for (const [round, outageMs] of outages.entries()) {
      const probe = `probe-${round}`;
      await succeed(base, 'POST', '/api/server/instances', { name: probe, environment: { DRASI_DOUBLE_LOG_INTERVAL_MS: '0' } });
      await redis.kill();
      await new Promise((resolve) => setTimeout(resolve, outageMs));
      await redis.restart();
      const backAt = performance.now();
      let created = 0;
      const [ping, create, start] = await Promise.all([
        firstSuccess(backAt, async () => (await plain.ping()) === 'PONG', 60_000),
        firstSuccess(backAt, async () => (await call(base, 'POST', '/api/server/instances', { name: `after-${round}-${created++}` }, 10_000)).status === 201, 60_000),
        firstSuccess(backAt, async () => (await call(base, 'POST', `/api/server/instances/${probe}/start`, undefined, 20_000)).status === 200, 60_000),
      ]);
      await succeed(base, 'POST', `/api/server/instances/${probe}/stop`);
      const steadyFrom = performance.now();
      await succeed(base, 'POST', `/api/server/instances/${probe}/start`);
      const steadyStart = performance.now() - steadyFrom;
      await succeed(base, 'POST', `/api/server/instances/${probe}/stop`);
      result.push({ ping, create, start, steadyStart });
    }
    return result;
  } finally {
    plain.disconnect();
    await worker?.close();
    await controlPlane?.close();
    killUnder(workerDir);
    await redis.stop();
  }
}

/** Milliseconds to start `count` servers at once directly (spawn, /health answers), as a move starts them; then stopped. */
async function directStarts(dir: string, count: number, firstPort: number): Promise<number> {
  const began = performance.now();
  const children = await Promise.all(
    Array.from({ length: count }, async (_, i) => {
      const port = firstPort + i;
      const config = path.join(dir, `direct-${i}.yaml`);
      await writeFile(config, `id: direct-${i}\nhost: 127.0.0.1\nport: ${port}\npersistConfig: false\n`);
      const child = spawn(doubleExecutable, ['--config', config, '--port', String(port)], { cwd: dir, stdio: 'ignore', env: { PATH: process.env.PATH ?? '' } });
      const exited = new Promise((resolve) => child.once('exit', resolve));
      await until(async () => (await fetch(`http://127.0.0.1:${port}/health`).then((r) => r.status, () => 0)) === 200, 60_000, `direct server ${i} healthy`);
      return { child, exited };
    }),
  );
  const took = performance.now() - began;
  for (const { child } of children) child.kill('SIGINT');
  await Promise.all(children.map(({ exited }) => exited));
  return took;
}

const p50 = (samples: number[]) => percentile([...samples].sort((a, b) => a - b), 50);
const max = (samples: number[]) => Math.max(...samples);

export async function benchFaults(options: { quick: boolean; large?: boolean }): Promise<Row[]> {
  const count = options.large ? 200 : options.quick ? 20 : 100;
  // Each Redis outage twice: a restart at once, and one down for 3 s (a restart that takes a while, a failover).
  const rounds = options.quick ? 1 : 3;
  const outages = [...Array<number>(rounds).fill(0), ...Array<number>(rounds).fill(3_000)];
  const dir = await mkdtemp(path.join(os.tmpdir(), 'draas-bench-faults-'));
  try {
    const kill = await workerKill(dir, count);
    const direct = await directStarts(dir, count, 29000);
    const restart = await redisRestarts(dir, outages);
    const bound = `bound: presence TTL 3 × ${HEARTBEAT_MS} ms + worker check ${WORKER_CHECK_MS} ms`;
    return [
      row(`worker SIGKILL → instance reported lost, p50 (${count} instances)`, p50(kill.lost), 'ms', { baseline: DETECTION_BOUND_MS, note: bound }),
      row('worker SIGKILL → every instance reported lost (max)', max(kill.lost), 'ms', { baseline: DETECTION_BOUND_MS, ratioTarget: '<= 1', note: bound }),
      row('worker SIGKILL → instance Running once on the other worker, p50', p50(kill.running), 'ms', {
        baseline: DETECTION_BOUND_MS + WORKER_LOST_TIMEOUT_MS + direct,
        note: `bound + worker-lost timeout ${WORKER_LOST_TIMEOUT_MS} ms + ${count} servers started at once directly`,
      }),
      row('worker SIGKILL → every instance Running once on the other worker (max)', max(kill.running), 'ms', { baseline: DETECTION_BOUND_MS + WORKER_LOST_TIMEOUT_MS + direct }),
      ...[0, 3_000].flatMap((outageMs) => {
        const these = restart.filter((_, i) => outages[i] === outageMs);
        const ping = p50(these.map((r) => r.ping));
        const what = `Redis ${outageMs === 0 ? 'restarted at once' : `down ${outageMs / 1000} s`}: back → first`;
        return [
          row(`${what} create through the control plane, p50 (${these.length})`, p50(these.map((r) => r.create)), 'ms', { baseline: ping, note: 'baseline: a plain ioredis PING' }),
          row(`${what} start of an instance (worker back too), p50`, p50(these.map((r) => r.start)), 'ms', {
            baseline: ping + p50(these.map((r) => r.steadyStart)),
            note: 'baseline: the plain PING plus the same start with Redis up',
          }),
        ];
      }),
    ];
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
