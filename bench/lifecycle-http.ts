/**
 * Lifecycle through HTTP with real processes (the Drasi Server double): N
 * instances created, started, stopped and deleted, `lanes` at a time, in
 * embedded and in cluster mode. Baseline: spawning the same N processes with
 * child_process and waiting for their /health directly, then SIGINT.
 *
 * Plus one lifecycle at a time (embedded, through HTTP), alternated round by
 * round with one direct spawn + /health + SIGINT + exit, so that both see the
 * same machine load: the cost of the control plane's steps around one real
 * process, without concurrency hiding any of it.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { startClusterControlPlane, startClusterWorker } from '../src/cluster.js';
import { createControlPlane } from '../src/embedded.js';
import type { HostedControlPlane } from '../src/hosted-control-plane.js';
import { doubleExecutable } from '../test/helpers/embedded.js';
import { startRedisServer } from '../test/helpers/redis-server.js';
import { row, type Row } from './lib/results.js';
import { measure, summarize, type LatencySummary } from './lib/stats.js';

const lanes = 10;

async function post(url: string, method: string, body?: unknown): Promise<void> {
  const init: RequestInit = { method };
  if (body !== undefined) {
    init.body = JSON.stringify(body);
    init.headers = { 'content-type': 'application/json' };
  }
  const response = await fetch(url, init);
  await response.arrayBuffer();
  if (response.status >= 300) throw new Error(`${method} ${url}: ${response.status}`);
}

/** One lifecycle (4 HTTP calls) per instance; the latency sample is the whole lifecycle. */
async function lifecycles(base: string, count: number): Promise<LatencySummary> {
  return measure(count, lanes, (index) => lifecycle(base, `life-${index}`));
}

async function lifecycle(base: string, id: string): Promise<void> {
  await post(`${base}/api/server/instances`, 'POST', { name: id });
  await post(`${base}/api/server/instances/${id}/start`, 'POST');
  await post(`${base}/api/server/instances/${id}/stop`, 'POST');
  await post(`${base}/api/server/instances/${id}`, 'DELETE');
}

async function waitHealthy(port: number, deadline: number): Promise<void> {
  while (Date.now() < deadline) {
    try {
      const response = await fetch(`http://127.0.0.1:${port}/health`);
      await response.arrayBuffer();
      if (response.status === 200) return;
    } catch {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  throw new Error(`port ${port} not healthy`);
}

/** Spawn, poll /health until it answers, SIGINT, wait for the exit. */
async function directLifecycle(dir: string, name: string, port: number): Promise<void> {
  const config = path.join(dir, `${name}.yaml`);
  await writeFile(config, `id: ${name}\nhost: 127.0.0.1\nport: ${port}\npersistConfig: false\n`);
  const child = spawn(doubleExecutable, ['--config', config, '--port', String(port)], { cwd: dir, stdio: 'ignore', env: { PATH: process.env.PATH ?? '' } });
  const exited = new Promise((resolve) => child.once('exit', resolve));
  await waitHealthy(port, Date.now() + 30_000);
  child.kill('SIGINT');
  await exited;
}

async function baseline(dir: string, count: number, firstPort: number): Promise<LatencySummary> {
  return measure(count, lanes, (index) => directLifecycle(dir, `base-${index}`, firstPort + index));
}

/**
 * `rounds` sequential lifecycles through the control plane at `base`, each
 * beside one direct lifecycle (the order alternating, so neither always runs
 * on a warmer machine). One warm-up round of each is not counted.
 */
async function sequential(base: string, dir: string, rounds: number, port: number): Promise<{ viaDraas: LatencySummary; direct: LatencySummary }> {
  const viaDraas: number[] = [];
  const direct: number[] = [];
  const timed = async (into: number[] | undefined, operation: () => Promise<void>) => {
    const began = performance.now();
    await operation();
    into?.push(performance.now() - began);
  };
  const began = performance.now();
  for (let round = -1; round < rounds; round++) {
    const draasRound = () => timed(round < 0 ? undefined : viaDraas, () => lifecycle(base, `seq-${round + 1}`));
    const directRound = () => timed(round < 0 ? undefined : direct, () => directLifecycle(dir, `seq-base-${round + 1}`, port));
    if (round % 2 === 0) {
      await draasRound();
      await directRound();
    } else {
      await directRound();
      await draasRound();
    }
  }
  const elapsed = performance.now() - began;
  return { viaDraas: summarize(viaDraas, elapsed), direct: summarize(direct, elapsed) };
}

async function withServer(controlPlane: HostedControlPlane, count: number): Promise<LatencySummary> {
  const { url } = await controlPlane.listen({ port: 0 });
  return lifecycles(url, count);
}

export async function benchLifecycleHttp(options: { quick: boolean; large?: boolean }): Promise<Row[]> {
  const count = options.large ? 1_000 : options.quick ? 20 : 100;
  const rounds = options.quick ? 15 : 100;
  const dir = await mkdtemp(path.join(os.tmpdir(), 'draas-bench-'));
  const ports = { min: 24000, max: 24999 };
  const settings = { drasiServer: doubleExecutable, ports, stopGraceMs: 5_000 };
  try {
    const oneAtATime = await (async () => {
      const embedded = await createControlPlane({ ...settings, dataDir: path.join(dir, 'sequential') });
      try {
        const { url } = await embedded.listen({ port: 0 });
        return await sequential(url, dir, rounds, 25999);
      } finally {
        await embedded.close();
      }
    })();
    const direct = await baseline(dir, count, 25000);
    const embedded = await createControlPlane({ ...settings, dataDir: path.join(dir, 'embedded') });
    const viaEmbedded = await withServer(embedded, count).finally(() => embedded.close());
    const redis = await startRedisServer();
    let viaCluster: LatencySummary;
    try {
      const worker = await startClusterWorker({ ...settings, platform: 'process', dataDir: path.join(dir, 'cluster'), redis: { url: redis.url } });
      const controlPlane = await startClusterControlPlane({ redis: { url: redis.url } });
      viaCluster = await withServer(controlPlane, count).finally(async () => {
        await controlPlane.close();
        await worker.close();
      });
    } finally {
      await redis.stop();
    }
    const lifecycleOps = (summary: LatencySummary) => summary.perSecond * 4;
    return [
      row(`embedded, one at a time: one lifecycle p50 (${rounds} rounds, alternated with the direct one)`, oneAtATime.viaDraas.p50Ms, 'ms', {
        baseline: oneAtATime.direct.p50Ms,
        ratioTarget: '<= 1.1',
      }),
      row('embedded, one at a time: one lifecycle p99', oneAtATime.viaDraas.p99Ms, 'ms', { baseline: oneAtATime.direct.p99Ms }),
      row(`embedded: lifecycle ops/s (${count} instances, ${lanes} at a time)`, lifecycleOps(viaEmbedded), 'ops/s', { baseline: lifecycleOps(direct) }),
      row('embedded: one lifecycle p50', viaEmbedded.p50Ms, 'ms', { baseline: direct.p50Ms }),
      row('embedded: one lifecycle p99', viaEmbedded.p99Ms, 'ms', { baseline: direct.p99Ms }),
      row(`cluster: lifecycle ops/s (${count} instances)`, lifecycleOps(viaCluster), 'ops/s', { baseline: lifecycleOps(direct) }),
      row('cluster: one lifecycle p50', viaCluster.p50Ms, 'ms', { baseline: direct.p50Ms }),
      row('cluster: one lifecycle p99', viaCluster.p99Ms, 'ms', { baseline: direct.p99Ms }),
    ];
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
