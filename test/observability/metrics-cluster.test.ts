/**
 * Metrics in cluster mode, against a real `redis-server`: a control plane and
 * a process worker (library API, each with its own metrics listener), worker
 * presence, lease ownership, the command queues read from Redis Streams
 * (depth, pending, dead-lettered), the worker's own series, and the Redis
 * errors counted when Redis is killed — while a scrape still answers in
 * bounded time.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { ExecutionContext } from 'ava';
import { Redis } from 'ioredis';
import { startClusterControlPlane, startClusterWorker } from '../../src/cluster.js';
import { COMMAND_GROUP, RedisKeys } from '../../src/redis/keys.js';
import { queues } from '../../src/transport/transport.js';
import { doubleExecutable, portRange } from '../helpers/embedded.js';
import { testWithRedis } from '../helpers/engines.js';
import { pidsWithArgument, waitFor } from '../helpers/processes.js';
import { scrape, type Scrape } from '../helpers/prometheus.js';
import { startRedisServer, type RedisServer } from '../helpers/redis-server.js';

const { test } = testWithRedis('metrics in cluster mode');

const quiet = () => undefined;
const redisOptions = (url: string) => ({ url, connectTimeoutMs: 2_000, blockMs: 500, reconnect: { initialMs: 100, maxMs: 500 } });

async function redisFor(t: ExecutionContext): Promise<RedisServer> {
  const redis = await startRedisServer();
  t.teardown(() => redis.stop());
  return redis;
}

async function controlPlaneOn(t: ExecutionContext, url: string) {
  const controlPlane = await startClusterControlPlane({
    redis: redisOptions(url),
    shardCount: 4,
    leaseMs: 2_000,
    reconcileIntervalMs: null,
    startTimeoutMs: 10_000,
    stopGraceMs: 2_000,
    closeTimeoutMs: 3_000,
    metricsListener: { port: 0 },
    log: quiet,
  });
  t.teardown(() => controlPlane.close());
  return controlPlane;
}

/** Scrapes until `check` holds (a worker's presence and a lease round take a moment). */
async function scrapeUntil(base: string, check: (metrics: Scrape) => boolean, what: string): Promise<Scrape> {
  let last: Scrape | undefined;
  await waitFor(async () => check((last = await scrape(base))), 10_000, what);
  return last!;
}

test('workers, lease ownership, queue depth, pending and dead-lettered commands, and the worker\'s own series', async (t) => {
  const redis = await redisFor(t);
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'draas-metrics-cluster-'));
  t.teardown(async () => {
    for (const pid of pidsWithArgument(dataDir)) process.kill(pid, 'SIGKILL');
    await rm(dataDir, { recursive: true, force: true });
  });
  const controlPlane = await controlPlaneOn(t, redis.url);
  const worker = await startClusterWorker({
    platform: 'process',
    workerId: 'metrics-w1',
    dataDir,
    drasiServer: doubleExecutable,
    ports: portRange(),
    stopGraceMs: 2_000,
    heartbeatMs: 300,
    redis: redisOptions(redis.url),
    metricsListener: { port: 0 },
    log: quiet,
  });
  t.teardown(() => worker.close());
  const base = controlPlane.metricsUrl!;

  const up = await scrapeUntil(base, (metrics) => metrics.value('draas_workers', { platform: 'process', available: 'true' }) === 1, 'the worker is seen');
  t.is(up.value('draas_ready'), 1);
  t.is(up.value('draas_shards_owned'), 4, 'the only replica holds every shard');
  t.is(up.value('draas_shards_unowned'), 0);
  t.is(up.value('draas_replicas', { alive: 'true' }), 1);
  t.is(up.value('draas_command_queue_depth', { platform: 'process', worker: 'metrics-w1' }), 0);

  await controlPlane.create({ name: 'c1' });
  await controlPlane.start('c1');
  const running = await scrape(base);
  t.is(running.value('draas_instances', { platform: 'process', status: 'Running' }), 1);
  t.true(running.count('draas_command_round_trip_seconds', { platform: 'process', command: 'workload.start', outcome: 'ok' }) >= 1);
  const own = await scrape(worker.metricsListener!.url);
  t.is(own.value('draas_worker_commands_total', { platform: 'process', command: 'workload.start', outcome: 'ok' }), 1);
  t.is(own.count('draas_driver_call_duration_seconds', { platform: 'process', command: 'workload.start', outcome: 'ok' }), 1);
  t.is(own.value('draas_worker_available', { platform: 'process' }), 1);
  t.false(own.families.has('draas_lifecycle_requests_total'), "a worker's scrape has no control-plane series");
  await waitFor(async () => (await scrape(worker.metricsListener!.url)).value('draas_worker_workloads', { platform: 'process' }) === 1, 5_000, 'the heartbeat counts the workload');

  // A worker that is gone left commands in its queue: three waiting, two of them taken by a consumer that never acknowledged.
  const raw = new Redis(redis.url);
  t.teardown(() => raw.disconnect());
  const keys = new RedisKeys();
  const ghost = keys.commandStream(queues.workerCommands('process', 'ghost'));
  await raw.xgroup('CREATE', ghost, COMMAND_GROUP, '0', 'MKSTREAM');
  for (let i = 0; i < 3; i += 1) await raw.xadd(ghost, '*', 'junk', String(i));
  await raw.xreadgroup('GROUP', COMMAND_GROUP, 'gone-consumer', 'COUNT', 2, 'STREAMS', ghost, '>');
  // An entry the live worker cannot read is dead-lettered by its consumer (the real path).
  await raw.xadd(keys.commandStream(queues.workerCommands('process', 'metrics-w1')), '*', 'not', 'a command');
  const queued = await scrapeUntil(
    base,
    (metrics) => metrics.value('draas_commands_dead_lettered', { platform: 'process', worker: 'metrics-w1' }) === 1,
    'the malformed entry is dead-lettered',
  );
  t.is(queued.value('draas_command_queue_depth', { platform: 'process', worker: 'ghost' }), 3);
  t.is(queued.value('draas_commands_pending', { platform: 'process', worker: 'ghost' }), 2);
  t.is(queued.value('draas_commands_dead_lettered', { platform: 'process', worker: 'ghost' }), 0);
  t.is(queued.value('draas_command_queue_depth', { platform: 'process', worker: 'metrics-w1' }), 0, 'the dead-lettered entry left the queue');
  t.is(queued.value('draas_workers', { platform: 'process' }), 1, 'the ghost is no live worker');

  await controlPlane.stop('c1');
  await controlPlane.delete('c1');
});

test('Redis errors are counted when Redis is killed; a scrape still answers, in bounded time, and says not ready', async (t) => {
  const redis = await redisFor(t);
  const controlPlane = await controlPlaneOn(t, redis.url);
  const base = controlPlane.metricsUrl!;
  const before = await scrape(base);
  t.is(before.value('draas_ready'), 1);
  const errorsBefore = before.value('draas_redis_errors_total');

  await redis.kill();
  const began = performance.now();
  const connections = ['transport-commands', 'transport-blocking', 'store', 'leases'];
  const down = await scrapeUntil(
    base,
    (metrics) => connections.every((connection) => metrics.value('draas_redis_errors_total', { connection }) > 0) && metrics.value('draas_ready') === 0,
    'the errors of every connection are counted',
  );
  t.true(performance.now() - began < 10_000);
  t.true(down.value('draas_redis_errors_total') > errorsBefore);
  const timed = performance.now();
  const again = await scrape(base);
  t.true(performance.now() - timed < 5_000, 'a scrape does not wait for Redis');
  t.true(again.value('draas_metrics_read_failures_total', { gauge: 'draas_workers' }) >= 1, 'the gauges Redis could not answer are left out, and counted');
  t.is(again.family('draas_workers').metrics.length, 0);
});
